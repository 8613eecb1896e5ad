"""`fadca.read_alignment` against `fadca inspect --json` and the file."""

import numpy as np
import pytest

import fadca
from conftest import EXAMPLE, ROOT, SMALL, cli_json


@pytest.mark.parametrize("path", [SMALL, EXAMPLE, ROOT / "tests" / "data" / "insertions.a3m"])
def test_arrays_match_inspect(path):
    a = fadca.read_alignment(path)
    report = cli_json("inspect", path, "--json")
    assert a.msa.dtype == np.uint8
    assert a.msa.shape == (report["n_kept"], report["length"]) == (len(a), a.length)
    assert {k: report[k] for k in a.stats} == a.stats
    assert a.meff == report["meff"] == pytest.approx(a.weights.sum())
    assert a.query == report["query"]["sequence"] and a.query_name == report["query"]["name"]
    assert a.format == report["format"] and a.theta == report["theta"]
    assert a.names[0] == a.query_name and len(a.names) == len(a)
    assert a.alphabet == fadca.ALPHABET == "ARNDCQEGHILKMFPSTWYV-"
    # Row 0 is the query, in alphabet order (its letters other than the 20 are gaps).
    letters = "".join(a.alphabet[s] for s in a.msa[0])
    assert letters == "".join(c if c in a.alphabet else "-" for c in a.query)
    assert a.msa.max() <= 20 and np.all((0 < a.weights) & (a.weights <= 1))


def test_options_match_the_flags():
    path = ROOT / "tests" / "data" / "insertions.a3m"
    a = fadca.read_alignment(path, theta=1.0, keep_query_gaps=True, max_gap_fraction=1.0)
    report = cli_json(
        "inspect", path, "--json", "--theta", 1, "--keep-query-gaps", "--max-gap-fraction", 1
    )
    assert a.msa.shape == (report["n_kept"], report["length"])
    assert a.meff == report["meff"] == len(a)


def test_arrays_are_read_only():
    a = fadca.read_alignment(SMALL)
    with pytest.raises(ValueError):
        a.msa[0, 0] = 3
    with pytest.raises(ValueError):
        a.weights[0] = 2.0
