#!/usr/bin/env bash
# Training steps of `gpt2 bench` beside PyTorch's (scripts/pytorch_bench.py), in one session on
# one machine, in turn and three times, since the machine's speed drifts by 10-20% over minutes:
#   book/runs/side-by-side-shakespeare.txt  the `shakespeare` preset, B = 8, T = 128
#   book/runs/side-by-side-gpt2.txt         GPT-2 124M, B = 4, T = 64
#   book/runs/side-by-side-matmul.txt       the multiply at that step's products (`gpt2 bench
#                                           --matmul` and torch.matmul)
#   book/runs/ch08-side-by-side.txt         `cargo run --release -p chapter08 -- side-by-side`:
#                                           both as a table of medians and ratios
# With an argument, a folder of book/runs (one per processor the book compares, e.g. zen5), all
# four files go there, the table as book/runs/FOLDER/ch08-side-by-side.txt.
# PYTHON names the interpreter of a virtual environment holding scripts/requirements.txt
# (default .venv/bin/python; see the README's "Figures of other systems").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin=target/release/gpt2
py=${PYTHON:-.venv/bin/python}
runs=book/runs${1:+/$1}
mkdir -p "$runs"

side_by_side() { # preset batch seq
    local out=$runs/side-by-side-$1.txt
    : >"$out"
    for round in 1 2 3; do
        for precision in f32 bf16; do
            local args=(bench --preset "$1" --batch "$2" --seq "$3" --steps 10 --generate 0 --precision "$precision")
            echo "\$ gpt2 ${args[*]}" >>"$out"
            "$bin" "${args[@]}" 2>/dev/null >>"$out"
        done
        local args=(--preset "$1" --batch "$2" --seq "$3" --steps 10 --generate 16)
        echo "\$ python scripts/pytorch_bench.py ${args[*]}" >>"$out"
        "$py" scripts/pytorch_bench.py "${args[@]}" >>"$out"
    done
}

side_by_side shakespeare 8 128
side_by_side gpt2 4 64
products=(--preset gpt2 --batch 4 --seq 64 --matmul)
out=$runs/side-by-side-matmul.txt
: >"$out"
for round in 1 2 3; do
    echo "\$ gpt2 bench ${products[*]}" >>"$out"
    "$bin" bench "${products[@]}" 2>/dev/null >>"$out"
    echo "\$ python scripts/pytorch_bench.py ${products[*]}" >>"$out"
    "$py" scripts/pytorch_bench.py "${products[@]}" >>"$out"
done
cargo run --release -q -p chapter08 -- side-by-side ${1:+"$1"} >"$runs/ch08-side-by-side.txt"
cat "$runs/ch08-side-by-side.txt"
