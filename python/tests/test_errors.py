"""Bad input raises `fadca.InputError` (a ValueError) with the command
line's message and where; a missing file raises FileNotFoundError."""

import errno

import pytest

import fadca
from conftest import MALFORMED, ROOT, SMALL, run_cli

MALFORMED_ALIGNMENTS = [
    ("bad_char.fasta", 4, 3, None),
    ("truncated_record.fasta", 5, None, (3, "s2")),
    ("wrong_length.a3m", 4, None, (2, "s")),
    ("empty.fasta", None, None, None),
]


def cli_message(*args):
    """The one-line error `fadca ARGS` prints (exit code 2), without `fadca: error: `."""
    result = run_cli(*args, check=False)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    return line.removeprefix("fadca: error: ")


@pytest.mark.parametrize("name, line, column, record", MALFORMED_ALIGNMENTS)
def test_malformed_alignment(name, line, column, record):
    path = MALFORMED / name
    expected = cli_message("inspect", path)
    with pytest.raises(fadca.InputError) as caught:
        fadca.read_alignment(path)
    assert str(caught.value) == expected
    assert isinstance(caught.value, ValueError)
    e = caught.value
    assert (e.file, e.line, e.column, e.record) == (str(path), line, column, record)
    with pytest.raises(fadca.InputError) as again:
        fadca.predict(path, progress=False)
    assert str(again.value) == cli_message("predict", path, "-o", ROOT / "target" / "unused")


def test_missing_file():
    path = ROOT / "no" / "such.fasta"
    expected = cli_message("inspect", path)
    for call in (fadca.read_alignment, lambda p: fadca.predict(p, progress=False)):
        with pytest.raises(FileNotFoundError) as caught:
            call(path)
        assert caught.value.errno == errno.ENOENT
        assert caught.value.strerror == expected
        assert caught.value.filename == str(path)


def test_missing_structure_and_bad_values():
    p = fadca.predict(SMALL, threads=1, epochs=1, progress=False)
    with pytest.raises(FileNotFoundError):
        fadca.score(p, ROOT / "no" / "such.pdb")
    with pytest.raises(fadca.InputError, match="expected one of"):
        fadca.predict(SMALL, model="transformer", progress=False)
    with pytest.raises(fadca.InputError, match="--learning-rate must be a positive number"):
        fadca.predict(SMALL, learning_rate=-1.0, progress=False)
    with pytest.raises(fadca.InputError, match="theta"):
        fadca.read_alignment(SMALL, theta=2.0)
    with pytest.raises(TypeError):
        fadca.predict(3.5, progress=False)
