//! Rank-ordered merging (Listing 2-3) one step at a time, and the picture of it.

use std::path::Path;

use anyhow::Result;
use gpt2::Tokenizer;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rustc_hash::FxHashMap;

/// One step of merging a pre-token: its parts before the step, each a token, with their ranks
/// (GPT-2's ids), and the pair merged (the index of its left part, and the rank of the token the
/// two form), or `None` after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub parts: Vec<Vec<u8>>,
    pub ranks: Vec<u32>,
    pub merged: Option<(usize, u32)>,
}

/// The steps of encoding `piece` with `tok`'s ranks: from single bytes, the leftmost adjacent
/// pair whose bytes form the lowest-ranked token merges first, until no pair forms a token.
pub fn merge_steps(tok: &Tokenizer, piece: &[u8]) -> Result<Vec<Step>> {
    let mut rank: FxHashMap<&[u8], u32> = FxHashMap::default();
    for id in 0..tok.vocab_size() as u32 {
        // The special tokens have no bytes to merge into.
        if let Ok(bytes) = tok.token_bytes(id) {
            rank.insert(bytes, id);
        }
    }
    let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
    let mut steps = Vec::new();
    loop {
        let best = (0..parts.len().saturating_sub(1))
            .filter_map(|i| {
                let joined = [&parts[i][..], &parts[i + 1][..]].concat();
                rank.get(&joined[..]).map(|&r| (r, i))
            })
            .min();
        let merged = best.map(|(r, i)| (i, r));
        steps.push(Step {
            ranks: parts.iter().map(|p| rank[&p[..]]).collect(),
            parts: parts.clone(),
            merged,
        });
        let Some((i, _)) = merged else {
            return Ok(steps);
        };
        let right = parts.remove(i + 1);
        parts[i].extend(right);
    }
}

/// How a part is shown: spaces as `·`, other bytes that are not printable ASCII as `\xNN`.
pub fn show_part(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b' ' => "·".to_string(),
            0x21..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// Draws `steps`: one row per step, each part a box as wide as its text, the pair about to merge
/// highlighted, and on the right the rank of the token it forms.
pub fn plot_merge_steps(steps: &[Step], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (row, char_w, left) = (34, 11, 20);
    let height = 70 + row * steps.len() as i32;
    let root = SVGBackend::new(path, (760, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let text = |s: &str, at: (i32, i32), size: u32, h: HPos| -> Result<()> {
        let style = TextStyle::from(("monospace", size).into_font()).pos(Pos::new(h, VPos::Center));
        root.draw(&Text::new(s.to_string(), at, style))?;
        Ok(())
    };
    let title = "GPT-2's merges of one pre-token: the pair forming the lowest rank goes first";
    let style =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(title, (380, 18), style))?;
    text("rank of the merged token", (740, 44), 12, HPos::Right)?;
    let pair = RGBColor(246, 178, 107);
    let plain = RGBColor(141, 182, 230);
    for (k, step) in steps.iter().enumerate() {
        let y = 56 + k as i32 * row;
        let mut x = left;
        for (i, part) in step.parts.iter().enumerate() {
            let shown = show_part(part);
            let w = char_w * shown.chars().count() as i32 + 10;
            let in_pair = step.merged.is_some_and(|(m, _)| i == m || i == m + 1);
            let fill = if in_pair { pair } else { plain };
            root.draw(&Rectangle::new(
                [(x, y), (x + w, y + row - 8)],
                fill.filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x, y), (x + w, y + row - 8)],
                BLACK.stroke_width(1),
            ))?;
            text(&shown, (x + 5, y + (row - 8) / 2), 15, HPos::Left)?;
            x += w + 4;
        }
        let note = match step.merged {
            Some((i, r)) => {
                let joined = [&step.parts[i][..], &step.parts[i + 1][..]].concat();
                format!("{} → {r}", show_part(&joined))
            }
            None => {
                let ids: Vec<String> = step.ranks.iter().map(|r| r.to_string()).collect();
                format!("no pair forms a token: ids {}", ids.join(", "))
            }
        };
        text(&note, (740, y + (row - 8) / 2), 13, HPos::Right)?;
    }
    root.present()?;
    Ok(())
}
