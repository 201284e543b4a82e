"""Notebook 03's mutants: plausible wrong answers and correct alternatives of every exercise.

See tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
Exercise 3's layer calls exercise 2's ``involution_multiply_add`` in the solution, so every exercise 3
entry carries a correct multiply-add of its own (``_layer_multiply_add``): a student ``mutants_k``
whose exercise 2 entry is wrong still has its exercise 3 graded on exercise 3 alone.
"""

from __future__ import annotations

from textwrap import dedent, indent

from submissions.mutants import RIGHT, WRONG, Mutant, students as _students

ASSIGNMENT = "03-involution-keras"

# ------------------------------------------------------------------ exercise 1: the kernel generator


def _generator(pool='BlockAveragePooling2D(stride, name="pool")', reduced="max(1, channels // reduction_ratio)",
               middle='layers.BatchNormalization(name="bn"),\n    layers.ReLU(name="relu"),',
               planes="kernel_size * kernel_size * groups"):
    return dedent(f"""\
        def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
            parts = [keras.Input((None, None, channels))]
            if stride > 1:
                parts.append({pool})
            parts += [
                layers.Conv2D({reduced}, 1, name="reduce"),
            {{middle}}
                layers.Conv2D({planes}, 1, name="span"),
            ]
            return keras.Sequential(parts)
        """).replace("{middle}", middle)


GENERATOR_DENSE = dedent("""\
    def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
        pooling = [BlockAveragePooling2D(stride, name="pool")] if stride > 1 else []
        return keras.Sequential([
            keras.Input((None, None, channels)),
            *pooling,
            layers.Dense(max(1, channels // reduction_ratio), name="reduce"),  # a 1x1 convolution is a dense layer on the channels
            layers.BatchNormalization(name="bn"),
            layers.ReLU(name="relu"),
            layers.Dense(kernel_size ** 2 * groups, name="span"),
        ])
    """)

GENERATOR_ADD = dedent("""\
    def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
        model = keras.Sequential()
        model.add(keras.Input(shape=(None, None, channels)))
        if stride != 1:
            model.add(BlockAveragePooling2D(pool_size=stride, name="pool"))
        model.add(layers.Conv2D(filters=max(channels // reduction_ratio, 1), kernel_size=(1, 1), name="reduce"))
        model.add(layers.BatchNormalization(axis=-1, name="bn"))
        model.add(layers.Activation("relu", name="relu"))
        model.add(layers.Conv2D(filters=groups * kernel_size * kernel_size, kernel_size=(1, 1), name="span"))
        return model
    """)

# ------------------------------------------------------------------ exercise 2: the multiply-add


def _multiply_add(plane="ops.repeat(kernel[:, :, :, :, ki, kj], channels // groups, axis=-1)",
                  window="x_pad[:, ki : ki - (size - 1) or None : stride, kj : kj - (size - 1) or None : stride, :]",
                  name="involution_multiply_add", prelude=""):
    return dedent(f"""\
        def {name}(x, kernel, stride=1):
            groups, size = kernel.shape[3], kernel.shape[4]
            channels = x.shape[-1]
            half = (size - 1) // 2
            x_pad = ops.pad(x, ((0, 0), (half, half), (half, half), (0, 0)))
        {{prelude}}    out = 0
            for ki in range(size):
                for kj in range(size):
                    window = {window}
                    plane = {plane}
                    out = out + window * plane
            return out
        """).replace("{prelude}", prelude)


SAME_PADDING_PATCHES = dedent("""\
    def involution_multiply_add(x, kernel, stride=1):
        # The Keras example's patches, now with its stride: "same" padding as TensorFlow pads it.
        groups, size = kernel.shape[3], kernel.shape[4]
        channels = x.shape[-1]
        patches = ops.image.extract_patches(x, size, strides=stride, padding="same")
        batch, rows, cols = ops.shape(patches)[:3]
        patches = ops.reshape(patches, (batch, rows, cols, size * size, groups, channels // groups))
        taps = ops.reshape(kernel, (batch, rows, cols, groups, size * size))
        return ops.reshape(ops.einsum("bhwtgc,bhwgt->bhwgc", patches, taps), (batch, rows, cols, channels))
    """)

PATCHES_THEN_SUBSAMPLE = dedent("""\
    def involution_multiply_add(x, kernel, stride=1):
        # Every K x K window at stride 1 ("same" pads (K - 1) / 2 on each side for odd K), then every s-th one.
        groups, size = kernel.shape[3], kernel.shape[4]
        channels = x.shape[-1]
        patches = ops.image.extract_patches(x, size, strides=1, padding="same")[:, ::stride, ::stride]
        batch, rows, cols = ops.shape(patches)[:3]
        patches = ops.reshape(patches, (batch, rows, cols, size * size, groups, channels // groups))
        taps = ops.reshape(kernel, (batch, rows, cols, groups, size * size))
        return ops.reshape(ops.einsum("bhwtgc,bhwgt->bhwgc", patches, taps), (batch, rows, cols, channels))
    """)

TAP_MAJOR_GROUPED = dedent("""\
    def involution_multiply_add(x, kernel, stride=1):
        batch, rows, cols, groups, size, _ = ops.shape(kernel)
        channels = x.shape[-1]
        pad = size // 2
        x_pad = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        x_pad = ops.reshape(x_pad, (*ops.shape(x_pad)[:3], groups, channels // groups))
        # A tap-major copy of the kernel: taps[t] is the (B, H_out, W_out, G, 1) plane of tap t.
        taps = ops.reshape(ops.transpose(kernel, (4, 5, 0, 1, 2, 3)), (size * size, batch, rows, cols, groups, 1))
        terms = [x_pad[:, t // size :: stride, t % size :: stride][:, :rows, :cols] * taps[t] for t in range(size * size)]
        return ops.reshape(ops.sum(ops.stack(terms), axis=0), (batch, rows, cols, channels))
    """)

# ------------------------------------------------------------------ exercise 3: the layer

# Every exercise 3 entry brings its own correct multiply-add, so that it is graded on its own.
OWN_MULTIPLY_ADD = _multiply_add(name="_layer_multiply_add")

_BUILD = """\
n_channels = input_shape[-1]
if n_channels % self.groups:
    raise ValueError(f"{n_channels} channels cannot be split into {self.groups} equal groups")
self.pool = BlockAveragePooling2D(self.stride) if self.stride > 1 else None
self.reduce = layers.Conv2D(max(1, n_channels // self.reduction_ratio), 1)
self.bn = layers.BatchNormalization()
self.span = layers.Conv2D(self.kernel_size * self.kernel_size * self.groups, 1)
reduced = max(1, n_channels // self.reduction_ratio)
self.reduce.build((None, None, None, n_channels))
self.bn.build((None, None, None, reduced))
self.span.build((None, None, None, reduced))
"""

_BUILD_UNBUILT = _BUILD[: _BUILD.index("reduced = ")]

_OUTPUT_SHAPE = """\
batch, height, width, channels = input_shape
rows = None if height is None else -(-height // self.stride)
cols = None if width is None else -(-width // self.stride)
return (batch, rows, cols, channels)
"""

# Sizes by math.ceil, unknown ones by a conditional expression in one comprehension.
_OUTPUT_SHAPE_CEIL = """\
import math

sizes = [size if size is None else math.ceil(size / self.stride) for size in input_shape[1:3]]
return (input_shape[0], *sizes, input_shape[-1])
"""

_KERNEL = """\
pooled = self.pool(x) if self.pool is not None else x
planes = self.span(ops.relu(self.bn(self.reduce(pooled), training=training)))
batch, rows, cols = ops.shape(planes)[:3]
return ops.reshape(planes, (batch, rows, cols, self.groups, self.kernel_size, self.kernel_size))
"""

_CONFIG = """\
config = super().get_config()
config.update(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
return config
"""


def _layer(build=_BUILD, kernel=_KERNEL, config=_CONFIG,
           call="return _layer_multiply_add(x, self.generate_kernel(x, training=training), self.stride)\n",
           output_shape=_OUTPUT_SHAPE):
    shape_method = f"""
    def compute_output_shape(self, input_shape):
{indent(output_shape, " " * 8)}""" if output_shape else ""
    body = f"""\
class InvolutionLayer(layers.Layer):
    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups = groups
        self.reduction_ratio = reduction_ratio

    def build(self, input_shape):
{indent(build, " " * 8)}
    def generate_kernel(self, x, training=False):
{indent(kernel, " " * 8)}
    def call(self, x, training=None):
{indent(call, " " * 8)}{shape_method}
    def get_config(self):
{indent(config, " " * 8)}"""
    return OWN_MULTIPLY_ADD + "\n\n" + body


LAYER_DENSE = _layer(
    build=_BUILD.replace("layers.Conv2D(max(1, n_channels // self.reduction_ratio), 1)",
                         "layers.Dense(max(1, n_channels // self.reduction_ratio))")
    .replace("layers.Conv2D(self.kernel_size * self.kernel_size * self.groups, 1)",
             "layers.Dense(self.kernel_size ** 2 * self.groups)"),
    kernel=_KERNEL.replace("ops.relu(", "ops.maximum(0.0, ").replace(
        "batch, rows, cols = ops.shape(planes)[:3]\n", "shape = ops.shape(planes)\n").replace(
        "(batch, rows, cols, self.groups", "(shape[0], shape[1], shape[2], self.groups"),
)

LAYER_PATCHES = _layer(
    config="return {**super().get_config(), **{name: getattr(self, name) for name in "
           "('kernel_size', 'stride', 'groups', 'reduction_ratio')}}\n",
    call=PATCHES_THEN_SUBSAMPLE.replace("def involution_multiply_add(x, kernel, stride=1):",
                                        "def patches_multiply_add(x, kernel, stride):")
    + "\nreturn patches_multiply_add(x, self.generate_kernel(x, training=training), self.stride)\n",
)

# ------------------------------------------------------------------ exercise 4: save and reload


def _save(check='path = str(path)\nif not path.endswith(".keras"):\n    raise ValueError(f"the file name must end with .keras, got {path!r}")',
          save="model.save(path)",
          load="return keras.models.load_model(path, custom_objects={cls.__name__: cls for cls in custom_layers})"):
    return (
        "def save_and_reload(model, path, custom_layers=()):\n"
        + indent(check + "\n" + save + "\n" + load + "\n", "    ")
    )


SAVE_PATHLIB = dedent("""\
    import os


    def save_and_reload(model, path, custom_layers=()):
        if Path(path).suffix != ".keras":
            raise ValueError(f"{os.fspath(path)!r}: Keras 3 needs a file name that ends with .keras")
        keras.saving.save_model(model, os.fspath(path))
        return keras.saving.load_model(os.fspath(path), custom_objects={layer.__name__: layer for layer in custom_layers})
    """)

SAVE_SCOPE = dedent("""\
    def save_and_reload(model, path, custom_layers=()):
        filename = f"{path}"
        if filename[-len(".keras"):] != ".keras":
            raise ValueError("save_and_reload: the file name must end with .keras")
        model.save(filename, overwrite=True)
        with keras.saving.custom_object_scope({c.__name__: c for c in custom_layers}):
            return keras.models.load_model(filename)
    """)

MUTANTS = {
    "ex1": [
        Mutant("AveragePooling2D 'same' instead of block pooling", WRONG, {"ex1": _generator(
            pool='layers.AveragePooling2D(stride, stride, padding="same", name="pool")')}),
        Mutant("reduce to C // r channels, without max(1, ·)", WRONG, {"ex1": _generator(reduced="channels // reduction_ratio")}),
        Mutant("no ReLU after the batch normalisation", WRONG, {"ex1": _generator(
            middle='    layers.BatchNormalization(name="bn"),')}),
        Mutant("span of K * K planes, groups ignored", WRONG, {"ex1": _generator(planes="kernel_size * kernel_size")}),
        Mutant("Dense layers on the channel axis", RIGHT, {"ex1": GENERATOR_DENSE}),
        Mutant("model.add, Activation('relu'), keyword arguments", RIGHT, {"ex1": GENERATOR_ADD}),
    ],
    "ex2": [
        Mutant("interleaved groups (ops.tile: channel c in group c % G)", WRONG, {"ex2": _multiply_add(
            plane="ops.tile(kernel[:, :, :, :, ki, kj], (1, 1, 1, channels // groups))")}),
        Mutant("taps transposed (kernel[..., kj, ki])", WRONG, {"ex2": _multiply_add(
            plane="ops.repeat(kernel[:, :, :, :, kj, ki], channels // groups, axis=-1)")}),
        Mutant("extract_patches with the stride: TensorFlow's 'same' padding", WRONG, {"ex2": SAME_PADDING_PATCHES}),
        Mutant("slice ends from x.shape (fails where H, W are unknown)", WRONG, {"ex2": _multiply_add(
            window="x_pad[:, ki : ki + height : stride, kj : kj + width : stride, :]",
            prelude="    height, width = x.shape[1], x.shape[2]\n")}),
        Mutant("extract_patches at stride 1, every s-th window, einsum", RIGHT, {"ex2": PATCHES_THEN_SUBSAMPLE}),
        Mutant("tap-major kernel copy, channels as (G, C/G)", RIGHT, {"ex2": TAP_MAJOR_GROUPED}),
    ],
    "ex3": [
        Mutant("kernel read tap-major (span channel tap * G + g)", WRONG, {"ex3": _layer(kernel=_KERNEL.replace(
            "return ops.reshape(planes, (batch, rows, cols, self.groups, self.kernel_size, self.kernel_size))",
            "kernel = ops.reshape(planes, (batch, rows, cols, self.kernel_size, self.kernel_size, self.groups))\n"
            "return ops.transpose(kernel, (0, 1, 2, 5, 3, 4))"))}),
        Mutant("stride applied to the kernel (every s-th plane), no input pooling", WRONG, {"ex3": _layer(
            build=_BUILD.replace("BlockAveragePooling2D(self.stride) if self.stride > 1 else None", "None"),
            kernel=_KERNEL.replace("batch, rows, cols = ops.shape(planes)[:3]",
                                   "planes = planes[:, :: self.stride, :: self.stride]\nbatch, rows, cols = ops.shape(planes)[:3]"))}),
        Mutant("get_config without reduction_ratio", WRONG, {"ex3": _layer(config=_CONFIG.replace(
            ", reduction_ratio=self.reduction_ratio", ""))}),
        Mutant("AveragePooling2D 'same' for the pooling", WRONG, {"ex3": _layer(build=_BUILD.replace(
            "BlockAveragePooling2D(self.stride)", 'layers.AveragePooling2D(self.stride, self.stride, padding="same")'))}),
        Mutant("training not passed on: batch norm stays in inference mode", WRONG, {"ex3": _layer(
            call="return _layer_multiply_add(x, self.generate_kernel(x), self.stride)\n")}),
        Mutant("no compute_output_shape (fails on JAX at stride 2, unknown size)", WRONG, {"ex3": _layer(output_shape="")}),
        Mutant("compute_output_shape, sublayers left unbuilt (reload loses their weights)", WRONG, {"ex3": _layer(
            build=_BUILD_UNBUILT)}),
        Mutant("its own compute_output_shape by math.ceil", RIGHT, {"ex3": _layer(output_shape=_OUTPUT_SHAPE_CEIL)}),
        Mutant("Dense sublayers, ops.maximum for ReLU", RIGHT, {"ex3": LAYER_DENSE}),
        Mutant("its own extract_patches multiply-add; config by dict merge", RIGHT, {"ex3": LAYER_PATCHES}),
    ],
    "ex4": [
        Mutant("custom_layers ignored (only registered classes load)", WRONG, {"ex4": _save(
            load="return keras.models.load_model(path)")}),
        Mutant("returns the model it was given", WRONG, {"ex4": _save(load="keras.models.load_model(\n"
            "    path, custom_objects={cls.__name__: cls for cls in custom_layers})\nreturn model")}),
        Mutant("'.keras' in the name, not at its end", WRONG, {"ex4": _save(
            check='path = str(path)\nif ".keras" not in path:\n    raise ValueError(f"the file name must end with .keras, got {path!r}")')}),
        Mutant("path.endswith on a pathlib.Path", WRONG, {"ex4": _save(
            check='if not path.endswith(".keras"):\n    raise ValueError(f"the file name must end with .keras, got {path!r}")')}),
        Mutant("pathlib suffix, keras.saving functions", RIGHT, {"ex4": SAVE_PATHLIB}),
        Mutant("custom_object_scope around load_model", RIGHT, {"ex4": SAVE_SCOPE}),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
