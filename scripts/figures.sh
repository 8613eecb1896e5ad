#!/usr/bin/env bash
# Makes the figures that README.md shows ("What fadca writes") into
# docs/figures/, from data fadca makes itself: the embedded example
# (msa/example.fasta, msa/example.contacts.tsv), families from
# `fadca simulate`, and the sample-complexity experiment. The commands are
# the ones README.md shows, run in a scratch folder (FADCA_BIN picks
# another binary). About a minute on two cores.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${FADCA_BIN:-$repo/target/release/fadca}"
fadca() { "$bin" "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
ln -s "$repo/msa" msa

fadca predict msa/example.fasta --native-contacts msa/example.contacts.tsv -q >/dev/null
for k in 1 2 3 4 5; do
    fadca simulate -L 40 -M $((40 << k)) --seed "$k" -o "simulated/sim$k" >/dev/null
done
fadca batch simulated -o predictions/simulated -q >/dev/null
fadca experiment sample-complexity --points 5 --alpha-min 2 --alpha-max 50 --held-out 500 \
    -o sc -q >/dev/null

mkdir -p "$repo/docs/figures"
cp predictions/example/contact_map.png "$repo/docs/figures/contact_map.png"
cp predictions/simulated/summary.png "$repo/docs/figures/summary.png"
cp sc/sample_complexity.png "$repo/docs/figures/sample_complexity.png"
ls -l "$repo/docs/figures"
