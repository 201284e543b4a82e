"""Notebook 03: students whose answers delegate to the course's ``Involution`` layer (see tests/test_delegation_03.py).

The student environment holds that layer (notebooks 04 and 05 need it), and notebook 03 asks for one
like it. ``delegate_every_exercise`` hands exercises 1 and 2 to its parts and keeps the solution's
exercise 3, whose layer calls exercise 2's multiply-add, so that exercise 3 delegates through it;
exercise 4 (saving and loading) has nothing to delegate to. Exercise 3's four ways of delegating
need one answer cell each, so each is a student of its own, with the solution's other answers
(exercise 3's layer uses none of them).
"""

from __future__ import annotations

from graded_runs import with_answers

ASSIGNMENT = "03-involution-keras"

SUBCLASS = '''\
from involution_course.layers import Involution


class InvolutionLayer(Involution):
    pass
'''

WRAPPER = '''\
from involution_course.layers import Involution


class InvolutionLayer(layers.Layer):
    """Holds the course's layer and calls it."""

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio
        self.inner = Involution(kernel_size, stride, groups, reduction_ratio)

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.pool, self.reduce, self.bn, self.span = self.inner.pool, self.inner.reduce, self.inner.bn, self.inner.span

    def generate_kernel(self, x, training=False):
        return self.inner.generate_kernel(x, training=training)

    def call(self, x, training=None):
        return self.inner(x, training=training)

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

CALL = '''\
from involution_course.layers import Involution


def involution_of(x, kernel_size, stride, groups, reduction_ratio):
    return Involution(kernel_size, stride, groups, reduction_ratio)(x)


def kernel_of(x, kernel_size, stride, groups, reduction_ratio):
    return Involution(kernel_size, stride, groups, reduction_ratio).generate_kernel(x)


class InvolutionLayer(layers.Layer):
    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio

    def build(self, input_shape):
        self.pool = None
        self.reduce = layers.Conv2D(max(1, input_shape[-1] // self.reduction_ratio), 1)
        self.bn = layers.BatchNormalization()
        self.span = layers.Conv2D(self.kernel_size ** 2 * self.groups, 1)

    def generate_kernel(self, x, training=False):
        return kernel_of(x, self.kernel_size, self.stride, self.groups, self.reduction_ratio)

    def call(self, x, training=None):
        return involution_of(x, self.kernel_size, self.stride, self.groups, self.reduction_ratio)

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

BORROWED = '''\
from involution_course.layers import Involution


class InvolutionLayer(layers.Layer):
    """Its own class, with the course's methods copied in."""

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio

    # Every method and property of the course's layer, whatever its helpers are called.
    for _name, _value in vars(Involution).items():
        if not _name.startswith("__") and _name != "get_config":
            locals()[_name] = _value
    del _name, _value

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

GENERATOR_PARTS = '''\
from involution_course.layers import Involution


def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
    reference = Involution(kernel_size, stride, groups, reduction_ratio)
    reference.build((None, None, None, channels))
    parts = [keras.Input((None, None, channels))] + ([reference.pool] if stride > 1 else [])
    return keras.Sequential(parts + [reference.reduce, reference.bn, layers.ReLU(name="relu"), reference.span])
'''

MULTIPLY_ADD_INTERNALS = '''\
from involution_course.layers import Involution


def involution_multiply_add(x, kernel, stride=1):
    groups, size = kernel.shape[3], kernel.shape[4]
    reference = Involution(size, stride, groups)
    reference.channels = x.shape[-1]
    planes = ops.reshape(kernel, (*ops.shape(kernel)[:3], groups * size * size))
    return reference._multiply_add(x, reference._tap_planes(planes))
'''

EX3_STYLES = {"subclass": SUBCLASS, "wrapper": WRAPPER, "call": CALL, "borrowed": BORROWED}

# student -> (its answers by grade id, the exercises that must score 0)
STUDENTS = {
    "delegate_every_exercise": (
        {"ex1_kernel_generator": GENERATOR_PARTS, "ex2_multiply_add": MULTIPLY_ADD_INTERNALS},
        {"ex1", "ex2", "ex3"},
    ),
    **{f"delegate_ex3_{style}": ({"ex3_layer": answer}, {"ex3"}) for style, answer in EX3_STYLES.items()},
}


def students(source) -> dict:
    return {name: with_answers(source, answers) for name, (answers, _) in STUDENTS.items()}
