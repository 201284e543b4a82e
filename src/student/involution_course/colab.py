"""The course on Google Colab: what the first code cell of every notebook needs there.

A fresh Colab runtime lacks the course package, so each set-up cell first installs
it with ``%pip install --no-deps`` (the line :func:`course_install_line` gives), then
calls :func:`prepare_colab`, which installs only the dependencies the runtime lacks
and advises a GPU runtime where a notebook trains networks. Colab's own builds of
TensorFlow, Keras and ipywidgets match its GPU drivers and its front end, so they are
never replaced. Outside Colab every function here does nothing.

The student repository's address (what students clone, install from and open on
Colab; never the one that holds the solutions) is written once, in the student
distribution's ``pyproject.toml`` under ``[project.urls] Homepage``; the badge,
the install line and the student README follow it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

DISTRIBUTION = "involution-course"
BRANCH = "main"
URL_LABEL = "Homepage"
COLAB_MODULE = "google.colab"

# Colab's builds: tied to its CUDA drivers (TensorFlow, and Keras that runs on it) and
# to the widget code of its front end (ipywidgets). Installed only where absent.
RUNTIME_OWNED = ("tensorflow", "tensorflow-cpu", "keras", "ipywidgets")
# Any of these satisfies a requirement on TensorFlow, whatever its build.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly")
# Colab's front end renders only its own ipywidgets major version: any version will do.
ANY_VERSION = ("ipywidgets",)

GPU_ADVICE = (
    "This notebook trains two networks: on a CPU runtime that takes many minutes. "
    "Choose a GPU: Runtime > Change runtime type > Hardware accelerator: T4 GPU > Save, "
    "then run the notebook again from the top."
)

Runner = Callable[[list], None]
VersionLookup = Callable[[str], "str | None"]


class ColabSetupError(RuntimeError):
    """The Colab runtime could not be prepared; the message says what to do."""


@dataclass(frozen=True)
class ColabSetup:
    """What :func:`prepare_colab` found and did."""

    on_colab: bool
    installed: tuple[str, ...] = ()
    gpu: bool | None = None  # None: not looked at (off Colab, or no GPU advised)


# ------------------------------------------------------------------ where the course lives


def repository_url() -> str:
    """The student repository, from ``[project.urls] Homepage`` of the student distribution.

    The distribution's own ``pyproject.toml`` beside the package is read first (in a
    checkout or an editable install it is never stale); an installed package (on Colab)
    answers from its metadata, which was built from that file.
    """
    url = _url_from_pyproject() or _url_from_metadata()
    if not url:
        raise ColabSetupError(
            f"The student repository's address is unknown: neither the {DISTRIBUTION} package's "
            f"pyproject.toml nor its installed metadata names a '{URL_LABEL}' under [project.urls]. "
            "Reinstall the course package."
        )
    return url.rstrip("/")


def course_requirement() -> str:
    """The pip requirement that installs the course from its repository."""
    return f"{DISTRIBUTION} @ git+{repository_url()}@{BRANCH}"


def course_install_line() -> str:
    """The exact line the set-up cell runs on a fresh Colab runtime."""
    return f'%pip install --quiet --no-deps "{course_requirement()}"'


def colab_badge_url(assignment: str) -> str:
    """Where the "Open in Colab" badge of ``assignment``'s released notebook points."""
    repository = repository_url().removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{repository}/blob/{BRANCH}/"
        f"notebooks/{assignment}/{assignment}.ipynb"
    )


def colab_badge(assignment: str) -> str:
    """The Markdown of the badge that opens each notebook's first cell."""
    image = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![Open In Colab]({image})]({colab_badge_url(assignment)})"


def distribution_pyproject() -> Path:
    """Where the student distribution's ``pyproject.toml`` sits: beside the package folder
    (``src/student/`` of the course repository, the root of the student repository)."""
    return Path(__file__).resolve().parents[1] / "pyproject.toml"


def _url_from_pyproject(path: Path | None = None) -> str | None:
    path = path or distribution_pyproject()
    if not path.is_file():
        return None  # an installed wheel: its metadata answers
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata answers instead
        return None
    with open(path, "rb") as handle:
        project = tomllib.load(handle).get("project", {})
    if project.get("name") != DISTRIBUTION:
        return None  # another project's file, not this package's own
    return project.get("urls", {}).get(URL_LABEL)


def _url_from_metadata() -> str | None:
    try:
        entries = importlib.metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip() == URL_LABEL:
            return url.strip()
    return None


# ---------------------------------------------------------------------- the runtime


def on_colab() -> bool:
    """True inside a Colab runtime, which always has ``google.colab`` imported."""
    return COLAB_MODULE in sys.modules


def prepare_colab(
    *,
    gpu_advised: bool = False,
    runner: Runner | None = None,
    installed_version: VersionLookup | None = None,
    has_gpu: Callable[[], bool] | None = None,
    requirements: Iterable[str] | None = None,
) -> ColabSetup:
    """On Colab: install the course's missing dependencies and, for a notebook that
    trains networks (``gpu_advised``), tell the student to choose a GPU runtime when
    the runtime has none. Elsewhere: nothing.

    ``runner`` runs a command (a list of arguments); by default a real subprocess.
    ``installed_version``, ``has_gpu`` and ``requirements`` describe the runtime; by
    default they look at the real one.
    """
    if not on_colab():
        return ColabSetup(on_colab=False)
    runner = runner or run_command
    installed_version = installed_version or _installed_version
    missing, outdated = missing_requirements(requirements, installed_version)
    for name, found, wanted in outdated:
        print(
            f"Note: this runtime has {name} {found}; the course is tested with {name}{wanted}. "
            "If a cell fails, choose Runtime > Change runtime type > Runtime version: Latest."
        )
    if missing:
        print(f"Installing what this runtime lacks: {', '.join(missing)}")
        runner(pip_install_command(missing))
        importlib.invalidate_caches()
    gpu = None
    if gpu_advised:
        gpu = (has_gpu or runtime_has_gpu)()
        print("GPU runtime: training runs on the GPU." if gpu else GPU_ADVICE)
    return ColabSetup(on_colab=True, installed=tuple(missing), gpu=gpu)


def pip_install_command(requirements: Iterable[str]) -> list[str]:
    """The pip command that installs ``requirements`` into this runtime's Python."""
    return [sys.executable, "-m", "pip", "install", "--quiet", *requirements]


def missing_requirements(
    requirements: Iterable[str] | None = None,
    installed_version: VersionLookup | None = None,
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Split the course's requirements into what pip must install and what the runtime
    owns but at another version than the course asks for.

    Returns ``(to_install, outdated)``: requirement strings without their markers,
    sorted; and ``(name, installed version, wanted specifier)`` for runtime-owned
    packages that pip leaves alone.
    """
    from packaging.requirements import Requirement

    installed_version = installed_version or _installed_version
    if requirements is None:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    to_install: list[str] = []
    outdated: list[tuple[str, str, str]] = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # another platform's, or an extra such as [dev]
        name = _canonical(requirement.name)
        candidates = TENSORFLOW_DISTRIBUTIONS if name in TENSORFLOW_DISTRIBUTIONS else (name,)
        found = next((v for v in map(installed_version, candidates) if v is not None), None)
        wanted = str(requirement.specifier)
        if found is None:
            # A missing TensorFlow is installed as the build that can use a GPU.
            install_name = "tensorflow" if name in TENSORFLOW_DISTRIBUTIONS else requirement.name
            to_install.append(f"{install_name}{wanted}")
        elif name in ANY_VERSION or requirement.specifier.contains(found, prereleases=True):
            continue
        elif name in RUNTIME_OWNED:
            outdated.append((requirement.name, found, wanted))
        else:
            to_install.append(f"{requirement.name}{wanted}")
    return sorted(set(to_install)), outdated


def run_command(command: list) -> None:
    """Run ``command``; a failure raises :class:`ColabSetupError` with its last words."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip()[-2000:]
        raise ColabSetupError(
            f"`{' '.join(map(str, command))}` failed (exit {result.returncode}):\n{said}\n"
            "Check the runtime's internet connection (Runtime > Disconnect and delete runtime "
            "gives a fresh one), then run this cell again."
        )


def runtime_has_gpu() -> bool:
    """True when an NVIDIA GPU is attached (what Colab's GPU runtimes give)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return os.path.exists("/dev/nvidia0") or (gpus.is_dir() and any(gpus.iterdir()))


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
