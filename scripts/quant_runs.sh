#!/usr/bin/env bash
# Smaller weights for generating, measured on one machine in one session:
#   book/runs/ch08-quant-bench-N.json  `gpt2 bench` at GPT-2 124M's shape, three rounds: a
#                                    64-token prompt, then new tokens, with f32, bf16, int8 and
#                                    int4 weights
#   book/runs/ch08-quant-eval.jsonl  `gpt2 eval --weights` of the default `gpt2 train` run
#                                    (chapter 6) on its validation split, each kind one line
# `cargo run --release -p chapter08 -- quant` turns them into chapter 8's table and figure.
# llama.cpp's side, book/runs/llamacpp-gpt2-N.txt, is `llama-bench -t 2 -p 64 -n 128` after
# each round of ours, on GGUF files (F32, BF16, Q8_0, and Q4_0 made with --pure so that the LM
# head is 4-bit too) made by llama.cpp's own converter and quantizer from a GPT-2 124M
# checkpoint, with llama.cpp built from its public source outside this repository:
#   LLAMA_BENCH=/path/to/llama-bench GGUF_DIR=/path/to/ggufs scripts/quant_runs.sh runs/shakespeare
# With a second argument, a folder of book/runs (one per processor the book compares, e.g.
# xeon-amx), every file goes there, and `cargo run --release -p chapter08 -- quant FOLDER` reads
# them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin=target/release/gpt2
run=${1:-runs/shakespeare} # the default run: `gpt2 train` writes it
runs=book/runs${2:+/$2}
mkdir -p "$runs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Three rounds, ours then llama.cpp's in turn (LLAMA_BENCH and GGUF_DIR name them; without
# them, ours alone): the machine's speed drifts, and both see the same drift.
for round in 1 2 3; do
    "$bin" bench --preset gpt2 --steps 0 --generate 128 --json >"$runs/ch08-quant-bench-$round.json"
    if [ -n "${LLAMA_BENCH:-}" ]; then
        models=()
        for kind in f32 bf16 q8_0 q4_0-pure; do models+=(-m "$GGUF_DIR/gpt2-$kind.gguf"); done
        "$LLAMA_BENCH" "${models[@]}" -t 2 -p 64 -n 128 2>/dev/null >"$runs/llamacpp-gpt2-$round.txt"
    fi
done

# The validation split as `gpt2 train` keeps it: the last 10% of the text's tokens.
"$bin" tokenize --file data/tinyshakespeare.txt | tr ' ' '\n' | grep -v '^$' >"$tmp/all.ids"
n=$(wc -l <"$tmp/all.ids")
tail -n $(((n + 5) / 10)) "$tmp/all.ids" >"$tmp/val.ids"
: >"$runs/ch08-quant-eval.jsonl"
for w in f32 bf16 int8 int4; do
    line=$("$bin" eval --model "$run" --ids "$tmp/val.ids" --seq 128 --json --weights "$w")
    echo "{\"weights\":\"$w\",${line#\{}" >>"$runs/ch08-quant-eval.jsonl"
done
cat "$runs/ch08-quant-eval.jsonl"
