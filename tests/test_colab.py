"""The set-up cell's Colab branch, run against a stand-in ``google.colab`` module.

The stand-in is what Colab itself provides: an imported ``google.colab``. Commands
go through an injected runner that records them, so the tests see the exact pip
command a Colab runtime would run; the default runner is tested on real processes.
"""

from __future__ import annotations

import os
import re
import sys
import types

import jupytext
import pytest

from involution_course import colab
from involution_instructor.paths import ASSIGNMENTS

GPU_ASSIGNMENTS = ("04-cifar10-comparison",)
REQUIREMENTS = [
    "numpy>=1.26",
    "matplotlib>=3.8",
    "tqdm>=4.66",
    "keras>=3.5",
    'tensorflow-cpu>=2.16; sys_platform != "darwin"',
    'tensorflow>=2.16; sys_platform == "darwin"',
    "ipywidgets>=8",
    'nbgrader>=0.9.5; extra == "dev"',
]
# A Colab runtime as it comes: its own TensorFlow build (not tensorflow-cpu), an
# older ipywidgets, no tqdm, an old matplotlib.
COLAB_VERSIONS = {
    "numpy": "2.0.2",
    "matplotlib": "3.7.1",
    "keras": "3.8.0",
    "tensorflow": "2.18.0",
    "ipywidgets": "7.7.1",
}


@pytest.fixture
def in_colab(monkeypatch):
    google = types.ModuleType("google")
    stand_in = types.ModuleType("google.colab")
    google.colab = stand_in
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", stand_in)
    return stand_in


@pytest.fixture
def recorded():
    commands: list[list[str]] = []
    return commands, commands.append


def test_outside_colab_nothing_runs_and_nothing_is_said(recorded, capsys):
    commands, runner = recorded
    assert "google.colab" not in sys.modules
    setup = colab.prepare_colab(gpu_advised=True, runner=runner, requirements=REQUIREMENTS)
    assert setup == colab.ColabSetup(on_colab=False)
    assert commands == []
    assert capsys.readouterr().out == ""


def test_on_colab_installs_only_what_the_runtime_lacks(in_colab, recorded, capsys):
    commands, runner = recorded
    setup = colab.prepare_colab(
        runner=runner, requirements=REQUIREMENTS, installed_version=COLAB_VERSIONS.get
    )
    assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", "matplotlib>=3.8", "tqdm>=4.66"]]
    assert setup == colab.ColabSetup(on_colab=True, installed=("matplotlib>=3.8", "tqdm>=4.66"), gpu=None)
    assert "Installing what this runtime lacks: matplotlib>=3.8, tqdm>=4.66" in capsys.readouterr().out


def test_on_colab_a_complete_runtime_installs_nothing(in_colab, recorded):
    commands, runner = recorded
    complete = {**COLAB_VERSIONS, "matplotlib": "3.10.0", "tqdm": "4.67.1"}
    setup = colab.prepare_colab(runner=runner, requirements=REQUIREMENTS, installed_version=complete.get)
    assert commands == [] and setup.installed == ()


def test_colab_tensorflow_keras_and_widgets_are_never_replaced(in_colab, recorded, capsys):
    commands, runner = recorded
    old = {**COLAB_VERSIONS, "matplotlib": "3.10.0", "tqdm": "4.67.1", "keras": "2.15.0", "tensorflow": "2.15.1"}
    colab.prepare_colab(runner=runner, requirements=REQUIREMENTS, installed_version=old.get)
    assert commands == []
    said = capsys.readouterr().out
    assert "this runtime has keras 2.15.0; the course is tested with keras>=3.5" in said
    assert "this runtime has tensorflow-cpu 2.15.1" in said
    assert "ipywidgets" not in said


def test_a_runtime_without_tensorflow_gets_the_gpu_build(in_colab, recorded):
    commands, runner = recorded
    bare = {"numpy": "2.0.2", "matplotlib": "3.10.0", "tqdm": "4.67.1"}
    colab.prepare_colab(runner=runner, requirements=REQUIREMENTS, installed_version=bare.get)
    assert commands == [
        [sys.executable, "-m", "pip", "install", "--quiet", "ipywidgets>=8", "keras>=3.5", "tensorflow>=2.16"]
    ]


def test_the_course_s_own_requirements_install_nothing_that_colab_owns(in_colab, recorded):
    """With the installed package's real requirements and a runtime holding none of them,
    the command installs TensorFlow's GPU build, never tensorflow-cpu, and no dev tool."""
    commands, runner = recorded
    colab.prepare_colab(runner=runner, installed_version=lambda name: None)
    (command,) = commands
    packages = [re.split(r"[<>=!~; ]", item)[0] for item in command[5:]]
    assert "tensorflow" in packages
    assert "tensorflow-cpu" not in packages
    assert not {"nbgrader", "jupyterlab", "pytest"} & set(packages)


@pytest.mark.parametrize("has_gpu, expected", [(False, colab.GPU_ADVICE), (True, "GPU runtime: training runs on the GPU.")])
def test_gpu_advice_for_a_training_notebook(in_colab, recorded, capsys, has_gpu, expected):
    _, runner = recorded
    complete = {**COLAB_VERSIONS, "matplotlib": "3.10.0", "tqdm": "4.67.1"}
    setup = colab.prepare_colab(
        gpu_advised=True, runner=runner, requirements=REQUIREMENTS,
        installed_version=complete.get, has_gpu=lambda: has_gpu,
    )
    assert setup.gpu is has_gpu
    assert capsys.readouterr().out.strip() == expected


def test_no_gpu_advice_where_none_is_needed(in_colab, recorded, capsys):
    _, runner = recorded
    complete = {**COLAB_VERSIONS, "matplotlib": "3.10.0", "tqdm": "4.67.1"}
    setup = colab.prepare_colab(runner=runner, requirements=REQUIREMENTS, installed_version=complete.get)
    assert setup.gpu is None
    assert capsys.readouterr().out == ""


def test_the_default_runner_runs_a_real_command():
    colab.run_command([sys.executable, "-c", "pass"])


def test_the_default_runner_says_what_failed_and_what_to_do():
    with pytest.raises(colab.ColabSetupError) as failure:
        colab.run_command([sys.executable, "-c", "import sys; sys.exit('no route to the package index')"])
    message = str(failure.value)
    assert "exit 1" in message and "no route to the package index" in message
    assert "run this cell again" in message


# ------------------------------------------------------------- the address, in one place


STUDENT_REPOSITORY = "https://github.com/involution-course/involution-course-student"


def _homepage(pyproject):
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    with open(pyproject, "rb") as handle:
        return tomllib.load(handle)["project"]["urls"]["Homepage"]


def test_repository_url_is_the_student_distribution_s_homepage(project_root):
    student_pyproject = project_root / "src" / "student" / "pyproject.toml"
    assert colab.distribution_pyproject() == student_pyproject
    assert colab.repository_url() == _homepage(student_pyproject).rstrip("/") == STUDENT_REPOSITORY


def test_the_address_never_names_the_repository_with_the_solutions(project_root):
    instructor = _homepage(project_root / "src" / "instructor" / "pyproject.toml").rstrip("/")
    assert colab.repository_url() != instructor
    assert f"git+{instructor}@" not in colab.course_install_line()
    assert f"github/{instructor.removeprefix('https://github.com/')}/" not in colab.colab_badge_url("01-convolution")


def test_installed_metadata_answers_where_no_pyproject_is_beside_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "distribution_pyproject", lambda: tmp_path / "pyproject.toml")
    assert colab._url_from_pyproject() is None
    assert colab.repository_url() == STUDENT_REPOSITORY  # from the editable install's metadata


def test_another_project_s_pyproject_is_not_read(tmp_path):
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "something-else"\n[project.urls]\nHomepage = "https://example.org/x"\n')
    assert colab._url_from_pyproject(other) is None


def test_install_line_installs_the_course_without_its_dependencies():
    url = colab.repository_url()
    assert colab.course_install_line() == (
        f'%pip install --quiet --no-deps "involution-course @ git+{url}@main"'
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_colab_badge_opens_the_released_notebook(project_root, assignment):
    source = jupytext.read(project_root / "solutions" / assignment / f"{assignment}.py", fmt="py:percent")
    first_line = source.cells[0].source.splitlines()[0]
    assert first_line == colab.colab_badge(assignment), (
        f"{assignment}: the first cell should open with the Open in Colab badge\n"
        f"{colab.colab_badge(assignment)}\nnot\n{first_line}"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_setup_cell_prepares_colab(project_root, assignment):
    source = jupytext.read(project_root / "solutions" / assignment / f"{assignment}.py", fmt="py:percent")
    setup = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    if "prepare_colab(" not in setup.source and os.environ.get("CI") != "true":
        pytest.skip(f"{assignment}: the set-up cell does not call prepare_colab yet (CI fails on this)")
    assert colab.course_install_line() in setup.source, (
        f"{assignment}: the set-up cell should install the course with\n{colab.course_install_line()}"
    )
    gpu_call = "prepare_colab(gpu_advised=True)"
    if assignment in GPU_ASSIGNMENTS:
        assert gpu_call in setup.source, f"{assignment} trains networks: its set-up cell should call {gpu_call}"
    else:
        assert "prepare_colab()" in setup.source, f"{assignment}: its set-up cell should call prepare_colab()"
