//! The default `gpt2 train` run in f32 and with bf16 matrix multiplies, from several seeds, and
//! the bf16 run again with a shorter warm-up: the logs scripts/bf16_runs.sh keeps in
//! book/runs/ch08-seeds, turned into chapter 8's table.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use chapter06::run_log::RunLog;

/// The seeds scripts/bf16_runs.sh trains from; 1337 is `gpt2 train`'s default.
pub const SEEDS: [u64; 3] = [1337, 1, 2];

/// Further seeds, trained in f32 and bf16 only, for the gap between the two. Only their final
/// losses are compared: they ran on another machine than the first seeds' runs.
pub const GAP_SEEDS: [u64; 8] = [3, 4, 5, 6, 7, 8, 9, 10];

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
}

/// The logs of every seed, from `dir` (book/runs/ch08-seeds).
pub fn read(dir: &Path) -> Result<Vec<Pair>> {
    SEEDS
        .iter()
        .map(|&seed| {
            let log = |p: &str| RunLog::read(&dir.join(format!("{p}-{seed}.jsonl")));
            Ok(Pair {
                seed,
                f32: log("f32")?,
                bf16: log("bf16")?,
                bf16_short_warmup: log(&format!("bf16-warmup{SHORT_WARMUP}"))?,
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
    out
}

/// One seed's final validation losses, f32 then bf16: ours, and PyTorch's when its logs are
/// there (`scripts/pytorch_bench.py --default-run`, transformers' GPT2LMHeadModel in f32 and
/// under bf16 autocast).
pub struct Gap {
    pub seed: u64,
    pub ours: (f32, f32),
    pub pytorch: Option<(f32, f32)>,
}

/// The final losses of [`SEEDS`] and [`GAP_SEEDS`], from `dir` (book/runs/ch08-seeds).
pub fn read_gaps(dir: &Path) -> Result<Vec<Gap>> {
    SEEDS
        .iter()
        .chain(&GAP_SEEDS)
        .map(|&seed| {
            let last = |p: &str| -> Result<f32> {
                Ok(last_val(&RunLog::read(
                    &dir.join(format!("{p}-{seed}.jsonl")),
                )?))
            };
            let pytorch = if dir.join(format!("pytorch-f32-{seed}.jsonl")).exists() {
                Some((last("pytorch-f32")?, last("pytorch-bf16")?))
            } else {
                None
            };
            Ok(Gap {
                seed,
                ours: (last("f32")?, last("bf16")?),
                pytorch,
            })
        })
        .collect()
}

/// The sample standard deviation of `xs` (n − 1 in the denominator).
pub fn std_dev(xs: &[f32]) -> f32 {
    let m = mean(xs.iter().copied());
    let ss: f32 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f32).sqrt()
}

impl Gap {
    /// This seed's bf16 − f32 gaps: PyTorch's, when it ran the seed, and ours.
    pub fn gaps(&self) -> (Option<f32>, f32) {
        let gap = |(f, b): (f32, f32)| b - f;
        (self.pytorch.map(gap), gap(self.ours))
    }
}

/// The bf16 − f32 gaps: PyTorch's (of the seeds it ran) and ours (of every seed).
pub fn gaps(rows: &[Gap]) -> (Vec<f32>, Vec<f32>) {
    (
        rows.iter().filter_map(|r| r.gaps().0).collect(),
        rows.iter().map(|r| r.gaps().1).collect(),
    )
}

/// The standard error of the difference of the means of two independent samples.
pub fn standard_error_of_difference(a: &[f32], b: &[f32]) -> f32 {
    let (sa, sb) = (std_dev(a), std_dev(b));
    (sa * sa / a.len() as f32 + sb * sb / b.len() as f32).sqrt()
}

/// PyTorch's final validation losses beside ours, each one's bf16 − f32 gap by seed, and the
/// gaps' means, spreads and the standard error of their difference.
pub fn gap_table(rows: &[Gap]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "{:<6} {:>12} {:>13} {:>11} {:>10} {:>10} {:>11}",
        "seed", "PyTorch f32", "PyTorch bf16", "bf16 - f32", "ours f32", "ours bf16", "bf16 - f32"
    )
    .unwrap();
    for r in rows {
        let (torch_gap, our_gap) = r.gaps();
        let torch = match (r.pytorch, torch_gap) {
            (Some((f, b)), Some(g)) => format!("{f:>12.3} {b:>13.3} {g:>+11.3}"),
            _ => format!("{:>12} {:>13} {:>11}", "-", "-", "-"),
        };
        let (f, b) = r.ours;
        writeln!(
            out,
            "{:<6} {torch} {f:>10.3} {b:>10.3} {our_gap:>+11.3}",
            r.seed
        )
        .unwrap();
    }
    let (torch, ours) = gaps(rows);
    let both: Vec<&Gap> = rows.iter().filter(|r| r.pytorch.is_some()).collect();
    let m = |pick: fn(&Gap) -> f32| mean(both.iter().map(|r| pick(r)));
    writeln!(
        out,
        "\nmean over the {} seeds both ran: PyTorch f32 {:.3}, bf16 {:.3}; ours f32 {:.3}, bf16 {:.3}",
        both.len(),
        m(|r| r.pytorch.unwrap().0),
        m(|r| r.pytorch.unwrap().1),
        m(|r| r.ours.0),
        m(|r| r.ours.1),
    )
    .unwrap();
    let (mt, mo) = (mean(torch.iter().copied()), mean(ours.iter().copied()));
    let (st, so) = (std_dev(&torch), std_dev(&ours));
    writeln!(
        out,
        "bf16 - f32, mean and standard deviation: PyTorch {mt:+.3} and {st:.3} over {} seeds, \
ours {mo:+.3} and {so:.3} over {}",
        torch.len(),
        ours.len()
    )
    .unwrap();
    let se = standard_error_of_difference(&torch, &ours);
    writeln!(
        out,
        "ours - PyTorch: {:+.3}, standard error {se:.3}; our bf16 within 0.03 of f32 at {} seeds of {}",
        mo - mt,
        ours.iter().filter(|g| g.abs() < 0.03).count(),
        ours.len()
    )
    .unwrap();
    out
}
