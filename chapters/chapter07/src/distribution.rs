//! The distribution the next token is drawn from, and what temperature, top-k and top-p do to
//! it, as tables and bar charts.

use std::path::Path;

use anyhow::Result;
use gpt2::Tokenizer;
use gpt2::generate::Sampling;
use ndarray::ArrayView1;

use crate::generate::candidates;
use plotters::prelude::*;

/// A token's text for a label: visible spaces and newlines.
pub fn label(tok: &Tokenizer, id: u32) -> String {
    let bytes = tok.token_bytes(id).unwrap_or_default();
    String::from_utf8_lossy(bytes)
        .replace(' ', "·")
        .replace('\n', "↵")
}

/// The probability `s` gives to each of `ids` (0 for a token it rules out).
pub fn probabilities(logits: &[f32], s: &Sampling, ids: &[u32]) -> Vec<f64> {
    let d = candidates(ArrayView1::from(logits), s);
    ids.iter()
        .map(|id| d.iter().find(|c| c.0 == *id).map_or(0.0, |c| c.1))
        .collect()
}

/// One bar chart per setting, side by side: the probabilities of the same tokens.
pub fn bar_charts(
    tok: &Tokenizer,
    logits: &[f32],
    ids: &[u32],
    settings: &[(&str, Sampling)],
    path: &Path,
) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (300 * settings.len() as u32, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, (name, s)) in root.split_evenly((1, settings.len())).iter().zip(settings) {
        let probs = probabilities(logits, s, ids);
        let mut chart = ChartBuilder::on(area)
            .caption(*name, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(70)
            .y_label_area_size(55)
            .build_cartesian_2d((0..ids.len()).into_segmented(), 0f64..1f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_desc("probability")
            .y_labels(6)
            .x_labels(ids.len())
            .x_label_style(
                ("sans-serif", 12)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < ids.len() => label(tok, ids[*i]),
                _ => String::new(),
            })
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(RGBColor(50, 100, 200).filled())
                .margin(3)
                .data(probs.iter().enumerate().map(|(i, &p)| (i, p))),
        )?;
    }
    root.present()?;
    Ok(())
}

/// Milliseconds per token against context length, with and without the cache.
pub fn plot_timing(points: &[(usize, f64, f64)], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = points.iter().map(|p| p.2.max(p.1)).fold(1.0, f64::max) * 1.1;
    let right = points.iter().map(|p| p.0).max().unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption("Time per generated token", ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0..right, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("context length (tokens)")
        .y_desc("milliseconds")
        .light_line_style(WHITE)
        .draw()?;
    for (name, color, pick) in [
        ("without cache", RED, 2usize),
        ("with KV cache", BLUE, 1usize),
    ] {
        let data: Vec<(usize, f64)> = points
            .iter()
            .map(|p| (p.0, if pick == 1 { p.1 } else { p.2 }))
            .collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(data.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    gpt2::plot::legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}
