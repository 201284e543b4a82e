# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "e73af5cca51d43e388a6ba5cfea93158", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/04-cifar10-comparison/04-cifar10-comparison.ipynb)
#
# # 04 · CNN against involution on CIFAR-10
#
# *Involution Course, assignment 04. Time: about 2 hours (longer in the full profile).*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. reproduce the Keras example's CNN and involution network and their results;
# 2. build a fair comparison at an equal parameter budget with RedNet-style bottleneck blocks;
# 3. run the sanity checks that come before a long training run: the initial loss, and overfitting a small set;
# 4. explain a modern training recipe (augmentation, learning-rate schedule, weight decay) and why
#    results over several seeds, each run listed, say more than one run;
# 5. judge accuracy against every cost: parameters, multiply-adds and measured throughput;
# 6. evaluate models with learning curves, per-class accuracy and a confusion matrix.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you. When your notebook is
# graded, the grader calls your functions again on inputs you have not seen and judges what they
# return in its own process, outside your notebook. Every rule it applies is stated in the exercise
# and checked by a visible test, so read each exercise's text closely and test your code beyond the
# visible tests. One rule holds for every exercise: write the answer yourself, without importing
# the instructor's package (`involution_instructor`). Every symbol follows the course's
# [notation table](https://involution-course.github.io/involution-course-student/notation.html).
#
# **Two kinds of numbers.** Training these networks properly takes a GPU. Unless you run the full
# profile, the cells below train only briefly (a *live run*, whose accuracies are far below the
# full run's), and load the weights that the course recorded in its *full run* into the models
# you build. Every figure says which of the two it comes from.

# %% nbgrader={"cell_type": "code", "checksum": "69eb3cf2151c0391b04f764c68f8ae85", "grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab the first run installs the course (about a minute); elsewhere this only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:  # a fresh Colab runtime
    # %pip install --quiet --no-deps "involution-course @ git+https://github.com/involution-course/involution-course-student@main"
    import involution_course as ic
from involution_course.colab import prepare_colab

prepare_colab(gpu_advised=True)  # on Colab: install what the runtime lacks; advise a GPU
profile = ic.setup_notebook()

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ea107394794baa761a0eae319c2165ea", "grade": false, "grade_id": "data-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 0 · The data and the example's recipe
#
# CIFAR-10 holds 60,000 colour images of $32 \times 32$ pixels in ten classes (50,000 for
# training, 10,000 for testing). The profile decides how many we use: the grading profile takes a
# small stratified subset so that the notebook runs in under a minute, the full profile takes
# everything. Like the Keras example, parts 1 to 3 scale pixels to $[0, 1]$, use no augmentation,
# and train every model with the same recipe: Adam (learning rate $10^{-3}$), batch size from the
# profile (256 in the full profile), the cross-entropy of the softmax of the logits $z$,
#
# $$\mathcal{L} = -\frac{1}{N} \sum_{n=1}^{N} \log \frac{e^{z_{n, y_n}}}{\sum_{k=1}^{10} e^{z_{n,k}}},$$
#
# and, as the example does, the test set as validation data. Nothing below is chosen by looking at
# the test set (no early stopping, no tuning), so the last epoch's test accuracy is a fair figure.
# Section 5 then trains the fair pair with a modern recipe, chosen on a validation split.

# %% nbgrader={"cell_type": "code", "checksum": "27b561c10b8f92c1660211ea9a772f6d", "grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
import keras
import numpy as np
from IPython.display import Markdown, display

from involution_course import checkpoints, code_rules, evaluation, models, recipe, training
from involution_course import figures
from involution_course.exercises import name_unfinished_exercises

# A later cell that calls an exercise's function you have not finished says which exercise to finish.
name_unfinished_exercises({"build_example_cnn": "Exercise 1", "build_example_involution_network": "Exercise 2",
                           "build_fair_network": "Exercise 3", "largest_width_within": "Exercise 4",
                           "confusion_matrix": "Exercise 6", "per_class_accuracy": "Exercise 6"})

(x_train_raw, y_train), (x_test_raw, y_test) = ic.load_profile_data(profile)
x_train, x_test = training.scale_images(x_train_raw), training.scale_images(x_test_raw)
live = training.LiveRun.of(profile, len(x_train))  # what the profile trains live, and on how many images
print(f"training images: {x_train.shape}, test images: {x_test.shape}, pixel range [{x_train.min()}, {x_train.max()}]")
print(live)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "d72529d453a719ce6553e71e6bdecb8c", "grade": false, "grade_id": "ex1-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · Reproducing the example's CNN
#
# A convolution with a $3 \times 3$ kernel, $C_\text{in}$ input and $C_\text{out}$ output channels
# has $9\,C_\text{in} C_\text{out} + C_\text{out}$ parameters (weights and biases) and the same
# kernel at every pixel. A dense layer from $n$ to $m$ units has $nm + m$.
#
# **Exercise 1** (2 points). Write `build_example_cnn()` returning a `keras.Sequential` model for
# $32 \times 32 \times 3$ inputs (start with `keras.Input((32, 32, 3))`), with these layers in order:
#
# 1. `Conv2D` with 32 filters, kernel $3 \times 3$, `padding="same"`; then `ReLU`; then `MaxPooling2D((2, 2))`;
# 2. `Conv2D` with 64 filters, $3 \times 3$, `"same"`; `ReLU`; `MaxPooling2D((2, 2))`;
# 3. `Conv2D` with 64 filters, $3 \times 3$, `"same"`; `ReLU`;
# 4. `Flatten`; `Dense(64, activation="relu")`; `Dense(10)` with no activation (it outputs logits).
#
# Check by hand before you run it: the two pooled maps are $16 \times 16 \times 32$, then
# $8 \times 8 \times 64$; the flattened map is $8 \times 8 \times 64 = 4096$ values, so the first
# dense layer alone has $4096 \cdot 64 + 64 = 262{,}208$ parameters; the whole model has 319,178.
# The model must compute exactly this network: given any weights of its shapes (the tests load the
# course's recorded weights, the grader draws its own), its logits are this network's.

# %% nbgrader={"cell_type": "code", "checksum": "a24c698bfae54674a45a21917a7ab922", "grade": false, "grade_id": "ex1_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_example_cnn():
    """The Keras example's CNN: 319,178 trainable parameters, 10 logits out."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: Keras lists the layers, their output shapes and parameter counts.
build_example_cnn().summary()

# %% nbgrader={"cell_type": "code", "checksum": "6024ef302ec3c93c297ab1ba4a79f49a", "grade": true, "grade_id": "ex1_test_cnn", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _ops(model):
    """The model's layers as operations: a layer's own activation counts as one, as ReLU does."""
    ops = []
    for layer in model.layers:
        kind, activation = type(layer).__name__, layer.get_config().get("activation")
        if kind != "InputLayer":
            ops.append(str(activation).replace("relu", "ReLU") if kind == "Activation" else kind)
        if kind != "Activation" and activation not in (None, "linear"):
            ops.append(str(activation).replace("relu", "ReLU"))
    return ops


_cnn = build_example_cnn()
_count = models.trainable_parameters(_cnn)
assert _count == 319_178, f"expected 319,178 trainable parameters, your model has {_count:,}"
_shape = tuple(_cnn(np.zeros((2, 32, 32, 3), "float32")).shape)
assert _shape == (2, 10), f"expected output shape (2, 10) for two images, got {_shape}"
# Same count, other network: a missing ReLU or a softmax at the end changes no parameter.
_expected = ["Conv2D", "ReLU", "MaxPooling2D"] * 2 + ["Conv2D", "ReLU", "Flatten", "Dense", "ReLU", "Dense"]
assert _ops(_cnn) == _expected, f"expected the operations {_expected} (the last Dense outputs logits), got {_ops(_cnn)}"
_pooled = [tuple(layer.output.shape[1:]) for layer in _cnn.layers if type(layer).__name__ == "MaxPooling2D"]
assert _pooled == [(16, 16, 32), (8, 8, 64)], f"the pooled maps must be 16x16x32, then 8x8x64; got {_pooled}"
# The network described, with given weights: the course's recorded ones load and give the recorded outputs.
checkpoints.load_checkpoint(_cnn, "example_cnn", "full")
code_rules.assert_own_code(build_example_cnn, set(), {"involution_instructor"},
                           rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ff14e9c96c3385da5e6b45de79bd445e", "grade": false, "grade_id": "ex2-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · Reproducing the example's involution network
#
# Recall involution from notebooks 02 and 03. For an input $X$ of shape $H \times W \times C$, a kernel
# of size $K$, $G$ groups and stride 1, the output at position $(i, j)$ and channel $c$ is
#
# $$Y_{i,j,c} = \sum_{(u,v) \in \Delta_K} \mathcal{H}_{i,j,g(c),u,v}\, X_{i+u,\, j+v,\, c}, \qquad
#   g(c) = \left\lfloor \frac{c}{C/G} \right\rfloor,$$
#
# over the $K^2$ centred offsets $\Delta_K$, where the kernel $\mathcal{H}_{i,j} = W_1\, \sigma\big(W_0 X_{i,j} + b_0\big) + b_1$
# ($\sigma$: batch normalisation then ReLU) is generated from the pixel itself: a $1 \times 1$ "reduce"
# convolution $W_0$ to $C_r = \max(1, \lfloor C/r \rfloor)$ channels, batch norm, ReLU, and a
# $1 \times 1$ "span" convolution $W_1$ to $K^2 G$ channels, each with its bias. Its
# parameter count depends on $C$, $r$, $K$ and $G$, never on the image size: with $C = 3$, $r = 2$,
# $G = 1$, $K = 3$ one layer has $(3 + 1) + 2 + (9 + 9) = 24$ trainable parameters (reduce, batch-norm
# scale and shift, span), plus 2 batch-norm statistics that are not trained.
#
# **Exercise 2** (2 points). Write `build_example_involution_network()` returning a `keras.Sequential` for
# $32 \times 32 \times 3$ inputs with, in order: `Involution(kernel_size=3, stride=1, groups=1,
# reduction_ratio=2)`, `ReLU`, `MaxPooling2D((2, 2))`, the same three layers again, a third
# `Involution` with the same settings and `ReLU`, then `Flatten`, `Dense(64, activation="relu")` and
# `Dense(10)` (logits). Use the course's layer, `ic.layers.Involution`. It has 13,074 trainable
# parameters: the network never leaves 3 channels, so almost all of them sit in the dense layers,
# after a flattened map of $8 \cdot 8 \cdot 3 = 192$ values. As in Exercise 1, given any weights of
# its shapes, its logits must be this network's.

# %% nbgrader={"cell_type": "code", "checksum": "c4194f22e94d6fa5c108c7a96c64df20", "grade": false, "grade_id": "ex2_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
from involution_course.layers import Involution


def build_example_involution_network():
    """The Keras example's involution network: 13,074 trainable parameters, 10 logits out."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: compare the parameters of the involution layers with those of the dense layers.
build_example_involution_network().summary()

# %% nbgrader={"cell_type": "code", "checksum": "35a0bd365fa2c89207c61b7c7ff12039", "grade": true, "grade_id": "ex2_test_involution_network", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_net = build_example_involution_network()
_count = models.trainable_parameters(_net)
assert _count == 13_074, f"expected 13,074 trainable parameters, your model has {_count:,}"
_shape = tuple(_net(np.zeros((2, 32, 32, 3), "float32")).shape)
assert _shape == (2, 10), f"expected output shape (2, 10) for two images, got {_shape}"
_expected = ["Involution", "ReLU", "MaxPooling2D"] * 2 + ["Involution", "ReLU", "Flatten", "Dense", "ReLU", "Dense"]
assert _ops(_net) == _expected, f"expected the operations {_expected} (the last Dense outputs logits), got {_ops(_net)}"
_settings = [(layer.kernel_size, layer.stride, layer.groups, layer.reduction_ratio) for layer in _net.layers
             if isinstance(layer, Involution)]
assert _settings == [(3, 1, 1, 2)] * 3, (
    f"expected three ic.layers.Involution layers with kernel_size=3, stride=1, groups=1, reduction_ratio=2, got {_settings}")
_flat = [tuple(layer.output.shape[1:]) for layer in _net.layers if type(layer).__name__ == "Flatten"]
assert _flat == [(192,)], f"the flattened map must hold 8*8*3 = 192 values, got {_flat}"
checkpoints.load_checkpoint(_net, "example_involution", "full")  # the network described, with given weights
code_rules.assert_own_code(build_example_involution_network, set(), {"involution_instructor"},
                           rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "92f20c1838103aafa393f6631aba6822", "grade": false, "grade_id": "train-examples-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Training the two reproductions: a live run, and the recorded full run
#
# We train the two models your builders return, each from the same seed, with the example's recipe
# of section 0; if an exercise above is not finished yet, the cell says which one. In the full
# profile this live run *is* the example's: 20 epochs on all 50,000 images. The other profiles
# train for a few epochs on a subset, so that the notebook runs in minutes on a laptop's CPU:
# their accuracies differ from the full run's (the cell after next prints both, and by how much).
# `training.fit` shows a progress bar and times every epoch; the first epoch also compiles the
# model, so seconds per epoch are the median of the later epochs when there are several. (A run of
# ten steps or fewer, as when autograding, runs eagerly instead: on a CPU that is quicker than
# compiling.)

# %% nbgrader={"cell_type": "code", "checksum": "6ee6ca335754021dd381b689f54bd7c8", "grade": false, "grade_id": "train-examples", "locked": true, "schema_version": 3, "solution": false, "task": false}
runs = {}
examples = {"example_cnn": build_example_cnn, "example_involution": build_example_involution_network}
for name, build in examples.items():
    keras.utils.set_random_seed(0)  # the same initial weights on every run
    runs[name] = training.fit(build(), (x_train[:live.images], y_train[:live.images]), (x_test, y_test),
                              epochs=live.epochs, batch_size=live.batch_size, name=name)
    print(f"{name}, live run: test accuracy {runs[name].final_val_accuracy:.4f} after {live.epochs} epoch(s) "
          f"on {live.images:,} images, {runs[name].seconds_per_epoch:.1f} s per epoch")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ffe148e78b7b065a5175b4299211ff9f", "grade": false, "grade_id": "recorded-examples-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The course ran the full profile on a GPU and ships the weights of that run (`ic.checkpoints`;
# the cell prints where, when and with which command). Below they are loaded **into models built
# by your own builders**, then measured on this profile's test images. Weights load only into
# the architecture they were trained with, and the loader also compares the model's outputs on
# a few fixed inputs with the recorded ones, so a model that loads is a check of your Exercises 1
# and 2 as well. Where a checkpoint cannot be used (missing, corrupt, or your model differs),
# the cell says why in one sentence and the notebook goes on with the live run.

# %% nbgrader={"cell_type": "code", "checksum": "2b45ccea855fe7ded0ae3af6fc714a5f", "grade": false, "grade_id": "recorded-examples", "locked": true, "schema_version": 3, "solution": false, "task": false}
recorded = {name: training.load_recorded(build, name, "full", (x_test_raw, y_test)) for name, build in examples.items()}
print("Recorded full run (the example's recipe, 20 epochs on 50,000 images):",
      checkpoints.provenance_text(checkpoints.recorded_results("baseline")))
# What the rest of the notebook analyses: the live run in the full profile, else the recorded run where it loaded.
analysed = training.live_or_recorded(runs, recorded, len(y_test), trained_for_real=live.is_full)

# %% nbgrader={"cell_type": "code", "checksum": "d5745b4c6be465bedea0d62f1ad2fe07", "grade": false, "grade_id": "curves-examples", "locked": true, "schema_version": 3, "solution": false, "task": false}
curves = {f"{name} (live)": run.history for name, run in runs.items()}
curves |= {f"{name} (recorded full run)": run.history for name, run in recorded.items() if run is not None}
figures.learning_curves(curves);

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "636a309a5284c8a9b46e4ec233d04dac", "grade": false, "grade_id": "baseline-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The example's results over three seeds
#
# One run is one draw: the initial weights and the order of the batches depend on the seed. The
# recorded full run trained every model with three seeds, the example's two and the fair pair that
# section 3 builds (all with the example's recipe; the fair involution network in its first design,
# with $K = 3$: section 3 explains the $K = 5$ it has now). The table lists the mean, the standard
# deviation (over seeds, with $n - 1$) and every run; the sentences below it are computed from
# those numbers.

# %% nbgrader={"cell_type": "code", "checksum": "f9b98e7076a3843231b09fbc27dc8478", "grade": false, "grade_id": "baseline", "locked": true, "schema_version": 3, "solution": false, "task": false}
baseline = checkpoints.recorded_results("baseline")
baseline_rows = figures.cost_accuracy_rows([baseline])
display(Markdown(training.results_markdown(baseline_rows)))
print(training.compare_sentence(baseline_rows, "example_cnn", "example_involution", recipe="example"))
print(training.compare_sentence(baseline_rows, recipe="example", first_kernel_size=3))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "c382239a21d51d52b569ff079f4e4219", "grade": false, "grade_id": "fair-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · Making the comparison fair
#
# The example compares a CNN of 319,178 parameters with an involution network of 13,074, about
# 24 times fewer, which never widens beyond 3 channels and sends almost all its parameters to two
# dense layers. Its gap in accuracy says little about involution itself. A fair comparison holds
# the architecture and the parameter budget fixed and changes the operator that mixes space;
# each network then takes the largest width within the budget (Exercise 4), so the widths of
# the two may differ.
#
# We use a RedNet-style bottleneck block, which the course provides and this notebook introduces
# (`ic.layers.bottleneck`; notebook 03 built the `Involution` layer inside it): a $1 \times 1$
# convolution narrows the $4w$ channels to $w$, the spatial operator (a $5 \times 5$ involution, or a
# $3 \times 3$ convolution) mixes neighbouring pixels, a $1 \times 1$ convolution widens back to $4w$, each
# followed by batch norm, and a residual connection adds the block's input:
#
# $$Y = \mathrm{ReLU}\Big(X + \mathrm{BN}\big(W_\text{expand}\;\sigma(S(\sigma(W_\text{reduce}\,X)))\big)\Big),$$
#
# with $S$ the spatial operator, $\sigma$ batch norm then ReLU (and a strided $1 \times 1$ convolution
# and batch norm on $X$ when the shape changes).
# A $K \times K$ convolution on $w$ channels costs $K^2 w^2$ parameters: $9w^2$ at $K = 3$, $25 w^2$ at
# $K = 5$. An involution on $w$ channels with reduction 4 and $G = w/8$ groups costs about
# $w \cdot w/4 + (w/4) \cdot K^2 (w/8) = (8 + K^2)\,w^2/32$: $17 w^2/32$ at $K = 3$, $33 w^2 / 32$ at $K = 5$.
# Its window is cheap to widen, so the fair pair does what the paper's RedNet does against ResNet's
# $3 \times 3$ convolutions: **involution takes a larger window, $K = 5$**, the largest that keeps
# the network within the budget at its width (the paper uses $K = 7$; here $K = 7$ would pass the
# budget by a few hundred parameters). A kernel size is chosen on a validation split, in the same
# way for both networks: involution $K = 3$ or $K = 5$ at its width, the convolution $K = 3$ at its
# width or $K = 5$ at the widest width within the budget. Section 5 prints which of the two networks
# the recorded runs made that choice for, and what it chose. The sweep in section 8 shows
# involution at $K = 3$ and $K = 7$ too.
#
# **The fair network** with base width $w$ (a multiple of 8 for involution, any width for the CNN twin):
#
# * stem: `Conv2D(32, 3, padding="same", use_bias=False)`, `BatchNormalization`, `ReLU`;
# * three stages of two `bottleneck` blocks each; stage $\ell = 0, 1, 2$ has `filters` $= 4 w\,2^\ell$,
#   `kernel_size=5` for involution and `kernel_size=3` for convolution, `expansion=4`, and
#   the first block of stages 1 and 2 has `stride=2` (32 → 16 → 8 pixels); all others stride 1;
#   for involution also `groups` $= w\,2^\ell / 8$ (one group per 8 channels, a whole number since
#   $w$ is a multiple of 8) and `reduction_ratio=4`. A convolution has neither: `bottleneck` ignores
#   both when `spatial="conv"` (for $w = 19$, $w \cdot 2^\ell / 8$ is not even a whole number), so pass
#   them or not;
# * head: `GlobalAveragePooling2D` and `Dense(10)` (logits).
#
# Both networks of the fair pair are this network; `spatial` (and the width that fits the
# budget) differs.
#
# **Exercise 3** (3 points). Write `build_fair_network(width, spatial)` following that description with
# `ic.layers.bottleneck` and the functional API (`keras.Input`, then `keras.Model(inputs, outputs)`).

# %% nbgrader={"cell_type": "code", "checksum": "e0cad114df78420f0246fa5c8a50fef0", "grade": false, "grade_id": "ex3_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
from involution_course.layers import bottleneck


def build_fair_network(width, spatial="involution"):
    """The fair network of base width ``width``; ``spatial`` is "involution" or "conv"."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: the two networks of width 16 differ only in their spatial operator.
for _spatial in ("involution", "conv"):
    print(_spatial, f"{build_fair_network(16, _spatial).count_params():,} parameters in all")

# %% nbgrader={"cell_type": "code", "checksum": "5d5bbc056c1ecf83f48844e3afe97748", "grade": true, "grade_id": "ex3_test_fair_network", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Trainable parameters of the fair network at width 16 (and of the conv twin at 24), literals made by the instructor's
# `python -m involution_instructor.reference.models` (tests/test_models.py keeps it in step).
_FAIR_COUNT_INVOLUTION_16 = 137_310
_fair = build_fair_network(16, "involution")
_count, _expected = models.trainable_parameters(_fair), _FAIR_COUNT_INVOLUTION_16
assert _count == _expected, f"width 16, involution: expected {_expected:,} trainable parameters, got {_count:,}"
_shape = tuple(_fair(np.zeros((2, 32, 32, 3), "float32")).shape)
assert _shape == (2, 10), f"expected output shape (2, 10) for two images, got {_shape}"
# The conv twin: pass `spatial` on to every block.
_FAIR_COUNT_CONV_24 = 492_074
_twin = build_fair_network(24, "conv")
_count, _expected = models.trainable_parameters(_twin), _FAIR_COUNT_CONV_24
assert _count == _expected, f"width 24, conv: expected {_expected:,} trainable parameters, got {_count:,}"
_inv = [layer for layer in _fair.layers if isinstance(layer, Involution)]
_found = ([layer.groups for layer in _inv], [layer.kernel_size for layer in _inv], [layer.stride for layer in _inv])
assert _found == ([2, 2, 4, 4, 8, 8], [5] * 6, [1, 1, 2, 1, 2, 1]), (
    "width 16: expected six Involution layers, the involutions' groups, kernel sizes and strides "
    f"([2, 2, 4, 4, 8, 8], [5, ...], [1, 1, 2, 1, 2, 1]); got {_found}")
_sizes = sorted({tuple(layer.kernel_size) for layer in _twin.layers if type(layer).__name__ == "Conv2D"})
assert not any(isinstance(layer, Involution) for layer in _twin.layers) and _sizes == [(1, 1), (3, 3)], (
    f"the conv twin's convolutions must be 1x1 and 3x3 (and no Involution layer); got kernel sizes {_sizes}")
for _model, _width in ((_fair, 16), (_twin, 24)):
    _pooled = [tuple(layer.input.shape[1:]) for layer in _model.layers if type(layer).__name__ == "GlobalAveragePooling2D"]
    assert _pooled == [(8, 8, 16 * _width)], f"width {_width}: the map before global pooling must be 8x8x{16 * _width}, got {_pooled}"
# The network described, with given weights: the recorded runs' weights load into your networks at their widths.
checkpoints.load_checkpoint(build_fair_network(24, "involution"), "fair_involution", "recipe")
checkpoints.load_checkpoint(build_fair_network(19, "conv"), "fair_conv", "recipe")
code_rules.assert_own_code(build_fair_network, set(), {"involution_instructor"},
                           rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "0885413bcc481a1abff1ba985376ff73", "grade": false, "grade_id": "ex4-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### A parameter budget
#
# Which width gives each network of the pair as many parameters as the example's CNN, and no more?
# Almost every parameter sits in a layer whose two sides both grow with $w$, so the count grows like
# $a w^2 + b w + c$: doubling the width multiplies it by about four. Below, the count of a width is
# the trainable parameters of your `build_fair_network` at that width, so each call of `count`
# builds a model.
#
# **Exercise 4** (2 points). Write `largest_width_within(budget, count, step)`: the largest multiple of
# `step` (starting from `step` itself) whose `count(width)` is at most `budget`, for any function
# `count` that grows with the width. When even `count(step)` exceeds the budget, raise a
# `ValueError` whose message says so. Aim for few calls of `count` (each may build a model):
# double the width until it no longer fits, then bisect between the last two widths. The grader
# allows fewer than 60 calls of `count` for a budget of $10^9$ at step 1, and reads your code for
# the doubling or halving (a scan over every width earns nothing).

# %% nbgrader={"cell_type": "code", "checksum": "5dad632b593dac2d031c83ab37c3ce5a", "grade": false, "grade_id": "ex4_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def largest_width_within(budget, count, step=1):
    """The largest multiple of ``step`` whose ``count(width) <= budget``."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: 10 w^2 <= 1000 holds up to w = 10.
print(largest_width_within(1000, lambda width: 10 * width * width))

# %% nbgrader={"cell_type": "code", "checksum": "92b0fc8cee219103fbc4681e195ccf01", "grade": true, "grade_id": "ex4_test_budget", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import ast, inspect, textwrap

_square = lambda width: 10 * width * width  # noqa: E731
_got = largest_width_within(1000, _square, 1)
assert _got == 10, f"10*w^2 <= 1000: expected width 10, got {_got}"
_got = largest_width_within(999, _square, 1)
assert _got == 9, f"10*w^2 <= 999: expected width 9, got {_got}"
# The fair network's trainable parameters, a w^2 + b w + c (exact for every width but 8), and the
# widest width within the example CNN's 319,178: literals made by the instructor's
# `python -m involution_instructor.reference.models` (tests/test_models.py keeps them in step).
_FAIR_CURVES = {"involution": (495.3125, 598.25, 938), "conv": (830, 544, 938)}
_FAIR_WIDTHS = {"involution": 24, "conv": 19}
_a, _b, _c = _FAIR_CURVES["involution"]
_got = largest_width_within(319_178, lambda w: _a * w * w + _b * w + _c, 8)
assert _got == _FAIR_WIDTHS["involution"], f"the involution network: expected width {_FAIR_WIDTHS['involution']}, got {_got}"
try:
    largest_width_within(5, _square, 1)
except ValueError:
    pass
else:
    raise AssertionError("10*w^2 <= 5 holds for no width: largest_width_within must raise a ValueError")
_calls = []
_got = largest_width_within(10**9, lambda w: _calls.append(w) or w * w, 1)
assert _got == 31_622 and len(_calls) < 60, (
    f"w^2 <= 10^9: expected width 31,622 with fewer than 60 calls of count, got {_got} after {len(_calls)} calls")
# Read from the code: a doubling or halving (* 2, // 2, / 2, << 1, >> 1, or their *= forms) or bisect.
_source = textwrap.dedent(inspect.getsource(largest_width_within))
_steps = [(node.op, {getattr(o, "value", None) for o in ((node.left, node.right) if isinstance(node, ast.BinOp) else (node.value,))})
          for node in ast.walk(ast.parse(_source)) if isinstance(node, (ast.BinOp, ast.AugAssign))]
_doubles = any((isinstance(op, (ast.Mult, ast.FloorDiv, ast.Div)) and 2 in values)
               or (isinstance(op, (ast.LShift, ast.RShift)) and 1 in values) for op, values in _steps)
assert _doubles or "bisect" in _source, "no doubling or halving in largest_width_within: double the width, then bisect"
code_rules.assert_own_code(largest_width_within, set(), {"involution_instructor"},
                           rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "09db4b1e135e7272ef3a5d4e4f44607b", "grade": false, "grade_id": "train-fair-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The fair pair
#
# Each network of the pair gets the widest width within the CNN's 319,178 parameters, found by
# your `largest_width_within` with counts of the networks your `build_fair_network` builds. Involution
# widths move in steps of 8 (one group per 8 channels), so the involution network can land further
# below the budget than its convolutional twin; the cell prints how far each lands. Equal budgets
# are half of a fair comparison; the other half is training both alike, which section 5 shows from
# the recorded runs.
#
# The fair networks compute far more per image than the example's models (see the multiply-adds
# in section 6), and on a CPU the involution network trains at a few dozen images per second. So
# only the full profile (meant for a GPU; on Colab: Runtime > Change runtime type) trains the pair
# for real, in section 5; the other profiles run a few steps live and load the recorded weights.

# %% nbgrader={"cell_type": "code", "checksum": "3883440ae9d67acdc09e398868ecb37f", "grade": false, "grade_id": "train-fair", "locked": true, "schema_version": 3, "solution": false, "task": false}
build_fair, width_within = build_fair_network, largest_width_within
fair_widths = {spatial: width_within(models.EXAMPLE_CNN_PARAMETERS, models.parameter_counter(build_fair, spatial),
                                     models.WIDTH_STEP[spatial])
               for spatial in models.SPATIAL_OPS}
fair_models = {}
for spatial, width in fair_widths.items():
    keras.utils.set_random_seed(0)
    fair_models[f"fair_{spatial}"] = build_fair(width, spatial)
for name, model in fair_models.items():
    count = models.trainable_parameters(model)
    print(f"{name}: width {fair_widths[name[5:]]}, {count:,} trainable parameters, "
          f"{models.EXAMPLE_CNN_PARAMETERS - count:,} below the budget")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "e198b683b23aca755e1ff38412dc64a0", "grade": false, "grade_id": "sanity-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · Sanity checks before a long run
#
# A long training run that fails teaches little and costs hours. Stanford's CS231n teaches two
# checks to run first (demonstrations here, not graded):
#
# 1. **The loss at initialisation.** With ten classes and small random logits, the softmax gives
#    each class about $1/10$, so the cross-entropy starts near $-\ln(1/10) = \ln 10 \approx 2.303$. A
#    much larger initial loss means over-confident random predictions (badly scaled weights or
#    inputs); a much smaller one, a bug such as labels leaking into the inputs.
# 2. **Overfitting a tiny set.** Without augmentation or regularisation, a network should drive
#    its training accuracy on a few hundred images to about 100%. If it cannot, something between
#    the data, the model and the loss is broken, and more data will not help.

# %% nbgrader={"cell_type": "code", "checksum": "343698b81cd01abfe8aa666de4671b3c", "grade": false, "grade_id": "sanity-loss", "locked": true, "schema_version": 3, "solution": false, "task": false}
probe_images, probe_labels = x_train_raw[:live.probe_images], y_train[:live.probe_images]
mean, std = recipe.channel_statistics(x_train_raw)
keras.utils.set_random_seed(0)
initial = {"example_cnn": training.initial_loss(examples["example_cnn"](), training.scale_images(probe_images), probe_labels),
           "fair_involution": training.initial_loss(fair_models["fair_involution"],
                                                    recipe.normalise(probe_images, mean, std), probe_labels)}
for name, loss in initial.items():
    print(f"{name}, untrained: loss {loss:.3f} on {len(probe_labels)} training images; ln 10 = {np.log(10):.3f}, "
          f"{(loss / np.log(10) - 1) * 100:+.0f}%")

# %% nbgrader={"cell_type": "code", "checksum": "06d24845f236ccc049c8834230b89241", "grade": false, "grade_id": "sanity-overfit", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The example CNN: small and fast enough to overfit in seconds on a CPU.
keras.utils.set_random_seed(0)
tiny = live.overfit_images
overfit_run = training.overfit(examples["example_cnn"](), x_train[:tiny], y_train[:tiny], epochs=live.overfit_epochs,
                               batch_size=50,
                               name="overfit")
accuracy = overfit_run.history["accuracy"]
print(f"example_cnn on {tiny} training images: training accuracy {accuracy[0]:.3f} after the first "
      f"epoch, {max(accuracy[-5:]):.3f} at best in the last five of {len(accuracy)}; "
      f"loss {overfit_run.history['loss'][0]:.3f} -> {overfit_run.history['loss'][-1]:.4f}")
figures.learning_curves({f"example_cnn, {tiny} training images": overfit_run.history});

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "7c7306fcf7813884a9410761d5318de1", "grade": false, "grade_id": "recipe-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · A modern recipe for the fair comparison
#
# Under the example's recipe, the fair pair's accuracies differ from seed to seed (the table of
# section 2 has the spread), and a comparison whose winner depends on the seed says little. Is it
# the recipe, rather than the operator, that holds both networks back? The course's recipe
# (`ic.recipe.Recipe`, defined once in the package and used by every run below) adds the
# standard ingredients of a short CIFAR-10 run:
#
# * **Augmentation**, new every epoch: a random horizontal flip, and a random $32 \times 32$ crop
#   of the image padded by 4 pixels on every side. The network rarely sees exactly the same image twice,
#   and learns that a horse facing left or shifted by a few pixels is still a horse.
# * **Per-channel normalisation**: $x' = (x/255 - \mu_c) / s_c$, with the mean $\mu_c$ and standard
#   deviation $s_c$ of each colour channel over the *training* images; a trained model keeps them.
# * **AdamW**: Adam with decoupled weight decay, $\theta \leftarrow \theta - \eta_t\,(\hat m_t /
#   (\sqrt{\hat v_t} + \epsilon) + \lambda \theta)$, which shrinks the weights towards zero at every
#   step, separately from the gradient (biases and batch-norm parameters are not decayed).
# * **Warm-up and cosine decay**: the learning rate rises linearly from 0 to its peak
#   $\eta_\text{max}$ over the first 10% of the $T$ steps, then falls as
#   $\eta_t = \tfrac12 \eta_\text{max} \big(1 + \cos(\pi\,(t - t_w)/(T - t_w))\big)$ to 0 at the last step.
# * **Label smoothing**, as Keras' `CategoricalCrossentropy(label_smoothing=`$\varepsilon$`)` does it:
#   the one-hot target $t$ becomes $(1 - \varepsilon)\,t + \varepsilon / 10$, so the true class gets
#   $1 - \varepsilon + \varepsilon/10$ and each of the other nine classes $\varepsilon / 10$. It was one
#   of the candidates below.
#
# **How a network's recipe and design are chosen.** Six candidates (peak learning rate, weight
# decay, label smoothing) train the network at kernel size 3 and its budget width for 20 epochs on
# the first 45,000 training images, one seed each, and are compared on the **last 5,000 training
# images, a validation split carved from the training set. The test set is never used to choose**;
# it measures the choice once, at the end. With its best recipe, the network then tries its other
# design within the budget on the same split and keeps the better: for involution $K = 5$ at the
# same width (its weights hardly grow with $K$), for the convolution $K = 5$ at width 14 (the widest
# whose $25 w^2$ weights fit). The course's `Recipe()` is the involution network's choice.
#
# A fair comparison chooses alike for both networks. The cell prints, from the recorded runs, what
# each network was tuned over and what it chose, and, where both were tuned, their test accuracies
# over the same seeds, each with its own choices; where a network was not tuned, it says so, and
# what that means for the comparison.

# %% nbgrader={"cell_type": "code", "checksum": "f722940bf438adbe6530a220c47eef86", "grade": false, "grade_id": "recipe-settings", "locked": true, "schema_version": 3, "solution": false, "task": false}
print(recipe.Recipe())
tune, design = checkpoints.recorded_results("tune"), checkpoints.recorded_results("design")
display(Markdown(recipe.tuning_markdown(recipe.tuning_rows(tune))))
for sentence in recipe.fairness_sentences(tune, design, checkpoints.recorded_results("compare")):
    print("*", sentence)
print("Tuned on", checkpoints.provenance_text(tune))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "be710efbe616ccd8aaa1a86139c776fb", "grade": false, "grade_id": "train-recipe-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Training the fair pair with the recipe
#
# In the full profile, the cell below trains your two fair networks and, as the reference, your
# example CNN with the recipe (`recipe.fit_with_recipe`), for the profile's epochs. Elsewhere it
# runs each fair network from scratch for a few steps only, on a CPU, on the same 64 training
# images (two batches, augmented anew at every step): enough to see the loss fall below $\ln 10$,
# so gradients flow and the network learns, nowhere near a result (a few steps fit those images;
# they do not generalise). The next cell then loads the weights of the recorded recipe run into
# networks built by your `build_fair_network`, at your widths.

# %% nbgrader={"cell_type": "code", "checksum": "fd2ae5b6541fbe784588ae26e1d2d7e7", "grade": false, "grade_id": "train-recipe", "locked": true, "schema_version": 3, "solution": false, "task": false}
fair_runs = recipe.train_fair_pair(fair_models | {"example_cnn": examples["example_cnn"]()}, (x_train_raw, y_train),
                                   (x_test_raw, y_test), profile)

# %% nbgrader={"cell_type": "code", "checksum": "ecd4830a714033e8c0f0eaa699f880da", "grade": false, "grade_id": "recorded-recipe", "locked": true, "schema_version": 3, "solution": false, "task": false}
fair_builders = {f"fair_{spatial}": (lambda s=spatial: build_fair(fair_widths[s], s)) for spatial in fair_widths}
recipe_recorded = {name: training.load_recorded(build, name, "recipe", (x_test_raw, y_test))
                   for name, build in fair_builders.items()}
analysed |= training.live_or_recorded({name: fair_runs[name] for name in fair_models}, recipe_recorded, len(y_test),
                                      trained_for_real=live.trains_fair_pair)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "bbf319982577c55b002480c9f974a0a8", "grade": false, "grade_id": "recipe-results-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The recipe's results over seeds
#
# The recorded runs of the recipe, every run listed (the full profile's numbers: 20 epochs on all
# 50,000 training images, measured on all 10,000 test images), then the sentences computed from
# them, and the learning curves of every recorded seed. The target the course set itself: the fair
# involution network at a mean test accuracy of at least 0.85 over three seeds.
#
# **What stays non-deterministic.** Every run sets its seed: it fixes the initial weights, the
# augmentation and the order of the images, and two runs on one CPU give the same weights. On a GPU
# they still differ slightly, because floating-point sums (the gradient over a batch, cuDNN's and
# XLA's reductions) run in an order that is not fixed, and $(a + b) + c \neq a + (b + c)$ in
# floating point. The differences are tiny at first and grow over training, so a rerun of a recorded
# seed on a GPU lands near, not on, its recorded accuracy: one more reason to compare means over seeds.

# %% nbgrader={"cell_type": "code", "checksum": "aeb8f06368211cfc3b7ce2ef9690a8cb", "grade": false, "grade_id": "recipe-results", "locked": true, "schema_version": 3, "solution": false, "task": false}
compare, sweep = checkpoints.recorded_results("compare"), checkpoints.recorded_results("sweep")
speeds = {"gpu": checkpoints.recorded_results("throughput-gpu"), "cpu": checkpoints.recorded_results("throughput-cpu")}
recorded_rows = figures.cost_accuracy_rows([compare, sweep, baseline], speeds)
display(Markdown(training.results_markdown(recorded_rows)))
print("Recorded on", checkpoints.provenance_text(compare))
print(training.target_sentence(training.find_row(recorded_rows, "fair_involution", width=fair_widths["involution"])))
print(training.compare_sentence(recorded_rows))
if all(isinstance(analysed[name], training.RecordedRun) or live.trains_fair_pair for name in fair_models):
    here = {name: analysed[name].final_val_accuracy for name in fair_models}  # on this profile's test images
    print(training.direction_sentence(here, recorded_rows, len(y_test)))
figures.learning_curves({f"{name} seed {seed}": history for name in fair_models
                         for seed, history in checkpoints.histories(name, "recipe").items()});

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "13c4e38c24ace224d756c12783448da9", "grade": false, "grade_id": "table-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · Results of the models analysed here
#
# Parameters measure memory; **multiply-adds** measure computation. A $K \times K$ convolution from
# $C_\text{in}$ to $C_\text{out}$ channels on an $H_{out} \times W_{out}$ output costs
# $H_{out} W_{out} K^2 C_\text{in} C_\text{out}$ multiply-adds per image; an involution costs
# $H_{out} W_{out} (C\, C_r + C_r K^2 G)$ to generate its kernels ($C_r = \max(1, \lfloor C/r \rfloor)$)
# plus $H_{out} W_{out} K^2 C$ to apply them (`ic.evaluation.multiply_adds` counts
# convolutions, dense layers and involutions; element-wise layers are left out). Test accuracy is the
# share of this profile's test images classified correctly; the column "source" says whether the
# weights come from the live run or from the recorded full run, and seconds per epoch exist only
# for what was trained here.

# %% nbgrader={"cell_type": "code", "checksum": "c4b47fcf4df18c8bca173ece6be67edc", "grade": false, "grade_id": "table", "locked": true, "schema_version": 3, "solution": false, "task": false}
device = training.device_description()
predictions = {name: training.predicted_classes(run, x_test_raw) for name, run in analysed.items()}
rows = []
for name, run in analysed.items():
    source = (f"recorded {run.checkpoint_profile} run" if isinstance(run, training.RecordedRun)
              else f"{live.profile}, live")
    rows.append({
        "model": name,
        "trainable_parameters": models.trainable_parameters(run.model),
        "multiply_adds": evaluation.multiply_adds(run.model),
        "test_accuracy": evaluation.accuracy(y_test, predictions[name]),
        "seconds_per_epoch": None if isinstance(run, training.RecordedRun) or not run.epoch_seconds else run.seconds_per_epoch,
        "device": device, "profile": source, "epochs": len(run.history.get("loss", [])), "train_images": len(x_train),
    })
print(evaluation.markdown_table(rows))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3a564cf98be6cb6b4d190594700ad843", "grade": false, "grade_id": "ex5-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Reading the results
#
# **Exercise 5** (2 points). Decide whether each statement is true or false, and set the dictionary's values
# to `True` or `False`. They hold whatever your run's numbers are; think about what each
# comparison can and cannot tell you.
#
# * `"a"`: The example's involution network has about 24 times fewer trainable parameters than its CNN.
# * `"b"`: The example's comparison shows that the involution operator learns more slowly than convolution.
# * `"c"`: In the example's involution network most trainable parameters belong to the dense layers, not the involutions.
# * `"d"`: Two networks with the same number of parameters always cost the same number of multiply-adds per image.
# * `"e"`: The two networks of the fair pair have the same width; only their spatial operator differs.
# * `"f"`: An involution shares one kernel across all pixels of the image, as a convolution does.

# %% nbgrader={"cell_type": "code", "checksum": "d6b39211d4f845b6cdb20d9ea835c437", "grade": false, "grade_id": "ex5_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
statements = {"a": None, "b": None, "c": None, "d": None, "e": None, "f": None}
# YOUR CODE HERE
raise NotImplementedError()

# %% nbgrader={"cell_type": "code", "checksum": "f71e750d136b5cef307467a4a66bacea", "grade": true, "grade_id": "ex5_test_statements", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(statements) == set("abcdef"), f"keep the keys a to f, got {sorted(statements)}"
_bad = {key: value for key, value in statements.items() if not isinstance(value, bool)}
assert not _bad, f"every value must be True or False; not yet: {_bad}"
# When graded, the grader compares each value with the truth: no visible test can, without giving it away.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "7fb978c5c6431c50d37c5093dab45dc1", "grade": false, "grade_id": "ex6-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 7 · Per-class accuracy and the confusion matrix
#
# One accuracy hides which classes a model confuses. The **confusion matrix** $M$ counts, for
# every true class $t$ and predicted class $p$, the test images of class $t$ predicted as $p$:
#
# $$M_{t,p} = \big|\{\, n : y_n = t,\ \hat y_n = p \,\}\big|, \qquad
#   \text{accuracy of class } t = \frac{M_{t,t}}{\sum_{p} M_{t,p}}.$$
#
# **Exercise 6** (3 points: 2 for the confusion matrix, 1 for per-class accuracy; each part has its
# own tests). Write `confusion_matrix(y_true, y_pred, num_classes=10)`, returning an integer
# NumPy array of shape `(num_classes, num_classes)` with true classes in rows, and
# `per_class_accuracy(confusion)`, returning the vector of per-class accuracies (use `np.nan` for a
# class with no test image). Labels may come as shape `(N,)` or, as CIFAR-10's do, `(N, 1)`.
#
# **Part a** (2 points): `confusion_matrix`.

# %% nbgrader={"cell_type": "code", "checksum": "f61c55a47cf282ece4554abdff829fbd", "grade": false, "grade_id": "ex6_confusion", "locked": false, "schema_version": 3, "solution": true, "task": false}
def confusion_matrix(y_true, y_pred, num_classes=10):
    """Counts of (true class, predicted class) pairs; true classes in rows."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it on four predictions of two classes: true classes in rows.
print(confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], num_classes=2))

# %% nbgrader={"cell_type": "code", "checksum": "b13f7a433df184e573657c23fee4d25d", "grade": true, "grade_id": "ex6_test_confusion", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Labels of shape (N, 1), as CIFAR-10's: classes 0, 0, 1, 2, 2, 2 predicted as 0, 1, 1, 2, 0, 2.
_true = np.array([[0], [0], [1], [2], [2], [2]])
_pred = np.array([0, 1, 1, 2, 0, 2])
_got = np.asarray(confusion_matrix(_true, _pred, num_classes=3))
_expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
assert _got.shape == (3, 3) and np.array_equal(_got, _expected), f"expected (true classes in rows)\n{_expected}\ngot\n{_got}"
assert np.issubdtype(_got.dtype, np.integer), f"counts must be integers, got dtype {_got.dtype}"
# num_classes decides the shape, also beyond the largest label; the labels given stay as they were.
_true, _pred = np.array([0, 1, 1]), np.array([1, 1, 0])
_got = np.asarray(confusion_matrix(_true, _pred, num_classes=5))
assert _got.shape == (5, 5) and _got.sum() == 3, f"num_classes=5: expected a 5x5 matrix of 3 counts, got shape {_got.shape}"
assert _true.tolist() == [0, 1, 1] and _pred.tolist() == [1, 1, 0], "confusion_matrix changed the labels given"
code_rules.assert_own_code(confusion_matrix, set(), {"involution_instructor"}, rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "2a26da66634ad15363f537548d0de3b5", "grade": false, "grade_id": "ex6-accuracy-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Part b** (1 point): `per_class_accuracy`; its tests give it confusion matrices, so it can earn
# its point on its own.

# %% nbgrader={"cell_type": "code", "checksum": "e3a4a97b5718453c35c925cb06bbcdbb", "grade": false, "grade_id": "ex6_accuracy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def per_class_accuracy(confusion):
    """The share of each true class predicted correctly (NaN for an empty class)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: class 0 has two images, one predicted right; class 1 has two, both right.
print(per_class_accuracy(np.array([[1, 1], [0, 2]])))

# %% nbgrader={"cell_type": "code", "checksum": "25133c30ba498d6f7a458ec5d9475ca6", "grade": true, "grade_id": "ex6_test_accuracy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Rows are true classes: class 0 has 2 images (1 right), class 1 has 1 (right), class 2 has 3 (2 right).
_acc = np.asarray(per_class_accuracy(np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])), dtype=float)
assert np.allclose(_acc, [0.5, 1.0, 2 / 3]), f"expected [0.5, 1.0, 0.667] (divide by each row's sum), got {_acc}"
_acc = np.asarray(per_class_accuracy(np.array([[2, 0], [0, 0]])), dtype=float)
assert _acc.shape == (2,) and _acc[0] == 1.0 and np.isnan(_acc[1]), f"a class with no image must give NaN, got {_acc}"
code_rules.assert_own_code(per_class_accuracy, set(), {"involution_instructor"},
                           rule="no import of the instructor's package")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "9b0d3fc93f8ebd564e8ffc7bb9e38fc6", "grade": false, "grade_id": "analysis-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The figures below use your two functions on every model analysed here (the table above says
# which weights each holds). Look for the classes all models find hard, and for pairs of classes
# a model confuses in both directions.

# %% nbgrader={"cell_type": "code", "checksum": "235ad3e445df66bad554065ad6e96119", "grade": false, "grade_id": "per-class", "locked": true, "schema_version": 3, "solution": false, "task": false}
count_confusions, class_accuracies = confusion_matrix, per_class_accuracy
confusions = {name: np.asarray(count_confusions(y_test, predicted)) for name, predicted in predictions.items()}
class_accuracy = {name: np.asarray(class_accuracies(confusion)) for name, confusion in confusions.items()}
figures.per_class_accuracy_figure(class_accuracy, ic.CLASS_NAMES);

# %% nbgrader={"cell_type": "code", "checksum": "437dc33f250e2f073da80c636d259a82", "grade": false, "grade_id": "confusion", "locked": true, "schema_version": 3, "solution": false, "task": false}
focus = "fair_involution" if "fair_involution" in analysed else "example_involution"
figures.confusion_matrix_figure(confusions[focus], ic.CLASS_NAMES, title=f"{focus}: confusion matrix on the test set");

# %% nbgrader={"cell_type": "code", "checksum": "09d2f25c23811ed6bc6d9f5b9fd7bbd6", "grade": false, "grade_id": "mistakes", "locked": true, "schema_version": 3, "solution": false, "task": false}
wrong = evaluation.misclassified(y_test, predictions[focus], limit=16)
figures.misclassified_grid(x_test_raw[wrong], y_test[wrong], predictions[focus][wrong], ic.CLASS_NAMES);

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "6eafb7152b0bc0cec11841c7b61effa8", "grade": false, "grade_id": "cost-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 8 · Accuracy against every cost
#
# The paper's claim is about efficiency, so accuracy must be read against a cost, and there are
# several: trainable parameters (memory), multiply-adds per image (computation, independent of
# the hardware), and measured training throughput, which depends on the device and the
# implementation. The figure shows every recorded setting: the models of this notebook, the
# involution network with kernel sizes 3 and 7, two more widths of each fair network, and (open
# circles) the example's recipe. A point is missing from a throughput panel where its speed was
# not measured. Throughput on the CPU was measured on a shared 2-core machine and is an order of
# magnitude rather than a benchmark. The figure's GPU points come from one run of every setting; the
# line under it says when and with which multiply-add, and the next line gives the fair and the
# example pair again from a later run, with the course's fused kernels and without them.

# %% nbgrader={"cell_type": "code", "checksum": "50f9f5edcd8335a3b50a71c07c2a1b18", "grade": false, "grade_id": "cost", "locked": true, "schema_version": 3, "solution": false, "task": false}
figures.cost_accuracy_figure(recorded_rows)
print(training.equal_cost_sentence(recorded_rows, "trainable_parameters"))
print(training.equal_cost_sentence(recorded_rows, "multiply_adds"))
print(training.throughput_sentence(recorded_rows), f"GPU: {training.implementation_text(speeds['gpu'])}.")
print(training.fused_throughput_sentence(checkpoints.recorded_results("throughput-gpu-fused")))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "9bce60c9d542be8fd3c90eac8ab55fa0", "grade": false, "grade_id": "conclusions-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 9 · Conclusions, computed
#
# Every sentence of the next cell is written by code from the recorded rows above; none is typed in.
# They are the full profile's recorded results (20 epochs on all 50,000 images, on the GPU and with the
# commands printed in sections 2 and 5), not this notebook's live run.
#
# **A fact for discussion.** The PyTorch Image Models library (`timm`) added "RedNet/Involution models
# and layers" (pull request 637, merged on 25 May 2021) and removed them three months later, in
# commit `925e1029` of 20 August 2021, whose message reads: "remove dud attention, involution + my
# swin attention adaptation don't seem worth keeping". Weigh that against the figure above: at equal parameters and multiply-adds, how large are the gains, with how many
# seeds, and what does the throughput panel say about what practitioners pay for them?

# %% nbgrader={"cell_type": "code", "checksum": "714ab72109f9f72f0e637841152b414a", "grade": false, "grade_id": "conclusions", "locked": true, "schema_version": 3, "solution": false, "task": false}
for sentence in training.conclusions(recorded_rows, involution_width=fair_widths["involution"]):
    print("*", sentence)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "f7778935696f0f4ac6dafc4560f45ae6", "grade": false, "grade_id": "save-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 10 · Saving the models for notebook 05
#
# Notebook 05 looks inside the trained involution networks. The cell below saves every model
# analysed here as `build/models/<name>.keras` with the results table in
# `build/models/results.json` (its "profile" column says where each model's weights come from). A
# run of a smaller profile never overwrites a larger profile's models: it saves into
# `build/models/<profile>/` instead.

# %% nbgrader={"cell_type": "code", "checksum": "4b4d2a6986b8b5cde9a3cfa64ecdd7aa", "grade": false, "grade_id": "save", "locked": true, "schema_version": 3, "solution": false, "task": false}
saved_to = training.save_runs(list(analysed.values()), rows, live.profile)
print(f"saved {', '.join(analysed)} to {saved_to}")
training.record_headlines(live, runs, [*recorded.values(), *recipe_recorded.values()], recorded_rows, fair_models,
                          fair_widths["involution"], len(y_test))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "d8bb5674aa77e3c02bcb63e03e9be63b", "grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# * The example's two models are rebuilt exactly (319,178 and 13,074 trainable parameters) and
#   trained with its recipe; their gap mixes the operator with a 24-fold difference in parameters
#   and a network that never leaves 3 channels. The recorded weights load into your own models.
# * A fair comparison holds the architecture and the parameter budget fixed: the same RedNet-style
#   network mixes space with a $5 \times 5$ involution or a $3 \times 3$ convolution, each at the largest
#   width within the CNN's budget. Tuned alike on the validation split, each network chooses its
#   own recipe and kernel size; section 5 and the conclusions of section 9 compare both with their
#   own choices, over the same seeds.
# * Before a long run: the initial loss should be near $\ln 10$, and the network should overfit a
#   few hundred images.
# * A modern recipe (augmentation, normalisation, AdamW and a warm-up + cosine schedule) is tuned
#   on a validation split carved from the training set, never on the test set; section 9 computes
#   how much it changes each model. Results are means over seeds with every run listed, and a GPU
#   still leaves runs slightly non-deterministic.
# * Parameters, multiply-adds, accuracy and throughput answer different questions; the conclusions
#   of section 9 are computed from the recorded numbers, with their provenance.
# * Per-class accuracy and the confusion matrix show where the models fail, and the misclassified
#   images show how plausible many of those mistakes are.
#
# Notebook 05 opens the saved models and looks at the kernels that involution generates.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "6fcab4d8e786db720946e6c1cae0117e", "grade": false, "grade_id": "written-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## In your own words
#
# **Question 1** (2 points, graded by hand). A classmate reads your results table and writes:
# "involution is more efficient than convolution". In four to six sentences: what can the
# Keras example's own comparison (319,178 against 13,074 parameters) tell you about the two
# operators, and what can it not? Which figures of the fair pair would you use to judge "more
# efficient", and what would you have to say alongside them for the claim to mean something?
# Write your answer in the cell below.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "cae21e77aef68372050fb86b04e5c068", "grade": true, "grade_id": "written_efficiency", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "77a1c2ff62bd087674ea9c6566ad97a5", "grade": false, "grade_id": "submitting", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload that file to the course's platform.
