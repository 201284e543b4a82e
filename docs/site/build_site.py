"""Build the course site: a folder of static HTML from the student distribution.

    python build_site.py --notebooks notebooks --output build/site

Pages come from the released notebooks (rendered, never executed: they are students' copies),
the pages beside this script (guides, notation) and what the student package ships: the
recorded results and checkpoints, turned into tables and figures here with the package's own
functions, each with its date, machine and command. No theme, template or font is downloaded: the
theme comes from the installed sphinx-book-theme and MathJax from the installed django-static-mathjax.
The kernel figures need CIFAR-10's test images: a local copy (``INVOLUTION_COURSE_DATA``), else the
Keras download; where neither can be had, the page says so and the rest is built.

The same script runs in the course repository (``involution-instructor site``) and in the
student repository, whose GitHub Pages workflow calls it; it needs the student package and the
packages in ``requirements.txt`` beside it, nothing of the instructor's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = ("index.md", "student-guide.md", "instructor-guide.md", "notation.md", "results.md")
REPOSITORY_MARK = "@REPOSITORY@"
EDITIONS = ("student", "instructor")
NOT_FOR_PUBLICATION = ("Answer key for teaching assistants: not for publication. "
                       "These pages hold the solutions and must never be put online.")
# What only the instructor's notebooks and package hold; a student page with one is refused. Spelt in
# pieces, so that this file (which the student repository holds) never holds a mark itself.
LEAK_MARKS = re.compile("|".join(f"(?:BEGIN|END) {region}" for region in ("SOLUTION", "HIDDEN TESTS"))
                        + r"|^\s*(?:from|import)\s+involution_" + r"instructor\b", re.MULTILINE)
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
TIME = re.compile(r"Time:\s*([^.*]+)")
KERNEL_IMAGES = 4


class SiteError(RuntimeError):
    """The site could not be built; the message says why and what to do."""


@dataclass
class NotebookInfo:
    assignment: str
    title: str
    time: str
    objectives: list[str]
    autograded: float
    by_hand: float
    source: Path


@dataclass
class Site:
    output: Path
    source: Path
    edition: str
    pages: list[Path] = field(default_factory=list)
    notebooks: list[NotebookInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ----------------------------------------------------------------------- notebooks


def describe_notebook(path: Path) -> NotebookInfo:
    """Title, time, learning objectives and points of a notebook, read from its cells and nbgrader metadata."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    text = "".join(cells[0]["source"]) if cells else ""
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
    found = TIME.search(text)
    objectives, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = "learning objectives" in line.lower()
        elif inside and re.match(r"\d+\.\s", line):
            objectives.append(re.sub(r"^\d+\.\s*", "", line).strip().rstrip(";."))
        elif inside and objectives and not line.strip():
            inside = False  # the numbered list ends at the first blank line
        elif inside and objectives:
            objectives[-1] += " " + line.strip().rstrip(";.")
    autograded = by_hand = 0.0
    for cell in cells:
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if grading.get("grade"):
            if cell["cell_type"] == "code":
                autograded += float(grading.get("points", 0))
            else:
                by_hand += float(grading.get("points", 0))
    return NotebookInfo(path.stem, title, found.group(1).strip() if found else "", objectives,
                        autograded, by_hand, path)


def find_notebooks(folder: Path) -> list[Path]:
    """``<folder>/<assignment>/<assignment>.ipynb``, in order."""
    found = sorted(p for p in folder.glob("*/*.ipynb") if p.stem == p.parent.name)
    if not found:
        raise SiteError(f"no notebooks under {folder} (expected <assignment>/<assignment>.ipynb): release them first.")
    return found


def launch_bar(assignment: str, repository: str | None, edition: str) -> str:
    """The links above a notebook page: Colab, the notebook file, the student repository."""
    links = []
    if repository and edition == "student":
        github = repository.removeprefix("https://github.com/")
        colab = (f"https://colab.research.google.com/github/{github}/blob/main/"
                 f"notebooks/{assignment}/{assignment}.ipynb")
        links.append(f'<a class="course-colab" href="{colab}">Open in Colab</a>')
    links.append(f'<a class="course-download" href="{assignment}.ipynb" download="{assignment}.ipynb">Download .ipynb</a>')
    if repository and edition == "student":
        links.append(f'<span class="course-repository">Student repository: <a href="{repository}">{repository}</a></span>')
    return '<p class="course-launch">' + " ".join(links) + "</p>\n\n"


def stage_notebook(info: NotebookInfo, staging: Path, repository: str | None, edition: str) -> Path:
    """The page's copy of a notebook (the Colab badge, a remote image, replaced by local links) and,
    beside the page, the notebook itself to download."""
    notebook = json.loads(info.source.read_text(encoding="utf-8"))
    first = notebook["cells"][0]
    text = BADGE.sub("", "".join(first["source"]))
    first["source"] = launch_bar(info.assignment, repository, edition) + text
    if edition == "instructor":  # the rubrics of the written answers, as rubrics rather than markers
        begin, end = (f"### {word} SOLUTION" for word in ("BEGIN", "END"))  # in pieces, as LEAK_MARKS
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"]).replace(begin, "**Rubric (graded by hand):**")
                cell["source"] = text.replace(end, "")
    notebook.setdefault("metadata", {})["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    page = staging / "notebooks" / info.assignment / f"{info.assignment}.ipynb"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
    download = staging / "_extra" / "notebooks" / info.assignment / f"{info.assignment}.ipynb"
    download.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(info.source, download)
    return page


def syllabus_markdown(notebooks: list[NotebookInfo]) -> str:
    """The landing page's table: every notebook with its objectives, time and points."""
    def points(value: float) -> str:
        return f"{value:g}"

    lines = ["| notebook | you will be able to | time | points |", "| --- | --- | --- | ---: |"]
    for info in notebooks:
        objectives = "<br>".join(f"{i}. {o}" for i, o in enumerate(info.objectives, 1)) or "–"
        objectives = objectives.replace("|", "\\|")
        mark = f"{points(info.autograded)} autograded"
        if info.by_hand:
            mark += f" + {points(info.by_hand)} by hand"
        lines.append(f"| [{info.title}](notebooks/{info.assignment}/{info.assignment}.ipynb) | {objectives} | "
                     f"{info.time or '–'} | {mark} |")
    total_auto = sum(i.autograded for i in notebooks)
    total_hand = sum(i.by_hand for i in notebooks)
    lines.append(f"| **all {len(notebooks)}** | | | **{points(total_auto)} autograded + {points(total_hand)} by hand** |")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------- recorded results


def _figure(figure, path: Path) -> str:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path.name


def results_markdown(folder: Path, notes: list[str]) -> str:
    """The recorded full-profile results, the kernel figures from the shipped checkpoints and the
    recorded GPU timings, as Markdown with figures written into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    from involution_course import checkpoints, recipe, speed, training
    from involution_course import figures

    parts = []
    compare, sweep, baseline = (checkpoints.recorded_results(p) for p in ("compare", "sweep", "baseline"))
    speeds = {"gpu": checkpoints.recorded_results("throughput-gpu"), "cpu": checkpoints.recorded_results("throughput-cpu")}
    rows = figures.cost_accuracy_rows([compare, sweep, baseline], speeds)
    fair = [r for r in rows if r["model"] == "fair_involution" and not r.get("recipe") and r["runs"] > 1]
    width = fair[0]["width"] if fair else None
    parts.append("## Test accuracy over seeds\n\nEvery recorded setting, with each seed's accuracy and the mean over "
                 f"seeds ({_run_setting(compare)}).\n\n" + training.results_markdown(rows) + "\n\n"
                 f"Recorded on {checkpoints.provenance_text(compare)}.\n\n"
                 f"The sweep: {checkpoints.provenance_text(sweep)}.\n\n"
                 f"The example's recipe: {checkpoints.provenance_text(baseline)}.\n")
    conclusions = training.conclusions(rows, involution_width=width)
    parts.append("### Conclusions, computed from the rows above\n\n" + "\n".join(f"* {s}" for s in conclusions) + "\n")
    tune = checkpoints.recorded_results("tune")
    parts.append("### How the recipe was tuned\n\n" + recipe.tuning_markdown(recipe.tuning_rows(tune)) + "\n\n"
                 + recipe.design_sentence(recipe.tuning_rows(tune), checkpoints.recorded_results("design")) + "\n\n"
                 f"Tuned on {checkpoints.provenance_text(tune)}.\n")

    image = _figure(figures.cost_accuracy_figure(rows), folder / "cost-accuracy.png")
    parts.append("## Accuracy against cost\n\n"
                 f"![Test accuracy against trainable parameters, multiply-adds and training throughput](/_generated/{folder.name}/{image})\n\n"
                 + "\n".join(f"* {s}" for s in (training.equal_cost_sentence(rows, "trainable_parameters"),
                                                training.equal_cost_sentence(rows, "multiply_adds"),
                                                training.throughput_sentence(rows))) + "\n\n"
                 f"Throughput on the GPU: {checkpoints.provenance_text(speeds['gpu'])}. "
                 f"On the CPU: {checkpoints.provenance_text(speeds['cpu'])}.\n")

    parts.append(kernels_markdown(folder, notes))

    timings = speed.load_timings()
    bars = _figure(_time_bars(figures, speed, timings), folder / "fused-kernels.png")
    parts.append("## The operator on a GPU: the multiply-add and its fused kernels\n\n"
                 f"Measured on {speed.provenance_text(timings)}. Milliseconds; \"–\" where a method was not timed.\n\n"
                 "### Forward and backward, every method\n\n" + speed.timing_table(timings, "fwd_bwd_ms") + "\n\n"
                 "### Forward alone\n\n" + speed.timing_table(timings, "fwd_ms") + "\n\n"
                 "### Backward alone\n\n" + speed.timing_table(timings, "bwd_ms") + "\n\n"
                 + "\n".join(f"* {s}" for s in speed.conclusions(timings)) + "\n\n"
                 f"![Forward and backward time of each method, with the floor](/_generated/{folder.name}/{bars})\n")
    return "\n".join(parts)


def _run_setting(payload: dict) -> str:
    """How the runs of a results file were trained and measured, in words, from its first run."""
    run = payload["runs"][0]
    return (f"{run['epochs']} epochs of batch {run['batch_size']} on {run['train_images']:,} training images, "
            f"measured on {run['evaluated_on'].split(': ', 1)[-1]}")


def _time_bars(figures, speed, timings):
    cases = timings.cases()
    methods = [m for m in timings.methods() if m != "floor" and all(timings.value(c, m, "fwd_bwd_ms") for c in cases)]
    milliseconds = [[timings.value(c, m, "fwd_bwd_ms") for m in methods] for c in cases]
    floor = [timings.value(c, "floor", "fwd_bwd_ms") for c in cases]
    from involution_course.figures import speed as speed_figures

    return speed_figures.time_bars(cases, [speed.METHODS.get(m, m) for m in methods], milliseconds,
                                   floor=floor if all(floor) else None,
                                   title="Forward + backward on the GPU (recorded)")


def kernels_markdown(folder: Path, notes: list[str]) -> str:
    """Kernels that the Keras example's involution network generates, from its shipped checkpoint."""
    import numpy as np

    from involution_course import CLASS_NAMES, checkpoints, figures, kernels, load_cifar10

    heading = "## What the example's involution network generates\n\n"
    entry = checkpoints.checkpoint_entry("example_involution", "full")
    manifest = checkpoints.read_manifest()
    network = kernels.build_small_network("involution")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: the compiled optimizer's state is not in a weights file
        checkpoints.load_checkpoint(network, "example_involution", "full")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (_, _), (x_test, y_test) = load_cifar10(n_train=10, n_test=10 * KERNEL_IMAGES, progress=False)
    except Exception as error:  # no local copy and no network: the page says so, the rest is built
        said = str(error).splitlines()[0] if str(error) else type(error).__name__
        notes.append(f"kernel figures left out: CIFAR-10 could not be loaded ({said})")
        return (heading + "These figures need CIFAR-10's test images, which this build could not load: set "
                "`INVOLUTION_COURSE_DATA` to a local copy and build again.\n")
    chosen = [int(np.flatnonzero(y_test.ravel() == c)[0]) for c in range(KERNEL_IMAGES)]
    images = x_test[chosen]
    x = checkpoints.preprocess(images, "example_involution", "full")
    layer_kernels, names = [], []
    for layer in network.layers[1:]:
        if isinstance(layer, kernels.Involution):
            layer_kernels.append(np.asarray(layer.generate_kernel(x, training=False)))
            names.append(layer.name)
        if layer.name == "flatten":
            break
        x = layer(x, training=False)
    conv = _first_conv_kernel()
    shown = []
    for index, label in zip(range(len(images)), y_test[chosen].ravel()):
        figure = figures.kernel_explorer(images[index:index + 1], [k[index:index + 1] for k in layer_kernels],
                                         names, conv, use_widgets=False)
        figure.suptitle(f"{CLASS_NAMES[int(label)]}: the kernel of each layer at the image's centre", fontsize=10)
        shown.append(_figure(figure, folder / f"kernels-{index}.png"))
    caption = (f"The kernel that each involution layer generates at the centre of {len(images)} test images, from "
               f"the recorded weights of the Keras example's involution network (seed {entry.get('seed', 0)}, full "
               f"profile, test accuracy {_seed_accuracy(entry):.4f}), each layer fed by the one "
               "before it. The last panel is the first filter of the example CNN's first convolution (summed over "
               "its input channels): one kernel for every position and every image. Involution's kernels change "
               "with the image and the position.")
    figures_md = "\n\n".join(f"![Generated involution kernels, test image {i + 1}](/_generated/{folder.name}/{name})"
                               for i, name in enumerate(shown))
    return (heading + caption + "\n\n" + figures_md + "\n\n"
            + f"Weights: trained on {checkpoints.provenance_text(manifest['sources'][entry['profile']])}; "
            f"shipped as `{entry['file']}` ({manifest.get('made_by', 'the course')}).\n")


def _seed_accuracy(entry: dict) -> float:
    accuracies = entry.get("test_accuracy") or {}
    value = accuracies.get(str(entry.get("seed", 0))) if isinstance(accuracies, dict) else accuracies
    return float("nan") if value is None else float(value)


def _first_conv_kernel():
    """The example CNN's first convolution, first filter, summed over its input channels (read from
    its shipped weights file)."""
    import h5py
    import numpy as np

    from involution_course import checkpoints

    path = checkpoints.CHECKPOINTS_FOLDER / checkpoints.checkpoint_entry("example_cnn", "full")["file"]
    with h5py.File(path, "r") as weights:
        kernel = np.asarray(weights["layers/conv2d/vars/0"])
    return kernel[:, :, :, 0].sum(axis=-1)


# --------------------------------------------------------------------------- build


def _mathjax(target: Path) -> None:
    """MathJax 3 (its SVG output, which needs no font files) from the installed django-static-mathjax,
    served from the site itself."""
    try:
        import mathjax
    except ImportError:
        raise SiteError("django-static-mathjax is not installed: `pip install -r requirements.txt`.") from None
    es5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    # The SVG bundle and what it may load later (TeX extensions, the menu); not the other bundles or fonts.
    unused = shutil.ignore_patterns("*chtml*", "mml-*", "tex-mml-*", "tex-svg-full.js", "sre", "node-main*", "latest.js")
    shutil.copytree(es5, target, ignore=unused, dirs_exist_ok=True)


def _refuse_leaks(paths) -> None:
    leaks = []
    for path in paths:
        found = LEAK_MARKS.search(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            leaks.append(f"{path} ({found.group(0).strip()})")
    if leaks:
        raise SiteError("a page would hold solutions, hidden tests or instructor code: " + "; ".join(leaks)
                        + ". Build the student site from released notebooks only.")


def build(output: Path, notebooks: Path | list[Path], *, edition: str = "student", repository: str | None = None,
          staging: Path | None = None, sources: Path = HERE, quiet: bool = True) -> Site:
    """Build the site into ``output`` from the notebooks under ``notebooks`` (or a list of files);
    returns what was written. ``repository`` is the student repository's address (default: the
    student package's own)."""
    if edition not in EDITIONS:
        raise SiteError(f"no edition {edition!r}: choose {' or '.join(EDITIONS)}.")
    started = time.perf_counter()
    output = Path(output).resolve()
    staging = Path(staging or output.parent / f"{output.name}-source").resolve()
    if repository is None:
        from involution_course import colab

        repository = colab.repository_url()
    paths = find_notebooks(Path(notebooks)) if isinstance(notebooks, (str, Path)) else [Path(p) for p in notebooks]
    if edition == "student":
        _refuse_leaks(paths)  # before anything is written
    site = Site(output=output, source=staging, edition=edition)
    site.notebooks = [describe_notebook(p) for p in paths]

    for folder in (staging, output):
        if folder.exists():
            shutil.rmtree(folder)
    staging.mkdir(parents=True)
    shutil.copytree(sources / "_static", staging / "_static")
    shutil.copy2(sources / "conf.py", staging / "conf.py")
    for name in PAGES:
        text = (sources / name).read_text(encoding="utf-8").replace(REPOSITORY_MARK, repository)
        (staging / name).write_text(text, encoding="utf-8")
    generated = staging / "_generated"
    generated.mkdir()
    (generated / "syllabus.md").write_text(syllabus_markdown(site.notebooks), encoding="utf-8")
    (generated / "toc.md").write_text(_notebook_toc(site.notebooks), encoding="utf-8")
    (generated / "results.md").write_text(results_markdown(generated / "figures", site.notes), encoding="utf-8")
    staged = [stage_notebook(info, staging, repository, edition) for info in site.notebooks]
    (staging / "_site.json").write_text(json.dumps({"edition": edition, "repository": repository,
                                                    "not_for_publication": NOT_FOR_PUBLICATION}), encoding="utf-8")
    if edition == "student":
        _refuse_leaks([*staged, *(p for p in staging.rglob("*.md"))])

    # Sphinx writes into the staging folder, MyST-NB's output files beside its HTML (there, not beside the
    # site), then the HTML moves into place.
    html = staging / "_build" / "html"
    _sphinx(staging, html, quiet=quiet)
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(html), str(output))
    _mathjax(output / "_static" / "mathjax")
    site.pages = sorted(p for p in output.rglob("*.html") if "_static" not in p.parts)
    site.seconds = time.perf_counter() - started
    return site


def _notebook_toc(notebooks: list[NotebookInfo]) -> str:
    entries = "\n".join(f"notebooks/{i.assignment}/{i.assignment}" for i in notebooks)
    return f"```{{toctree}}\n:caption: Notebooks\n:maxdepth: 1\n\n{entries}\n```\n"


def _sphinx(source: Path, output: Path, *, quiet: bool) -> None:
    from sphinx.cmd.build import build_main

    arguments = ["-b", "html", "-j", "1", "-d", str(source / "_doctrees"), str(source), str(output)]
    if quiet:
        arguments.insert(0, "-q")
    code = build_main(arguments)
    if code != 0:
        raise SiteError(f"sphinx-build failed (exit {code}) on {source}: its messages are above.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course site (static HTML) from the released notebooks.")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), metavar="DIR",
                        help="the released notebooks, <assignment>/<assignment>.ipynb (default: notebooks)")
    parser.add_argument("--output", type=Path, default=Path("build/site"), metavar="DIR",
                        help="where the site goes (default: build/site)")
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = parser.parse_args(argv)
    try:
        site = build(args.output, args.notebooks, quiet=not args.verbose)
    except SiteError as error:
        print(f"build_site: {error}", file=sys.stderr)
        return 2
    for note in site.notes:
        print(f"note: {note}")
    print(f"wrote {site.output}: {len(site.pages)} pages in {site.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
