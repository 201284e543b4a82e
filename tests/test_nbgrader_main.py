"""nbgrader started through ``involution_instructor.nbgrader_main``, as the course's tools start it."""

from __future__ import annotations

import subprocess
import sys

RUN = """
import sys
sys.argv = ["nbgrader", "--version"]
from involution_instructor import nbgrader_main
try:
    nbgrader_main.main()
except SystemExit:
    pass
import jsonschema, nbformat
print("IRI grammar built:", sys.modules.get("rfc3987_syntax") is not None)
"""


def test_nbgrader_starts_without_building_the_iri_grammar():
    result = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nbgrader version" in result.stdout
    assert "IRI grammar built: False" in result.stdout

