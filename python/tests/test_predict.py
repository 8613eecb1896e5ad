"""`fadca.predict` against `fadca predict`: the same scores, byte for byte
the same files, for both models; the prediction's arrays and summary."""

import filecmp
import json

import numpy as np
import pytest

import fadca
from conftest import ROOT, SMALL, SMALL_CONTACTS, run_cli

FILES = ["contacts.tsv", "contacts.mat", "contacts.rr", "model.safetensors", "couplings.npy"]


def python_prediction(model, source=SMALL):
    return fadca.predict(source, model=model, seed=3, threads=2, epochs=3, progress=False)


@pytest.mark.parametrize("model", ["factored", "potts"])
def test_scores_are_the_command_lines(model, cli_predictions, tmp_path):
    folder = cli_predictions[model]
    p = python_prediction(model)
    assert p.model == model
    mat = np.loadtxt(folder / "contacts.mat")
    assert p.scores.dtype == np.float64 and p.scores.shape == (30, 30)
    assert np.array_equal(p.scores, mat)
    assert np.array_equal(p.scores, p.scores.T)
    # The same files, byte for byte, and the same summary but for timings.
    summary = p.save(tmp_path / "py", couplings=True)
    for name in FILES:
        assert filecmp.cmp(folder / name, tmp_path / "py" / name, shallow=False), name
    cli_summary = json.loads((folder / "summary.json").read_text())
    written = json.loads((tmp_path / "py" / "summary.json").read_text())
    assert written == summary == p.summary
    for key in ("timings", "output_dir", "model_path"):
        del cli_summary[key], written[key]
    assert written == cli_summary
    assert np.array_equal(np.load(folder / "couplings.npy"), p.couplings())


def test_an_alignment_object_trains_as_its_file():
    from_path = python_prediction("factored")
    alignment = fadca.read_alignment(SMALL)
    from_object = python_prediction("factored", alignment)
    assert np.array_equal(from_path.scores, from_object.scores)
    assert from_object.alignment.sha256 == alignment.sha256


def test_contacts_are_ranked_pairs_like_contacts_tsv(cli_predictions):
    p = python_prediction("factored")
    every = p.contacts(min_separation=1)
    assert every.dtype.names == ("i", "j", "score")
    rows = np.loadtxt(cli_predictions["factored"] / "contacts.tsv", skiprows=1)
    assert len(every) == 30 * 29 // 2 == len(rows)
    assert np.array_equal(every["i"], rows[:, 0]) and np.array_equal(every["j"], rows[:, 1])
    top = p.contacts(top=5)
    assert len(top) == 5 and np.all(top["j"] - top["i"] >= 6)
    assert np.all(np.diff(top["score"]) <= 0)
    assert top["score"][0] == p.scores[top["i"][0] - 1, top["j"][0] - 1]
    assert np.array_equal(top, p.contacts()[:5])


def test_summary_before_saving_names_no_folder():
    p = python_prediction("potts")
    s = p.summary
    assert s["output_dir"] is None and s["model_path"] is None and s["outputs"] == []
    assert s["model"] == "potts" and s["length"] == 30 and s["n_kept"] == 200
    assert s["hyperparameters"]["seed"] == 3 and s["threads"] == 2
    assert len(s["loss_curve"]) == 3 and s["version"] == fadca.__version__


def test_save_scores_as_predict_does(tmp_path):
    p = python_prediction("factored")
    cli = tmp_path / "cli"
    run_cli(
        "predict", SMALL, "-o", cli, "--model-out", cli / "model.safetensors", "--seed", 3,
        "--threads", 2, "--epochs", 3, "--model", "factored", "--contacts-true", SMALL_CONTACTS,
        "-q",
    )
    summary = p.save(tmp_path / "py", contacts=SMALL_CONTACTS)
    assert (tmp_path / "py" / "contact_map.png").is_file()
    cli_score = json.loads((cli / "score.json").read_text())
    py_score = json.loads((tmp_path / "py" / "score.json").read_text())
    assert py_score["prediction"]["path"] == str(tmp_path / "py" / "contacts.tsv")
    del cli_score["prediction"], py_score["prediction"]
    assert py_score == cli_score
    assert summary["precision"] == cli_score["precision"]


def test_save_refuses_another_alignments_folder(tmp_path, cli_predictions):
    p = fadca.predict(ROOT / "msa" / "example.fasta", threads=2, epochs=1, progress=False)
    with pytest.raises(fadca.InputError, match="--force"):
        p.save(cli_predictions["factored"])
    assert (cli_predictions["factored"] / "contacts.mat").is_file()


def test_version_is_the_crates():
    import tomllib

    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert fadca.__version__ == cargo["workspace"]["package"]["version"]
    assert run_cli("--version").stdout.split() == ["fadca", fadca.__version__]


def test_auto_is_the_default_and_says_why():
    # The command line's default: the Potts model where it fits (L = 30 does).
    p = fadca.predict(SMALL, seed=3, threads=2, epochs=2, progress=False)
    assert p.model == "potts"
    assert p.model_reason.startswith("auto: the Potts model")
    assert p.summary["model_requested"] == "auto"
    assert p.summary["model_reason"] == p.model_reason
    # Forced: recorded as requested.
    f = fadca.predict(SMALL, model="factored", seed=3, threads=2, epochs=2, progress=False)
    assert f.model == "factored"
    assert f.model_reason.startswith("requested with --model factored")
    # Too little memory for either model: refused before training.
    with pytest.raises(fadca.InputError, match="with factored attention"):
        fadca.predict(SMALL, max_memory="1M", threads=2, epochs=2, progress=False)


def test_steps_fix_the_length_and_the_default_stops_by_the_rule():
    fixed = fadca.predict(SMALL, model="potts", steps=20, threads=1, progress=False).summary
    assert fixed["steps"] == fixed["max_steps"] == 20
    assert fixed["stop_reason"] == "fixed_length" and fixed["convergence_checks"] == []
    auto = fadca.predict(SMALL, model="potts", threads=1, progress=False).summary
    assert auto["stop_reason"] in ("converged", "max_steps")
    assert auto["convergence_checks"][0]["step"] == 25
    assert auto["steps"] <= auto["max_steps"] == 350  # the Potts schedule
    with pytest.raises(fadca.InputError, match="--steps"):
        fadca.predict(SMALL, steps=0, progress=False)
