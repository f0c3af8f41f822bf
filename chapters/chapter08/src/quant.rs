//! Smaller weights for generating, measured: speed (`gpt2 bench --json`, beside llama.cpp's
//! `llama-bench` on the same machine) and accuracy (`gpt2 eval --weights` on the trained
//! `shakespeare` model), from the runs kept in book/runs.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde_json::Value;

/// The four formats, in the order of the book's table, with llama.cpp's name for the same.
pub const KINDS: [(&str, &str); 4] = [
    ("f32", "F32"),
    ("bf16", "BF16"),
    ("int8", "Q8_0"),
    ("int4", "Q4_0"),
];

/// One format's measurements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub name: String,
    /// Megabytes of weights each new token reads (ours).
    pub megabytes: f64,
    /// Tokens per second: a 64-token prompt, then new tokens (ours and llama.cpp's).
    pub prefill: f64,
    pub decode: f64,
    pub llama_prefill: Option<f64>,
    pub llama_decode: Option<f64>,
    /// Validation loss of the trained model with these weights.
    pub loss: f64,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The middle value (the lower of the two middle ones for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Our speeds from rounds of `gpt2 bench --json`, the losses from `gpt2 eval --json` lines (each
/// with a "weights" key), and llama.cpp's speeds from rounds of `llama-bench`'s table, run in
/// turn with ours: each speed is the median of its rounds.
pub fn rows(benches: &[&Path], evals: &Path, llamas: &[&Path]) -> Result<Vec<Row>> {
    let benches: Vec<Value> = benches
        .iter()
        .map(|p| Ok(serde_json::from_str(&read(p)?)?))
        .collect::<Result<_>>()?;
    let evals: Vec<Value> = read(evals)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let llamas: Vec<String> = llamas.iter().map(|p| read(p)).collect::<Result<_>>()?;
    KINDS
        .iter()
        .map(|&(name, theirs)| {
            let ours = |key: &str| {
                let v: Option<Vec<f64>> = benches
                    .iter()
                    .map(|b| b["decode"][name][key].as_f64())
                    .collect();
                v.and_then(median)
                    .context(format!("no {name} {key} in the bench runs"))
            };
            let peer = |test: &str| {
                let v: Option<Vec<f64>> = llamas
                    .iter()
                    .map(|t| llama_speed(t, theirs, test))
                    .collect();
                v.and_then(median)
            };
            let loss = evals
                .iter()
                .find(|e| e["weights"] == name)
                .and_then(|e| e["loss"].as_f64())
                .context(format!("no {name} evaluation"))?;
            Ok(Row {
                name: name.to_string(),
                megabytes: ours("weight_bytes")? / 1e6,
                prefill: ours("prefill_tokens_per_s")?,
                decode: ours("decode_tokens_per_s")?,
                llama_prefill: peer("pp64"),
                llama_decode: peer("tg128"),
                loss,
            })
        })
        .collect()
}

/// The tokens per second of llama-bench's row for a model of type `kind` and test `test`.
fn llama_speed(table: &str, kind: &str, test: &str) -> Option<f64> {
    table.lines().find_map(|line| {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let model = cells.get(1)?;
        let is_kind = model
            .split_whitespace()
            .any(|w| w.eq_ignore_ascii_case(kind));
        if !is_kind || !cells.contains(&test) {
            return None;
        }
        cells
            .iter()
            .rev()
            .find_map(|c| c.split('±').next()?.trim().parse().ok())
    })
}

/// The book's table.
pub fn table(rows: &[Row]) -> Result<String> {
    let Some(base) = rows.iter().find(|r| r.name == "f32") else {
        bail!("no f32 row");
    };
    let peer =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let mut out = String::new();
    out.push_str("| weights | MB per token | prompt of 64, tokens/s | llama.cpp | new tokens/s | llama.cpp | validation loss | change |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        writeln!(
            out,
            "| {} | {:.0} | {:.0} | {} | {:.1} | {} | {:.4} | {:+.4} |",
            r.name,
            r.megabytes,
            r.prefill,
            peer(r.llama_prefill, 0),
            r.decode,
            peer(r.llama_decode, 1),
            r.loss,
            r.loss - base.loss
        )?;
    }
    Ok(out)
}

/// Speed against loss: each format a point, new tokens per second across, the validation
/// loss's change from f32 up.
pub fn plot(rows: &[Row], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let base = rows
        .iter()
        .find(|r| r.name == "f32")
        .map_or(0.0, |r| r.loss);
    let fastest = rows.iter().map(|r| r.decode).fold(0.0, f64::max);
    let worst = rows.iter().map(|r| r.loss - base).fold(0.0, f64::max);
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GPT-2 124M's speed, the shakespeare model's loss",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..fastest * 1.2, -worst * 0.2..worst * 1.3 + 1e-4)?;
    chart
        .configure_mesh()
        .x_desc("new tokens per second (GPT-2 124M, batch 1)")
        .y_desc("validation loss - f32's (nats)")
        .light_line_style(WHITE)
        .draw()?;
    let blue = RGBColor(30, 90, 200);
    chart.draw_series(rows.iter().map(|r| {
        let at = (r.decode, r.loss - base);
        EmptyElement::at(at)
            + Circle::new((0, 0), 6, blue.filled())
            + Text::new(
                format!("{} ({:.0} MB)", r.name, r.megabytes),
                (10, -16),
                ("sans-serif", 15),
            )
    }))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_rounds_is_the_middle_one() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(1.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn llama_bench_rows_are_found_by_model_type_and_test() {
        let table = "| model | size | params | backend | threads | test | t/s |\n\
                     | --- | ---: | ---: | --- | ---: | ---: | ---: |\n\
                     | gpt2 0.1B Q8_0 | 132 MiB | 124 M | CPU | 2 | pp64 | 721.33 ± 3.21 |\n\
                     | gpt2 0.1B Q8_0 | 132 MiB | 124 M | CPU | 2 | tg128 | 180.12 ± 0.50 |\n\
                     | gpt2 0.1B Q4_0 | 77 MiB | 124 M | CPU | 2 | tg128 | 242.00 ± 1.00 |\n";
        assert_eq!(llama_speed(table, "Q8_0", "pp64"), Some(721.33));
        assert_eq!(llama_speed(table, "Q8_0", "tg128"), Some(180.12));
        assert_eq!(llama_speed(table, "Q4_0", "tg128"), Some(242.0));
        assert_eq!(llama_speed(table, "Q4_0", "pp64"), None);
        assert_eq!(llama_speed(table, "F32", "pp64"), None);
    }
}
