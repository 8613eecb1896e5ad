#!/usr/bin/env bash
# Shared values on simulated families (issue #19): five teachers that share
# their value matrices (--values-seed) but not their contacts, values trained
# on four of them, applied to the fifth, fixed and fine-tuned, against the
# single-family factored model; each prints its top-L precision against the
# planted contacts. About a minute on two cores.
#
#   examples/shared_values.sh [OUT]        (fadca on PATH, or FADCA=path/to/fadca)
set -euo pipefail
fadca=${FADCA:-fadca}
out=${1:-shared-values-example}
mkdir -p "$out/train"
for seed in 1 2 3 4; do
  "$fadca" simulate -L 40 --heads 4 --samples 1000 --seed $seed --values-seed 7 -o "$out/train/fam$seed" >/dev/null
done
"$fadca" simulate -L 40 --heads 4 --samples 100 --seed 5 --values-seed 7 -o "$out/held" >/dev/null
"$fadca" train-values "$out/train" -o "$out/values.safetensors" --heads 4 --steps 200 --threads 2 --quiet
for mode in fixed tuned single; do
  case $mode in
    fixed) flags=(--model factored --values "$out/values.safetensors") ;;
    tuned) flags=(--model factored --values "$out/values.safetensors" --train-values) ;;
    single) flags=(--model factored --heads 4) ;;
  esac
  "$fadca" predict "$out/held/msa.fasta" --native-contacts "$out/held/contacts.tsv" "${flags[@]}" \
    -o "$out/predict-$mode" --model-out "$out/predict-$mode/model.safetensors" --threads 2 --quiet --force >/dev/null
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(sys.argv[2], 'top-L precision', round(s['precision']['all']['L'], 3))" \
    "$out/predict-$mode/summary.json" $mode
done
echo "values and their figure: $out/values.safetensors, $out/values.png"
