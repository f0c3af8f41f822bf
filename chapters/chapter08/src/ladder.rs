//! The matrix multiply from the definition to the library's: each step measured at one shape.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::naive::{matmul_blocked, matmul_ijk, matmul_ikj, matmul_tiled};

/// One rung of the ladder: its name and the GFLOP/s it reached.
pub struct Rung {
    pub name: &'static str,
    pub gflops: f64,
}

// ANCHOR: ladder
/// GFLOP/s of each version of c = a·b for a: [m, k], b: [k, n], from the triple loop of the
/// definition to `gpt2::kernels::matmul` on all threads.
pub fn ladder(m: usize, k: usize, n: usize) -> Vec<Rung> {
    let a = Array2::from_shape_fn((m, k), |(i, j)| ((i + 3 * j) % 17) as f32 * 0.1 - 0.8);
    let b = Array2::from_shape_fn((k, n), |(i, j)| ((5 * i + j) % 13) as f32 * 0.1 - 0.6);
    let mut c = Array2::<f32>::zeros((m, n));
    let (a_s, b_s) = (
        a.as_slice().expect("row-major"),
        b.as_slice().expect("row-major"),
    );
    let flop = 2.0 * (m * k * n) as f64;
    let mut time = |f: &mut dyn FnMut(&mut Array2<f32>)| best_gflops(flop, 0.5, &mut || f(&mut c));
    let one_thread = crate::exercises::one_thread_pool();
    let matmul =
        |c: &mut Array2<f32>| gpt2::kernels::matmul(a.view(), b.view(), c.view_mut(), false);
    // The chapter's versions, all with the same signature over row-major slices.
    type Naive = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);
    let naive: [(&'static str, Naive); 4] = [
        ("ijk loops", matmul_ijk),
        ("ikj loops", matmul_ikj),
        ("ikj, blocked", matmul_blocked),
        ("register tiles", matmul_tiled),
    ];
    let mut rungs: Vec<Rung> = naive
        .into_iter()
        .map(|(name, f)| Rung {
            name,
            gflops: time(&mut |c| f(a_s, b_s, c.as_slice_mut().unwrap_or_default(), m, k, n)),
        })
        .collect();
    rungs.extend([
        Rung {
            name: "ndarray .dot()",
            gflops: time(&mut |c| ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, c)),
        },
        Rung {
            name: "gemm, 1 thread",
            gflops: time(&mut |c| one_thread.install(|| matmul(c))),
        },
        Rung {
            name: "gemm, 2 threads",
            gflops: time(&mut |c| matmul(c)),
        },
    ]);
    rungs
}
// ANCHOR_END: ladder

/// GFLOP/s of `f`, which does `flop` operations: the best of the runs in about `seconds` (at
/// least one).
pub fn best_gflops(flop: f64, seconds: f64, f: &mut dyn FnMut()) -> f64 {
    let (mut best, start) = (f64::MAX, Instant::now());
    while best == f64::MAX || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    flop / best / 1e9
}

/// The ladder as bars, on a logarithmic scale.
pub fn plot(rungs: &[Rung], title: &str, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (720, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = rungs.iter().map(|r| r.gflops).fold(1.0, f64::max) * 2.0;
    let bottom = rungs.iter().map(|r| r.gflops).fold(top, f64::min) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (0..rungs.len() - 1).into_segmented(),
            (bottom..top).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("GFLOP/s (log scale)")
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < rungs.len() => rungs[*i].name.to_string(),
            _ => String::new(),
        })
        .draw()?;
    chart.draw_series(rungs.iter().enumerate().map(|(i, r)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), bottom),
                (SegmentValue::Exact(i + 1), r.gflops),
            ],
            RGBColor(50, 100, 200).filled(),
        );
        bar.set_margin(0, 0, 8, 8);
        bar
    }))?;
    chart.draw_series(rungs.iter().enumerate().map(|(i, r)| {
        Text::new(
            format!("{:.1}", r.gflops),
            (SegmentValue::CenterOf(i), r.gflops * 1.08),
            ("sans-serif", 13)
                .into_font()
                .into_text_style(&root)
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    root.present()?;
    Ok(())
}
