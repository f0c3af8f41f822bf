//! Diagrams drawn by code, where a shape changes: how c_attn's output splits into heads, the
//! causal mask, and (for chapters 4 and 7) a small kit of boxes, labels and arrows.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A drawing area in pixels, white, of the given size, written to `path` by [`finish`].
pub type Canvas<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A new canvas of `size` pixels that will be written to `path` (its folder is created).
pub fn canvas(path: &Path, size: (u32, u32)) -> Result<Canvas<'_>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root)
}

/// Writes the canvas to its file.
pub fn finish(root: Canvas<'_>) -> Result<()> {
    root.present()?;
    Ok(())
}

/// Text centred on `at`, in `size` pixels.
pub fn label(root: &Canvas<'_>, text: &str, at: (i32, i32), size: u32) -> Result<()> {
    let style =
        TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(text.to_string(), at, style))?;
    Ok(())
}

/// A filled box from `top_left` of `size`, with a thin black border and `text` in its centre.
pub fn boxed(
    root: &Canvas<'_>,
    top_left: (i32, i32),
    size: (i32, i32),
    fill: RGBColor,
    text: &str,
) -> Result<()> {
    let (x, y) = top_left;
    let (w, h) = size;
    root.draw(&Rectangle::new([(x, y), (x + w, y + h)], fill.filled()))?;
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        BLACK.stroke_width(1),
    ))?;
    if !text.is_empty() {
        label(root, text, (x + w / 2, y + h / 2), 14)?;
    }
    Ok(())
}

/// An arrow from `from` to `to`, its head at `to`.
pub fn arrow(root: &Canvas<'_>, from: (i32, i32), to: (i32, i32)) -> Result<()> {
    root.draw(&PathElement::new(vec![from, to], BLACK.stroke_width(1)))?;
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let point = |along: f64, across: f64| {
        (
            (to.0 as f64 - ux * along - uy * across).round() as i32,
            (to.1 as f64 - uy * along + ux * across).round() as i32,
        )
    };
    root.draw(&Polygon::new(
        vec![to, point(8.0, 4.0), point(8.0, -4.0)],
        BLACK.filled(),
    ))?;
    Ok(())
}

/// One colour per head, and the three parts q, k, v.
pub const HEADS: [RGBColor; 4] = [
    RGBColor(141, 182, 230),
    RGBColor(246, 178, 107),
    RGBColor(147, 205, 141),
    RGBColor(214, 150, 200),
];

/// c_attn's output for a batch, [B·T, 3C], cut into q, k and v, then each into H heads of d = C/H
/// columns: head h of q is the slice of columns h·d..(h+1)·d of the first third.
pub fn head_split(path: &Path) -> Result<()> {
    let root = canvas(path, (760, 330))?;
    let (x0, y0, w, h) = (40, 50, 672, 60);
    label(
        &root,
        "c_attn(x): [B·T, 3C], each row one position",
        (x0 + w / 2, 25),
        16,
    )?;
    let third = w / 3;
    for (part, name) in ["q", "k", "v"].iter().enumerate() {
        for head in 0..4 {
            let left = x0 + part as i32 * third + head * third / 4;
            let text = format!("{name}{head}");
            boxed(
                &root,
                (left, y0),
                (third / 4, h),
                HEADS[head as usize],
                &text,
            )?;
        }
        label(
            &root,
            &format!("{name}: columns {part}C..{}C", part + 1),
            (x0 + part as i32 * third + third / 2, y0 + h + 18),
            13,
        )?;
    }
    // Below: head 2's q, k and v, each [T, d] for one sequence.
    let (y1, small) = (y0 + h + 90, (70, 80));
    for (part, name) in ["q", "k", "v"].iter().enumerate() {
        let from = (
            x0 + part as i32 * third + 2 * third / 4 + third / 8,
            y0 + h + 28,
        );
        let left = x0 + 60 + part as i32 * 220;
        arrow(&root, from, (left + small.0 / 2, y1))?;
        boxed(&root, (left, y1), small, HEADS[2], &format!("{name}2"))?;
        label(&root, "[T, d]", (left + small.0 / 2, y1 + small.1 + 16), 13)?;
    }
    label(
        &root,
        "head 2 of one sequence: its rows, its d = C/H columns of each third (a view, not a copy)",
        (x0 + w / 2, 318),
        13,
    )?;
    finish(root)
}

/// The causal mask for `t` positions: query i (row) may attend to key j (column) only if j ≤ i.
pub fn causal_mask(path: &Path, t: usize) -> Result<()> {
    let cell = 34;
    let (left, top) = (90, 60);
    let side = cell * t as i32;
    let width = (left + side + 40).max(440);
    let root = canvas(path, (width as u32, (top + side + 60) as u32))?;
    let title = "the causal mask: scores kept (blue), set to −∞ (grey)";
    label(&root, title, (width / 2, 20), 15)?;
    label(&root, "key position j →", (left + side / 2, top - 14), 13)?;
    for i in 0..t as i32 {
        label(
            &root,
            &i.to_string(),
            (left - 14, top + i * cell + cell / 2),
            13,
        )?;
        label(
            &root,
            &i.to_string(),
            (left + i * cell + cell / 2, top + side + 14),
            13,
        )?;
        for j in 0..t as i32 {
            let (fill, text) = if j <= i {
                (HEADS[0], "")
            } else {
                (RGBColor(225, 225, 225), "−∞")
            };
            boxed(
                &root,
                (left + j * cell, top + i * cell),
                (cell, cell),
                fill,
                text,
            )?;
        }
    }
    let style = TextStyle::from(
        ("sans-serif", 13)
            .into_font()
            .transform(FontTransform::Rotate270),
    );
    root.draw(&Text::new(
        "← query position i".to_string(),
        (left - 40, top + side / 2 + 50),
        style,
    ))?;
    finish(root)
}
