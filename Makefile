# fadca build entry points. Each target first runs scripts/torch-env.sh, which
# installs libtorch (the PyPI torch wheel) once into ~/.cache/fadca and reuses it.
SHELL := /bin/bash
TORCH_ENV = torch_env="$$(scripts/torch-env.sh)" && eval "$$torch_env"
EXAMPLE ?= msa/example.fasta

.PHONY: build demo test bench bench-batch setup figures

setup:
	@$(TORCH_ENV) && echo "libtorch ready: $$VIRTUAL_ENV"

build:
	@$(TORCH_ENV) && cargo build --release --locked

demo: build
	target/release/fadca predict $(EXAMPLE) --native-contacts msa/example.contacts.tsv

figures: build
	scripts/figures.sh

test:
	@$(TORCH_ENV) && cargo test --release --locked

bench: build
	scripts/bench.py

bench-batch: build
	scripts/bench_batch.py
