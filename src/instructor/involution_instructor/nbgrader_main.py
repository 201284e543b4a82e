"""``python -m involution_instructor.nbgrader_main ARGS``: nbgrader's command line, started sooner.

nbformat imports jsonschema, and jsonschema, when the optional ``rfc3987-syntax`` package is
installed (Jupyter's servers pull it in), builds a grammar for IRIs as it is imported: about a
second of CPU. Validating a notebook never checks an IRI, so this entry point hides that package
before nbgrader starts (jsonschema then leaves the IRI format unchecked), and every nbgrader run,
one per student and notebook when autograding, starts about a second sooner.
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)  # importing it now raises ImportError, which jsonschema skips
    runpy.run_module("nbgrader", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
