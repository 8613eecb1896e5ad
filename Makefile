# fadca build entry points. Each target first runs scripts/torch-env.sh, which
# installs libtorch (the PyPI torch wheel) once into ~/.cache/fadca and reuses it.
SHELL := /bin/bash
TORCH_ENV = torch_env="$$(scripts/torch-env.sh)" && eval "$$torch_env"
EXAMPLE ?= msa/example.fasta

# The Python module (python/): built with maturin into the same cached venv
# (its libtorch is fadca's), reusing target/ (no isolated build environment).
PYTHON_INSTALL = python -m pip install --quiet --no-build-isolation --no-deps --disable-pip-version-check ./python

.PHONY: build demo test bench bench-long bench-batch bench-values setup figures python

setup:
	@$(TORCH_ENV) && echo "libtorch ready: $$VIRTUAL_ENV"

build:
	@$(TORCH_ENV) && cargo build --release --locked

demo: build
	target/release/fadca predict $(EXAMPLE) --native-contacts msa/example.contacts.tsv

figures: build
	scripts/figures.sh

python:
	@$(TORCH_ENV) && $(PYTHON_INSTALL) && python -c 'import fadca; print("fadca", fadca.__version__, "installed:", fadca.__file__)'

test:
	@$(TORCH_ENV) && cargo test --release --locked && $(PYTHON_INSTALL) && python -m pytest -q python/tests

# The DEV table of the README: the default (--model auto), then each model.
# BASELINE=path/to/an/older/fadca runs it on each family too, back to back,
# for speed ratios measured in one run (scripts/bench.py --baseline).
BENCH_BASELINE = $(if $(BASELINE),--baseline $(BASELINE))
bench: build
	scripts/bench.py --out /tmp/fadca-bench/auto $(BENCH_BASELINE)
	scripts/bench.py --out /tmp/fadca-bench/potts $(BENCH_BASELINE) -- --model potts
	scripts/bench.py --out /tmp/fadca-bench/factored $(BENCH_BASELINE) -- --model factored

bench-long: build
	scripts/bench_long.py

bench-batch: build
	scripts/bench_batch.py

# Shared values (issue #19): k-fold over the DEV families (scripts/bench_values.py --help).
bench-values: build
	scripts/bench_values.py
