#!/usr/bin/env bash
# Two builds of `gpt2` side by side on GPT-2 124M's training step (B = 4, T = 64), in bf16 and in
# f32: three rounds in turn, each timing both builds one after the other, since the machine's
# speed drifts by 10-20% over minutes; each run prints its line of times and its peak memory.
# Each argument is a `gpt2` binary, e.g. one built at an earlier commit in a `git worktree` and
# copied to /tmp/before:
#   scripts/ab_rounds.sh /tmp/before/gpt2 /tmp/after/gpt2 > book/runs/xeon-amx/memory-passes.txt
# With --generate first, the rounds time generation instead: a 64-token prompt, then 128 new
# tokens, with f32, bf16, int8 and int4 weights (`gpt2 bench --steps 0 --generate 128`).
# With --checkpoints, they time what reads and writes a GPT-2 124M checkpoint, with GNU time's
# wall-clock seconds and peak resident memory: training 2 steps from scratch and saving, resuming
# for one more and saving (no sample at the end of either), and loading the checkpoint to
# generate one token.
# With --weights, they load one GPT-2 124M checkpoint (trained for a step by AFTER) to generate 32
# tokens greedily with f32, bf16, int8 and int4 weights, with GNU time's wall-clock seconds and peak
# resident memory.
# With --sample, they generate 256 tokens from the same kind of checkpoint with f32 and int4 weights
# and `gpt2 generate`'s own sampling (temperature 0.8, top-k 40, seed 1337), with GNU time's
# wall-clock seconds and a checksum of the JSON printed: the same text gives the same checksum.
# With --sample-all, the same with --top-k 0: every token of the vocabulary a candidate.
set -euo pipefail
mode=train
top_k=()
case "${1:-}" in
    --generate) mode=generate; shift ;;
    --checkpoints) mode=checkpoints; shift ;;
    --weights) mode=weights; shift ;;
    --sample) mode=sample; shift ;;
    --sample-all) mode=sample; top_k=(--top-k 0); shift ;;
esac
if [ $# -ne 2 ]; then
    echo "usage: scripts/ab_rounds.sh [--generate|--checkpoints|--weights|--sample|--sample-all] BEFORE AFTER (two gpt2 binaries)" >&2
    exit 2
fi
generate=false
[ $mode = generate ] && generate=true
if [ $mode = weights ] || [ $mode = sample ]; then
    model=$(mktemp -d)
    trap 'rm -rf "$model"' EXIT
    "$2" train --preset gpt2 --batch 4 --seq 64 --eval-every 0 --sample-tokens 0 \
        --val-fraction 0.002 --steps 1 --out "$model/run" > /dev/null 2>&1
fi
for round in 1 2 3; do
    if [ $mode = sample ]; then
        for weights in f32 int4; do
            for bin in "$1" "$2"; do
                args=(generate --model "$model/run" --weights "$weights" --prompt Hello
                    --max-new-tokens 256 --json "${top_k[@]}")
                echo "round $round: $bin ${args[*]//$model/DIR}"
                /usr/bin/time -f '%e' -o "$model/time" "$bin" "${args[@]}" 2> /dev/null |
                    md5sum | awk '{ printf "text checksum %s, ", $1 }'
                awk '{ printf "%.2f s\n", $1 }' "$model/time"
            done
        done
        continue
    fi
    if [ $mode = weights ]; then
        for weights in f32 bf16 int8 int4; do
            for bin in "$1" "$2"; do
                args=(generate --model "$model/run" --weights "$weights" --prompt Hello
                    --max-new-tokens 32 --temperature 0)
                echo "round $round: $bin ${args[*]//$model/DIR}"
                /usr/bin/time -f '%e %M' -o "$model/time" "$bin" "${args[@]}" > /dev/null 2>&1
                awk '{ printf "%.2f s, peak resident memory %.2f GiB\n", $1, $2 / 1048576 }' "$model/time"
            done
        done
        continue
    fi
    if [ $mode = checkpoints ]; then
        for bin in "$1" "$2"; do
            run=$(mktemp -d)
            steps=(train --preset gpt2 --batch 4 --seq 64 --eval-every 0 --sample-tokens 0 --val-fraction 0.002)
            for args in "${steps[*]} --steps 2 --out $run/run" \
                "train --resume $run/run --steps 3 --sample-tokens 0" \
                "generate --model $run/run --max-new-tokens 1 --prompt Hello"; do
                echo "round $round: $bin ${args//$run/DIR}"
                # shellcheck disable=SC2086 # the words of $args are the arguments
                /usr/bin/time -f '%e %M' -o "$run/time" "$bin" $args > /dev/null 2>&1
                awk '{ printf "%.2f s, peak resident memory %.2f GiB\n", $1, $2 / 1048576 }' "$run/time"
            done
            rm -rf "$run"
        done
        continue
    fi
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
