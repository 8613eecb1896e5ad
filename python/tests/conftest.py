"""Shared fixtures of the Python module's tests: the repository's files and
the command-line binary the module is compared with (built by `cargo test`
or `cargo build --release`; FADCA_BIN points to another)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "predict" / "small.fasta"
SMALL_CONTACTS = ROOT / "tests" / "data" / "predict" / "small.contacts.tsv"
EXAMPLE = ROOT / "msa" / "example.fasta"
EXAMPLE_CONTACTS = ROOT / "msa" / "example.contacts.tsv"
MALFORMED = ROOT / "tests" / "data" / "malformed"


def binary() -> Path:
    path = Path(os.environ.get("FADCA_BIN", ROOT / "target" / "release" / "fadca"))
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `cargo build --release` (or set FADCA_BIN)")
    return path


def run_cli(*args, check=True) -> subprocess.CompletedProcess:
    """Runs `fadca ARGS...`, returning the finished process (text output)."""
    result = subprocess.run(
        [str(binary()), *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"fadca {' '.join(map(str, args))}: {result.stderr}")
    return result


def cli_json(*args) -> dict:
    return json.loads(run_cli(*args).stdout)


@pytest.fixture(scope="session")
def cli_predictions(tmp_path_factory):
    """`fadca predict` on the small family, one folder per model (seed 3,
    two threads, three epochs, couplings saved)."""
    out = tmp_path_factory.mktemp("cli")
    folders = {}
    for model in ("factored", "potts"):
        folder = out / model
        run_cli(
            "predict", SMALL, "-o", folder, "--model-out", folder / "model.safetensors",
            "--model", model, "--seed", 3, "--threads", 2, "--epochs", 3,
            "--save-couplings", "-q",
        )
        folders[model] = folder
    return folders
