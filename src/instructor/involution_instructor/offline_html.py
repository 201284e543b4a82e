"""HTML pages of executed notebooks that display fully offline, opened from disk.

nbconvert's pages load MathJax, require.js and the widget manager from CDNs; here:

* maths: MathJax 2.7 from the ``jupyter-server-mathjax`` package, copied once (only the
  parts its configuration below loads) into ``mathjax/`` beside the pages, which point
  at it relatively;
* widgets: a static view built from the widget state the run saved, the starting value
  of each control and what the view's output area showed then (its figure);
* remote images (the Colab badge) become their alt text, inside any link around them;
  whatever else would still load from the network is dropped, and the page is checked.
"""

from __future__ import annotations

import copy
import html
import re
import shutil
from pathlib import Path

MATHJAX_FOLDER = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# What that configuration loads (on demand, too): the HTML-CSS output with its STIX-Web
# fonts, the TeX and MathML inputs, the TeX extensions. Not the SVG output (2.9 MB), the
# other languages (2.1 MB) or the accessibility explorer a menu item would fetch (3.7 MB).
MATHJAX_PARTS = (
    "MathJax.js", "LICENSE", "config", "extensions", "jax/element", "jax/input",
    "jax/output/HTML-CSS",
    "fonts/HTML-CSS", "localization/en",
)
MATHJAX_LEFT_OUT = ("extensions/a11y",)
VERSION_FILE = ".version"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATIC_NOTE = "Interactive view, shown as it first appeared; run the notebook in Jupyter to use it."

# nbconvert's lab page without its network scripts (require.js, the widget manager,
# mermaid), MathJax configured for the fonts the local copy has.
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
.ic-offline-badge { display: inline-block; padding: 1px 6px; border: 1px solid #999; border-radius: 3px; font-size: 85%; }
.ic-static-widget { font-style: italic; color: #555; }
/* The hidden MathML that MathJax keeps for screen readers asks for TeX fonts the local copy
   lacks (it has STIX-Web); the browser's own fonts serve it, and nothing is fetched. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: inherit !important; }
</style>
{% endblock extra_css %}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    tex2jax: {
        inlineMath: [['$', '$'], ["\\(", "\\)"]],
        displayMath: [['$$', '$$'], ["\\[", "\\]"]],
        processEscapes: true,
        processEnvironments: true
    },
    displayAlign: 'center',
    messageStyle: 'none',
    "HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null, preferredFont: null,
                 linebreaks: {automatic: true}},
    menuSettings: {zoom: "None"}
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
"""

REMOTE = r"(?:https?:)?//"
_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?(?:https?:)?//[^)\s>]*>?(?:\s+\"[^\"]*\")?\s*\)")
_TAG = re.compile(r"<(img|script|link|iframe|audio|video|source|track|embed|object|input|image|use)\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"\b(src|href|xlink:href|data|poster|srcset)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.I)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*" + REMOTE, re.I)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*['\"]?\s*" + REMOTE, re.I)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>|\bstyle\s*=\s*(\"[^\"]*\"|'[^']*')", re.I | re.S)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_ALT = re.compile(r"\balt\s*=\s*(\"[^\"]*\"|'[^']*')", re.I)


# ------------------------------------------------------------------------- MathJax


def mathjax_source() -> Path:
    """MathJax 2.7 as the ``jupyter-server-mathjax`` package ships it."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError(
            "The offline HTML pages need MathJax from the jupyter-server-mathjax package: "
            "pip install jupyter-server-mathjax"
        ) from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def install_mathjax(directory: Path) -> Path:
    """Copy the MathJax the pages need into ``directory/mathjax`` unless that copy is current."""
    from jupyter_server_mathjax.__version__ import __version__

    source, target = mathjax_source(), directory / MATHJAX_FOLDER
    marker = target / VERSION_FILE
    if marker.is_file() and marker.read_text().strip() == __version__:
        return target
    shutil.rmtree(target, ignore_errors=True)
    left_out = {source / part for part in MATHJAX_LEFT_OUT}
    for part in MATHJAX_PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, target / part,
                            ignore=lambda folder, names: [n for n in names if Path(folder, n) in left_out])
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / part)
    marker.write_text(__version__ + "\n")
    return target


# ------------------------------------------------------------------------- widgets


def static_widget_views(notebook) -> None:
    """Replace every widget output of ``notebook`` (in place) by a static view of it, from the
    widget state the run saved, and drop that state (the page has no widget manager)."""
    state = notebook.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            outputs.extend(_static_view(view.get("model_id"), state) if view else [output])
        cell.outputs = outputs


def _static_view(model_id, state) -> list:
    from nbformat.v4 import new_output

    controls, shown = [], []
    _walk(model_id, state, controls, shown, set())
    line = STATIC_NOTE if not controls else f"{STATIC_NOTE} Settings: {', '.join(controls)}."
    note = new_output("display_data", data={
        "text/html": f'<p class="ic-static-widget">{html.escape(line)}</p>', "text/plain": line,
    })
    return [note, *shown]


def _walk(model_id, state, controls: list, shown: list, seen: set) -> None:
    """Collect, depth first, each control's 'description: value' and each output area's outputs."""
    from nbformat import from_dict

    if model_id in seen or model_id not in state:
        return
    seen.add(model_id)
    model = state[model_id]
    name, values = model.get("model_name", ""), model.get("state", {})
    if name == "OutputModel":
        shown.extend(from_dict(output) for output in values.get("outputs", []))
        return
    children = values.get("children")
    if isinstance(children, list):
        for child in children:
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                _walk(child.removeprefix("IPY_MODEL_"), state, controls, shown, seen)
        return
    value = _control_value(values)
    if value is not None:
        label = values.get("description") or name.removesuffix("Model")
        controls.append(f"{label}: {value}")


def _control_value(values: dict):
    labels, index = values.get("_options_labels"), values.get("index")
    if labels is not None:  # Dropdown, Select, RadioButtons...: the chosen label(s)
        chosen = index if isinstance(index, (list, tuple)) else [index]
        return ", ".join(str(labels[i]) for i in chosen if isinstance(i, int) and 0 <= i < len(labels)) or "-"
    value = values.get("value")
    if isinstance(value, (int, float, bool, str)) and not (isinstance(value, str) and len(value) > 80):
        return value
    if isinstance(value, list) and len(value) <= 4:  # range sliders
        return "-".join(map(str, value))
    return None


# ------------------------------------------------------------------------- remote resources


def offline_markdown(notebook) -> None:
    """Remote images in Markdown cells (in place) become their alt text: a badge linked to a
    page stays a link to it."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = _MARKDOWN_IMAGE.sub(lambda image: _alt_text(image.group(1)), cell.source)


def _alt_text(text: str) -> str:
    return f'<span class="ic-offline-badge">{html.escape(text or "image")}</span>'


def remote_resources(page: str) -> list[str]:
    """What ``page`` would load from the network: remote ``src``/``href`` of resource tags
    (never ``<a href>``), CSS ``url()`` and ``@import``, and scripts that name an address."""
    found = [tag.group(0)[:200] for tag in _TAG.finditer(page) if _remote_tag(tag.group(0))]
    for style in _STYLE.finditer(page):
        css = _CSS_COMMENT.sub("", style.group(1) or style.group(2) or "")
        found += [f"CSS {m.group(0)}" for m in (*_CSS_URL.finditer(css), *_CSS_IMPORT.finditer(css))]
    found += [f"script {script.group(0)[:200]}" for script in _SCRIPT.finditer(page) if _script_names_address(script)]
    return found


def strip_remote_resources(page: str) -> str:
    """Remove what :func:`remote_resources` finds: a remote image becomes its alt text, any
    other remote tag or script goes, remote CSS ``url()`` becomes ``none`` and ``@import`` goes."""
    page = _SCRIPT.sub(lambda script: "" if _remote_tag(script.group(0)[:script.group(0).index(">") + 1])
                       or _script_names_address(script) else script.group(0), page)
    page = _TAG.sub(_offline_tag, page)
    return _STYLE.sub(_offline_style, page)


def _remote_tag(tag: str) -> bool:
    for attribute, value in _ATTRIBUTE.findall(tag):
        value = value.strip("'\"").strip()
        candidates = value.split(",") if attribute.lower() == "srcset" else [value]
        if any(re.match(REMOTE, candidate.strip(), re.I) for candidate in candidates):
            return True
    return False


def _script_names_address(script: re.Match) -> bool:
    """A script that runs (JavaScript, not data) and names a web address may fetch it."""
    kind = re.search(r"\btype\s*=\s*['\"]?([^'\"\s>]+)", script.group(1), re.I)
    runs = kind is None or "javascript" in kind.group(1).lower() or kind.group(1).lower() == "module"
    return runs and re.search(r"https?://", script.group(2)) is not None


def _offline_tag(tag: re.Match) -> str:
    if not _remote_tag(tag.group(0)):
        return tag.group(0)
    if tag.group(1).lower() != "img":
        return ""
    alt = _ALT.search(tag.group(0))
    return _alt_text(html.unescape(alt.group(1)[1:-1]) if alt else "")


def _offline_style(style: re.Match) -> str:
    css = style.group(0)
    if not (_CSS_URL.search(css) or _CSS_IMPORT.search(css)):
        return css
    css = re.sub(_CSS_IMPORT.pattern + r"[^;]*;?", "", css, flags=re.I)
    return re.sub(_CSS_URL.pattern + r"[^)]*\)", "none", css, flags=re.I)


# ------------------------------------------------------------------------- the page


def write_html(notebook, target: Path) -> None:
    """Write ``notebook`` as an HTML page at ``target`` that needs no network, MathJax beside it."""
    import jinja2
    from nbconvert import HTMLExporter

    install_mathjax(target.parent)
    notebook = copy.deepcopy(notebook)
    static_widget_views(notebook)
    offline_markdown(notebook)
    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": TEMPLATE})],
        template_file="offline.html.j2",
        mathjax_url=f"{MATHJAX_FOLDER}/MathJax.js?config={MATHJAX_CONFIG}",
    )
    page, _ = exporter.from_notebook_node(notebook)
    page = strip_remote_resources(page)
    left = remote_resources(page)
    if left:  # what stripping missed: a fault here, not in the notebook
        raise RuntimeError(f"{target.name} would still load from the network: {'; '.join(left[:5])}")
    target.write_text(page, encoding="utf-8")
