#!/usr/bin/env bash
# Training steps of `gpt2 bench` with the system allocator (glibc's malloc) and with mimalloc
# (the default feature `mimalloc`), in turn and three times, since the machine's speed drifts:
#   book/runs/ch08-allocator-runs.txt  every run's seconds per step and peak memory
#   book/runs/ch08-allocator.txt       the medians of each shape, precision and allocator
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
cargo build --release --no-default-features --target-dir target/system-allocator
declare -A bins=([mimalloc]=target/release/gpt2 [system]=target/system-allocator/release/gpt2)
out=book/runs/ch08-allocator.txt
runs=book/runs/ch08-allocator-runs.txt
: >"$runs"
for round in 1 2 3; do
    for shape in "shakespeare 8 128" "gpt2 4 64"; do
        read -r preset batch seq <<<"$shape"
        for precision in f32 bf16; do
            for allocator in system mimalloc; do
                args=(bench --preset "$preset" --batch "$batch" --seq "$seq" --steps 10 --generate 0 --precision "$precision")
                echo "\$ gpt2 ${args[*]}   # $allocator" >>"$runs"
                json=$("${bins[$allocator]}" "${args[@]}" --json 2>/dev/null)
                seconds=$(sed -E 's/.*"seconds_per_step":([0-9.]+).*/\1/' <<<"$json")
                bytes=$(sed -E 's/.*"peak_memory_bytes":([0-9]+).*/\1/' <<<"$json")
                gib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 2^30 }')
                echo "$preset B=$batch T=$seq $precision $allocator: $seconds s per step, $gib GiB" >>"$runs"
            done
        done
    done
done
{
    echo "median of 3 rounds: seconds per step, and peak resident memory (GiB)"
    grep -v '^\$' "$runs" | sed -E 's/: .*//' | sort -u | while read -r key; do
        median=$(grep -F "$key: " "$runs" | sed -E 's/.*: ([0-9.]+) s per step.*/\1/' | sort -n | sed -n 2p)
        memory=$(grep -F "$key: " "$runs" | sed -E 's/.*, ([0-9.]+) GiB/\1/' | sort -n | sed -n 2p)
        printf '%-36s %.3f s  %s GiB\n' "$key" "$median" "$memory"
    done
} >"$out"
cat "$out"
