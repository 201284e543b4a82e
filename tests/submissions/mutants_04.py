"""Notebook 04's mutants: plausible wrong answers and correct alternatives of every exercise.

See tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
"""

from __future__ import annotations

from textwrap import dedent

from submissions.mutants import RIGHT, WRONG, Mutant, students as _students

ASSIGNMENT = "04-cifar10-comparison"


def _cnn(conv="layers.Conv2D({filters}, (3, 3), padding='same'), layers.ReLU()", last="layers.Dense(10)",
         third_relu=True):
    convs = [conv.format(filters=f) for f in (32, 64, 64)]
    if not third_relu:
        convs[2] = convs[2].replace(", layers.ReLU()", "")
    return dedent(f"""\
        def build_example_cnn():
            from keras import layers

            return keras.Sequential([
                keras.Input((32, 32, 3)),
                {convs[0]}, layers.MaxPooling2D((2, 2)),
                {convs[1]}, layers.MaxPooling2D((2, 2)),
                {convs[2]},
                layers.Flatten(), layers.Dense(64, activation="relu"), {last},
            ])
        """)


CNN_FUNCTIONAL = dedent("""\
    def build_example_cnn():
        from keras import layers

        inputs = keras.Input((32, 32, 3))
        x = inputs
        for number, filters in enumerate((32, 64, 64)):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            if number < 2:
                x = layers.MaxPooling2D(2)(x)
        x = layers.Dense(64, activation="relu")(layers.Flatten()(x))
        return keras.Model(inputs, layers.Dense(10)(x))
    """)


def _involution_net(settings="kernel_size=3, stride=1, groups=1, reduction_ratio=2", relu="layers.ReLU(), ",
                    second_pool="layers.MaxPooling2D((2, 2)), "):
    return dedent(f"""\
        from involution_course.layers import Involution


        def build_example_involution_network():
            from keras import layers

            return keras.Sequential([
                keras.Input((32, 32, 3)),
                Involution({settings}), {relu}layers.MaxPooling2D((2, 2)),
                Involution({settings}), {relu}{second_pool}
                Involution({settings}), {relu}
                layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10),
            ])
        """)


INVOLUTION_FUNCTIONAL = dedent("""\
    from involution_course.layers import Involution


    def build_example_involution_network():
        from keras import layers

        x = inputs = keras.Input((32, 32, 3))
        for block in range(3):
            x = Involution(3, 1, 1, 2)(x)
            x = layers.Activation("relu")(x)
            if block < 2:
                x = layers.MaxPooling2D(pool_size=2)(x)
        x = layers.Dense(64, activation="relu")(layers.Flatten()(x))
        return keras.Model(inputs, layers.Dense(10)(x))
    """)


def _fair(groups="inner // 8", stride="2 if stage > 0 and block == 0 else 1", spatial="spatial=spatial, ",
          kernel='5 if spatial == "involution" else 3'):
    return dedent(f"""\
        from involution_course.layers import bottleneck


        def build_fair_network(width, spatial="involution"):
            from keras import layers

            inputs = keras.Input((32, 32, 3))
            x = layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
            x = layers.ReLU()(layers.BatchNormalization()(x))
            for stage in range(3):
                inner = width * 2**stage
                for block in range(2):
                    x = bottleneck(x, 4 * inner, {spatial}stride={stride}, kernel_size={kernel},
                                   groups={groups}, reduction_ratio=4, expansion=4)
            x = layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, layers.Dense(10)(x))
        """)


FAIR_UNROLLED = dedent("""\
    from involution_course.layers import bottleneck


    def build_fair_network(width, spatial="involution"):
        inputs = keras.layers.Input(shape=(32, 32, 3))
        x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        plan = [(width, 1), (width, 1), (2 * width, 2), (2 * width, 1), (4 * width, 2), (4 * width, 1)]
        for inner, stride in plan:
            x = bottleneck(x, filters=4 * inner, spatial=spatial, stride=stride, groups=inner // 8,
                           kernel_size={"involution": 5, "conv": 3}[spatial])
        outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
        return keras.Model(inputs=inputs, outputs=outputs)
    """)

FAIR_STAGES = dedent("""\
    from involution_course.layers import bottleneck


    def build_fair_network(width, spatial="involution"):
        from keras import layers

        x = inputs = keras.Input((32, 32, 3))
        for layer in (layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU()):
            x = layer(x)
        k = 3 + 2 * (spatial == "involution")
        for stage, stride in enumerate((1, 2, 2)):
            inner = width << stage
            x = bottleneck(x, 4 * inner, spatial=spatial, stride=stride, kernel_size=k, groups=inner // 8,
                           reduction_ratio=4, expansion=4)
            x = bottleneck(x, 4 * inner, spatial=spatial, stride=1, kernel_size=k, groups=inner // 8,
                           reduction_ratio=4, expansion=4)
        return keras.Model(inputs, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))
    """)


def _search(fits="count(high) <= budget", result="low", check="count(step) > budget"):
    return dedent(f"""\
        def largest_width_within(budget, count, step=1):
            if {check}:
                raise ValueError(f"even width {{step}} is over the budget of {{budget}}")
            low, high = step, 2 * step
            while {fits}:
                low, high = high, 2 * high
            while high - low > step:
                middle = low + (high - low) // (2 * step) * step
                if {fits.replace("high", "middle")}:
                    low = middle
                else:
                    high = middle
            return {result}
        """)


SEARCH_LINEAR = dedent("""\
    def largest_width_within(budget, count, step=1):
        if count(step) > budget:
            raise ValueError("even the narrowest width is over the budget")
        width = step
        while count(width + step) <= budget:
            width += step
        return width
    """)

SEARCH_SILENT = dedent("""\
    def largest_width_within(budget, count, step=1):
        low, high = 0, step
        while count(high) <= budget:
            low, high = high, 2 * high
        while high - low > step:
            middle = low + (high - low) // (2 * step) * step
            if count(middle) <= budget:
                low = middle
            else:
                high = middle
        return low
    """)

SEARCH_MULTIPLES = dedent("""\
    def largest_width_within(budget, count, step=1):
        fits = lambda k: count(k * step) <= budget  # noqa: E731
        if not fits(1):
            raise ValueError(f"count({step}) = {count(step)} exceeds the budget {budget}")
        k = 1
        while fits(2 * k):
            k *= 2
        lo, hi = k, 2 * k          # fits(lo), not fits(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo * step
    """)

SEARCH_RECURSIVE = dedent("""\
    def largest_width_within(budget, count, step=1):
        if count(step) > budget:
            raise ValueError("no width fits: even the smallest one is over budget")

        def widest(low, high):  # count(low) fits, count(high) does not
            if high - low <= step:
                return low
            middle = (low + high) // 2 // step * step
            return widest(middle, high) if count(middle) <= budget else widest(low, middle)

        high = 2 * step
        while count(high) <= budget:
            high *= 2
        return widest(high // 2, high)
    """)

SEARCH_BISECT = dedent("""\
    import bisect


    def largest_width_within(budget, count, step=1):
        if count(step) > budget:
            raise ValueError(f"width {step} alone is over the budget of {budget}")
        high = step
        while count(high) <= budget:
            high += high
        widths = range(step, high + 1, step)
        return widths[bisect.bisect_right(widths, budget, key=count) - 1]
    """)


def _statements(**changes):
    truth = {"a": True, "b": False, "c": True, "d": False, "e": False, "f": False}
    truth.update(changes)
    return f"statements = {truth!r}"


CONFUSION = dedent("""\
    def confusion_matrix(y_true, y_pred, num_classes=10):
        true = np.asarray(y_true).reshape(-1)
        pred = np.asarray(y_pred).reshape(-1)
        counts = np.zeros((num_classes, num_classes), dtype=int)
        np.add.at(counts, (true, pred), 1)
        return counts
    """)
ACCURACY = dedent("""\
    def per_class_accuracy(confusion):
        confusion = np.asarray(confusion, dtype=float)
        totals = confusion.sum(axis=1)
        return np.where(totals > 0, np.diag(confusion) / np.where(totals > 0, totals, 1), np.nan)
    """)

MUTANTS = {
    "ex1": [
        Mutant("'valid' padding", WRONG, {"ex1": _cnn(conv="layers.Conv2D({filters}, (3, 3)), layers.ReLU()")}),
        Mutant("no ReLU after the third convolution", WRONG, {"ex1": _cnn(third_relu=False)}),
        Mutant("softmax on the last Dense", WRONG, {"ex1": _cnn(last='layers.Dense(10, activation="softmax")')}),
        Mutant("functional API, ReLU as the convolutions' activation", RIGHT, {"ex1": CNN_FUNCTIONAL}),
        Mutant("Activation('relu') layers", RIGHT,
               {"ex1": _cnn(conv="layers.Conv2D({filters}, 3, padding='same'), layers.Activation('relu')")}),
    ],
    "ex2": [
        Mutant("groups=3", WRONG, {"ex2": _involution_net("kernel_size=3, stride=1, groups=3, reduction_ratio=2")}),
        Mutant("reduction_ratio=3 (the same parameter count)", WRONG,
               {"ex2": _involution_net("kernel_size=3, stride=1, groups=1, reduction_ratio=3")}),
        Mutant("no ReLU after the involutions", WRONG, {"ex2": _involution_net(relu="")}),
        Mutant("second max pooling missing", WRONG, {"ex2": _involution_net(second_pool="")}),
        Mutant("functional API in a loop", RIGHT, {"ex2": INVOLUTION_FUNCTIONAL}),
        Mutant("positional settings", RIGHT, {"ex2": _involution_net("3, 1, 1, 2")}),
    ],
    "ex3": [
        Mutant("groups = width, not width // 8", WRONG, {"ex3": _fair(groups="inner")}),
        Mutant("stride 2 in every stage (a 4x4 last map)", WRONG, {"ex3": _fair(stride="2 if block == 0 else 1")}),
        Mutant("stride 2 on the second block of a stage", WRONG,
               {"ex3": _fair(stride="2 if stage > 0 and block == 1 else 1")}),
        Mutant("spatial not passed on (the conv twin is an involution network)", WRONG, {"ex3": _fair(spatial="")}),
        Mutant("K=3 for involution too (the first design)", WRONG, {"ex3": _fair(kernel="3")}),
        Mutant("K=5 for the convolutions too", WRONG, {"ex3": _fair(kernel="5")}),
        Mutant("six blocks unrolled from a plan", RIGHT, {"ex3": FAIR_UNROLLED}),
        Mutant("one loop per stage, widths by shifting", RIGHT, {"ex3": FAIR_STAGES}),
    ],
    "ex4": [
        Mutant("count < budget (a width exactly on budget is refused)", WRONG,
               {"ex4": _search(fits="count(high) < budget")}),
        Mutant("linear search (one call per step)", WRONG, {"ex4": SEARCH_LINEAR}),
        Mutant("no ValueError when nothing fits", WRONG, {"ex4": SEARCH_SILENT}),
        Mutant("returns the first width over the budget", WRONG, {"ex4": _search(result="high")}),
        Mutant("bisection over multiples k of step", RIGHT, {"ex4": SEARCH_MULTIPLES}),
        Mutant("recursive bisection", RIGHT, {"ex4": SEARCH_RECURSIVE}),
        Mutant("the standard library's bisect over a range, key=count", RIGHT, {"ex4": SEARCH_BISECT}),
    ],
    "ex5": [
        Mutant("b: the example shows involution learns more slowly", WRONG, {"ex5": _statements(b=True)}),
        Mutant("e: the fair pair shares one width", WRONG, {"ex5": _statements(e=True)}),
        Mutant("d: equal parameters, equal multiply-adds", WRONG, {"ex5": _statements(d=True)}),
        Mutant("dict() call", RIGHT, {"ex5": "statements = dict(a=True, b=False, c=True, d=False, e=False, f=False)"}),
        Mutant("item by item", RIGHT, {"ex5": "statements = {}\nfor _key in 'abcdef':\n"
                                              "    statements[_key] = _key in 'ac'"}),
    ],
    "ex6": [
        Mutant("confusion matrix transposed (predictions in rows)", WRONG, {
            "ex6_confusion": CONFUSION.replace("(true, pred), 1", "(pred, true), 1")}),
        Mutant("float counts", WRONG, {"ex6_confusion": CONFUSION.replace("dtype=int", "dtype=float")}),
        Mutant("per-class accuracy divides by column sums", WRONG, {"ex6_accuracy": ACCURACY.replace("axis=1", "axis=0")}),
        Mutant("0 instead of NaN for an empty class", WRONG, {"ex6_accuracy": ACCURACY.replace("np.nan)", "0.0)")}),
        Mutant("np.bincount; 0/0 gives NaN", RIGHT, {
            "ex6_confusion": dedent("""\
                def confusion_matrix(y_true, y_pred, num_classes=10):
                    pairs = np.ravel(y_true).astype(int) * num_classes + np.ravel(y_pred).astype(int)
                    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)
                """),
            "ex6_accuracy": dedent("""\
                def per_class_accuracy(confusion):
                    confusion = np.asarray(confusion)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        return np.diag(confusion) / confusion.sum(axis=1)
                """)}),
        Mutant("loops; np.divide with where", RIGHT, {
            "ex6_confusion": dedent("""\
                def confusion_matrix(y_true, y_pred, num_classes=10):
                    counts = np.zeros((num_classes, num_classes), dtype=np.int32)
                    for t, p in zip(np.asarray(y_true).flatten(), np.asarray(y_pred).flatten()):
                        counts[t, p] += 1
                    return counts
                """),
            "ex6_accuracy": dedent("""\
                def per_class_accuracy(confusion):
                    rows = np.sum(confusion, axis=1).astype(float)
                    out = np.full(len(rows), np.nan)
                    return np.divide(np.diagonal(confusion), rows, out=out, where=rows > 0)
                """)}),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
