//! The KV cache growing token by token, drawn by code.

use std::path::Path;

use anyhow::Result;
use chapter03::diagrams::{HEADS, boxed, canvas, finish, label};

/// Five steps of generation with the cache of Listing 7-2: at each, the new token's key and value
/// join those already cached, and its query attends over all of them.
pub fn kv_cache(path: &Path) -> Result<()> {
    let steps: i32 = 5;
    let root = canvas(path, (760, 80 + 50 * steps as u32))?;
    label(
        &root,
        "one layer's cache, step by step: cached keys and values (grey), the new token's (blue)",
        (380, 20),
        14,
    )?;
    for s in 0..steps {
        let y = 50 + s * 50;
        label(&root, &format!("step {}", s + 1), (45, y + 16), 14)?;
        for j in 0..=s {
            let (fill, text) = if j < s {
                (plotters::style::RGBColor(225, 225, 225), "k, v")
            } else {
                (HEADS[0], "q, k, v")
            };
            boxed(&root, (100 + j * 70, y), (64, 32), fill, text)?;
        }
        let work = format!("1 new position; its query attends over {} keys", s + 1);
        label(&root, &work, (610, y + 16), 13)?;
    }
    let y = 60 + 50 * steps;
    label(
        &root,
        "each position's cached k, v: [C] per layer, computed once; a step's work: one position, not the whole context",
        (380, y),
        13,
    )?;
    finish(root)
}
