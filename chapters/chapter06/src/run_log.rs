//! The default `gpt2 train` run, read back from the JSON lines it printed (`--json`): the table,
//! the figures and the sample of chapter 6's section "The run" are all made from that file.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The JSON lines of `gpt2 train --json`, as the book keeps them.
pub const SAVED: &str = "book/runs/ch06-train.jsonl";

/// What one run printed: every step, every validation, and the sample at the end.
#[derive(Debug, Default)]
pub struct RunLog {
    /// (step, training loss, tokens per second, seconds since the start)
    pub steps: Vec<(usize, f32, f64, f64)>,
    /// (step, validation loss, seconds since the start)
    pub val: Vec<(usize, f32, f64)>,
    /// (step, learning rate, gradient norm before clipping)
    pub schedule: Vec<(usize, f32, f32)>,
    pub sample: Option<String>,
}

impl RunLog {
    pub fn parse(text: &str) -> Result<RunLog> {
        let mut log = RunLog::default();
        for (i, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
            let step = v["step"].as_u64().map(|s| s as usize);
            let number = |key: &str| v[key].as_f64();
            match (step, number("loss"), number("val_loss")) {
                (Some(s), Some(loss), _) => {
                    log.steps.push((
                        s,
                        loss as f32,
                        number("tokens_per_s").unwrap_or(f64::NAN),
                        number("elapsed_s").unwrap_or(f64::NAN),
                    ));
                    if let (Some(lr), Some(norm)) = (number("lr"), number("grad_norm")) {
                        log.schedule.push((s, lr as f32, norm as f32));
                    }
                }
                (Some(s), None, Some(val)) => {
                    log.val
                        .push((s, val as f32, number("elapsed_s").unwrap_or(f64::NAN)))
                }
                _ => {
                    if let Some(sample) = v["sample"].as_str() {
                        log.sample = Some(sample.to_string());
                    }
                }
            }
        }
        Ok(log)
    }

    pub fn read(path: &Path) -> Result<RunLog> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        RunLog::parse(&text)
            .with_context(|| format!("{} is not a run's JSON lines", path.display()))
    }

    /// The training loss at `step`.
    fn loss_at(&self, step: usize) -> f32 {
        let at = self.steps.iter().find(|s| s.0 == step);
        at.map_or(f32::NAN, |s| s.1)
    }

    /// The median of the steps' tokens per second.
    pub fn median_tokens_per_s(&self) -> f64 {
        let mut speeds: Vec<f64> = self.steps.iter().map(|s| s.2).collect();
        speeds.sort_by(f64::total_cmp);
        speeds.get(speeds.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// The validations as a Markdown table with the time since the start, then the run's length
    /// and speed.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| step | minutes | training loss | validation loss |\n");
        out.push_str("| --- | --- | --- | --- |\n");
        for &(step, val, elapsed) in &self.val {
            let loss = self.loss_at(step);
            let minutes = elapsed / 60.0;
            writeln!(out, "| {step} | {minutes:.1} | {loss:.3} | {val:.3} |").unwrap();
        }
        let (steps, seconds) = (self.steps.len(), self.steps.last().map_or(0.0, |s| s.3));
        let total = self.val.last().map_or(seconds, |v| v.2.max(seconds));
        writeln!(
            out,
            "\n{} steps in {:.1} minutes, validations included: a median of {} tokens per second, {:.2} seconds per step.",
            gpt2::numfmt::group_digits(steps as u64),
            total / 60.0,
            gpt2::numfmt::group_digits(self.median_tokens_per_s().round() as u64),
            seconds / steps.max(1) as f64,
        )
        .unwrap();
        out
    }

    /// The loss curve `gpt2 train` draws beside its checkpoint, drawn again from the log.
    pub fn plot(&self, path: &Path) -> Result<()> {
        let train: Vec<(usize, f32)> = self.steps.iter().map(|s| (s.0, s.1)).collect();
        let val: Vec<(usize, f32)> = self.val.iter().map(|v| (v.0, v.1)).collect();
        gpt2::plot::loss_curve(&train, &val, path)
            .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
    }

    /// Two charts over the same steps: the learning rate each step used (the warm-up, then the
    /// cosine), and the gradient's norm before clipping, against the clipping threshold.
    pub fn plot_schedule(&self, path: &Path, clip: f32) -> Result<()> {
        use plotters::prelude::*;
        let draw = || -> Result<(), Box<dyn std::error::Error>> {
            let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
            root.fill(&WHITE)?;
            let (upper, lower) = root.split_vertically(250);
            let last = self.schedule.iter().map(|s| s.0).max().unwrap_or(1).max(1);
            let top_lr = self.schedule.iter().map(|s| s.1).fold(0.0, f32::max) * 1.1;
            let mut chart = ChartBuilder::on(&upper)
                .caption("Learning rate", ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(70)
                .build_cartesian_2d(0..last, 0f32..top_lr.max(f32::MIN_POSITIVE))?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .y_label_formatter(&|v| match *v {
                    0.0 => "0".to_string(),
                    v => format!("{v:.1e}"),
                })
                .draw()?;
            chart.draw_series(LineSeries::new(
                self.schedule.iter().map(|s| (s.0, s.1)),
                BLUE.stroke_width(2),
            ))?;
            let top_norm = self.schedule.iter().map(|s| s.2).fold(clip, f32::max) * 1.1;
            let mut chart = ChartBuilder::on(&lower)
                .caption("Gradient norm before clipping", ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0..last, 0f32..top_norm)?;
            chart
                .configure_mesh()
                .x_desc("step")
                .light_line_style(WHITE)
                .draw()?;
            let faint = RGBColor(160, 190, 230);
            chart
                .draw_series(LineSeries::new(
                    self.schedule.iter().map(|s| (s.0, s.2)),
                    faint.stroke_width(1),
                ))?
                .label("‖g‖, each step")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], faint.stroke_width(2))
                });
            chart
                .draw_series(LineSeries::new(
                    vec![(0, clip), (last, clip)],
                    RED.stroke_width(2),
                ))?
                .label("clipped above this")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
            gpt2::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            root.present()?;
            Ok(())
        };
        draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
    }
}
