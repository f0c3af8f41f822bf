//! A short training run of the readable model, measured as it goes.

use std::path::Path;

use anyhow::Result;
use gpt2::GPTConfig;
use gpt2::data::{Loader, LoaderMode};
use gpt2::train::{TrainConfig, Trainer};
use plotters::prelude::*;

use crate::train::{Settings, evaluate, train};
use chapter05::gpt::GPT;

/// The losses of a run: every step's training loss, and the validation loss at some steps.
pub struct Curve {
    pub train: Vec<(usize, f32)>,
    pub val: Vec<(usize, f32)>,
}

// ANCHOR: short_run
/// Trains a fresh `shakespeare`-shaped model for `steps` steps of 4 sequences of 64 tokens at
/// random offsets of `train`, measuring the loss on `val` every `every` steps. Returns the
/// curve and the model.
pub fn short_run(
    train_ids: &[u32],
    val: &[u32],
    steps: usize,
    every: usize,
) -> Result<(Curve, GPT)> {
    let settings = Settings {
        steps,
        lr: 2e-3,
        min_lr: 2e-4,
        warmup: 20,
        ..Settings::default()
    };
    let mut model = GPT::new(GPTConfig::preset("shakespeare")?, 1);
    let mut loader = Loader::new(
        train_ids.to_vec(),
        4,
        64,
        LoaderMode::Random,
        1337,
        "the training text",
    )?;
    let mut curve = Curve {
        train: Vec::new(),
        val: vec![(0, evaluate(&model, val, 4, 64))],
    };
    train(&mut model, &mut loader, &settings, |step, model| {
        curve.train.push((step.step, step.loss));
        if (step.step + 1) % every == 0 {
            curve.val.push((step.step + 1, evaluate(model, val, 4, 64)));
        }
    });
    Ok((curve, model))
}
// ANCHOR_END: short_run

/// The same run on the fast library's trainer (`gpt2::train`, chapter 8): the same model, the
/// same batches, the same settings, and optionally dropout with probability `dropout`.
/// Chapters 7 and 8 take their trained model from it.
pub fn library_short_run(
    train: &[u32],
    val: &[u32],
    steps: usize,
    every: usize,
    dropout: f32,
) -> Result<(Curve, gpt2::GPT)> {
    let config = TrainConfig {
        batch: 4,
        seq: 64,
        steps,
        lr: 2e-3,
        min_lr: 2e-4,
        warmup: 20,
        dropout,
        ..TrainConfig::default()
    };
    let model = gpt2::GPT::new(GPTConfig::preset("shakespeare")?, 1);
    let mut trainer = Trainer::new(model, train.to_vec(), val.to_vec(), config)?;
    let mut curve = Curve {
        train: Vec::new(),
        val: Vec::new(),
    };
    curve.val.push((0, trainer.val_loss()?.unwrap_or(f32::NAN)));
    for _ in 0..steps {
        let s = trainer.step()?;
        curve.train.push((s.step, s.loss));
        if trainer.step % every == 0 {
            curve
                .val
                .push((trainer.step, trainer.val_loss()?.unwrap_or(f32::NAN)));
        }
    }
    Ok((curve, trainer.model))
}

/// The runs' validation losses, and their training losses smoothed, on one chart.
pub fn plot(runs: &[(&str, &Curve, RGBColor)], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let steps = runs
        .iter()
        .flat_map(|r| r.1.train.last())
        .map(|p| p.0 + 1)
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Training (thin) and validation (thick) loss",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0..steps, 0f32..11f32)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("nats per token")
        .light_line_style(WHITE)
        .draw()?;
    for (name, curve, color) in runs {
        let smooth = gpt2::plot::moving_average(&curve.train, 0.1);
        chart.draw_series(LineSeries::new(smooth, color.stroke_width(1)))?;
        chart
            .draw_series(LineSeries::new(
                curve.val.iter().copied(),
                color.stroke_width(3),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    gpt2::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}
