"""The course's HTML pages (``make course``) display offline: maths from a local MathJax,
widgets as static views, no remote images, scripts, styles or fonts."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from involution_instructor import offline_html
from involution_instructor.course_runner import _write_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/org/repo/blob/main/notebooks/01/01.ipynb)")
MATHS = r"Inline $y_p = \sum_{k} \mathcal{H}_{p,k}\, x_{p+k}$ and displayed $$\lVert u_p \rVert = 1.$$"
# A 1 x 1 PNG: what the widget's output area showed when the run ended.
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f5a0b40000000049454e44ae426082"
)).decode()

# Independent of the module's own check: anything here would reach the network.
REMOTE_LOADS = [
    re.compile(r"<(script|img|iframe|audio|video|source|embed|input)\b[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?(https?:)?//", re.I),
    re.compile(r"@import\s+(url\()?\s*[\"']?(https?:)?//", re.I),
    re.compile(r"unpkg\.com|cdnjs\.cloudflare|cdn\.jsdelivr", re.I),
]


def _model(name, **state):
    return {"model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "model_name": name, "state": state}


def _notebook():
    """Maths and a badge; an ipywidgets view as nbclient saves it (an `interactive`: sliders, a
    dropdown and the output area holding its figure); an HTML output with remote resources."""
    widget = new_output("execute_result", execution_count=1, data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "box", "version_major": 2, "version_minor": 0},
        "text/plain": "interactive(children=(IntSlider(value=0, description='image'), ...))",
    })
    figure = {"output_type": "display_data", "metadata": {},
              "data": {"image/png": PIXEL, "text/plain": "<Figure size 640x480 with 2 Axes>"}}
    state = {
        "box": _model("VBoxModel", children=["IPY_MODEL_image", "IPY_MODEL_layer", "IPY_MODEL_out"]),
        "image": _model("IntSliderModel", description="image", value=0, min=0, max=7),
        "layer": _model("DropdownModel", description="layer", index=1, _options_labels=["inv1", "inv2"]),
        "out": {"model_module": "@jupyter-widgets/output", "model_module_version": "1.0.0",
                "model_name": "OutputModel", "state": {"msg_id": "", "outputs": [figure]}},
    }
    library = new_output("display_data", data={"text/html": (
        '<img src="https://example.org/logo.png" alt="library logo">'
        '<script src="https://cdn.example.org/lib.js"></script><p>table</p>'
        '<style>@import url("https://fonts.example.org/f.css"); .t { background: url(https://example.org/b.png) }</style>'
        "<div style=\"background-image: url('//example.org/c.png')\">cell</div>"
    )})
    notebook = new_notebook(cells=[
        new_markdown_cell(f"{BADGE}\n\n# Involution\n\n{MATHS}"),
        new_code_cell("view", execution_count=1, outputs=[widget]),
        new_code_cell("show()", execution_count=2, outputs=[library]),
    ])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": state}}
    return notebook


def _remote_loads(page: str) -> list[str]:
    return [m.group(0) for pattern in REMOTE_LOADS for m in pattern.finditer(page)]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("course") / "01-test.html"
    _write_html(_notebook(), target)
    return target


def test_nbconvert_alone_would_load_from_the_network():
    from nbconvert import HTMLExporter

    plain, _ = HTMLExporter().from_notebook_node(_notebook())
    assert _remote_loads(plain) and offline_html.remote_resources(plain)


def test_the_page_loads_nothing_from_the_network(page):
    text = page.read_text()
    assert _remote_loads(text) == []
    assert offline_html.remote_resources(text) == []
    # Plain hyperlinks stay: the badge becomes its text, still linked to Colab.
    assert re.search(r'<a href="https://colab\.research\.google\.com/github/org/repo/[^"]*">'
                     r'<span class="ic-offline-badge">Open In Colab</span></a>', text)
    assert '<span class="ic-offline-badge">library logo</span>' in text
    assert "<p>table</p>" in text and ".t { background: none }" in text


def test_the_widget_shows_its_first_state(page):
    text = page.read_text()
    assert "widget-view+json" not in text and "widget-state+json" not in text
    assert "Settings: image: 0, layer: inv2." in text
    assert f"data:image/png;base64,{PIXEL}" in text


def test_mathjax_sits_beside_the_page(page):
    text = page.read_text()
    source = re.search(r'<script src="([^"?]+)\?config=([^"]+)"', text)
    assert source and not source.group(1).startswith(("/", "http")), "MathJax must be loaded relatively"
    mathjax = page.parent / source.group(1)
    assert mathjax.is_file()
    for config in source.group(2).split(","):
        assert (mathjax.parent / "config" / f"{config}.js").is_file()
    assert (mathjax.parent / "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js").is_file()
    assert any((mathjax.parent / "fonts/HTML-CSS/STIX-Web/woff").glob("*.woff"))


def test_mathjax_is_copied_once_and_small(tmp_path):
    folder = offline_html.install_mathjax(tmp_path)
    marker = folder / offline_html.VERSION_FILE
    stamp = marker.stat().st_mtime_ns
    assert offline_html.install_mathjax(tmp_path) == folder and marker.stat().st_mtime_ns == stamp
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 4 * 2**20, f"MathJax copy is {size / 2**20:.1f} MiB"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/install-browser.sh installs it)")
def test_maths_typesets_in_a_browser_without_network(page):
    # No name resolves and every proxy is dead: only file:// can load.
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    dom = result.stdout
    assert result.returncode == 0 and "</html>" in dom, result.stderr[-2000:]
    assert len(re.findall(r'class="MathJax"', dom)) >= 1 and 'class="MathJax_Display"' in dom
    assert 'class="MathJax_Error"' not in dom and "Math Processing Error" not in dom


@pytest.mark.slow
def test_a_run_notebook_shows_its_widget_view_offline(tmp_path):
    from involution_instructor.course_runner import run_notebook

    notebook = new_notebook(cells=[new_code_cell(
        "import numpy as np\nfrom involution_course.figures import kernels\n"
        "rng = np.random.default_rng(0)\n"
        "kernels.kernel_explorer(rng.random((2, 8, 8, 3)), [rng.random((2, 4, 4, 1, 3, 3))], ['inv1'],"
        " use_widgets=True)"
    )])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "explore.ipynb")
    run = run_notebook(tmp_path / "explore.ipynb", tmp_path / "out")
    assert run.ok, run.error
    text = (tmp_path / "out" / "explore.html").read_text()
    assert _remote_loads(text) == []
    assert "Settings: image: 0, layer: inv1, row: 2, column: 2." in text
    assert text.count('src="data:image/png;base64,') == 1  # the figure the view first drew
