//! The multiply's speed with each of its three matrices stored by rows or by columns: `gemm` as
//! it is handed them, and the library's `matmul`, which copies a product of mixed orders to one.

use ndarray::{ArrayView2, ArrayViewMut2};

/// c = a·b at one choice of orders, and its speed.
pub struct Orders {
    /// a, b and c stored by columns (true) or by rows (false)
    pub by_columns: [bool; 3],
    pub gflops: f64,
}

type Multiply = fn(ArrayView2<f32>, ArrayView2<f32>, ArrayViewMut2<f32>);

/// GFLOP/s of `multiply` at [m, k]·[k, n] with a, b and c stored as `by_columns` says.
fn timed(m: usize, k: usize, n: usize, by_columns: [bool; 3], multiply: Multiply) -> f64 {
    use gpt2::bench::laid;
    let (a, b) = (laid(m, k, by_columns[0], 1), laid(k, n, by_columns[1], 3));
    let mut c = laid(m, n, by_columns[2], 2);
    // A first run outside the timing, then the best of those in about 0.3 s.
    multiply(a.view(), b.view(), c.view_mut());
    let flop = 2.0 * (m * k * n) as f64;
    crate::ladder::best_gflops(flop, 0.3, &mut || {
        multiply(a.view(), b.view(), c.view_mut())
    })
}

/// `gemm` on all threads at [m, k]·[k, n], for each of the eight choices of orders.
pub fn gemm_orders(m: usize, k: usize, n: usize) -> Vec<Orders> {
    (0..8)
        .map(|bits| {
            let by_columns = [bits & 4 != 0, bits & 2 != 0, bits & 1 != 0];
            let gemm: Multiply = |a, b, c| gpt2::kernels::gemm_views(a, b, c, false, true);
            Orders {
                by_columns,
                gflops: timed(m, k, n, by_columns, gemm),
            }
        })
        .collect()
}

/// `gpt2::kernels::matmul` at [m, k]·[k, n] with a by rows, b by columns and c by rows, the
/// orders of dx = dy·Wᵀ.
pub fn library_dx(m: usize, k: usize, n: usize) -> f64 {
    let matmul: Multiply = |a, b, c| gpt2::kernels::matmul(a, b, c, false);
    timed(m, k, n, [false, true, false], matmul)
}
