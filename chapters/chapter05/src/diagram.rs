//! The whole model as a picture, drawn by code: each step of the forward pass with the shape it
//! leaves, and the one matrix `wte` that two of them share.

use std::path::Path;

use anyhow::Result;
use chapter03::diagrams::{HEADS, arrow, boxed, canvas, finish, label};
use plotters::prelude::*;

/// Listing 5-3 left to right: ids, the embeddings, the blocks, `ln_f`, the LM head and the
/// loss, the shape between each two steps below the arrow, `wte` above feeding both of its uses.
pub fn model_shapes(path: &Path) -> Result<()> {
    let root = canvas(path, (1090, 320))?;
    label(
        &root,
        "GPT-2's forward pass: N = B·T positions, each a row of C numbers until the LM head",
        (545, 18),
        15,
    )?;
    let (top, high) = (150, 50);
    let mid = top + high / 2;
    // (width, text, fill, shape on the arrow that leaves it)
    let steps: [(i32, &str, RGBColor, &str); 9] = [
        (70, "ids", WHITE, "[B, T]"),
        (80, "wte[id]", HEADS[0], "[N, C]"),
        (0, "+", WHITE, "[N, C]"),
        (50, "h.0", HEADS[2], "[N, C]"),
        (50, "h.1", HEADS[2], ""),
        (70, "h.L−1", HEADS[2], "[N, C]"),
        (50, "ln_f", HEADS[3], "[N, C]"),
        (100, "· wteᵀ", HEADS[0], "[N, V]"),
        (110, "cross-entropy", HEADS[1], "one number"),
    ];
    let gap = 46;
    let mut x = 20;
    let mut centres = Vec::new();
    for (i, &(width, text, fill, shape)) in steps.iter().enumerate() {
        if text == "+" {
            // wpe's rows join the token rows here: one row per position, the same for every
            // sequence of the batch.
            let centre = (x + 13, mid);
            root.draw(&Circle::new(centre, 13, WHITE.filled()))?;
            root.draw(&Circle::new(centre, 13, BLACK.stroke_width(2)))?;
            label(&root, "+", centre, 18)?;
            boxed(&root, (x - 27, 84), (80, 32), HEADS[0], "wpe[t]")?;
            label(&root, "[T, C]", (x + 36, 134), 12)?;
            arrow(&root, (x + 13, 116), (x + 13, mid - 14))?;
            centres.push(centre.0);
            x += 26;
        } else {
            boxed(&root, (x, top), (width, high), fill, text)?;
            centres.push(x + width / 2);
            x += width;
        }
        if i + 1 < steps.len() {
            let next = if text == "h.1" { x + 54 } else { x + gap };
            if text == "h.1" {
                label(&root, "…", (x + 22, mid), 18)?;
                arrow(&root, (x + 34, mid), (next, mid))?;
            } else {
                arrow(&root, (x, mid), (next, mid))?;
            }
            if !shape.is_empty() {
                label(&root, shape, ((x + next) / 2, mid + 14), 12)?;
            }
            x = next;
        } else {
            arrow(&root, (x, mid), (x + 40, mid))?;
            label(&root, "loss", (x + 62, mid), 14)?;
            label(&root, shape, (x + 56, mid + 18), 12)?;
        }
    }
    // The targets enter the loss from below.
    let loss = centres[8];
    label(&root, "targets [B, T]", (loss, top + high + 70), 13)?;
    arrow(&root, (loss, top + high + 58), (loss, top + high))?;
    // One matrix, two uses: the rows the ids pick, and every row scored by the LM head.
    let (lookup, head) = (centres[1], centres[7]);
    let wte_x = (lookup + head) / 2;
    boxed(&root, (wte_x - 60, 36), (120, 32), HEADS[0], "wte [V, C]")?;
    root.draw(&PathElement::new(
        vec![(wte_x - 60, 52), (lookup, 52)],
        BLACK.stroke_width(1),
    ))?;
    arrow(&root, (lookup, 52), (lookup, top))?;
    root.draw(&PathElement::new(
        vec![(wte_x + 60, 52), (head, 52)],
        BLACK.stroke_width(1),
    ))?;
    arrow(&root, (head, 52), (head, top))?;
    label(&root, "the ids' rows", (lookup - 48, 100), 12)?;
    label(&root, "every row: the LM head", (head - 75, 100), 12)?;
    label(
        &root,
        "h.0 … h.L−1: n_layer blocks (chapter 4), each [N, C] in and out",
        (centres[4], top + high + 70),
        13,
    )?;
    label(
        &root,
        "backward: wte's gradient is the sum of both uses' shares, the LM head's and the embedding's rows",
        (545, 302),
        13,
    )?;
    finish(root)
}
