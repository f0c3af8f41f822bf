//! Two attention heads set by hand, so that their weights can be read: one looks for earlier
//! copies of the current token, the other at the previous position.

use crate::dropout::Dropout;
use std::path::Path;

use crate::attention::{CausalSelfAttention, Linear};
use anyhow::{Result, ensure};
use ndarray::{Array2, Array3, s};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Channels per head, and the longest sentence the construction handles.
pub const HEAD_DIM: usize = 32;

// ANCHOR: heads
/// A two-head attention layer of width 64 and its input for the sequence `ids` (at most 32
/// tokens, at most 32 distinct). Channels 0..32 of x say which token is at a position (one-hot
/// over the distinct tokens), channels 32..64 which position it is (one-hot).
///
/// Head 0 ("same token"): q = k = the token channels, so position i scores `sharpness` on every
/// earlier occurrence of its own token and 0 elsewhere.
/// Head 1 ("previous token"): q_i = e_{i-1}, k_j = e_j over the position channels, so position
/// i scores `sharpness` on position i - 1 only.
pub fn hand_built(ids: &[u32], sharpness: f32) -> Result<(CausalSelfAttention, Array2<f32>)> {
    let d = HEAD_DIM;
    let t = ids.len();
    let mut distinct: Vec<u32> = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    ensure!(t <= d && distinct.len() <= d, "at most {d} tokens, got {t}");
    let c = 2 * d;
    let mut x = Array2::zeros((t, c));
    for (i, id) in ids.iter().enumerate() {
        let token = distinct.binary_search(id).expect("listed");
        x[[i, token]] = 1.0;
        x[[i, d + i]] = 1.0;
    }
    // c_attn's output columns: q of head 0 and 1, then k of head 0 and 1, then v of both.
    let (q, k, v) = (0, c, 2 * c);
    let beta = sharpness * (d as f32).sqrt(); // undo the 1/√d the scores are scaled by
    let mut c_attn = Linear::zeros(c, 3 * c);
    let w = &mut c_attn.weight;
    for ch in 0..d {
        w[[ch, q + ch]] = beta; // head 0: query = token channels
        w[[ch, k + ch]] = 1.0; // head 0: key = token channels
        w[[d + ch, k + d + ch]] = 1.0; // head 1: key = position
        if ch > 0 {
            w[[d + ch, q + d + ch - 1]] = beta; // head 1: query = previous position
        }
        w[[ch, v + ch]] = 1.0; // both heads pass on which token they looked at
        w[[ch, v + d + ch]] = 1.0;
    }
    let mut c_proj = Linear::zeros(c, c);
    c_proj.weight.diag_mut().fill(1.0);
    Ok((
        CausalSelfAttention {
            c_attn,
            c_proj,
            n_head: 2,
        },
        x,
    ))
}
// ANCHOR_END: heads

/// The attention weights of `attn` on one sequence x: [T, C] -> [n_head, T, T].
pub fn weights(attn: &CausalSelfAttention, x: &Array2<f32>) -> Array3<f32> {
    let (_, cache) = attn.forward(x, x.nrows(), &mut Dropout::off());
    cache.att.slice(s![0, .., .., ..]).to_owned()
}

/// The weights of one head as text: a row per query position, a column per key position.
pub fn weights_table(labels: &[String], w: ndarray::ArrayView2<f32>) -> String {
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, row) in w.rows().into_iter().enumerate() {
        out.push_str(&format!("{:>width$} |", labels[i]));
        for (j, &a) in row.iter().enumerate() {
            out.push_str(&match a {
                _ if j > i => "    ".to_string(),
                a if a < 0.005 => "   .".to_string(),
                a => format!(" {a:.1}").replace("0.", " ."),
            });
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

/// Draws each head's weights as a heat map, side by side, with the tokens on both axes.
pub fn heat_map(labels: &[String], w: &Array3<f32>, titles: &[&str], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (heads, t) = (w.shape()[0], w.shape()[1]);
    let cell = 28;
    let (left, top) = (90, 40);
    let panel = left + t as u32 * cell + 30;
    let size = (panel * heads as u32, top + t as u32 * cell + 130);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let font = ("sans-serif", 13).into_font();
    for (h, area) in root.split_evenly((1, heads)).iter().enumerate() {
        area.draw(&Text::new(
            titles[h].to_string(),
            (left as i32, 12),
            ("sans-serif", 16).into_font(),
        ))?;
        for i in 0..t {
            let y = (top + i as u32 * cell) as i32;
            let right = Pos::new(HPos::Right, VPos::Center);
            area.draw(&Text::new(
                labels[i].clone(),
                (left as i32 - 6, y + cell as i32 / 2),
                TextStyle::from(font.clone()).pos(right),
            ))?;
            for j in 0..t {
                let x = (left + j as u32 * cell) as i32;
                let a = w[[h, i, j]] as f64;
                // White for weight 0, deep blue for 1; grey where the causal mask forbids.
                let shade = if j > i {
                    RGBColor(236, 236, 236)
                } else {
                    RGBColor(
                        (255.0 * (1.0 - 0.85 * a)) as u8,
                        (255.0 * (1.0 - 0.65 * a)) as u8,
                        255,
                    )
                };
                area.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32 - 1, y + cell as i32 - 1)],
                    shade.filled(),
                ))?;
            }
        }
        let bottom = (top + t as u32 * cell + 6) as i32;
        for (j, label) in labels.iter().enumerate() {
            let x = (left + j as u32 * cell + cell / 2) as i32;
            let style = font.clone().transform(FontTransform::Rotate90);
            area.draw(&Text::new(label.clone(), (x + 6, bottom), style))?;
        }
        // Axis titles: rows are queries, columns are keys.
        let centre = Pos::new(HPos::Center, VPos::Center);
        let key_x = (left + t as u32 * cell / 2) as i32;
        let key_style = TextStyle::from(font.clone()).pos(centre);
        area.draw(&Text::new(
            "key position →",
            (key_x, bottom + 70),
            key_style,
        ))?;
        let query_y = (top + t as u32 * cell / 2) as i32;
        let query_style =
            TextStyle::from(font.clone().transform(FontTransform::Rotate270)).pos(centre);
        area.draw(&Text::new("← query position", (10, query_y), query_style))?;
    }
    // The colour scale, under the panels: weight 0 (white) to 1 (deep blue).
    let (scale_left, scale_y) = (left as i32, (top + t as u32 * cell + 100) as i32);
    root.draw(&Text::new(
        "weight 0",
        (scale_left - 60, scale_y + 4),
        font.clone(),
    ))?;
    for k in 0..=10 {
        let a = k as f64 / 10.0;
        let shade = RGBColor(
            (255.0 * (1.0 - 0.85 * a)) as u8,
            (255.0 * (1.0 - 0.65 * a)) as u8,
            255,
        );
        let x = scale_left + k * 18;
        root.draw(&Rectangle::new(
            [(x, scale_y), (x + 17, scale_y + 14)],
            shade.filled(),
        ))?;
    }
    root.draw(&Text::new(
        "1",
        (scale_left + 11 * 18 + 4, scale_y + 4),
        font.clone(),
    ))?;
    let masked = RGBColor(236, 236, 236);
    let x = scale_left + 13 * 18;
    root.draw(&Rectangle::new(
        [(x, scale_y), (x + 17, scale_y + 14)],
        masked.filled(),
    ))?;
    root.draw(&Text::new(
        "masked (the future)",
        (x + 24, scale_y + 4),
        font.clone(),
    ))?;
    root.present()?;
    Ok(())
}
