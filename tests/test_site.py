"""The course site, built by ``make site`` once for the session and checked in a real browser.

The site is served from 127.0.0.1 and opened in Debian's chromium (tests/browser/site-check.mjs,
the browser tests' set-up) with every other request blocked: each page loads with no console error
and no remote request, its maths typesets and its images load; every internal link resolves; the
search finds "involution"; each notebook page's Colab link is the student repository's and its
download link gives the released notebook. Every file of the site is scanned as the bundle's are
(tests/test_bundle.py): no solution region, hidden test, instructor import or graded answer.
``make site`` never writes the instructor edition; that edition's pages are marked not for
publication (checked on a build of the released notebooks, since executing the solutions is slow).
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from involution_course import colab
from involution_instructor.autograde.similarity import MIN_TOKENS, definitions, similarity
from involution_instructor.autograde.tampering import _parse
from involution_instructor.bundle import lay_out_repository, released_notebooks
from involution_instructor.paths import ASSIGNMENTS
from involution_instructor.site import builder, site_source
from test_bundle import INSTRUCTOR_IMPORT, LEAKS, SAME_CODE, graded_answers

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
SCRIPT = BROWSER_DIR / "site-check.mjs"
CHROMIUM = Path(os.environ.get("INVOLUTION_COURSE_CHROMIUM", "/usr/bin/chromium"))
BROWSER_TIMEOUT_S = 300
TEXT_SUFFIXES = {".html", ".js", ".json", ".ipynb", ".txt", ".md", ".css", ".inv"}
PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
TAG = re.compile(r"<[^>]+>")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """``make site`` into a folder of the test's own (SITE_DIR), with the instructor edition's folder
    (SITE_INSTRUCTOR_DIR) named too, so that the test can see it is never written."""
    base = tmp_path_factory.mktemp("site")
    venv = Path(sys.prefix)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", f"{venv}/.installed", "site", f"VENV={venv}",
         f"SITE_DIR={base / 'site'}", f"SITE_INSTRUCTOR_DIR={base / 'site-instructor'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"site": base / "site", "instructor": base / "site-instructor", "stdout": result.stdout}


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if "_static" not in p.parts)


@pytest.fixture(scope="session")
def served(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site["site"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser_report(built_site, served, tmp_path_factory):
    missing = (f"no chromium at {CHROMIUM}" if not CHROMIUM.exists() else
               "no node on PATH" if shutil.which("node") is None else
               "playwright-core is not installed in tests/browser"
               if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir() else None)
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the site's browser test, but {missing}: run scripts/install-browser.sh")
        pytest.skip(f"{missing}: run scripts/install-browser.sh")
    work = tmp_path_factory.mktemp("site-browser")
    config = {
        "baseUrl": served, "executablePath": str(CHROMIUM), "resultsPath": str(work / "report.json"),
        "downloadDir": str(work / "downloads"),
        "pages": _pages(built_site["site"]),
        "search": {"path": "search.html", "query": "involution"},
        "notebooks": [{"page": f"notebooks/{a}/{a}.html", "name": f"{a}.ipynb"} for a in ASSIGNMENTS],
    }
    (work / "config.json").write_text(json.dumps(config))
    result = subprocess.run(["node", str(SCRIPT), str(work / "config.json")], cwd=BROWSER_DIR,
                            capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((work / "report.json").read_text())


# ---------------------------------------------------------------------------- the build


def test_make_site_builds_every_page_and_never_the_instructor_edition(built_site):
    site = built_site["site"]
    pages = _pages(site)
    expected = {"index.html", "results.html", "notation.html", "student-guide.html", "instructor-guide.html",
                "search.html", *(f"notebooks/{a}/{a}.html" for a in ASSIGNMENTS)}
    assert expected <= set(pages), sorted(expected - set(pages))
    assert not built_site["instructor"].exists()
    assert "not for publication" not in (site / "index.html").read_text().lower()
    assert (site / "_static" / "mathjax" / "tex-svg.js").is_file()
    for assignment in ASSIGNMENTS:  # the download beside each page is the released notebook, byte for byte
        assert (site / "notebooks" / assignment / f"{assignment}.ipynb").read_bytes() == \
            (ROOT / "notebooks" / assignment / f"{assignment}.ipynb").read_bytes()


def test_the_landing_page_lists_every_notebook_with_points_from_its_metadata(built_site):
    site_builder = builder(ROOT)
    text = html.unescape(TAG.sub("", (built_site["site"] / "index.html").read_text()))
    for assignment in ASSIGNMENTS:
        info = site_builder.describe_notebook(ROOT / "notebooks" / assignment / f"{assignment}.ipynb")
        assert info.objectives and info.time and info.autograded > 0, assignment
        assert f"{info.autograded:g} autograded + {info.by_hand:g} by hand" in text, assignment
        assert info.title in text


def test_results_come_from_the_recorded_json_with_their_provenance(built_site, shared_data):
    page = (built_site["site"] / "results.html").read_text()
    text = html.unescape(TAG.sub("", page))
    compare = json.loads((ROOT / "src/student/involution_course/results_data/compare.json").read_text())
    last = compare["provenance"][-1]
    assert last["hardware"]["gpu"] in text and last["date"][:10] in text
    assert last["command"] in text
    kernels = json.loads((ROOT / "src/student/involution_course/results_data/kernels-gpu.json").read_text())
    assert kernels["provenance"]["date"][:10] in text
    for figure in ("cost-accuracy.png", "fused-kernels.png", "kernels-0.png"):
        assert figure in page, figure


def test_the_builder_refuses_a_notebook_with_a_solution(tmp_path):
    source = json.loads((ROOT / "notebooks" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").read_text())
    source["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": ["### BEGIN SOLUTION\n", "x = 1\n", "### END SOLUTION\n"]})
    planted = tmp_path / "notebooks" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    planted.parent.mkdir(parents=True)
    planted.write_text(json.dumps(source))
    site_builder = builder(ROOT)
    with pytest.raises(site_builder.SiteError, match="solutions, hidden tests"):
        site_builder.build(tmp_path / "out", tmp_path / "notebooks", sources=site_source(ROOT))
    assert not (tmp_path / "out").exists()


def test_the_instructor_edition_marks_every_page_not_for_publication(tmp_path):
    """Built here from the released notebooks in place of the executed solutions (the marking is the
    edition's, whatever the notebooks)."""
    site_builder = builder(ROOT)
    notebooks = [ROOT / "notebooks" / a / f"{a}.ipynb" for a in ASSIGNMENTS[:1]]
    built = site_builder.build(tmp_path / "site-instructor", notebooks, edition="instructor", sources=site_source(ROOT))
    assert built.pages
    for page in built.pages:
        assert site_builder.NOT_FOR_PUBLICATION in html.unescape(page.read_text()), page
    first = (tmp_path / "site-instructor" / "notebooks" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.html").read_text()
    assert "course-colab" not in first  # the answer key is not on the student repository


def test_the_student_repository_rebuilds_the_site_with_nothing_of_the_instructor(tmp_path):
    """What its GitHub Pages workflow runs, in the repository that `bundle --repository` lays out, with
    the course package taken from there."""
    repository = tmp_path / "student"
    lay_out_repository(repository, released_notebooks(ROOT), ROOT / "src" / "student", colab.repository_url())
    workflow = (repository / ".github" / "workflows" / "site.yml").read_text()
    command = next(line.split("- run: ", 1)[1] for line in workflow.splitlines() if "- run: " in line and "build_site" in line)
    assert command == "python site/build_site.py --notebooks notebooks --output _site"
    probe = ("import runpy, sys; sys.argv = ['site/build_site.py', '--notebooks', 'notebooks', '--output', '_site']; "
             "code = 0\ntry:\n    runpy.run_path('site/build_site.py', run_name='__main__')\n"
             "except SystemExit as end:\n    code = end.code\n"
             "assert not [m for m in sys.modules if m.startswith('involution_instructor')], 'instructor code was imported'\n"
             f"import involution_course; assert involution_course.__file__.startswith({str(repository)!r})\n"
             "sys.exit(code)")
    env = {**os.environ, "PYTHONPATH": str(repository), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=repository, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert {f"notebooks/{a}/{a}.html" for a in ASSIGNMENTS} <= set(_pages(repository / "_site"))


def test_make_site_edition_instructor_builds_the_answer_key_elsewhere():
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "site", "EDITION=instructor"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "site --edition instructor --output build/site-instructor" in dry
    plain = subprocess.run(["make", "-n", "-o", ".venv/.installed", "site"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert "--edition instructor" not in plain and "--output build/site" in plain


# ------------------------------------------------------------------ nothing that is not the students'


def _site_texts(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8", errors="replace")
            for p in site.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
            and not {"mathjax"} & set(p.parts)}


def test_no_page_holds_a_solution_a_hidden_test_or_instructor_code(built_site):
    found = [f"{where}: {match.group(0).strip()}"
             for where, text in _site_texts(built_site["site"]).items()
             for pattern in (LEAKS, INSTRUCTOR_IMPORT) for match in [pattern.search(text)] if match]
    assert not found, "\n".join(found)


def test_no_page_holds_a_graded_answer(built_site):
    answers = [(e, a) for e, a in graded_answers(ROOT) if len(a.tokens) >= MIN_TOKENS]
    assert len(answers) >= 20
    theirs = []
    for where, text in _site_texts(built_site["site"]).items():
        if where.endswith(".html"):
            blocks = [html.unescape(TAG.sub("", block)) for block in PRE.findall(text)]
        elif where.endswith(".ipynb"):
            blocks = ["".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code"]
        else:
            continue
        for block in blocks:
            theirs += [(where, d) for d in definitions(_parse(block)) if len(d.tokens) >= MIN_TOKENS]
    assert theirs, "no code was found in the site's pages"
    copies = sorted({f"{exercise}: {answer.name} is {ratio:.0%} similar to {mine.name} in {where}"
                     for exercise, answer in answers for where, mine in theirs
                     for ratio in [similarity(answer, mine, SAME_CODE)] if ratio >= SAME_CODE})
    assert not copies, "\n".join(copies)


# -------------------------------------------------------------------------- in the browser


def test_every_page_loads_with_no_console_error_and_no_remote_request(browser_report, built_site):
    pages = browser_report["pages"]
    assert [p["path"] for p in pages] == _pages(built_site["site"])
    problems = [f"{p['path']}: status {p['status']}, errors {p['consoleErrors']}, failed {p['failedRequests']}"
                for p in pages if p["status"] != 200 or p["consoleErrors"] or p["failedRequests"]]
    assert not problems, "\n".join(problems)
    assert not browser_report["blocked"], f"requests to other hosts: {sorted(set(browser_report['blocked']))}"


def test_the_maths_typesets(browser_report):
    pages = {p["path"]: p for p in browser_report["pages"]}
    with_maths = [p for p in pages.values() if p["math"]]
    assert "notation.html" in {p["path"] for p in with_maths}
    assert {f"notebooks/{a}/{a}.html" for a in ASSIGNMENTS[:2]} <= {p["path"] for p in with_maths}
    unrendered = [f"{p['path']}: {p['mathRendered']} of {p['math']} typeset, {p['mathErrors']} errors"
                  for p in with_maths if p["mathRendered"] < p["math"] or p["mathErrors"]]
    assert not unrendered, "\n".join(unrendered)


def test_every_image_loads(browser_report):
    results = next(p for p in browser_report["pages"] if p["path"] == "results.html")
    assert results["images"] >= 3
    broken = [f"{p['path']}: {p['brokenImages']}" for p in browser_report["pages"] if p["brokenImages"]]
    assert not broken, "\n".join(broken)


def test_every_internal_link_resolves(browser_report):
    links = browser_report["links"]
    assert len(links) > 15
    bad = [f"{link['url']} (from {link['from']}): status {link['status']}, missing #{link['missingFragments']}"
           for link in links if link["status"] != 200 or link["missingFragments"]]
    assert not bad, "\n".join(bad)


def test_search_finds_involution(browser_report):
    search = browser_report["search"]
    assert not search["errors"], search["errors"]
    assert search["count"] >= 3, search


def test_each_notebook_page_opens_in_colab_and_downloads_the_released_notebook(browser_report, tmp_path):
    repository = lay_out_repository(tmp_path / "student", released_notebooks(ROOT), ROOT / "src" / "student",
                                    colab.repository_url())
    assert repository
    for assignment, result in zip(ASSIGNMENTS, browser_report["notebooks"]):
        assert result["error"] is None, result
        assert result["colab"] == colab.colab_badge_url(assignment)
        # The address Colab opens: the notebook's place in the student repository.
        in_repository = result["colab"].split("/blob/main/", 1)[1]
        assert (tmp_path / "student" / in_repository).is_file(), in_repository
        assert Path(result["downloadedTo"]).read_bytes() == \
            (ROOT / "notebooks" / assignment / f"{assignment}.ipynb").read_bytes()
