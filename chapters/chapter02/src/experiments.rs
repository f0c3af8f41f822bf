//! What the chapter measures: how tokens look, how much they compress, and how compression
//! grows with the vocabulary.

use std::path::Path;

use anyhow::Result;
use gpt2::Tokenizer;
use plotters::prelude::*;

// ANCHOR: show
/// The tokens of `ids`, each as `[text id]`, with spaces shown as `·` and newlines as `↵` so
/// that the boundaries are visible. A token holding part of a character shows its bytes in hex.
pub fn show_tokens(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
    let mut out = String::new();
    for &id in ids {
        out.push('[');
        for chunk in tok.token_bytes(id)?.utf8_chunks() {
            let text = chunk
                .valid()
                .replace(' ', "·")
                .replace('\n', "↵")
                .replace('\t', "→");
            out.push_str(&text);
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out.push_str(&format!(" {id}]"));
    }
    Ok(out)
}
// ANCHOR_END: show

/// Bytes of text per token: how much a tokenizer compresses.
pub fn bytes_per_token(tok: &Tokenizer, text: &str) -> f64 {
    text.len() as f64 / tok.encode(text).len().max(1) as f64
}

/// Splits `text` at the character boundary nearest to `fraction` of its bytes.
pub fn split_text(text: &str, fraction: f64) -> (&str, &str) {
    let mut at = (text.len() as f64 * fraction) as usize;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text.split_at(at)
}

/// A merge written as the two texts it joins, e.g. `"e" + "·"`.
pub fn show_merge(tok: &Tokenizer, (a, b): (u32, u32)) -> Result<String> {
    let part = |id: u32| -> Result<String> {
        let s = String::from_utf8_lossy(tok.token_bytes(id)?)
            .replace(' ', "·")
            .replace('\n', "↵");
        Ok(format!("{s:?}"))
    };
    Ok(format!("{} + {}", part(a)?, part(b)?))
}

/// Draws compression (bytes per token) against vocabulary size, with GPT-2's as a reference.
pub fn plot_compression(points: &[(usize, f64)], gpt2: (usize, f64), path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = points.iter().map(|p| p.1).fold(gpt2.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Compression of tiny Shakespeare's validation text",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((256f64..65536f64).log_scale(), 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("vocabulary size (log scale)")
        .y_desc("bytes per token")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    let ours: Vec<(f64, f64)> = points.iter().map(|&(v, r)| (v as f64, r)).collect();
    chart
        .draw_series(LineSeries::new(ours.clone(), BLUE.stroke_width(2)))?
        .label("trained on tiny Shakespeare")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart.draw_series(ours.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    chart
        .draw_series(std::iter::once(Circle::new(
            (gpt2.0 as f64, gpt2.1),
            6,
            RED.filled(),
        )))?
        .label("GPT-2 (trained on WebText)")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
    gpt2::plot::legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}
