//! `gpt2 bench` beside PyTorch, in rounds taken in turn by scripts/side_by_side.sh: the training
//! step's seconds read back from the kept output, per round, with their medians and ratios.

use std::fmt::Write;

use anyhow::{Context, Result, bail};

/// The training steps one round timed, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    pub ours_f32: f64,
    pub ours_bf16: f64,
    pub torch_f32: f64,
    pub torch_f32_fused: f64,
    pub torch_bf16: f64,
}

/// The rounds of one side-by-side file, in order.
pub fn parse(text: &str) -> Result<Vec<Round>> {
    let mut ours = Vec::new(); // (precision, seconds) of each `gpt2 bench`
    let mut torch = Vec::new(); // (name, seconds) of each PyTorch line
    let mut precision = "";
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ gpt2 bench") {
            precision = if cmd.contains("--precision bf16") {
                "bf16"
            } else {
                "f32"
            };
        } else if let Some(rest) = line.strip_prefix("training, ") {
            let s = rest
                .split(": ")
                .nth(1)
                .and_then(|r| r.split(" s per step").next())
                .with_context(|| format!("no step time in {line:?}"))?;
            ours.push((precision, s.parse::<f64>()?));
        } else {
            for name in [
                "f32, AdamW",
                "f32, fused AdamW",
                "bf16 autocast, fused AdamW",
            ] {
                if let Some(rest) = line.strip_prefix(name)
                    && rest.starts_with("  ")
                {
                    let s = rest.split_whitespace().next().context("no seconds")?;
                    torch.push((name, s.parse::<f64>()?));
                }
            }
        }
    }
    if ours.len() != 2 * torch.len() / 3 || torch.len() % 3 != 0 {
        bail!(
            "{} runs of gpt2 bench and {} PyTorch lines do not make rounds",
            ours.len(),
            torch.len()
        );
    }
    let rounds = ours
        .chunks(2)
        .zip(torch.chunks(3))
        .map(|(o, t)| Round {
            ours_f32: o[0].1,
            ours_bf16: o[1].1,
            torch_f32: t[0].1,
            torch_f32_fused: t[1].1,
            torch_bf16: t[2].1,
        })
        .collect();
    Ok(rounds)
}

/// The median of a few numbers (the middle one, or the mean of the middle two).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The table of one file: each step's seconds per round and their median, then the ratios the
/// book's targets are stated in, per round and their median.
pub fn table(title: &str, rounds: &[Round]) -> String {
    let mut out = String::new();
    writeln!(out, "{title}: seconds per training step, rounds in turn").unwrap();
    let header: String = (1..=rounds.len())
        .map(|r| format!("{:>9}", format!("round {r}")))
        .collect();
    writeln!(out, "{:<36}{header}{:>9}", "", "median").unwrap();
    let row = |out: &mut String, name: &str, f: &dyn Fn(&Round) -> f64, digits: usize| {
        let cells: String = rounds
            .iter()
            .map(|r| format!("{:>9.digits$}", f(r)))
            .collect();
        let med = median(rounds.iter().map(f).collect());
        writeln!(out, "{name:<36}{cells}{med:>9.digits$}").unwrap();
    };
    row(&mut out, "gpt2 bench, f32", &|r| r.ours_f32, 3);
    row(&mut out, "gpt2 bench, bf16", &|r| r.ours_bf16, 3);
    row(&mut out, "PyTorch f32, AdamW", &|r| r.torch_f32, 3);
    row(
        &mut out,
        "PyTorch f32, fused AdamW",
        &|r| r.torch_f32_fused,
        3,
    );
    row(
        &mut out,
        "PyTorch bf16 autocast, fused AdamW",
        &|r| r.torch_bf16,
        3,
    );
    writeln!(out, "ratios of the step times, each round's own").unwrap();
    let best_f32 = |r: &Round| r.torch_f32.min(r.torch_f32_fused);
    row(
        &mut out,
        "ours bf16 / PyTorch bf16 autocast",
        &|r| r.ours_bf16 / r.torch_bf16,
        2,
    );
    row(
        &mut out,
        "ours f32 / PyTorch's faster f32",
        &|r| r.ours_f32 / best_f32(r),
        2,
    );
    row(
        &mut out,
        "PyTorch's faster f32 / ours bf16",
        &|r| best_f32(r) / r.ours_bf16,
        2,
    );
    out
}

/// One product's GFLOP/s in one round, ours and torch.matmul's: in f32, in bf16 from f32
/// operands (ours rounding and packing them, PyTorch casting them), in bf16 from bf16 operands
/// (ours packed beforehand).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRound {
    pub name: String,
    pub shape: String,
    pub ours: [f64; 3],
    pub torch: [f64; 3],
}

/// The rounds of `gpt2 bench --matmul` beside `pytorch_bench.py --matmul` (the same products,
/// in the same order, each run once per round): per round, one entry per product.
pub fn parse_products(text: &str) -> Result<Vec<Vec<ProductRound>>> {
    // Each run's lines: "<name>  [m, k]·[k, n]  f32 G  bf16 from f32 G  from bf16 G", under its
    // "$ command" line. (ours, its products as (name, shape, the three rates))
    type Run = (bool, Vec<(String, String, [f64; 3])>);
    let mut runs: Vec<Run> = Vec::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            runs.push((cmd.starts_with("gpt2"), Vec::new()));
            continue;
        }
        let (Some(open), Some(f32_at)) = (line.find('['), line.find(" f32 ")) else {
            continue;
        };
        let run = &mut runs.last_mut().context("a product before any command")?.1;
        let numbers: Vec<f64> = line[f32_at..]
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [f32, from_f32, from_bf16] = numbers[..] else {
            bail!("not three rates in {line:?}");
        };
        let (name, shape) = (line[..open].trim(), line[open..f32_at].trim());
        run.push((
            name.to_string(),
            shape.to_string(),
            [f32, from_f32, from_bf16],
        ));
    }
    if !runs.len().is_multiple_of(2) || runs.is_empty() {
        bail!(
            "{} runs do not make rounds of ours and PyTorch's",
            runs.len()
        );
    }
    runs.chunks(2)
        .map(|pair| {
            let [(true, ours), (false, torch)] = pair else {
                bail!("a round is gpt2 bench --matmul, then pytorch_bench.py --matmul");
            };
            if ours.len() != torch.len() || ours.iter().zip(torch).any(|(o, t)| o.0 != t.0) {
                bail!("ours and PyTorch's rounds list different products");
            }
            Ok(ours
                .iter()
                .zip(torch)
                .map(|(o, t)| ProductRound {
                    name: o.0.clone(),
                    shape: o.1.clone(),
                    ours: o.2,
                    torch: t.2,
                })
                .collect())
        })
        .collect()
}

/// Each product's medians over the rounds, ours and torch.matmul's, and the median of the
/// rounds' own ratios, in f32, in bf16 from f32 operands and in bf16 from bf16 operands.
pub fn products_table(title: &str, rounds: &[Vec<ProductRound>]) -> String {
    let mut out = String::new();
    writeln!(out, "{title}").unwrap();
    writeln!(
        out,
        "{:<53}{:>25}{:>25}{:>25}",
        "", "f32", "bf16 from f32", "bf16 from bf16"
    )
    .unwrap();
    let columns = "     ours  torch  ratio";
    writeln!(out, "{:<53}{columns:>25}{columns:>25}{columns:>25}", "").unwrap();
    for (i, p) in rounds[0].iter().enumerate() {
        let mut cells = String::new();
        for precision in 0..3 {
            let of = |f: &dyn Fn(&ProductRound) -> f64| {
                median(rounds.iter().map(|r| f(&r[i])).collect())
            };
            let (ours, torch) = (of(&|r| r.ours[precision]), of(&|r| r.torch[precision]));
            let ratio = of(&|r| r.ours[precision] / r.torch[precision]);
            write!(cells, "{ours:>11.0}{torch:>7.0}{ratio:>7.2}").unwrap();
        }
        writeln!(out, "{:<26}{:<27}{cells}", p.name, p.shape).unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUND: &str = "$ gpt2 bench --preset gpt2 --precision f32
training, B = 4, T = 64: 1.500 s per step (forward 0.4), 171 tokens/s
$ gpt2 bench --preset gpt2 --precision bf16
training, B = 4, T = 64: 0.900 s per step (forward 0.2), 287 tokens/s
$ python scripts/pytorch_bench.py --preset gpt2
training step                        s/step   tokens/s
f32, AdamW                            2.800         91
f32, fused AdamW                      2.000        120
bf16 autocast, fused AdamW            1.500        197
";

    #[test]
    fn reads_each_round_and_states_its_ratios() {
        let rounds = parse(&ROUND.repeat(3)).unwrap();
        assert_eq!(rounds.len(), 3);
        assert_eq!(
            rounds[2],
            Round {
                ours_f32: 1.5,
                ours_bf16: 0.9,
                torch_f32: 2.8,
                torch_f32_fused: 2.0,
                torch_bf16: 1.5
            }
        );
        let t = table("gpt2", &rounds);
        // 0.9 / 1.5, 1.5 / 2.0, 2.0 / 0.9
        let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap().to_string();
        let cells = |v: &str| format!("{v:>9}").repeat(4);
        assert!(
            row("ours bf16 / PyTorch bf16").ends_with(&cells("0.60")),
            "{t}"
        );
        assert!(row("ours f32 / PyTorch").ends_with(&cells("0.75")), "{t}");
        assert!(
            row("PyTorch's faster f32 / ours").ends_with(&cells("2.22")),
            "{t}"
        );
    }

    #[test]
    fn a_round_with_a_missing_run_is_an_error() {
        let text = ROUND.repeat(2)
            + "$ gpt2 bench --precision f32\ntraining, B = 4, T = 64: 1.5 s per step\n";
        assert!(parse(&text).is_err());
    }

    const PRODUCTS: &str = "$ gpt2 bench --preset gpt2 --batch 4 --seq 64 --matmul
gpt2 products at 256 rows, 2 threads; the matrix multiply, GFLOP/s: ...
c_fc forward, x·W          [256, 768]·[768, 3072]     f32    200  bf16 from f32    360  from bf16    420
c_fc dx = dy·Wᵀ            [256, 3072]·[3072, 768]    f32    150  bf16 from f32      -  from bf16      -
$ python scripts/pytorch_bench.py --preset gpt2 --batch 4 --seq 64 --matmul
torch 2.15.0, 2 threads; gpt2 products at 256 rows; torch.matmul, GFLOP/s: ...
c_fc forward, x·W          [256, 768]·[768, 3072]     f32    100  bf16 from f32    300  from bf16    400
c_fc dx = dy·Wᵀ            [256, 3072]·[3072, 768]    f32    120  bf16 from f32    200  from bf16    380
";

    #[test]
    fn reads_the_products_of_each_round_and_states_their_ratios() {
        // A round without bf16 on our side is an error: there is nothing to compare.
        assert!(parse_products(PRODUCTS).is_err());
        let text = PRODUCTS
            .replace("f32      -", "f32    342")
            .replace("bf16      -", "bf16    361");
        let rounds = parse_products(&text.repeat(3)).unwrap();
        assert_eq!(rounds.len(), 3);
        assert_eq!(
            rounds[1][1],
            ProductRound {
                name: "c_fc dx = dy·Wᵀ".into(),
                shape: "[256, 3072]·[3072, 768]".into(),
                ours: [150.0, 342.0, 361.0],
                torch: [120.0, 200.0, 380.0],
            }
        );
        let t = products_table("gpt2", &rounds);
        let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap().to_string();
        // 200 / 100, 360 / 300 and 420 / 400; 150 / 120, 342 / 200 and 361 / 380.
        assert!(
            row("c_fc forward")
                .ends_with("200    100   2.00        360    300   1.20        420    400   1.05"),
            "{t}"
        );
        assert!(
            row("c_fc dx")
                .ends_with("150    120   1.25        342    200   1.71        361    380   0.95"),
            "{t}"
        );
    }

    #[test]
    fn rounds_of_products_must_pair_ours_with_pytorchs() {
        let ours_only = PRODUCTS
            .split("$ python")
            .next()
            .unwrap()
            .replace("      -", "    342");
        assert!(parse_products(&ours_only.repeat(2)).is_err());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
