#!/usr/bin/env bash
# The default `gpt2 train` run in f32 and with bf16 matrix multiplies, from three seeds each, and
# the bf16 run again with a warm-up of 100 steps instead of 200, one after the other on one quiet
# machine (the logs' times are part of what is measured):
#   book/runs/ch08-seeds/{f32,bf16}-SEED.jsonl   `gpt2 train --json`, validation every 100 steps
#   book/runs/ch08-seeds/bf16-warmup100-SEED.jsonl   the same with --warmup 100
#   book/runs/ch08-seeds/{f32,bf16}-SEED.jsonl for eight more seeds, 3 to 10, whose final
#       losses alone are compared (the machine may be busy)
#   book/runs/ch08-seeds/pytorch-{f32,bf16}-SEED.jsonl   the same recipe in PyTorch, in f32 and
#       under bf16 autocast, from seeds 1337, 1 to 5, when PYTHON names a Python with
#       scripts/requirements.txt installed (PYTHON=/path/to/venv/bin/python scripts/bf16_runs.sh)
# `cargo run --release -p chapter08 -- seeds` turns them into chapter 8's table of final
# validation losses and times to a validation loss of 4.94.
# With an argument, a folder of book/runs named for a processor (zen5, xeon-amx): seed 1337's
# f32 and bf16 runs alone, into that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin=target/release/gpt2
out=book/runs/ch08-seeds
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -gt 0 ]; then
    mkdir -p "book/runs/$1"
    for precision in f32 bf16; do
        "$bin" train --precision "$precision" --seed 1337 --eval-every 100 --json \
            --out "$tmp/$precision-1337" >"book/runs/$1/$precision-1337.jsonl"
    done
    exit 0
fi
mkdir -p "$out"
for seed in 1337 1 2; do
    for precision in f32 bf16; do
        "$bin" train --precision "$precision" --seed "$seed" --eval-every 100 --json \
            --out "$tmp/$precision-$seed" >"$out/$precision-$seed.jsonl"
    done
done
for seed in 1337 1 2; do
    "$bin" train --precision bf16 --warmup 100 --seed "$seed" --eval-every 100 --json \
        --out "$tmp/bf16-warmup100-$seed" >"$out/bf16-warmup100-$seed.jsonl"
done
for seed in 3 4 5 6 7 8 9 10; do
    for precision in f32 bf16; do
        "$bin" train --precision "$precision" --seed "$seed" --eval-every 100 --json \
            --out "$tmp/$precision-$seed" >"$out/$precision-$seed.jsonl"
    done
done
if [ -n "${PYTHON:-}" ]; then
    for seed in 1337 1 2 3 4 5; do
        for precision in f32 bf16; do
            "$PYTHON" scripts/pytorch_bench.py --default-run "$precision" --seed "$seed" \
                >"$out/pytorch-$precision-$seed.jsonl"
        done
    done
fi
