//! The residual stream through a pre-LN block, drawn by code.

use std::path::Path;

use anyhow::Result;
use chapter03::diagrams::{HEADS, arrow, boxed, canvas, finish, label};
use plotters::prelude::*;

/// The block of Listing 4-1 as a picture: the stream runs left to right, each half of the block
/// reads a normalised copy of it and adds its result back.
pub fn residual_stream(path: &Path) -> Result<()> {
    let root = canvas(path, (760, 300))?;
    let stream_y = 210;
    label(
        &root,
        "one pre-LN block: the residual stream, [N, C], is read and added to, never normalised",
        (380, 20),
        14,
    )?;
    root.draw(&PathElement::new(
        vec![(30, stream_y), (735, stream_y)],
        BLACK.stroke_width(3),
    ))?;
    arrow(&root, (700, stream_y), (740, stream_y))?;
    label(&root, "x", (20, stream_y), 16)?;
    label(&root, "out", (745, stream_y - 18), 14)?;
    label(&root, "r", (400, stream_y + 18), 16)?;
    // Each half: branch up from the stream, LayerNorm, the layer, and back down into a sum.
    for (start, norm, layer, text) in [
        (70, "ln_1", "attn", "r = x + attn(ln_1(x))"),
        (420, "ln_2", "mlp", "out = r + mlp(ln_2(r))"),
    ] {
        root.draw(&PathElement::new(
            vec![(start, stream_y), (start, 100)],
            BLACK.stroke_width(1),
        ))?;
        arrow(&root, (start, 100), (start + 30, 100))?;
        boxed(&root, (start + 30, 80), (70, 40), HEADS[0], norm)?;
        arrow(&root, (start + 100, 100), (start + 140, 100))?;
        boxed(&root, (start + 140, 80), (90, 40), HEADS[1], layer)?;
        root.draw(&PathElement::new(
            vec![(start + 230, 100), (start + 270, 100)],
            BLACK.stroke_width(1),
        ))?;
        arrow(&root, (start + 270, 100), (start + 270, stream_y - 14))?;
        root.draw(&Circle::new((start + 270, stream_y), 13, WHITE.filled()))?;
        root.draw(&Circle::new(
            (start + 270, stream_y),
            13,
            BLACK.stroke_width(2),
        ))?;
        label(&root, "+", (start + 270, stream_y), 18)?;
        label(&root, text, (start + 150, stream_y + 50), 14)?;
    }
    label(
        &root,
        "backward: the gradient reaches x along the stream unchanged, plus each branch's share",
        (380, 285),
        13,
    )?;
    finish(root)
}
