"""What importing the report's libraries costs the `incident-lab` process."""

import subprocess
import sys


def test_reading_a_notebook_does_not_build_the_iri_grammar(tmp_path):
    # A fresh interpreter, outside the checkout so the installed package is the one imported.
    script = (
        "import sys, incident_lab, nbformat, papermill\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
        "from jsonschema import FormatChecker\n"
        "print(FormatChecker().conforms('http://example.com/a b', 'uri'))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    grammar, uri_checked = completed.stdout.split()
    assert grammar in {"None", "absent"}
    assert uri_checked == "False"  # the other formats are still checked
