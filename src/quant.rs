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
//! product (AVX-512 VNNI's `vpdpbusd`, 64 multiply-adds of unsigned by signed bytes per
//! instruction) computes it, and one f32 multiply-add per block scales it by d_w·d_x.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::bf16::Bf16Matrix;
use crate::matmul_bf16::PackedB;

/// Numbers per block, each block with its own scale.
pub const BLOCK: usize = 32;

/// The integer formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// 8 bits per weight, q + 128 stored as a byte.
    Int8,
    /// 4 bits per weight, q + 8 stored in a nibble. Blocks go in pairs: byte j of a pair
    /// holds weight j of its first block (low nibble) and of its second (high nibble), so that
    /// one 32-byte load and two masks give both blocks.
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
    /// Blocks per row: cols / 32, rounded up to an even number (the last ones padded with
    /// zeros): the kernel takes them in pairs.
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
        let mut blocks = cols.div_ceil(BLOCK);
        // Blocks go in pairs through the kernel (and int4 stores them so).
        blocks += blocks % 2;
        let bytes = kind.block_bytes();
        let mut data = vec![0u8; rows * blocks * bytes];
        let mut scales = vec![0.0f32; rows * blocks];
        data.par_chunks_mut((blocks * bytes).max(1))
            .zip(scales.par_chunks_mut(blocks.max(1)))
            .zip(w.outer_iter().into_par_iter())
            .for_each(|((data, scales), row)| {
                for (b, scale) in scales.iter_mut().enumerate() {
                    let (d, q) = quantize_block(&block_at(|k| row.get(k).copied(), b), kind);
                    *scale = d;
                    store(&q, kind, b, data);
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
                for k in 0..BLOCK.min(self.cols.saturating_sub(b * BLOCK)) {
                    row[b * BLOCK + k] = d * q[k] as f32;
                }
            }
        }
        out
    }

    fn block_ints(&self, row: usize, b: usize) -> [i8; BLOCK] {
        let bytes = self.blocks * self.kind.block_bytes();
        load(&self.data[row * bytes..(row + 1) * bytes], self.kind, b)
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
                    // Four rows of x per pass over the weight row: its bytes are loaded and
                    // unpacked once for all four.
                    let mut o = out.chunks_exact_mut(4);
                    let mut a = acts.chunks_exact(4);
                    for (o, a) in (&mut o).zip(&mut a) {
                        o.copy_from_slice(&kernel.dot4(
                            self.kind,
                            w,
                            s,
                            [&a[0], &a[1], &a[2], &a[3]],
                        ));
                    }
                    for (o, a) in o.into_remainder().iter_mut().zip(a.remainder()) {
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

/// Block `b` of a row whose entry k is `get(k)`, zeros past the row's end.
fn block_at(get: impl Fn(usize) -> Option<f32>, b: usize) -> [f32; BLOCK] {
    std::array::from_fn(|k| get(b * BLOCK + k).unwrap_or(0.0))
}

/// Stores block `b`'s integers unsigned into its row's bytes `row`, in `kind`'s layout.
fn store(q: &[i8; BLOCK], kind: QuantKind, b: usize, row: &mut [u8]) {
    let off = kind.offset();
    match kind {
        QuantKind::Int8 => {
            for (o, &q) in row[b * BLOCK..(b + 1) * BLOCK].iter_mut().zip(q) {
                *o = (q as i32 + off) as u8;
            }
        }
        QuantKind::Int4 => {
            let (pair, shift) = (b / 2 * BLOCK, 4 * (b % 2));
            for (o, &q) in row[pair..pair + BLOCK].iter_mut().zip(q) {
                *o |= ((q as i32 + off) as u8) << shift;
            }
        }
    }
}

/// Block `b`'s integers back from its row's bytes `row`.
fn load(row: &[u8], kind: QuantKind, b: usize) -> [i8; BLOCK] {
    let off = kind.offset();
    let mut q = [0i8; BLOCK];
    match kind {
        QuantKind::Int8 => {
            for (q, &v) in q.iter_mut().zip(&row[b * BLOCK..(b + 1) * BLOCK]) {
                *q = (v as i32 - off) as i8;
            }
        }
        QuantKind::Int4 => {
            let (pair, shift) = (b / 2 * BLOCK, 4 * (b % 2));
            for (q, &v) in q.iter_mut().zip(&row[pair..pair + BLOCK]) {
                *q = (((v >> shift) & 0x0F) as i32 - off) as i8;
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
    /// What the weights' storage offset adds to each block's product, offset · Σ q, times
    /// the block's scale: the product with a weight row takes Σ_b d_w · correction_b out.
    correction: Vec<f32>,
}

impl QRow {
    fn new(x: &[f32], m: &QMatrix) -> QRow {
        let mut q = vec![0i8; m.blocks * BLOCK];
        let mut d = vec![0.0f32; m.blocks];
        let mut correction = vec![0.0f32; m.blocks];
        for b in 0..m.blocks {
            let (scale, ints) =
                quantize_block(&block_at(|k| x.get(k).copied(), b), QuantKind::Int8);
            d[b] = scale;
            q[b * BLOCK..(b + 1) * BLOCK].copy_from_slice(&ints);
            let sum: i32 = ints.iter().map(|&v| v as i32).sum();
            correction[b] = (m.kind.offset() * sum) as f32 * scale;
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
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512f")
        {
            return Kernel::Vnni;
        }
        Kernel::Scalar
    }

    fn dot4(self, kind: QuantKind, w: &[u8], scales: &[f32], x: [&QRow; 4]) -> [f32; 4] {
        match self {
            Kernel::Scalar => x.map(|x| dot_scalar(kind, w, scales, x)),
            // SAFETY: detect() saw every feature the kernel is compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { vnni::dot4(kind, w, scales, x) },
        }
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
    let mut sum = 0.0f32;
    for (b, &dw) in scales.iter().enumerate() {
        let qw = load(w, kind, b);
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

    /// For pair j of a group of 16 blocks: lanes 0-7 take the group's scale 2j, lanes 8-15
    /// scale 2j + 1.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn pair_lanes(j: i32) -> __m512i {
        _mm512_setr_epi32(
            2 * j,
            2 * j,
            2 * j,
            2 * j,
            2 * j,
            2 * j,
            2 * j,
            2 * j,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
            2 * j + 1,
        )
    }

    /// Blocks 2p and 2p + 1 of a weight row, 64 bytes: int8 as stored; int4 from its 32 bytes,
    /// the low nibbles (block 2p) then the high ones (block 2p + 1).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn weights(kind: QuantKind, w: &[u8], p: usize) -> __m512i {
        // SAFETY: the callers keep pair p inside w.
        unsafe {
            match kind {
                QuantKind::Int8 => _mm512_loadu_si512(w.as_ptr().add(2 * p * BLOCK).cast()),
                QuantKind::Int4 => {
                    let v = _mm256_loadu_si256(w.as_ptr().add(p * BLOCK).cast());
                    let both = _mm512_inserti64x4::<1>(
                        _mm512_castsi256_si512(v),
                        _mm256_srli_epi16::<4>(v),
                    );
                    _mm512_and_si512(both, _mm512_set1_epi8(0x0F))
                }
            }
        }
    }

    // ANCHOR: vnni
    /// Rows of int8 or int4 weights times R rows of int8 activations, two blocks at a time:
    /// `vpdpbusd` adds, in each of 16 int32 lanes, four products of an unsigned weight byte
    /// and a signed activation byte, so lanes 0-7 hold block 2p's exact integer sum and lanes
    /// 8-15 block 2p + 1's; one multiply-add scales each half by its d_w·d_x. The weights'
    /// storage offset comes out at the end, as Σ_b d_w · correction_b.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_rows<const R: usize>(
        kind: QuantKind,
        w: &[u8],
        scales: &[f32],
        x: [&QRow; R],
    ) -> [f32; R] {
        let blocks = scales.len();
        assert!(blocks.is_multiple_of(2) && w.len() >= blocks * kind.block_bytes());
        assert!(
            x.iter()
                .all(|x| x.d.len() >= blocks && x.q.len() >= blocks * BLOCK)
        );
        let mut acc = [_mm512_setzero_ps(); R];
        let mut offset = [_mm512_setzero_ps(); R];
        for group in (0..blocks).step_by(16) {
            // The group's 16 scales of weights and of each row of activations (fewer at the
            // end of the row: the lanes past it stay 0).
            let mask: __mmask16 = if blocks - group >= 16 {
                0xFFFF
            } else {
                (1u16 << (blocks - group)) - 1
            };
            // SAFETY: the mask keeps every load inside the row's blocks.
            let dw = unsafe { _mm512_maskz_loadu_ps(mask, scales.as_ptr().add(group)) };
            let mut scale = [_mm512_setzero_ps(); R];
            for r in 0..R {
                let (dx, c) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(mask, x[r].d.as_ptr().add(group)),
                        _mm512_maskz_loadu_ps(mask, x[r].correction.as_ptr().add(group)),
                    )
                };
                scale[r] = _mm512_mul_ps(dw, dx);
                offset[r] = _mm512_fmadd_ps(dw, c, offset[r]);
            }
            for j in 0..(blocks - group).min(16) / 2 {
                let p = group / 2 + j;
                // SAFETY: the asserts above keep pair p inside w and every x.q.
                let wv = unsafe { weights(kind, w, p) };
                let lanes = pair_lanes(j as i32);
                for r in 0..R {
                    let acts =
                        unsafe { _mm512_loadu_si512(x[r].q.as_ptr().add(2 * p * BLOCK).cast()) };
                    let ints = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, acts);
                    let s = _mm512_permutexvar_ps(lanes, scale[r]);
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ints), s, acc[r]);
                }
            }
        }
        let mut out = [0.0; R];
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(acc[r]) - _mm512_reduce_add_ps(offset[r]);
        }
        out
    }
    // ANCHOR_END: vnni

    /// A row of weights times a row of activations.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn dot(kind: QuantKind, w: &[u8], scales: &[f32], x: &QRow) -> f32 {
        // SAFETY: the same features; dot_rows checks its bounds.
        unsafe { dot_rows::<1>(kind, w, scales, [x])[0] }
    }

    /// A row of weights times four rows of activations, the weights loaded once.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn dot4(kind: QuantKind, w: &[u8], scales: &[f32], x: [&QRow; 4]) -> [f32; 4] {
        // SAFETY: as above.
        unsafe { dot_rows::<4>(kind, w, scales, x) }
    }
}

/// The weights a model computes with, smallest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    #[default]
    F32,
    /// bfloat16 copies, for decoding and (with AVX512-BF16) prompts.
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
    /// bfloat16 rows for one-token products; and, where the CPU multiplies in bfloat16, the
    /// same weights in `matmul_bf16`'s pair layout for a prompt's rows, packed once here
    /// rather than at every product.
    Bf16(Bf16Matrix, Option<PackedB>),
    Int(QMatrix),
}

impl Packed {
    /// `w` ([out, in]) in `weights`' format; None for f32.
    pub fn new(w: ArrayView2<f32>, weights: Weights) -> Option<Packed> {
        match weights {
            Weights::F32 => None,
            Weights::Bf16 => Some(Packed::Bf16(
                Bf16Matrix::from_f32(w),
                crate::matmul_bf16::available().then(|| PackedB::new(w.t())),
            )),
            Weights::Int8 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int8))),
            Weights::Int4 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int4))),
        }
    }

    pub fn weights(&self) -> Weights {
        match self {
            Packed::Bf16(..) => Weights::Bf16,
            Packed::Int(q) if q.kind() == QuantKind::Int8 => Weights::Int8,
            Packed::Int(_) => Weights::Int4,
        }
    }

    /// y = x·selfᵀ (or y += it): x: [N, in] -> y: [N, out]. Returns false, doing nothing, where
    /// the f32 weights serve better (bfloat16 prompts where the CPU lacks AVX512-BF16).
    pub fn forward(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>, accumulate: bool) -> bool {
        match self {
            Packed::Bf16(w, pairs) => {
                w.matvec(x, y.view_mut(), accumulate)
                    || pairs.as_ref().is_some_and(|p| {
                        crate::matmul_bf16::matmul_bf16_packed(x, p, y, accumulate)
                    })
            }
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
    fn a_bf16_prompt_through_the_weights_packed_once_equals_packing_them_per_product() {
        if !crate::matmul_bf16::available() {
            return;
        }
        let (w, x) = (random(70, 96, 3), random(5, 96, 4)); // w: [out, in], x: [N, in]
        let packed = Packed::new(w.view(), Weights::Bf16).unwrap();
        let mut once = Array2::from_elem((5, 70), 1.0f32);
        let mut each = once.clone();
        assert!(packed.forward(x.view(), once.view_mut(), true));
        assert!(crate::matmul_bf16::matmul_bf16(
            x.view(),
            w.t(),
            each.view_mut(),
            true
        ));
        assert_eq!(once, each);
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
        for (rows, cols, m) in [(70, 96, 1), (33, 77, 3), (16, 768, 6)] {
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
