"""The Pallas kernels of involution's multiply-add agree with a naive NumPy reference.

The kernels run through Pallas' interpreter on the CPU (``interpret=True``), so these tests need
no GPU; one more test lowers them for CUDA, which checks that Pallas' Triton lowering accepts them
(the Triton compiler itself only runs on a GPU: ``benchmarks/bench_fused_jax.py`` does that).
Shapes are tiny, odd and not powers of two, so every edge, mask and phase is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the Pallas kernels need JAX")
jnp = pytest.importorskip("jax.numpy")
pallas_kernels = pytest.importorskip("involution_course.fused.pallas_kernels",
                                     reason="jax.experimental.pallas is not available")
multiply_add, Tiles = pallas_kernels.multiply_add, pallas_kernels.Tiles


# -- the reference ------------------------------------------------------------------------------


def _windows(x_pad, ki, kj, s, out_h, out_w):
    return x_pad[:, ki:ki + s * out_h:s, kj:kj + s * out_w:s]


def reference(x, planes, grad, k, s, g):
    """out, grad_x and grad_planes in float64, straight from the definition, tap by tap."""
    x, planes, grad = (np.asarray(a, np.float64) for a in (x, planes, grad))
    b, h, w, c = x.shape
    p, out_h, out_w = (k - 1) // 2, -(-h // s), -(-w // s)
    # Pad past the far edges by s too, so that every strided window has out_h x out_w pixels.
    x_pad = np.pad(x, ((0, 0), (p, p + s), (p, p + s), (0, 0)))
    weights = np.repeat(planes.reshape(b, out_h, out_w, g, k, k), c // g, axis=3)  # one per channel
    out = np.zeros((b, out_h, out_w, c))
    grad_x_pad = np.zeros_like(x_pad)
    grad_planes = np.zeros((b, out_h, out_w, g, k, k))
    for ki in range(k):
        for kj in range(k):
            window = _windows(x_pad, ki, kj, s, out_h, out_w)
            out += window * weights[..., ki, kj]
            _windows(grad_x_pad, ki, kj, s, out_h, out_w)[...] += grad * weights[..., ki, kj]
            grad_planes[..., ki, kj] = (grad * window).reshape(b, out_h, out_w, g, c // g).sum(-1)
    return out, grad_x_pad[:, p:p + h, p:p + w], grad_planes.reshape(b, out_h, out_w, g * k * k)


def random_inputs(shape, k, s, g, seed=0):
    b, h, w, c = shape
    out_shape = (b, -(-h // s), -(-w // s))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    planes = rng.standard_normal((*out_shape, g * k * k)).astype(np.float32)
    grad = rng.standard_normal((*out_shape, c)).astype(np.float32)
    return x, planes, grad


def fused(x, planes, grad, k, s, g, **kwargs):
    """out, grad_x and grad_planes from the kernels, the gradients through jax.vjp."""
    def apply(x, planes):
        return multiply_add(x, planes, kernel_size=k, stride=s, groups=g, interpret=True, **kwargs)

    out, vjp = jax.vjp(apply, jnp.asarray(x), jnp.asarray(planes))
    return (out, *vjp(jnp.asarray(grad, out.dtype)))


def assert_agree(got, want, tolerance, what):
    for name, a, b in zip(("out", "grad_x", "grad_planes"), got, want):
        assert a.shape == b.shape, f"{what}: {name} has shape {a.shape}, expected {b.shape}"
        np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tolerance, atol=tolerance,
                                   err_msg=f"{what}: {name}")


# -- agreement ----------------------------------------------------------------------------------

CASES = [
    # (B, H, W, C), K, s, G: every K in {1, 3, 5, 7}, s in {1, 2, 3}, G in {1, a middle value, C}.
    ((2, 5, 7, 6), 3, 1, 2),
    ((1, 5, 7, 6), 5, 2, 3),
    ((1, 5, 7, 6), 7, 3, 6),
    ((1, 5, 7, 6), 1, 2, 1),
    ((1, 5, 7, 6), 7, 1, 1),
    ((1, 5, 7, 6), 5, 1, 6),
    ((1, 7, 5, 12), 3, 2, 1),  # 12 channels in one group: padded to 16 inside the tile
    ((1, 6, 4, 10), 5, 3, 5),  # even sizes, 2 channels a group
]


@pytest.mark.parametrize("shape, k, s, g", CASES, ids=[f"{'x'.join(map(str, c[0]))}-K{c[1]}-s{c[2]}-G{c[3]}" for c in CASES])
def test_kernels_match_the_reference_in_fp32(shape, k, s, g):
    x, planes, grad = random_inputs(shape, k, s, g)
    assert_agree(fused(x, planes, grad, k, s, g), reference(x, planes, grad, k, s, g), 1e-5, "fp32")


def test_tiles_smaller_than_the_image_and_partial_group_blocks():
    # 2 x 2 tiles over a 5 x 7 image leave partial tiles on both edges; blocks of 4 groups
    # leave a partial block when G = 6.
    shape, k, s, g = (2, 5, 7, 6), 3, 2, 6
    tiles = {name: Tiles(2, 2, 4) for name in ("forward", "grad_x", "grad_planes")}
    x, planes, grad = random_inputs(shape, k, s, g, seed=1)
    assert_agree(fused(x, planes, grad, k, s, g, tiles=tiles), reference(x, planes, grad, k, s, g), 1e-5, "tiles")


# CASES at stride 1 run the default backward; here the other one, and two more shapes both ways.
STRIDE_ONE = ([(*case, "split" if pallas_kernels.DEFAULT_BACKWARD == "fused" else "fused") for case in CASES if case[2] == 1]
              + [(shape, k, 1, g, backward) for shape, k, g in (((2, 6, 5, 20), 3, 4), ((1, 4, 9, 8), 7, 2))
                 for backward in ("fused", "split")])


@pytest.mark.parametrize("shape, k, s, g, backward", STRIDE_ONE,
                         ids=[f"{'x'.join(map(str, c[0]))}-K{c[1]}-G{c[3]}-{c[4]}" for c in STRIDE_ONE])
def test_fused_and_split_backward_match_the_reference(shape, k, s, g, backward):
    """At stride 1 the backward is one kernel for both gradients ("fused") or one each ("split")."""
    x, planes, grad = random_inputs(shape, k, s, g, seed=4)
    assert_agree(fused(x, planes, grad, k, s, g, backward=backward), reference(x, planes, grad, k, s, g), 1e-5, backward)


def test_fused_backward_with_partial_tiles_and_group_blocks():
    shape, k, s, g = (2, 5, 7, 6), 5, 1, 6
    tiles = {"backward": Tiles(2, 4, 4)}
    x, planes, grad = random_inputs(shape, k, s, g, seed=5)
    got = fused(x, planes, grad, k, s, g, tiles=tiles, backward="fused")
    assert_agree(got, reference(x, planes, grad, k, s, g), 1e-5, "backward tiles")


def test_fused_backward_in_bfloat16_is_close():
    shape, k, s, g = (1, 6, 7, 6), 5, 1, 3
    x, planes, grad = random_inputs(shape, k, s, g, seed=6)
    bf16 = [jnp.asarray(a, jnp.bfloat16) for a in (x, planes, grad)]
    got = fused(*bf16, k, s, g, backward="fused")
    assert all(a.dtype == jnp.bfloat16 for a in got)
    assert_agree(got, reference(*(np.asarray(a, np.float32) for a in bf16), k, s, g), 3e-2, "bfloat16 backward")


def test_unknown_backward_is_refused():
    x, planes, _ = random_inputs((1, 4, 4, 2), 3, 1, 1)
    with pytest.raises(ValueError, match="backward must be one of fused, split"):
        multiply_add(jnp.asarray(x), jnp.asarray(planes), kernel_size=3, interpret=True, backward="both")


def test_under_jit_and_grad():
    shape, k, s, g = (2, 5, 7, 6), 3, 2, 3
    x, planes, grad = random_inputs(shape, k, s, g, seed=2)

    def loss(x, planes):
        out = multiply_add(x, planes, kernel_size=k, stride=s, groups=g, interpret=True)
        return jnp.sum(out * grad), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(jnp.asarray(x), jnp.asarray(planes))
    assert_agree((out, *grads), reference(x, planes, grad, k, s, g), 1e-5, "jit")


def test_op_by_op_calls_compile_once(monkeypatch):
    # Keras' eager mode calls the layer op by op: the second call of a shape must reuse the first
    # compilation (a new kernel object per call made every eager step recompile, about 1 s each).
    shape, k, s, g = (1, 4, 4, 2), 3, 1, 1
    x, planes, _ = (jnp.asarray(a) for a in random_inputs(shape, k, s, g, seed=3))
    traces = []
    original = pallas_kernels._multiply_add

    def counted(call, x, planes):  # runs only when jax.jit traces it
        traces.append(call)
        return original(call, x, planes)

    monkeypatch.setattr(pallas_kernels, "_multiply_add", counted)
    pallas_kernels._compiled.cache_clear()
    try:
        first = multiply_add(x, planes, kernel_size=k, stride=s, groups=g, interpret=True)
        again = multiply_add(x, planes, kernel_size=k, stride=s, groups=g, interpret=True)
    finally:
        pallas_kernels._compiled.cache_clear()
    assert len(traces) == 1, f"the multiply-add was traced {len(traces)} times for one shape"
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))


def test_bfloat16_runs_and_is_close():
    shape, k, s, g = (1, 5, 7, 6), 3, 1, 2
    x, planes, grad = random_inputs(shape, k, s, g, seed=3)
    bf16 = [jnp.asarray(a, jnp.bfloat16) for a in (x, planes, grad)]
    got = fused(*bf16, k, s, g)
    assert all(a.dtype == jnp.bfloat16 for a in got)
    # The reference of the rounded inputs: what remains is the output's rounding to bfloat16.
    want = reference(*(np.asarray(a, np.float32) for a in bf16), k, s, g)
    assert_agree(got, want, 3e-2, "bfloat16")


# -- bad input ----------------------------------------------------------------------------------

BAD = {
    "x rank": (np.zeros((5, 7, 6)), np.zeros((1, 5, 7, 18)), dict(kernel_size=3, groups=2), "x must have shape"),
    "planes rank": (np.zeros((1, 5, 7, 6)), np.zeros((5, 7, 18)), dict(kernel_size=3, groups=2), "planes must have shape"),
    "groups": (np.zeros((1, 5, 7, 6)), np.zeros((1, 5, 7, 36)), dict(kernel_size=3, groups=4), "cannot be split"),
    "even K": (np.zeros((1, 5, 7, 6)), np.zeros((1, 5, 7, 32)), dict(kernel_size=4, groups=2), "must be odd"),
    "plane channels": (np.zeros((1, 5, 7, 6)), np.zeros((1, 5, 7, 9)), dict(kernel_size=3, groups=2), "planes must have shape"),
    "sizes": (np.zeros((1, 5, 7, 6)), np.zeros((1, 5, 7, 18)), dict(kernel_size=3, stride=2, groups=2), "planes must have shape"),
    "batch": (np.zeros((2, 5, 7, 6)), np.zeros((1, 5, 7, 18)), dict(kernel_size=3, groups=2), "planes must have shape"),
    "stride": (np.zeros((1, 5, 7, 6)), np.zeros((1, 5, 7, 18)), dict(kernel_size=3, stride=0, groups=2), "stride must be"),
    "dtypes": (np.zeros((1, 5, 7, 6), np.float32), np.zeros((1, 5, 7, 18), np.int32), dict(kernel_size=3, groups=2), "same floating dtype"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_one_clear_sentence(name):
    x, planes, kwargs, words = BAD[name]
    if name != "dtypes":
        x, planes = x.astype(np.float32), planes.astype(np.float32)
    with pytest.raises(ValueError, match=words) as error:
        multiply_add(jnp.asarray(x), jnp.asarray(planes), interpret=True, **kwargs)
    message = str(error.value)
    assert message.endswith(".") and "\n" not in message


# -- the GPU lowering ---------------------------------------------------------------------------


def test_kernels_lower_to_triton_for_cuda():
    """Pallas' Triton lowering (no GPU needed) accepts all three kernels, fp32 and bf16."""
    from jax.experimental.pallas import triton  # noqa: F401  (the Triton lowering's home)

    shape, k, s, g = (2, 9, 7, 12), 5, 2, 3
    out_shape = (2, 5, 4, g * k * k)

    def step(x, planes, grad):
        out, vjp = jax.vjp(lambda x, p: multiply_add(x, p, kernel_size=k, stride=s, groups=g), x, planes)
        return out, vjp(grad)

    for dtype in (jnp.float32, jnp.bfloat16):
        specs = [jax.ShapeDtypeStruct(shape, dtype), jax.ShapeDtypeStruct(out_shape, dtype),
                 jax.ShapeDtypeStruct((*out_shape[:3], shape[3]), dtype)]
        try:
            lowered = jax.jit(step).trace(*specs).lower(lowering_platforms=("cuda",))
        except (ImportError, NotImplementedError, RuntimeError) as error:
            if "cuda" in str(error).lower() and "unknown" in str(error).lower():
                pytest.skip(f"this jaxlib cannot lower for CUDA: {error}")
            raise
        assert lowered.as_text().count("xla.gpu.triton") == 3

    # At stride 1 the fused backward is one kernel with two outputs: two kernels in all.
    shape, out_shape = (2, 9, 7, 12), (2, 9, 7, g * k * k)

    def fused_step(x, planes, grad):
        out, vjp = jax.vjp(lambda x, p: multiply_add(x, p, kernel_size=k, groups=g, backward="fused"), x, planes)
        return out, vjp(grad)

    specs = [jax.ShapeDtypeStruct(shape, jnp.float32), jax.ShapeDtypeStruct(out_shape, jnp.float32),
             jax.ShapeDtypeStruct(shape, jnp.float32)]
    lowered = jax.jit(fused_step).trace(*specs).lower(lowering_platforms=("cuda",))
    assert lowered.as_text().count("xla.gpu.triton") == 2
