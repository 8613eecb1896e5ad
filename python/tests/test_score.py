"""`fadca.score` against `fadca score`'s `score.json`."""

import json

import pytest

import fadca
from conftest import ROOT, SMALL, SMALL_CONTACTS, run_cli

STRUCTURE = ROOT / "tests" / "data" / "score" / "tiny.pdb"


@pytest.mark.parametrize("model", ["factored", "potts"])
def test_a_folder_scores_as_the_command_line(model, cli_predictions, tmp_path):
    folder = cli_predictions[model]
    run_cli("score", folder, "--contacts", SMALL_CONTACTS, "-o", tmp_path / "cli")
    expected = json.loads((tmp_path / "cli" / "score.json").read_text())
    got = fadca.score(folder, contacts=SMALL_CONTACTS, output=tmp_path / "py")
    assert got == expected
    assert json.loads((tmp_path / "py" / "score.json").read_text()) == expected
    assert (tmp_path / "py" / "contact_map.png").is_file()


def test_a_file_needs_its_alignment(cli_predictions, tmp_path):
    mat = cli_predictions["potts"] / "contacts.mat"
    run_cli("score", mat, "--msa", SMALL, "--contacts", SMALL_CONTACTS, "-o", tmp_path)
    expected = json.loads((tmp_path / "score.json").read_text())
    assert fadca.score(mat, contacts=SMALL_CONTACTS, msa=SMALL) == expected
    with pytest.raises(fadca.InputError, match="give the alignment with --msa"):
        fadca.score(mat, contacts=SMALL_CONTACTS)


def test_a_prediction_in_memory(cli_predictions, tmp_path):
    p = fadca.predict(SMALL, model="potts", seed=3, threads=2, epochs=3, progress=False)
    folder = cli_predictions["potts"]
    expected = fadca.score(folder, contacts=SMALL_CONTACTS)
    got = fadca.score(p, contacts=SMALL_CONTACTS)
    assert "prediction" not in got  # not saved: no file
    del expected["prediction"]
    assert got == expected
    p.save(tmp_path / "again")
    assert fadca.score(p, contacts=SMALL_CONTACTS)["prediction"]["path"] == str(
        tmp_path / "again" / "contacts.tsv"
    )


def test_a_structure(tmp_path):
    # tiny.pdb's chain A is AGSLMV: a family of that query, scored against it.
    msa = tmp_path / "tiny.fasta"
    msa.write_text(">q\nAGSLMV\n>s1\nAGSLMV\n>s2\nAGTLMI\n")
    p = fadca.predict(msa, threads=1, epochs=2, progress=False, model="potts")
    p.save(tmp_path / "pred")
    run_cli("score", tmp_path / "pred", "--pdb", STRUCTURE, "-o", tmp_path / "cli")
    expected = json.loads((tmp_path / "cli" / "score.json").read_text())
    assert expected["mapping"]["structure_residues"] == 6
    assert fadca.score(p, STRUCTURE) == expected
    assert fadca.score(tmp_path / "pred", STRUCTURE, chain="A", cutoff=8.0) != {}
