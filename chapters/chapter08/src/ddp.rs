//! Beyond one machine: data-parallel training measured (two MPI ranks against one process, from
//! the runs' logs in book/runs) and modelled (a ring all-reduce's cost for GPT-2 124M on 1 to 64
//! machines).

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde_json::Value;

/// One `gpt2 train --json` run's speed, from its log.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Median tokens per second over the steps after the first two (warm-up).
    pub tokens_per_s: f64,
    /// Median seconds per step.
    pub step_s: f64,
    /// Median seconds of the gradients' all-reduce per step (0 for one process).
    pub all_reduce_s: f64,
    /// Tokens per step.
    pub tokens: f64,
    /// The last step's training loss.
    pub last_loss: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Measured {
    /// The JSON lines of a run of `tokens` tokens per step.
    pub fn parse(text: &str, tokens: f64) -> Result<Measured> {
        let steps: Vec<Value> = text
            .lines()
            .map(serde_json::from_str::<Value>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|v| v["loss"].is_number())
            .collect();
        if steps.len() < 4 {
            bail!("{} steps: too few to time", steps.len());
        }
        let number = |v: &Value, key: &str| v[key].as_f64().unwrap_or(0.0);
        let timed = &steps[2..];
        let tokens_per_s = median(timed.iter().map(|v| number(v, "tokens_per_s")).collect());
        Ok(Measured {
            tokens_per_s,
            step_s: tokens / tokens_per_s,
            all_reduce_s: median(timed.iter().map(|v| number(v, "all_reduce_s")).collect()),
            tokens,
            last_loss: number(&steps[steps.len() - 1], "loss"),
        })
    }

    pub fn read(path: &Path, tokens: f64) -> Result<Measured> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Measured::parse(&text, tokens).with_context(|| format!("{}", path.display()))
    }
}

/// The table of the two layouts, for each model measured.
pub fn measured_table(rows: &[(&str, Measured, Measured)]) -> String {
    let mut out = String::new();
    out.push_str("| model, global batch | layout | tokens/s | all-reduce per step | last loss |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for (name, one, two) in rows {
        for (layout, m) in [("1 process × 2 threads", one), ("2 ranks × 1 thread", two)] {
            let share = if m.all_reduce_s > 0.0 {
                format!(
                    "{:.3} s ({:.0}%)",
                    m.all_reduce_s,
                    100.0 * m.all_reduce_s / m.step_s
                )
            } else {
                "none".into()
            };
            writeln!(
                out,
                "| {name} | {layout} | {:.0} | {share} | {:.4} |",
                m.tokens_per_s, m.last_loss
            )
            .unwrap();
        }
    }
    out
}

// ANCHOR: model
/// What a data-parallel step of GPT-2 costs on N machines joined by a network.
#[derive(Debug, Clone, Copy)]
pub struct CostModel {
    /// Numbers in the gradient (one per parameter).
    pub params: f64,
    /// One rank's step alone: forward, backward, update (seconds).
    pub forward_s: f64,
    pub backward_s: f64,
    pub update_s: f64,
    /// Messages per all-reduce (the buckets).
    pub messages: f64,
    /// Seconds each message waits on the network, however small (the latency).
    pub latency_s: f64,
}

impl CostModel {
    /// A ring all-reduce of the gradient over `n` ranks, `bytes` per number, on links of `gbit`
    /// Gbit/s: 2(n − 1) rounds per bucket, each sending 1/n of it, so every rank sends and
    /// receives 2(n − 1)/n of the gradient, whatever n.
    pub fn all_reduce_s(&self, n: usize, gbit: f64, bytes: f64) -> f64 {
        if n == 1 {
            return 0.0;
        }
        let rounds = 2.0 * (n - 1) as f64;
        rounds * self.messages * self.latency_s
            + rounds / n as f64 * self.params * bytes / (gbit * 1e9 / 8.0)
    }

    /// Seconds per step. With `overlap`, the buckets travel while the backward pass computes
    /// the next ones (DDP's way), so only what outlasts the backward pass adds to the step.
    pub fn step_s(&self, n: usize, gbit: f64, bytes: f64, overlap: bool) -> f64 {
        let comm = self.all_reduce_s(n, gbit, bytes);
        let backward = if overlap {
            self.backward_s.max(comm)
        } else {
            self.backward_s + comm
        };
        self.forward_s + backward + self.update_s
    }

    /// The same step on a rank `k` times as fast (the network unchanged).
    pub fn faster(&self, k: f64) -> CostModel {
        CostModel {
            forward_s: self.forward_s / k,
            backward_s: self.backward_s / k,
            update_s: self.update_s / k,
            ..*self
        }
    }

    /// N ranks' tokens per second over one rank's: N at best.
    pub fn speedup(&self, n: usize, gbit: f64, bytes: f64, overlap: bool) -> f64 {
        n as f64 * self.step_s(1, gbit, bytes, overlap) / self.step_s(n, gbit, bytes, overlap)
    }
}
// ANCHOR_END: model

/// A case of the model: a rank as fast as this machine's (1) or `speed` times faster, on links
/// of `gbit` Gbit/s, sending `bytes` per gradient number, with or without overlap.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub speed: f64,
    pub gbit: f64,
    pub bytes: f64,
    pub overlap: bool,
    /// Drawn in the figure (the table has every case).
    pub drawn: bool,
}

impl Case {
    pub fn label(&self) -> String {
        let rank = if self.speed == 1.0 {
            "this CPU".to_string()
        } else {
            format!("{}× faster rank", self.speed)
        };
        let mut label = format!("{rank}, {} Gbit/s", self.gbit);
        if self.bytes == 2.0 {
            label.push_str(", bf16 gradients");
        }
        if self.overlap {
            label.push_str(", overlapped");
        }
        label
    }

    pub fn step_s(&self, model: &CostModel, n: usize) -> f64 {
        model
            .faster(self.speed)
            .step_s(n, self.gbit, self.bytes, self.overlap)
    }

    pub fn speedup(&self, model: &CostModel, n: usize) -> f64 {
        model
            .faster(self.speed)
            .speedup(n, self.gbit, self.bytes, self.overlap)
    }
}

const fn case(speed: f64, gbit: f64, bytes: f64, overlap: bool, drawn: bool) -> Case {
    Case {
        speed,
        gbit,
        bytes,
        overlap,
        drawn,
    }
}

/// This CPU's step on the networks a cluster has, and a rank 100 times as fast (a GPU's speed
/// for this step) on the same networks, where the communication starts to matter.
pub const CASES: [Case; 12] = [
    case(1.0, 10.0, 4.0, false, true),
    case(1.0, 10.0, 4.0, true, false),
    case(1.0, 10.0, 2.0, false, false),
    case(1.0, 25.0, 4.0, false, false),
    case(1.0, 25.0, 4.0, true, false),
    case(1.0, 100.0, 4.0, false, false),
    case(1.0, 100.0, 4.0, true, false),
    case(100.0, 10.0, 4.0, false, true),
    case(100.0, 10.0, 4.0, true, true),
    case(100.0, 10.0, 2.0, false, true),
    case(100.0, 100.0, 4.0, false, true),
    case(100.0, 100.0, 4.0, true, true),
];

pub const RANKS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Each case's seconds per step and N ranks' speed-up over one rank.
pub fn model_table(model: &CostModel) -> String {
    let mut out = String::new();
    out.push_str("| rank, network | ");
    out.push_str(&RANKS.map(|n| format!("N = {n}")).join(" | "));
    out.push_str(" |\n| --- |");
    out.push_str(&" --- |".repeat(RANKS.len()));
    out.push('\n');
    for case in CASES {
        write!(out, "| {} |", case.label()).unwrap();
        for n in RANKS {
            let (s, x) = (case.step_s(model, n), case.speedup(model, n));
            let s = if s >= 1.0 {
                format!("{s:.2} s")
            } else {
                format!("{:.0} ms", s * 1e3)
            };
            write!(out, " {s}, ×{x:.1} |").unwrap();
        }
        out.push('\n');
    }
    out
}

/// Scaling efficiency (N ranks' speed-up over N) against the number of ranks.
pub fn plot(model: &CostModel, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (760, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GPT-2 124M, 4 × 1,024 tokens per rank: speed-up over one rank, per rank",
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // Room above 100% for the legend.
        .build_cartesian_2d(0f64..6.0, 0f64..148.0)?;
    chart
        .configure_mesh()
        .x_desc("ranks")
        .y_desc("scaling efficiency, %")
        .x_labels(7)
        .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
        .y_label_formatter(&|y| {
            if *y <= 100.0 {
                format!("{y:.0}")
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE)
        .draw()?;
    let colors = [
        RGBColor(90, 90, 90),
        RGBColor(200, 40, 40),
        RGBColor(240, 140, 110),
        RGBColor(150, 60, 160),
        RGBColor(30, 90, 200),
        RGBColor(120, 170, 230),
    ];
    let drawn = CASES.iter().filter(|c| c.drawn);
    for (case, color) in drawn.zip(colors) {
        let points = RANKS.map(|n| {
            let x = (n as f64).log2();
            (x, 100.0 * case.speedup(model, n) / n as f64)
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(3)))?
            .label(case.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    gpt2::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel {
            params: 1e8,
            forward_s: 1.0,
            backward_s: 2.0,
            update_s: 0.5,
            messages: 1.0,
            latency_s: 0.0,
        }
    }

    #[test]
    fn a_ring_moves_twice_the_gradient_less_one_share() {
        // 4e8 bytes at 1 GB/s (8 Gbit/s), 4 ranks: 2·3/4 of it, 0.6 s.
        let s = model().all_reduce_s(4, 8.0, 4.0);
        assert!((s - 0.6).abs() < 1e-12, "{s}");
        assert_eq!(model().all_reduce_s(1, 8.0, 4.0), 0.0);
    }

    #[test]
    fn overlap_hides_what_the_backward_pass_outlasts() {
        let m = model();
        // 0.6 s of communication inside 2 s of backward pass: hidden.
        assert_eq!(m.step_s(4, 8.0, 4.0, true), 3.5);
        assert!((m.step_s(4, 8.0, 4.0, false) - 4.1).abs() < 1e-12);
        // 0.08 Gbit/s: 60 s of communication, of which 2 s hide.
        let slow = m.step_s(4, 0.08, 4.0, true);
        assert!((slow - 61.5).abs() < 1e-9, "{slow}");
    }

    #[test]
    fn a_measured_run_is_read_from_its_log() {
        let mut text = String::new();
        for step in 0..6 {
            let speed = if step < 2 { 100.0 } else { 512.0 };
            let line = serde_json::json!({"step": step, "loss": 5.0 - step as f64 * 0.1,
                "tokens_per_s": speed, "elapsed_s": step as f64, "all_reduce_s": 0.25});
            writeln!(text, "{line}").unwrap();
        }
        let m = Measured::parse(&text, 512.0).unwrap();
        assert_eq!(m.tokens_per_s, 512.0);
        assert_eq!(m.tokens, 512.0);
        assert_eq!(m.step_s, 1.0);
        assert_eq!(m.all_reduce_s, 0.25);
        assert!((m.last_loss - 4.5).abs() < 1e-12);
    }
}
