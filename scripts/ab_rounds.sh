#!/usr/bin/env bash
# Two builds of `gpt2` side by side on GPT-2 124M's training step (B = 4, T = 64), in bf16 and in
# f32: three rounds in turn, each timing both builds one after the other, since the machine's
# speed drifts by 10-20% over minutes; each run prints its line of times and its peak memory.
# Each argument is a `gpt2` binary, e.g. one built at an earlier commit in a `git worktree` and
# copied to /tmp/before:
#   scripts/ab_rounds.sh /tmp/before/gpt2 /tmp/after/gpt2 > book/runs/xeon-amx/memory-passes.txt
# With --generate first, the rounds time generation instead: a 64-token prompt, then 128 new
# tokens, with f32, bf16, int8 and int4 weights (`gpt2 bench --steps 0 --generate 128`).
set -euo pipefail
generate=false
if [ "${1:-}" = --generate ]; then
    generate=true
    shift
fi
if [ $# -ne 2 ]; then
    echo "usage: scripts/ab_rounds.sh [--generate] BEFORE AFTER (two gpt2 binaries)" >&2
    exit 2
fi
for round in 1 2 3; do
    if $generate; then
        for bin in "$1" "$2"; do
            args=(bench --preset gpt2 --steps 0 --generate 128)
            echo "round $round: $bin ${args[*]}"
            "$bin" "${args[@]}" 2>/dev/null | grep -E '^(weights|  (f32|bf16|int8|int4) )'
        done
        continue
    fi
    for precision in bf16 f32; do
        for bin in "$1" "$2"; do
            args=(bench --preset gpt2 --batch 4 --seq 64 --steps 10 --generate 0 --precision "$precision")
            echo "round $round: $bin ${args[*]}"
            "$bin" "${args[@]}" 2>/dev/null | grep -E '^(training|peak)'
        done
    done
done
