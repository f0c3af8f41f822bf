//! The residual stream through a pre-LN block, and the MLP's shapes beside GELU, drawn by code.

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

/// The MLP of Listing 4-4 as a picture: on the left the shapes it goes through, each position
/// widened to 4C numbers and back; on the right GELU beside ReLU, from −4 to 4.
pub fn mlp(path: &Path) -> Result<()> {
    let root = canvas(path, (860, 360))?;
    let (left, right) = root.split_horizontally(400);
    label(&left, "the MLP: each position on its own", (200, 20), 15)?;
    // Each tensor as wide as its rows (4C four times C), each step on the arrow between two.
    let tensors = [
        ("x", 1, HEADS[0]),
        ("h", 4, HEADS[1]),
        ("GELU(h)", 4, HEADS[2]),
        ("out", 1, HEADS[0]),
    ];
    let steps = [
        "c_fc: · W + b, W is [C, 4C]",
        "GELU, entry by entry",
        "c_proj: · W + b, W is [4C, C]",
    ];
    let (centre, unit, high, pitch) = (170, 60, 30, 82);
    for (i, &(name, times, fill)) in tensors.iter().enumerate() {
        let top = 42 + i as i32 * pitch;
        let width = unit * times;
        boxed(&left, (centre - width / 2, top), (width, high), fill, name)?;
        let shape = if times == 1 { "[N, C]" } else { "[N, 4C]" };
        label(&left, shape, (centre + width / 2 + 34, top + high / 2), 13)?;
        if let Some(step) = steps.get(i) {
            arrow(&left, (centre, top + high), (centre, top + pitch))?;
            label(
                &left,
                step,
                (centre + 10 + step.len() as i32 * 3, top + high + 26),
                12,
            )?;
        }
    }
    let mut chart = ChartBuilder::on(&right)
        .caption("GELU(x) and ReLU(x)", ("sans-serif", 15))
        .margin(14)
        .x_label_area_size(35)
        .y_label_area_size(40)
        .build_cartesian_2d(-4f32..4f32, -1f32..4f32)?;
    chart
        .configure_mesh()
        .x_desc("x")
        .light_line_style(WHITE)
        .draw()?;
    let xs = (0..=400).map(|i| -4.0 + 8.0 * i as f32 / 400.0);
    let gelu_color = RGBColor(50, 100, 200);
    chart
        .draw_series(LineSeries::new(
            xs.clone().map(|x| (x, x.max(0.0))),
            RGBColor(160, 160, 160).stroke_width(2),
        ))?
        .label("ReLU")
        .legend(|(x, y)| {
            PathElement::new(
                vec![(x, y), (x + 20, y)],
                RGBColor(160, 160, 160).stroke_width(2),
            )
        });
    chart
        .draw_series(LineSeries::new(
            xs.map(|x| (x, crate::block::gelu(x))),
            gelu_color.stroke_width(2),
        ))?
        .label("GELU")
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], gelu_color.stroke_width(2))
        });
    // Its lowest point, exercise 2's answer.
    let low = crate::exercises::gelu_minimum();
    chart.draw_series(std::iter::once(Circle::new(low, 4, gelu_color.filled())))?;
    chart.draw_series(std::iter::once(Text::new(
        format!("({:.2}, {:.2})", low.0, low.1),
        (low.0 - 1.3, low.1 - 0.3),
        ("sans-serif", 12),
    )))?;
    gpt2::plot::legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    finish(root)
}
