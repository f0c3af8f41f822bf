//! The default `gpt2 train` run in f32 and with bf16 matrix multiplies, from several seeds, and
//! the bf16 run again with a shorter warm-up: the logs scripts/bf16_runs.sh keeps in
//! book/runs/ch08-seeds, turned into chapter 8's table.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use chapter06::run_log::RunLog;

/// The seeds scripts/bf16_runs.sh trains from; 1337 is `gpt2 train`'s default.
pub const SEEDS: [u64; 3] = [1337, 1, 2];

/// The validation loss whose time the table gives.
pub const TARGET: f32 = 4.94;

/// The warm-up of the third run of each seed (`gpt2 train`'s default is 200 steps).
pub const SHORT_WARMUP: usize = 100;

/// One seed's runs.
pub struct Pair {
    pub seed: u64,
    pub f32: RunLog,
    pub bf16: RunLog,
    /// bf16 with a warm-up of [`SHORT_WARMUP`] steps.
    pub bf16_short_warmup: RunLog,
    /// The same recipe in PyTorch (transformers' GPT2LMHeadModel), in f32 and under bf16
    /// autocast, when its logs are there (`scripts/pytorch_bench.py --default-run`).
    pub pytorch: Option<(RunLog, RunLog)>,
}

/// The logs of every seed, from `dir` (book/runs/ch08-seeds).
pub fn read(dir: &Path) -> Result<Vec<Pair>> {
    SEEDS
        .iter()
        .map(|&seed| {
            let log = |p: &str| RunLog::read(&dir.join(format!("{p}-{seed}.jsonl")));
            let pytorch = if dir.join(format!("pytorch-f32-{seed}.jsonl")).exists() {
                Some((log("pytorch-f32")?, log("pytorch-bf16")?))
            } else {
                None
            };
            Ok(Pair {
                seed,
                f32: log("f32")?,
                bf16: log("bf16")?,
                bf16_short_warmup: log(&format!("bf16-warmup{SHORT_WARMUP}"))?,
                pytorch,
            })
        })
        .collect()
}

/// The last validation loss of a run.
pub fn last_val(log: &RunLog) -> f32 {
    log.val.last().map_or(f32::NAN, |v| v.1)
}

/// The step and seconds since the start of the first validation at or below `target`.
pub fn time_to(log: &RunLog, target: f32) -> Option<(usize, f64)> {
    log.val
        .iter()
        .find(|v| v.1 <= target)
        .map(|&(step, _, s)| (step, s))
}

/// The mean of `xs`.
pub fn mean(xs: impl Iterator<Item = f32>) -> f32 {
    let xs: Vec<f32> = xs.collect();
    xs.iter().sum::<f32>() / xs.len() as f32
}

/// The table: per seed, each run's last validation loss, when it first reached [`TARGET`],
/// and its median speed; then the means.
pub fn table(pairs: &[Pair]) -> String {
    let mut out = String::new();
    let reached = |log: &RunLog| match time_to(log, TARGET) {
        Some((step, s)) => format!("{:.1} min (step {})", s / 60.0, step + 1),
        None => "not reached".to_string(),
    };
    writeln!(
        out,
        "{:<6} {:<10} {:>8} {:>16} {:>26} {:>10}",
        "seed", "multiplies", "warm-up", "validation loss", "validation loss ≤ 4.94 at", "tokens/s"
    )
    .unwrap();
    let default_warmup = gpt2::train::TrainConfig::default().warmup;
    for p in pairs {
        for (name, warmup, log) in [
            ("f32", default_warmup, &p.f32),
            ("bf16", default_warmup, &p.bf16),
            ("bf16", SHORT_WARMUP, &p.bf16_short_warmup),
        ] {
            writeln!(
                out,
                "{:<6} {:<10} {:>8} {:>16.3} {:>26} {:>10}",
                p.seed,
                name,
                warmup,
                last_val(log),
                reached(log),
                gpt2::numfmt::group_digits(log.median_tokens_per_s().round() as u64),
            )
            .unwrap();
        }
    }
    let f32_mean = mean(pairs.iter().map(|p| last_val(&p.f32)));
    let bf16_mean = mean(pairs.iter().map(|p| last_val(&p.bf16)));
    let short_mean = mean(pairs.iter().map(|p| last_val(&p.bf16_short_warmup)));
    writeln!(
        out,
        "\nmean final validation loss over {} seeds: f32 {f32_mean:.3}, bf16 {bf16_mean:.3}, \
bf16 with a warm-up of {SHORT_WARMUP} {short_mean:.3}",
        pairs.len()
    )
    .unwrap();
    if pairs.iter().all(|p| p.pytorch.is_some()) {
        out.push_str(&pytorch_table(pairs));
    }
    out
}

/// PyTorch's final validation losses beside ours, and each one's bf16 − f32 gap, by seed.
fn pytorch_table(pairs: &[Pair]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "\nThe same recipe in PyTorch (transformers' GPT2LMHeadModel, fused AdamW, bf16 = autocast),\n\
its own initial weights and batches from each seed; final validation loss:\n"
    )
    .unwrap();
    writeln!(
        out,
        "{:<6} {:>12} {:>14} {:>12} {:>18}",
        "seed", "PyTorch f32", "PyTorch bf16", "bf16 - f32", "ours: bf16 - f32"
    )
    .unwrap();
    let gap = |f: &RunLog, b: &RunLog| last_val(b) - last_val(f);
    let mut gaps = Vec::new();
    for p in pairs {
        let (f, b) = p.pytorch.as_ref().expect("every seed has PyTorch's runs");
        let (torch, ours) = (gap(f, b), gap(&p.f32, &p.bf16));
        gaps.push((torch, ours));
        writeln!(
            out,
            "{:<6} {:>12.3} {:>14.3} {:>+12.3} {:>+18.3}",
            p.seed,
            last_val(f),
            last_val(b),
            torch,
            ours
        )
        .unwrap();
    }
    let runs = || pairs.iter().filter_map(|p| p.pytorch.as_ref());
    writeln!(
        out,
        "\nmean over {} seeds: PyTorch f32 {:.3}, bf16 {:.3}; bf16 - f32: PyTorch {:+.3}, ours {:+.3}",
        pairs.len(),
        mean(runs().map(|(f, _)| last_val(f))),
        mean(runs().map(|(_, b)| last_val(b))),
        mean(gaps.iter().map(|g| g.0)),
        mean(gaps.iter().map(|g| g.1))
    )
    .unwrap();
    out
}
