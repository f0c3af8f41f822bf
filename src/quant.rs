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
//! instruction) computes it, and one f32 multiply-add per block scales it by d_w·d_x. The
//! weights are stored in panels of 16 rows (see `place`), so that each of the instruction's
//! 16 int32 lanes sums one row: eight instructions give a block's sums for 16 rows at once.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::matmul_bf16::PackedB;

/// Numbers per block, each block with its own scale.
pub const BLOCK: usize = 32;

/// The integer formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// 8 bits per weight, q + 128 stored as a byte.
    Int8,
    /// 4 bits per weight, q + 8 stored in a nibble: the numbers in int8's order, two to a byte,
    /// the first in the low nibble.
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

    /// Bytes of one block of a panel: the block's integers for each of its 16 rows.
    fn panel_block_bytes(self) -> usize {
        PANEL * self.block_bytes()
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

/// Rows per panel: one for each int32 lane of an AVX-512 register.
const PANEL: usize = 16;

/// Where number `k` of block `b` of row `i` of a panel (i < 16) goes among the panel's
/// `blocks` · 512 numbers: block after block, and within a block in 8 slices of 64 numbers,
/// slice s holding numbers 4s to 4s + 3 of every row, row i's at 4i. A slice is one load, and
/// `vpdpbusd` adds each 4 of its products into one int32 lane: lane i sums row i alone.
fn place(b: usize, i: usize, k: usize) -> usize {
    b * PANEL * BLOCK + k / 4 * 4 * PANEL + 4 * i + k % 4
}

/// A matrix of integer weights, [rows, cols], one row per output: row i is weightᵀ's row i.
#[derive(Debug, Clone, PartialEq)]
pub struct QMatrix {
    kind: QuantKind,
    rows: usize,
    cols: usize,
    /// Blocks per row: cols / 32, rounded up (the last one padded with zeros).
    blocks: usize,
    /// The integers, stored unsigned, in panels of 16 rows (the last padded with zero rows),
    /// each in `place`'s order.
    data: Vec<u8>,
    /// The scales, panel after panel, block after block: 16 per block, one per row.
    scales: Vec<f32>,
}

impl QMatrix {
    /// Rounds every block of 32 numbers of each row of `w` to `kind`.
    pub fn from_f32(w: ArrayView2<f32>, kind: QuantKind) -> QMatrix {
        let (rows, cols) = w.dim();
        let blocks = cols.div_ceil(BLOCK);
        let panels = rows.div_ceil(PANEL);
        let mut data = vec![0u8; panels * blocks * kind.panel_block_bytes()];
        let mut scales = vec![0.0f32; panels * blocks * PANEL];
        data.par_chunks_mut((blocks * kind.panel_block_bytes()).max(1))
            .zip(scales.par_chunks_mut((blocks * PANEL).max(1)))
            .enumerate()
            .for_each(|(p, (data, scales))| {
                for (i, row) in (p * PANEL..rows.min((p + 1) * PANEL)).enumerate() {
                    let row = w.row(row);
                    for b in 0..blocks {
                        let (d, q) = quantize_block(&block_at(|k| row.get(k).copied(), b), kind);
                        scales[b * PANEL + i] = d;
                        store(&q, kind, b, i, data);
                    }
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
                let d = self.scale(i, b);
                for k in 0..BLOCK.min(self.cols.saturating_sub(b * BLOCK)) {
                    row[b * BLOCK + k] = d * q[k] as f32;
                }
            }
        }
        out
    }

    /// The integers of block `b` of row `row`.
    fn block_ints(&self, row: usize, b: usize) -> [i8; BLOCK] {
        load(self.panel(row / PANEL).0, self.kind, b, row % PANEL)
    }

    /// The scale of block `b` of row `row`.
    fn scale(&self, row: usize, b: usize) -> f32 {
        self.panel(row / PANEL).1[b * PANEL + row % PANEL]
    }

    /// Panel p's integers and scales.
    fn panel(&self, p: usize) -> (&[u8], &[f32]) {
        let (bytes, scales) = (
            self.blocks * self.kind.panel_block_bytes(),
            self.blocks * PANEL,
        );
        (
            &self.data[p * bytes..(p + 1) * bytes],
            &self.scales[p * scales..(p + 1) * scales],
        )
    }

    // ANCHOR: forward
    /// y = x·selfᵀ, or y += x·selfᵀ: x: [M, cols] -> y: [M, rows]. Each row of x is rounded to
    /// int8 per block first; the panels of the matrix are split across the threads, and each
    /// panel, once read, meets every row of x while it is in the cache, eight rows at a time.
    pub fn matmul(&self, x: ArrayView2<f32>, y: ArrayViewMut2<f32>, accumulate: bool) {
        self.matmul_on(Kernel::detect(), x, y, accumulate)
    }

    fn matmul_on(
        &self,
        kernel: Kernel,
        x: ArrayView2<f32>,
        mut y: ArrayViewMut2<f32>,
        accumulate: bool,
    ) {
        // Panels per task: enough work to share out, few enough to split GPT-2's matrices.
        const TASK: usize = 2;
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
        let acts: Vec<QRow> = x
            .outer_iter()
            .into_par_iter()
            .map(|row| match row.as_slice() {
                Some(r) => QRow::new(r, self),
                None => QRow::new(&row.to_vec(), self),
            })
            .collect();
        y.axis_chunks_iter_mut(Axis(1), TASK * PANEL)
            .into_par_iter()
            .enumerate()
            .for_each(|(t, mut y)| {
                for (j, mut y) in y.axis_chunks_iter_mut(Axis(1), PANEL).enumerate() {
                    let (w, scales) = self.panel(t * TASK + j);
                    let mut put = |r: usize, out: [f32; PANEL]| {
                        for (y, v) in y.row_mut(r).iter_mut().zip(out) {
                            *y = if accumulate { *y + v } else { v };
                        }
                    };
                    // Eight rows at a time, then four, then one; the fewer the rows, the
                    // more sums each keeps, so that eight are always running.
                    let (k, mut r) = (self.kind, 0);
                    while r < acts.len() {
                        let a = &acts[r..];
                        if a.len() >= 8 {
                            let x = std::array::from_fn(|i| &a[i]);
                            let out = kernel.panel::<8, 1>(k, w, scales, x);
                            out.into_iter().enumerate().for_each(|(i, o)| put(r + i, o));
                            r += 8;
                        } else if a.len() >= 4 {
                            let x = std::array::from_fn(|i| &a[i]);
                            let out = kernel.panel::<4, 2>(k, w, scales, x);
                            out.into_iter().enumerate().for_each(|(i, o)| put(r + i, o));
                            r += 4;
                        } else {
                            put(r, kernel.panel::<1, 4>(k, w, scales, [&a[0]])[0]);
                            r += 1;
                        }
                    }
                }
            });
    }
    // ANCHOR_END: forward
}

/// Block `b` of a row whose entry k is `get(k)`, zeros past the row's end.
fn block_at(get: impl Fn(usize) -> Option<f32>, b: usize) -> [f32; BLOCK] {
    std::array::from_fn(|k| get(b * BLOCK + k).unwrap_or(0.0))
}

/// Stores the integers of block `b` of row `i` unsigned into the bytes `panel` of its panel.
fn store(q: &[i8; BLOCK], kind: QuantKind, b: usize, i: usize, panel: &mut [u8]) {
    for (k, &q) in q.iter().enumerate() {
        let (at, v) = (place(b, i, k), (q as i32 + kind.offset()) as u8);
        match kind {
            QuantKind::Int8 => panel[at] = v,
            QuantKind::Int4 => panel[at / 2] |= v << (4 * (at % 2)),
        }
    }
}

/// The integers of block `b` of row `i` back from the bytes `panel` of its panel.
fn load(panel: &[u8], kind: QuantKind, b: usize, i: usize) -> [i8; BLOCK] {
    std::array::from_fn(|k| {
        let at = place(b, i, k);
        let v = match kind {
            QuantKind::Int8 => panel[at],
            QuantKind::Int4 => (panel[at / 2] >> (4 * (at % 2))) & 0x0F,
        };
        (v as i32 - kind.offset()) as i8
    })
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

/// The product of a panel of weights with rows of activations, on the best instructions here.
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

    /// A panel of weights (its integers and scales) times R rows of activations, with S
    /// running sums per row (see [`vnni::panel_rows`]).
    fn panel<const R: usize, const S: usize>(
        self,
        kind: QuantKind,
        w: &[u8],
        scales: &[f32],
        x: [&QRow; R],
    ) -> [[f32; PANEL]; R] {
        match self {
            Kernel::Scalar => x.map(|x| panel_scalar(kind, w, scales, x)),
            // SAFETY: detect() saw every feature the kernel is compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { vnni::panel_rows::<R, S>(kind, w, scales, x) },
        }
    }
}

/// For each row of the panel, Σ over blocks of d_w · d_x · Σ q_w q_x, one block at a time.
fn panel_scalar(kind: QuantKind, w: &[u8], scales: &[f32], x: &QRow) -> [f32; PANEL] {
    std::array::from_fn(|i| {
        let mut sum = 0.0f32;
        for b in 0..x.d.len() {
            let qw = load(w, kind, b, i);
            let qx = &x.q[b * BLOCK..(b + 1) * BLOCK];
            let ints: i32 = qw.iter().zip(qx).map(|(&a, &b)| a as i32 * b as i32).sum();
            sum += scales[b * PANEL + i] * x.d[b] * ints as f32;
        }
        sum
    })
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{BLOCK, PANEL, QRow, QuantKind, place};
    use crate::kernels::{AHEAD, prefetch};

    /// Slice s of block b of a panel: numbers 4s to 4s + 3 of each of its 16 rows, row i's in
    /// int32 lane i. int8 as stored; int4 from 32 bytes, each widened to 16 bits and its high
    /// nibble moved into the upper byte.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn weights(kind: QuantKind, w: *const u8, b: usize, s: usize) -> __m512i {
        // Where the slice starts, in numbers: its first is number 4s of row 0.
        let at = place(b, 0, 4 * s);
        // SAFETY: the callers keep block b inside the panel.
        unsafe {
            match kind {
                QuantKind::Int8 => _mm512_loadu_si512(w.add(at).cast()),
                QuantKind::Int4 => {
                    let v = _mm256_loadu_si256(w.add(at / 2).cast());
                    let x = _mm512_cvtepu8_epi16(v);
                    let both = _mm512_or_si512(x, _mm512_slli_epi16::<4>(x));
                    _mm512_and_si512(both, _mm512_set1_epi16(0x0F0F))
                }
            }
        }
    }

    // ANCHOR: vnni
    /// A panel of 16 rows of int8 or int4 weights times R rows of int8 activations, a block at
    /// a time: `vpdpbusd` multiplies a slice of the panel (four unsigned weight bytes of each
    /// row) by four signed activation bytes, the same in every lane, and adds the four products
    /// into each row's int32 lane, so eight of them leave the block's exact integer sums of all
    /// 16 rows side by side. One multiply-add scales each lane by its row's d_w times the
    /// block's d_x, and another takes out what the weights' storage offset added,
    /// d_w · correction. No lane is ever summed across: lane i is output i.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn panel_rows<const R: usize, const S: usize>(
        kind: QuantKind,
        w: &[u8],
        scales: &[f32],
        x: [&QRow; R],
    ) -> [[f32; PANEL]; R] {
        let blocks = scales.len() / PANEL;
        assert!(w.len() >= blocks * kind.panel_block_bytes());
        assert!(
            x.iter()
                .all(|x| x.d.len() == blocks && x.q.len() == blocks * BLOCK)
        );
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..blocks {
            // S sums per row, each over every S-th slice: one instruction's result is ready
            // only a few cycles after it starts, so a single chain of them would wait.
            let mut ints = [[_mm512_setzero_si512(); S]; R];
            for s in 0..BLOCK / 4 {
                if R == 1 {
                    // One row of activations (a new token) reads each weight once, as it
                    // comes from memory: ask for the weights ahead.
                    let at = place(b, 0, 4 * s) * kind.block_bytes() / BLOCK;
                    prefetch(w.as_ptr().wrapping_add(at + AHEAD));
                }
                // SAFETY: the asserts above keep block b inside w and every x.q.
                let wv = unsafe { weights(kind, w.as_ptr(), b, s) };
                for r in 0..R {
                    let four = unsafe {
                        x[r].q
                            .as_ptr()
                            .add(b * BLOCK + 4 * s)
                            .cast::<i32>()
                            .read_unaligned()
                    };
                    let sum = &mut ints[r][s % S];
                    *sum = _mm512_dpbusd_epi32(*sum, wv, _mm512_set1_epi32(four));
                }
            }
            let dw = unsafe { _mm512_loadu_ps(scales.as_ptr().add(b * PANEL)) };
            for r in 0..R {
                let mut sum = ints[r][0];
                for part in &ints[r][1..] {
                    sum = _mm512_add_epi32(sum, *part);
                }
                let scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[r].d[b]));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[r]);
                acc[r] = _mm512_fnmadd_ps(dw, _mm512_set1_ps(x[r].correction[b]), acc[r]);
            }
        }
        let mut out = [[0.0; PANEL]; R];
        for r in 0..R {
            // SAFETY: out[r] holds 16 floats.
            unsafe { _mm512_storeu_ps(out[r].as_mut_ptr(), acc[r]) };
        }
        out
    }
    // ANCHOR_END: vnni
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

/// A weight matrix's copy for generating, [out, in]: in a format smaller than f32, or in f32
/// laid out by output.
#[derive(Debug, Clone, PartialEq)]
pub enum Packed {
    /// f32, each output's weights in one piece (the rows of [out, in]): a one-row product is
    /// then a dot product per output, each thread reading one stream of weights, where the
    /// [in, out] rows of GPT-2's layout make it read four. Several rows multiply through it as
    /// through its transpose (`kernels::matmul` lays them out to suit).
    F32(Array2<f32>),
    /// bfloat16, in `matmul_bf16`'s pair layout: one-row products read it on any CPU (see
    /// [`PackedB::matvec`]), and a prompt's rows multiply through it where the CPU multiplies
    /// in bfloat16. Packed once here rather than at every product.
    Bf16(PackedB),
    Int(QMatrix),
}

impl Packed {
    /// `w` ([out, in]) in `weights`' format.
    pub fn new(w: ArrayView2<f32>, weights: Weights) -> Option<Packed> {
        match weights {
            Weights::F32 => Some(Packed::F32(w.as_standard_layout().into_owned())),
            Weights::Bf16 => Some(Packed::Bf16(PackedB::new(w.t()))),
            Weights::Int8 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int8))),
            Weights::Int4 => Some(Packed::Int(QMatrix::from_f32(w, QuantKind::Int4))),
        }
    }

    /// Whether every product, of one row or many, computes from this copy, on this CPU: so the
    /// f32 weights serve none (bfloat16 prompts need AVX512-BF16).
    pub fn serves_every_product(&self) -> bool {
        match self {
            Packed::Bf16(_) => crate::matmul_bf16::available(),
            Packed::F32(_) | Packed::Int(_) => true,
        }
    }

    /// Bytes that one product with a row reads.
    pub fn bytes(&self) -> usize {
        match self {
            Packed::Bf16(w) => w.bytes(),
            Packed::Int(q) => q.bytes(),
            Packed::F32(w) => 4 * w.len(),
        }
    }

    pub fn weights(&self) -> Weights {
        match self {
            Packed::F32(_) => Weights::F32,
            Packed::Bf16(_) => Weights::Bf16,
            Packed::Int(q) if q.kind() == QuantKind::Int8 => Weights::Int8,
            Packed::Int(_) => Weights::Int4,
        }
    }

    /// y = x·selfᵀ (or y += it): x: [N, in] -> y: [N, out]. Returns false, doing nothing, where
    /// the f32 weights serve better (bfloat16 prompts where the CPU lacks AVX512-BF16).
    pub fn forward(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>, accumulate: bool) -> bool {
        match self {
            Packed::F32(w) => {
                crate::kernels::matmul(x, w.t(), y, accumulate);
                true
            }
            Packed::Bf16(w) => {
                if x.nrows() == 1
                    && let (Some(xs), Some(ys)) = (x.as_slice(), y.as_slice_mut())
                {
                    w.matvec(xs, ys, accumulate);
                    return true;
                }
                crate::matmul_bf16::matmul_bf16_packed(x, w, y, accumulate)
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
                    let scale = q.scale(i, b);
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
    fn every_number_of_a_panel_has_its_own_place_and_a_slice_gives_each_row_a_lane() {
        let blocks = 3;
        let mut seen = vec![false; blocks * PANEL * BLOCK];
        for b in 0..blocks {
            for i in 0..PANEL {
                for k in 0..BLOCK {
                    let at = place(b, i, k);
                    assert!(!std::mem::replace(&mut seen[at], true), "{b}, {i}, {k}");
                    // Slice k / 4 of block b is 64 numbers, and row i's four are lane i.
                    assert_eq!((at - (8 * b + k / 4) * 64) / 4, i);
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
        // Any width (a padded last block), a padded last panel, one row and several.
        for (rows, cols, m) in [(70, 96, 1), (33, 77, 3), (16, 768, 6), (5, 40, 13)] {
            let w = random(rows, cols, 2);
            let x = random(m, cols, 3);
            for kind in [QuantKind::Int8, QuantKind::Int4] {
                let q = QMatrix::from_f32(w.view(), kind);
                // The reference: dequantized weights times activations rounded the same way.
                let xq = QMatrix::from_f32(x.view(), QuantKind::Int8).to_f32();
                let want = xq.dot(&q.to_f32().t());
                let mut got = Array2::from_elem((m, rows), 1.0f32);
                q.matmul(x.view(), got.view_mut(), true);
                let mut scalar = Array2::from_elem((m, rows), 7.0f32);
                q.matmul_on(Kernel::Scalar, x.view(), scalar.view_mut(), false);
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
