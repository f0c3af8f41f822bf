//! The one matrix multiply every layer calls. Changing the backend here changes it everywhere.
//!
//! The backend is the `gemm` crate, which picks AVX-512 kernels at run time where the CPU has
//! them and splits large products over rayon's threads. It reads matrices with any strides, so a
//! transpose is just a view (`w.t()`), never a copy.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Products smaller than this many multiply-adds run on the calling thread: splitting them
/// costs more than it saves.
const PARALLEL_THRESHOLD: usize = 1 << 20;

// ANCHOR: matmul
/// c = a·b, or c += a·b when `accumulate` is true.
/// a: [m, k], b: [k, n], c: [m, n], each with any strides.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "matmul: a is [{m}, {k}] but b is [{k2}, {n}]");
    assert_eq!(c.dim(), (m, n), "matmul: c must be [{m}, {n}]");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    // Inside a rayon task (attention runs one per sequence) the threads are busy already.
    let parallelism = if m * n * k >= PARALLEL_THRESHOLD && rayon::current_thread_index().is_none()
    {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the pointers and strides describe live ndarray views of the stated shapes, and
    // c, borrowed mutably, cannot overlap a or b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0, // c keeps its value (when accumulating)...
            1.0, // ...and gains a·b
            false,
            false,
            false,
            parallelism,
        );
    }
}
// ANCHOR_END: matmul

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    #[test]
    fn any_strides() {
        let a = Array2::from_shape_fn((37, 53), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((53, 29), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5);
        let mut c = Array2::zeros((37, 29));
        matmul(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, naive(a.view(), b.view()));
        // Transposed and sliced views, accumulating.
        let at = a.t().to_owned();
        let mut c2 = c.clone();
        matmul(at.t(), b.view(), c2.view_mut(), true);
        assert_eq!(c2, &c * 2.0);
        let mut d = Array2::zeros((10, 29));
        matmul(a.slice(s![5..15, ..]), b.view(), d.view_mut(), false);
        assert_eq!(d, c.slice(s![5..15, ..]));
    }

    #[test]
    fn large_products_split_over_threads() {
        let a = Array2::from_shape_fn((256, 300), |(i, j)| ((i + 2 * j) % 7) as f32);
        let b = Array2::from_shape_fn((300, 200), |(i, j)| ((3 * i + j) % 5) as f32);
        let mut c = Array2::zeros((256, 200));
        matmul(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, naive(a.view(), b.view()));
    }
}
