#!/usr/bin/env bash
# CUDA check of the training path on a machine with an NVIDIA GPU.
#
#   scripts/gpu-check.sh OUTDIR
#
# Simulates a family with planted contacts, trains the default model on it
# with --device cuda and with --device cpu, and leaves both prediction folders
# (summary.json: device, time per stage, loss curve, precision against the
# planted contacts) in OUTDIR. Uses target/release/fadca (or FADCA_BIN);
# libtorch is the one the binary was linked with, or LIBTORCH_LIB, or
# python3's torch.
set -u
out=${1:-gpu-check}
mkdir -p "$out"
bin=${FADCA_BIN:-target/release/fadca}
if [ -z "${LIBTORCH_LIB:-}" ] && ! "$bin" --version >/dev/null 2>&1; then
    LIBTORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
fi
if [ -n "${LIBTORCH_LIB:-}" ]; then
    export LD_LIBRARY_PATH="$LIBTORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
nvidia-smi -L || true
"$bin" --version || exit 1
"$bin" simulate -o "$out/sim" -L 100 -M 10000 --seed 3 || exit 1
for device in cuda cpu; do
    start=$SECONDS
    "$bin" predict "$out/sim/msa.fasta" --device "$device" --threads "$(nproc)" \
        --native-contacts "$out/sim/contacts.tsv" -o "$out/$device" 2>&1 | tail -n 25
    echo "$device: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
done
