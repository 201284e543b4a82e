"""Sphinx configuration of the course site; build_site.py stages it with the pages and writes
_site.json beside it (the edition and the student repository's address)."""

import json
from pathlib import Path

_site = json.loads((Path(__file__).resolve().parent / "_site.json").read_text(encoding="utf-8"))
EDITION = _site["edition"]
REPOSITORY = _site["repository"]

project = "Involution Course"
author = "The Involution Course"
copyright = "the Involution Course authors, Apache-2.0"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "_extra", "_doctrees", "_generated/*.md", "**.ipynb_checkpoints", "_site.json"]

# Released notebooks are students' copies: rendered as they are, never executed.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
myst_update_mathjax = False
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

# MathJax 3 from django-static-mathjax, copied into _static/mathjax by build_site.py: no CDN. Its SVG
# output needs no web fonts.
mathjax_path = "mathjax/tex-svg.js"

html_theme = "sphinx_book_theme"
html_title = "Involution Course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"  # else browsers ask for /favicon.ico, which a static folder lacks
html_extra_path = ["_extra"]
html_use_index = False  # an index of no entries
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "use_repository_button": EDITION == "student",
    "use_download_button": False,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}

if EDITION == "instructor":
    # The answer key: a banner on every page and a title that says so.
    html_title = "Involution Course: answer key (not for publication)"
    html_theme_options["announcement"] = _site["not_for_publication"]
    html_theme_options["use_repository_button"] = False
