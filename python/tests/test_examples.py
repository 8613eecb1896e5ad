"""The README's Python example and examples/notebook.py run as written, from
a folder laid out like the clone (msa/ and predictions/)."""

import re
import shutil
import subprocess
import sys

from conftest import ROOT


def laid_out_like_the_clone(tmp_path):
    shutil.copytree(ROOT / "msa", tmp_path / "msa")
    (tmp_path / "predictions").mkdir()
    return tmp_path


def test_the_readme_example(tmp_path):
    readme = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"<!-- python-example -->\n```python\n(.*?)```", readme, re.S)
    cwd = laid_out_like_the_clone(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "(60, 60)" in result.stdout
    saved = cwd / "predictions" / "example-python"
    for name in ("contacts.tsv", "contacts.mat", "contacts.rr", "model.safetensors", "summary.json"):
        assert (saved / name).is_file(), name


def test_the_notebook(tmp_path):
    cwd = laid_out_like_the_clone(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook.py")],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "all {'L': " in result.stdout
