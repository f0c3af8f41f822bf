//! The loss curve of a training run, as an SVG file.

use std::path::Path;

use plotters::prelude::*;

/// Draws the training loss of every step (faint), its moving average, and the validation loss
/// (points joined by a line) against the step number.
pub fn loss_curve(
    train: &[(usize, f32)],
    val: &[(usize, f32)],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let last = train
        .iter()
        .chain(val)
        .map(|p| p.0)
        .max()
        .unwrap_or(1)
        .max(1);
    let values = || {
        train
            .iter()
            .chain(val)
            .map(|p| p.1)
            .filter(|v| v.is_finite())
    };
    let top = values().fold(f32::NEG_INFINITY, f32::max).max(1.0) * 1.02;
    let bottom = values().fold(f32::INFINITY, f32::min).min(top - 1.0) * 0.95;
    let mut chart = ChartBuilder::on(&root)
        .caption("Loss (nats per token)", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0..last, bottom..top)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("cross-entropy")
        .light_line_style(WHITE)
        .draw()?;
    let faint = RGBColor(160, 190, 230);
    chart.draw_series(LineSeries::new(
        train.iter().copied(),
        faint.stroke_width(1),
    ))?;
    // An exponential moving average shows the trend through the noise of single batches.
    chart
        .draw_series(LineSeries::new(
            moving_average(train, 0.05),
            BLUE.stroke_width(2),
        ))?
        .label("training (moving average)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart.draw_series(val.iter().map(|&p| Circle::new(p, 4, RED.filled())))?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

/// The legend of every figure in the book: the series' labels in a white box with a black
/// border, at `position` inside the chart.
pub fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
}

/// The exponential moving average of a curve: each point moves `weight` of the way from the
/// previous average to its own value.
pub fn moving_average(points: &[(usize, f32)], weight: f32) -> Vec<(usize, f32)> {
    let mut average = None;
    points
        .iter()
        .map(|&(step, value)| {
            let a = average.map_or(value, |a: f32| (1.0 - weight) * a + weight * value);
            average = Some(a);
            (step, a)
        })
        .collect()
}
