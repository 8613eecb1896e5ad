"""`fadca.simulate` makes what `fadca simulate` makes: the embedded example
(msa/README.md) from its parameters."""

import filecmp
import hashlib

import numpy as np

import fadca
from conftest import EXAMPLE, EXAMPLE_CONTACTS

PARAMS = dict(length=60, heads=4, samples=2000, seed=1)


def test_the_embedded_example_in_memory():
    sim = fadca.simulate(**PARAMS)
    assert sim.alignment.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    from_file = fadca.read_alignment(EXAMPLE)
    assert np.array_equal(sim.alignment.msa, from_file.msa)
    assert sim.alignment.names == from_file.names
    planted = np.loadtxt(EXAMPLE_CONTACTS, skiprows=1, dtype=np.int64)[:, :2]
    assert sim.contacts.dtype == np.int64 and np.array_equal(sim.contacts, planted)
    assert sim.report["records"] == 2001 and sim.report["teacher"]["length"] == 60


def test_the_embedded_example_written(tmp_path):
    sim = fadca.simulate(**PARAMS, output=tmp_path)
    assert filecmp.cmp(tmp_path / "msa.fasta", EXAMPLE, shallow=False)
    assert filecmp.cmp(tmp_path / "contacts.tsv", EXAMPLE_CONTACTS, shallow=False)
    assert sim.alignment.path == str(tmp_path / "msa.fasta")
    assert (tmp_path / "teacher.safetensors").is_file()


def test_bad_parameters():
    import pytest

    with pytest.raises(fadca.InputError, match="cutoff"):
        fadca.simulate(length=10, samples=5, cutoff=-1.0)
