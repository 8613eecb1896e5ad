#!/usr/bin/env bash
# Creates (once) and reuses a Python virtual environment *outside the clone*
# holding the PyPI `torch` wheel whose version tch expects, then prints the
# environment that `cargo` needs to build against it:
#
#     e="$(scripts/torch-env.sh)" && eval "$e" && cargo build --release
#
# The cache lives in ${FADCA_CACHE:-$HOME/.cache/fadca}; deleting it forces a
# fresh install. A second run takes well under a second.
set -euo pipefail

TORCH_VERSION=2.13.0   # tch 0.26 <-> torch 2.13.0 (torch-sys checks this at build time)
cache="${FADCA_CACHE:-$HOME/.cache/fadca}"
venv="$cache/venv-torch-$TORCH_VERSION"
stamp="$venv/.fadca-torch-ok"

if [ ! -f "$stamp" ]; then
    py="$(command -v python3 || true)"
    if [ -z "$py" ]; then
        echo "fadca setup: python3 was not found; install Python 3.9+ with venv and pip (Debian: apt-get install python3 python3-venv python3-pip)" >&2
        exit 1
    fi
    if ! "$py" -m pip --version >/dev/null 2>&1; then
        echo "fadca setup: pip is missing for $py; install it (Debian: apt-get install python3-pip python3-venv)" >&2
        exit 1
    fi
    echo "fadca setup: installing torch==$TORCH_VERSION into $venv (once; a few minutes)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    if ! "$py" -m venv "$venv" >&2; then
        echo "fadca setup: '$py -m venv' failed; install the venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off "torch==$TORCH_VERSION" >&2
    "$venv/bin/python" -c "import warnings; warnings.filterwarnings('ignore'); import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)"
    touch "$stamp"
fi

# Snakemake, for the cluster workflow in workflow/ and its test (optional:
# a failed install only means that test skips).
if [ ! -f "$venv/.fadca-snakemake-ok" ]; then
    echo "fadca setup: installing snakemake into $venv (once)" >&2
    if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off snakemake >&2; then
        touch "$venv/.fadca-snakemake-ok"
    else
        echo "fadca setup: snakemake could not be installed; the workflow test will be skipped" >&2
    fi
fi

# The Python module's build and test tools (python/, `make python`, `make
# test`): maturin builds it, numpy is its array type, pytest runs its tests,
# tqdm draws its progress bar. Needed: `make test` builds and tests the module.
if [ ! -f "$venv/.fadca-python-ok" ]; then
    echo "fadca setup: installing maturin, numpy, pytest and tqdm into $venv (once)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off \
        "maturin>=1.9,<2" "numpy>=1.26" "pytest>=8" "tqdm>=4.66" >&2
    touch "$venv/.fadca-python-ok"
fi

echo "export VIRTUAL_ENV='$venv'"
echo "export PATH='$venv/bin':\"\$PATH\""
echo "export LIBTORCH_USE_PYTORCH=1"
