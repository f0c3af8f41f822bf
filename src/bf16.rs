//! bfloat16 copies of weight matrices, for decoding.
//!
//! Generating a token multiplies one row by every weight matrix, so its speed is set by how many
//! bytes of weights are read, not by arithmetic. bfloat16 keeps an f32's sign, its 8-bit
//! exponent and the top 7 bits of its mantissa: half the bytes, the same range, about three
//! significant decimal digits. The products and sums stay in f32; only the weights are rounded.

use half::bf16;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::kernels::{bf16_to_f32, dot_bf16};

// ANCHOR: matrix
/// A matrix of bfloat16 numbers, row-major: [rows, cols].
#[derive(Debug, Clone, PartialEq)]
pub struct Bf16Matrix {
    rows: usize,
    cols: usize,
    data: Vec<u16>,
}

impl Bf16Matrix {
    /// Rounds every entry of `w` to the nearest bfloat16 (ties to even).
    pub fn from_f32(w: ArrayView2<f32>) -> Bf16Matrix {
        let (rows, cols) = w.dim();
        let mut data = vec![0u16; rows * cols];
        data.par_chunks_mut(cols.max(1))
            .zip(w.outer_iter().into_par_iter())
            .for_each(|(out, row)| {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = bf16::from_f32(v).to_bits();
                }
            });
        Bf16Matrix { rows, cols, data }
    }

    /// Bytes of the matrix: two per number.
    pub fn bytes(&self) -> usize {
        2 * self.data.len()
    }

    /// The matrix as f32 (each entry exactly as stored).
    pub fn to_f32(&self) -> Array2<f32> {
        Array2::from_shape_fn((self.rows, self.cols), |(i, j)| {
            bf16_to_f32(self.data[i * self.cols + j])
        })
    }

    /// y = x·selfᵀ, or y += x·selfᵀ: x: [1, cols] -> y: [1, rows], one dot product per row of
    /// the matrix, the rows split across the threads. Returns false, doing nothing, unless x is
    /// a single contiguous row (a product of several rows goes through `matmul_bf16` where the
    /// CPU has AVX512-BF16, and through the f32 matrix multiply where it does not).
    pub fn matvec(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>, accumulate: bool) -> bool {
        const CHUNK: usize = 32;
        assert_eq!(x.ncols(), self.cols, "matvec: x has the wrong width");
        assert_eq!(y.ncols(), self.rows, "matvec: y has the wrong width");
        let (Some(x), Some(y)) = (x.as_slice(), y.as_slice_mut()) else {
            return false;
        };
        if x.len() != self.cols {
            return false;
        }
        let cols = self.cols;
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
            let first = c * CHUNK;
            for (j, o) in out.iter_mut().enumerate() {
                let row = &self.data[(first + j) * cols..(first + j + 1) * cols];
                let v = dot_bf16(row, x);
                *o = if accumulate { *o + v } else { v };
            }
        });
        true
    }
}
// ANCHOR_END: matrix

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn rounds_to_nearest_and_multiplies_like_f32() {
        let w = Array2::from_shape_fn((300, 77), |(i, j)| ((i * 13 + j * 7) % 29) as f32 - 14.3);
        let b = Bf16Matrix::from_f32(w.view());
        let back = b.to_f32();
        // 8 significant bits (7 stored): a relative rounding error of at most 2⁻⁸.
        for (&a, &r) in w.iter().zip(&back) {
            assert!((a - r).abs() <= a.abs() / 256.0, "{a} -> {r}");
        }
        let x = Array2::from_shape_fn((1, 77), |(_, j)| (j as f32 * 0.1).sin());
        let expected = x.dot(&back.t());
        for accumulate in [false, true] {
            let mut y = Array2::from_elem((1, 300), 1.0f32);
            assert!(b.matvec(x.view(), y.view_mut(), accumulate));
            let shift = if accumulate { 1.0 } else { 0.0 };
            for (&got, &want) in y.iter().zip(&expected) {
                assert!((got - want - shift).abs() < 1e-4, "{got} vs {want}");
            }
        }
        let two_rows = Array2::zeros((2, 77));
        assert!(!b.matvec(two_rows.view(), Array2::zeros((2, 300)).view_mut(), false));
    }
}
