//! Integer weights for generation: int8 and int4, in blocks of 32 numbers with one scale each.
//!
//! Decoding a token reads every weight once, so its speed is set by the bytes per weight: 4 in
//! f32, 2 in bfloat16, 1.125 in int8 (32 bytes and a 4-byte scale per 32 weights), 0.625 in int4.
//! A block of 32 weights w is kept as a scale d and integers q, with w ≈ d·q:
//!
//! ```text
//! int8: d = max|w| / 127,                 q = round(w / d)            in [-127, 127]
//! int4: d = (the w of largest |w|) / -8,  q = round(w / d), clamped   in [-8, 7]
//! ```
//!
//! The row of activations that meets the weights is rounded the same way, to int8 per block, so
//! that each block's dot product is one of small integers, exact in int32: the CPU's byte dot
//! product (AVX-512 VNNI's `vpdpbusd`, 32 multiply-adds of unsigned by signed bytes per
//! instruction) computes it, and one f32 multiply-add per block scales it by d_w·d_x.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::bf16::Bf16Matrix;

/// Numbers per block, each block with its own scale.
pub const BLOCK: usize = 32;

/// The integer formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// 8 bits per weight, q + 128 stored as a byte.
    Int8,
    /// 4 bits per weight, q + 8 stored in a nibble: byte j of a block holds weights j (low
    /// nibble) and j + 16 (high nibble).
    Int4,
}

impl QuantKind {
    /// Bytes of one block's integers.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantKind::Int8 => BLOCK,
            QuantKind::Int4 => BLOCK / 2,
        }
    }

    /// What is added to q to store it unsigned (the byte product needs unsigned weights).
    fn offset(self) -> i32 {
        match self {
            QuantKind::Int8 => 128,
            QuantKind::Int4 => 8,
        }
    }
}

// ANCHOR: quantize
/// One block's scale and integers.
pub fn quantize_block(w: &[f32; BLOCK], kind: QuantKind) -> (f32, [i8; BLOCK]) {
    let mut q = [0i8; BLOCK];
    let (d, lo, hi) = match kind {
        QuantKind::Int8 => {
            let max = w.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
            (max / 127.0, -127.0, 127.0)
        }
        QuantKind::Int4 => {
            // The extreme value maps to -8 exactly, so both ends of [-8, 7] are used.
            let extreme = w
                .iter()
                .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            (extreme / -8.0, -8.0, 7.0)
        }
    };
    if d != 0.0 {
        for (q, &v) in q.iter_mut().zip(w) {
            *q = (v / d).round().clamp(lo, hi) as i8;
        }
    }
    (d, q)
}
// ANCHOR_END: quantize

/// A matrix of integer weights, [rows, cols], one row per output: row i is weightᵀ's row i.
#[derive(Debug, Clone, PartialEq)]
pub struct QMatrix {
    kind: QuantKind,
    rows: usize,
    cols: usize,
    /// Blocks per row: cols / 32, rounded up (the last block padded with zeros).
    blocks: usize,
    /// The integers of every block, row after row, stored unsigned.
    data: Vec<u8>,
    /// Every block's scale.
    scales: Vec<f32>,
}

impl QMatrix {
    /// Rounds every block of 32 numbers of each row of `w` to `kind`.
    pub fn from_f32(w: ArrayView2<f32>, kind: QuantKind) -> QMatrix {
        let (rows, cols) = w.dim();
        let blocks = cols.div_ceil(BLOCK);
        let bytes = kind.block_bytes();
        let mut data = vec![0u8; rows * blocks * bytes];
        let mut scales = vec![0.0f32; rows * blocks];
        data.par_chunks_mut((blocks * bytes).max(1))
            .zip(scales.par_chunks_mut(blocks.max(1)))
            .zip(w.outer_iter().into_par_iter())
            .for_each(|((data, scales), row)| {
                for b in 0..blocks {
                    let mut block = [0.0f32; BLOCK];
                    for (k, v) in block.iter_mut().enumerate() {
                        *v = row.get(b * BLOCK + k).copied().unwrap_or(0.0);
                    }
                    let (d, q) = quantize_block(&block, kind);
                    scales[b] = d;
                    store(&q, kind, &mut data[b * bytes..(b + 1) * bytes]);
                }
            });
        QMatrix {
            kind,
            rows,
            cols,
            blocks,
            data,
            scales,
        }
    }

    pub fn kind(&self) -> QuantKind {
        self.kind
    }

    /// Bytes read by one product with a row: the integers and the scales.
    pub fn bytes(&self) -> usize {
        self.data.len() + 4 * self.scales.len()
    }

    /// The matrix as f32: every entry d·q, as the products see it.
    pub fn to_f32(&self) -> Array2<f32> {
        let mut out = Array2::zeros((self.rows, self.cols));
        for (i, mut row) in out.outer_iter_mut().enumerate() {
            for b in 0..self.blocks {
                let q = self.block_ints(i, b);
                let d = self.scales[i * self.blocks + b];
                for k in 0..BLOCK.min(self.cols - b * BLOCK) {
                    row[b * BLOCK + k] = d * q[k] as f32;
                }
            }
        }
        out
    }

    fn block_ints(&self, row: usize, b: usize) -> [i8; BLOCK] {
        let bytes = self.kind.block_bytes();
        let at = (row * self.blocks + b) * bytes;
        load(&self.data[at..at + bytes], self.kind)
    }

    // ANCHOR: forward
    /// y = x·selfᵀ, or y += x·selfᵀ: x: [M, cols] -> y: [M, rows]. Each row of x is rounded to
    /// int8 per block first; the rows of the matrix are split across the threads, and each
    /// weight row, once read, meets every row of x while it is in the cache.
    pub fn matmul(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>, accumulate: bool) {
        const CHUNK: usize = 16;
        assert_eq!(
            x.ncols(),
            self.cols,
            "QMatrix::matmul: x has the wrong width"
        );
        assert_eq!(
            y.dim(),
            (x.nrows(), self.rows),
            "QMatrix::matmul: y's shape"
        );
        let m = x.nrows();
        let acts: Vec<QRow> = x
            .outer_iter()
            .map(|row| match row.as_slice() {
                Some(r) => QRow::new(r, self),
                None => QRow::new(&row.to_vec(), self),
            })
            .collect();
        let kernel = Kernel::detect();
        let bytes = self.blocks * self.kind.block_bytes();
        // Computed as yᵀ, [rows, M], so that each thread writes one contiguous piece.
        let mut yt = vec![0.0f32; self.rows * m];
        yt.par_chunks_mut(CHUNK * m)
            .enumerate()
            .for_each(|(c, out)| {
                for (j, out) in out.chunks_mut(m).enumerate() {
                    let row = c * CHUNK + j;
                    let w = &self.data[row * bytes..(row + 1) * bytes];
                    let s = &self.scales[row * self.blocks..(row + 1) * self.blocks];
                    for (o, a) in out.iter_mut().zip(&acts) {
                        *o = kernel.dot(self.kind, w, s, a);
                    }
                }
            });
        for (i, mut yrow) in y.outer_iter_mut().enumerate() {
            for (j, v) in yrow.iter_mut().enumerate() {
                let p = yt[j * m + i];
                *v = if accumulate { *v + p } else { p };
            }
        }
    }
    // ANCHOR_END: forward
}

/// Stores a block's integers unsigned, in `kind`'s layout.
fn store(q: &[i8; BLOCK], kind: QuantKind, out: &mut [u8]) {
    let off = kind.offset();
    match kind {
        QuantKind::Int8 => {
            for (o, &q) in out.iter_mut().zip(q) {
                *o = (q as i32 + off) as u8;
            }
        }
        QuantKind::Int4 => {
            for j in 0..BLOCK / 2 {
                let (lo, hi) = ((q[j] as i32 + off) as u8, (q[j + 16] as i32 + off) as u8);
                out[j] = lo | (hi << 4);
            }
        }
    }
}

/// A block's integers back from `kind`'s layout.
fn load(bytes: &[u8], kind: QuantKind) -> [i8; BLOCK] {
    let off = kind.offset();
    let mut q = [0i8; BLOCK];
    match kind {
        QuantKind::Int8 => {
            for (q, &b) in q.iter_mut().zip(bytes) {
                *q = (b as i32 - off) as i8;
            }
        }
        QuantKind::Int4 => {
            for j in 0..BLOCK / 2 {
                q[j] = ((bytes[j] & 0x0F) as i32 - off) as i8;
                q[j + 16] = ((bytes[j] >> 4) as i32 - off) as i8;
            }
        }
    }
    q
}

/// A row of activations rounded to int8 per block.
struct QRow {
    /// The integers, 32 per block (the last block padded with zeros).
    q: Vec<i8>,
    /// Each block's scale.
    d: Vec<f32>,
    /// Each block's correction for the weights' offset: offset · Σ q, which the byte product
    /// counts in and must take out.
    correction: Vec<i32>,
}

impl QRow {
    fn new(x: &[f32], m: &QMatrix) -> QRow {
        let mut q = vec![0i8; m.blocks * BLOCK];
        let mut d = vec![0.0f32; m.blocks];
        let mut correction = vec![0i32; m.blocks];
        for b in 0..m.blocks {
            let mut block = [0.0f32; BLOCK];
            for (k, v) in block.iter_mut().enumerate() {
                *v = x.get(b * BLOCK + k).copied().unwrap_or(0.0);
            }
            let (scale, ints) = quantize_block(&block, QuantKind::Int8);
            d[b] = scale;
            q[b * BLOCK..(b + 1) * BLOCK].copy_from_slice(&ints);
            correction[b] = m.kind.offset() * ints.iter().map(|&v| v as i32).sum::<i32>();
        }
        QRow { q, d, correction }
    }
}

/// The dot product of one weight row with one activation row, on the best instructions here.
#[derive(Clone, Copy)]
enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl Kernel {
    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            return Kernel::Vnni;
        }
        Kernel::Scalar
    }

    fn dot(self, kind: QuantKind, w: &[u8], scales: &[f32], x: &QRow) -> f32 {
        match self {
            Kernel::Scalar => dot_scalar(kind, w, scales, x),
            // SAFETY: detect() saw every feature the kernel is compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { vnni::dot(kind, w, scales, x) },
        }
    }
}

/// Σ over blocks of d_w · d_x · Σ q_w q_x, one block at a time.
fn dot_scalar(kind: QuantKind, w: &[u8], scales: &[f32], x: &QRow) -> f32 {
    let bytes = kind.block_bytes();
    let mut sum = 0.0f32;
    for (b, &dw) in scales.iter().enumerate() {
        let qw = load(&w[b * bytes..(b + 1) * bytes], kind);
        let qx = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let ints: i32 = qw.iter().zip(qx).map(|(&a, &b)| a as i32 * b as i32).sum();
        sum += dw * x.d[b] * ints as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{BLOCK, QRow, QuantKind};

    // ANCHOR: vnni
    /// `vpdpbusd` adds, in each of 8 int32 lanes, four products of an unsigned weight byte
    /// and a signed activation byte: one block of 32 in one instruction. Its lanes start at
    /// -offset·Σq_x instead of 0, which takes the weights' storage offset back out, so the
    /// lanes sum to Σ q_w·q_x exactly; then one multiply-add scales the block by d_w·d_x.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot(kind: QuantKind, w: &[u8], scales: &[f32], x: &QRow) -> f32 {
        let blocks = scales.len();
        let bytes = kind.block_bytes();
        assert!(w.len() >= blocks * bytes && x.q.len() >= blocks * BLOCK);
        let nibble = _mm_set1_epi8(0x0F);
        // Two sums, so that consecutive blocks' multiply-adds do not wait for each other.
        let mut acc = [_mm256_setzero_ps(); 2];
        for b in 0..blocks {
            // SAFETY: the assert above keeps every load inside w and x.q.
            let weights = unsafe {
                match kind {
                    QuantKind::Int8 => _mm256_loadu_si256(w.as_ptr().add(b * bytes).cast()),
                    QuantKind::Int4 => {
                        let packed = _mm_loadu_si128(w.as_ptr().add(b * bytes).cast());
                        let lo = _mm_and_si128(packed, nibble);
                        let hi = _mm_and_si128(_mm_srli_epi16::<4>(packed), nibble);
                        _mm256_set_m128i(hi, lo)
                    }
                }
            };
            let acts = unsafe { _mm256_loadu_si256(x.q.as_ptr().add(b * BLOCK).cast()) };
            let start = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-x.correction[b]));
            let ints = _mm256_dpbusd_epi32(start, weights, acts);
            let scale = _mm256_set1_ps(scales[b] * x.d[b]);
            acc[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ints), scale, acc[b & 1]);
        }
        let sum = _mm256_add_ps(acc[0], acc[1]);
        let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
        let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps::<1>(pairs, pairs)))
    }
    // ANCHOR_END: vnni
}

/// The weights a model computes with, smallest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    #[default]
    F32,
    /// bfloat16 copies, for one-row products (decoding).
    Bf16,
    /// int8 in blocks of 32, for every product.
    Int8,
    /// int4 in blocks of 32, for every product.
    Int4,
}

impl Weights {
    pub fn name(self) -> &'static str {
        match self {
            Weights::F32 => "f32",
            Weights::Bf16 => "bf16",
            Weights::Int8 => "int8",
            Weights::Int4 => "int4",
        }
    }
}

/// A weight matrix's copy in a format smaller than f32, [out, in].
#[derive(Debug, Clone, PartialEq)]
pub enum Packed {
    Bf16(Bf16Matrix),
    Int(QMatrix),
}

impl Packed {
    /// `w` ([out, in]) in `weights`' format; None for f32.
    pub fn new(w: ArrayView2<f32>, weights: Weights) -> Option<Packed> {
        match weights {
            Weights::F32 => None,
            Weights::Bf16 => Some(Packed::Bf16(Bf16Matrix::from_f32(w))),
            Weights::Int8 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int8))),
            Weights::Int4 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int4))),
        }
    }

    pub fn weights(&self) -> Weights {
        match self {
            Packed::Bf16(_) => Weights::Bf16,
            Packed::Int(q) if q.kind() == QuantKind::Int8 => Weights::Int8,
            Packed::Int(_) => Weights::Int4,
        }
    }

    /// y = x·selfᵀ (or y += it): x: [N, in] -> y: [N, out]. Returns false, doing nothing, where
    /// the f32 weights serve better: bfloat16 copies take single contiguous rows only.
    pub fn forward(&self, x: ArrayView2<f32>, y: ArrayViewMut2<f32>, accumulate: bool) -> bool {
        match self {
            Packed::Bf16(w) => w.matvec(x, y, accumulate),
            Packed::Int(w) => {
                w.matmul(x, y, accumulate);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::new(seed);
        Array2::from_shape_simple_fn((rows, cols), || rng.normal() as f32 * 0.05)
    }

    #[test]
    fn a_block_round_trips_within_half_a_step_but_int4s_top() {
        let w = random(40, 100, 1);
        for kind in [QuantKind::Int8, QuantKind::Int4] {
            let q = QMatrix::from_f32(w.view(), kind);
            let back = q.to_f32();
            for i in 0..40 {
                for b in 0..100usize.div_ceil(BLOCK) {
                    let scale = q.scales[i * q.blocks + b];
                    let d = scale.abs();
                    for k in b * BLOCK..((b + 1) * BLOCK).min(100) {
                        let err = (w[[i, k]] - back[[i, k]]).abs();
                        // int4's 7 is the top: a value the far side of 7.5 steps (at most 8,
                        // the extreme's size) rounds down to it.
                        let steps = w[[i, k]] / scale;
                        let top = kind == QuantKind::Int4 && steps > 7.5;
                        assert!(!top || steps <= 8.0001, "{steps} steps");
                        let bound = if top { (steps - 7.0) * d } else { d / 2.0 };
                        assert!(err <= bound * 1.0001, "{kind:?} [{i},{k}]: {err} > {bound}");
                    }
                }
            }
        }
    }

    #[test]
    fn int4_uses_minus_eight_for_the_extreme_and_zero_blocks_stay_zero() {
        let mut block = [0.0f32; BLOCK];
        block[3] = -2.0;
        block[5] = 1.0;
        let (d, q) = quantize_block(&block, QuantKind::Int4);
        assert_eq!(d, 0.25);
        assert_eq!((q[3], q[5], q[0]), (-8, 4, 0));
        let (d, q) = quantize_block(&[0.0; BLOCK], QuantKind::Int8);
        assert_eq!(d, 0.0);
        assert!(q.iter().all(|&v| v == 0));
    }

    #[test]
    fn the_integer_product_is_the_product_of_the_rounded_numbers() {
        // Any width (a padded last block), one row and several.
        for (rows, cols, m) in [(70, 96, 1), (33, 77, 3), (16, 768, 2)] {
            let w = random(rows, cols, 2);
            let x = random(m, cols, 3);
            for kind in [QuantKind::Int8, QuantKind::Int4] {
                let q = QMatrix::from_f32(w.view(), kind);
                // The reference: dequantized weights times activations rounded the same way.
                let xq = QMatrix::from_f32(x.view(), QuantKind::Int8).to_f32();
                let want = xq.dot(&q.to_f32().t());
                let mut got = Array2::from_elem((m, rows), 1.0f32);
                q.matmul(x.view(), got.view_mut(), true);
                let mut scalar = Array2::zeros((m, rows));
                for (i, row) in x.outer_iter().enumerate() {
                    let a = QRow::new(&row.to_vec(), &q);
                    for j in 0..rows {
                        let bytes = q.blocks * kind.block_bytes();
                        let s = &q.scales[j * q.blocks..(j + 1) * q.blocks];
                        scalar[[i, j]] =
                            dot_scalar(kind, &q.data[j * bytes..(j + 1) * bytes], s, &a);
                    }
                }
                for ((&g, &w), &s) in got.iter().zip(&want).zip(&scalar) {
                    assert!(
                        (g - 1.0 - w).abs() < 1e-5,
                        "{kind:?} {rows}x{cols}: {g} - 1 vs {w}"
                    );
                    assert!((s - w).abs() < 1e-5, "{kind:?} scalar: {s} vs {w}");
                }
            }
        }
    }
}
