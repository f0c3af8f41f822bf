#!/usr/bin/env bash
# Data-parallel training on one machine, measured: 2 MPI ranks of 1 thread each against one
# process of 2 threads, on the same global batch (the single process accumulates 2 micro-batches
# where each rank takes 1). Writes the runs' JSON lines to book/runs/ch08-ddp-*.jsonl, which
# `cargo run --release -p chapter08 -- ddp` turns into chapter 8's table.
# Needs Open MPI or MPICH (Debian: apt-get install openmpi-bin libopenmpi-dev libclang-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --features mpi
bin=target/release/gpt2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=book/runs
# A warm-up of 100 steps (the default is 200) lets these short runs reach larger steps.
quiet=(--warmup 100 --eval-every 0 --checkpoint-every 0 --val-fraction 0.01 --sample-tokens 0 --json)
mpirun=(mpirun -np 2)
if mpirun --version | grep -q "Open MPI"; then
    mpirun+=(--oversubscribe)
fi

for model in shakespeare gpt2; do
    case $model in
    shakespeare) shape=(--preset shakespeare --batch 8 --seq 128 --steps 40) ;;
    gpt2) shape=(--preset gpt2 --batch 4 --seq 64 --steps 12) ;;
    esac
    RAYON_NUM_THREADS=2 "$bin" train "${shape[@]}" --grad-accum 2 "${quiet[@]}" \
        --out "$tmp/$model-one" >"$runs/ch08-ddp-$model-1x2.jsonl"
    "${mpirun[@]}" "$bin" train "${shape[@]}" "${quiet[@]}" \
        --out "$tmp/$model-two" >"$runs/ch08-ddp-$model-2x1.jsonl"
done
