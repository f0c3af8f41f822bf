//! The matrix multiply in bfloat16, for mixed-precision training: operands rounded to bf16
//! (nearest, ties to even), products summed in f32, an f32 result.
//!
//! AVX512-BF16's `vdpbf16ps` takes, in each 32-bit lane, a pair of bf16 numbers from each
//! operand and adds both products to an f32 accumulator: 32 multiply-adds per instruction,
//! twice an f32 FMA's 16. To feed it, both operands are packed so that the two numbers a lane
//! needs sit side by side: for B, the entries of rows 2q and 2q + 1 of each column; for A, the
//! entries of columns 2q and 2q + 1 of each row, broadcast to every lane.
//!
//! ```text
//! packed B, panel of NR = 32 columns:   q = 0: [b00 b10 | b01 b11 | … | b0,31 b1,31]
//!                                       q = 1: [b20 b30 | b21 b31 | …]
//! packed A, panel of MR = 8 rows:       q = 0: [a00 a01 | a10 a11 | … | a70 a71]
//! ```
//!
//! Each task packs a group of neighbouring panels of B itself, into its core's L2 cache rather than into memory,
//! and multiplies it by every panel of A, in register tiles of 8 rows × 32 columns: 16
//! accumulators, 2 loads of B and 8 broadcasts of A per 16 `vdpbf16ps`. Where the CPU has
//! AMX, the same panels of B meet A laid out by rows instead, in tiles of 32 × 32 on AMX's tile
//! unit ([`crate::amx`]).

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Rows of A and columns of B in one register tile.
const MR: usize = 8;
const NR: usize = 32;

/// The most words of packed B one task holds at a time (a group of panels): 512 KiB, half of
/// one core's L2 (1 MiB on Zen 4 and Zen 5).
const GROUP_WORDS: usize = 128 * 1024;

/// Pairs of k in one part of an AMX product: 32 rows of A's part and a panel's part are 64 KiB
/// each.
const KC: usize = 512;

/// The k of one part of an AMX product (1,024): a product cut along k at multiples of it, its
/// parts summed into c, sums every number in the order of the whole product.
pub const K_PART: usize = 2 * KC;

/// Can this CPU multiply in bf16: does it have `vdpbf16ps`? (The AMX kernel, where there is
/// one, also needs it: for the packing and for what is left of k past AMX's steps.)
pub fn available() -> bool {
    avx512_bf16()
}

/// The instructions the bf16 products run on here: "AMX" or "AVX512-BF16" (None without
/// either), for reports.
pub fn instructions() -> Option<&'static str> {
    if crate::amx::available() {
        Some("AMX")
    } else {
        available().then_some("AVX512-BF16")
    }
}

/// Does this CPU have AVX512-BF16? (Checked once; the answer does not change.)
pub(crate) fn avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512bf16")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// An f32 rounded to the nearest bf16, ties to even, as AVX512-BF16's conversion rounds it (a NaN
/// stays a NaN, a subnormal becomes a zero of its sign): the top 16 bits after adding half of
/// the dropped part's range, less one unless the kept part is odd.
#[inline]
fn to_bf16(x: f32) -> u32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16;
    if x.is_nan() {
        (bits >> 16) | 0x40
    } else if x.is_subnormal() {
        (bits >> 16) & 0x8000
    } else {
        rounded
    }
}

/// Two f32 rounded to bf16 and paired in one 32-bit word: `lo` in the low half.
#[inline]
fn pair(lo: f32, hi: f32) -> u32 {
    to_bf16(lo) | to_bf16(hi) << 16
}

/// B [K, N] packed in panels of NR columns: panel p, pair q, column j at
/// `(p · K2 + q) · NR + j`, K2 = ⌈K / 2⌉. Columns and rows past the edge are 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<u32>,
}

impl PackedB {
    /// `b` packed whole, for a weight multiplied many times (a prompt's bf16 products, and the
    /// one-row products of [`PackedB::matvec`]). Packs on any CPU; only the products that read
    /// it as a matrix need AVX512-BF16 (see [`available`]).
    pub fn new(b: ArrayView2<f32>) -> PackedB {
        let (k, n) = b.dim();
        let (k2, panels) = (k.div_ceil(2), n.div_ceil(NR));
        let mut data = vec![0; panels * k2 * NR];
        data.par_chunks_mut(k2 * NR)
            .enumerate()
            .for_each(|(p, panel)| pack_panel(b, p, panel));
        PackedB { k, n, data }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes of the packed numbers, 4 for each pair (the padding of the last panel included).
    pub fn bytes(&self) -> usize {
        4 * self.data.len()
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

/// A [M, K] packed in panels of MR rows: panel r, pair q, row i at `(r · K2 + q) · MR + i`.
fn pack_a(a: ArrayView2<f32>, mut data: Vec<u32>) -> Vec<u32> {
    let (m, k) = a.dim();
    let (k2, panels) = (k.div_ceil(2), m.div_ceil(MR));
    // Every word is written below, so memory kept from an earlier product is not cleared.
    data.truncate(panels * k2 * MR);
    data.resize(panels * k2 * MR, 0);
    data.par_chunks_mut(k2 * MR)
        .enumerate()
        .for_each(|(r, panel)| pack_a_panel(a, r, panel));
    data
}

/// Panel r of A (MR rows from r · MR, all columns), packed into `out` as `pack_a` lays it
/// out: pair q, row i at q · MR + i; rows past the edge and a missing last column are 0.
fn pack_a_panel(a: ArrayView2<f32>, r: usize, out: &mut [u32]) {
    let (m, k) = a.dim();
    let k2 = k.div_ceil(2);
    let rows = MR.min(m - r * MR);
    debug_assert_eq!(out.len(), k2 * MR);
    let (rs, cs) = (a.strides()[0], a.strides()[1]);
    let base = a.as_ptr();
    // SAFETY (every read below): (i, kk) with i < m and kk < k lies inside a.
    let at = |i: usize, kk: usize| unsafe { *base.offset(i as isize * rs + kk as isize * cs) };
    let mut q = 0;
    #[cfg(target_arch = "x86_64")]
    if cs == 1 {
        // Rows in one piece (dlogits, say): 32 numbers of a row are 16 pairs; round 16 pairs of
        // each row, then write them out pair by pair. (Scalar rounding cost as much as the
        // product itself for the LM head's dx, whose A is [N, 50257].)
        let mut tmp = [[0u32; 16]; MR];
        while 2 * q + 32 <= k {
            for (i, t) in tmp.iter_mut().enumerate().take(rows) {
                // SAFETY: row r·MR + i holds k numbers; the CPU has AVX-512 (checked by the
                // product).
                unsafe {
                    let row = base.offset((r * MR + i) as isize * rs).add(2 * q);
                    pairs_of_column(row, t);
                }
            }
            // Rows past the edge stay 0 in tmp.
            rows_to_pairs(&tmp, &mut out[q * MR..(q + 16) * MR]);
            q += 16;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if rs == 1 && rows == MR {
        // Columns in one piece (a transposed activation): a column's MR rows are side by side.
        while 2 * q + 1 < k {
            // SAFETY: columns 2q and 2q + 1 hold MR numbers from row r · MR, out holds MR
            // words from q · MR; the CPU has AVX-512.
            unsafe {
                let c0 = base.offset((r * MR) as isize + (2 * q) as isize * cs);
                pairs_of_rows8(c0, c0.offset(cs), out.as_mut_ptr().add(q * MR));
            }
            q += 1;
        }
    }
    out[q * MR..].fill(0);
    for q in q..k2 {
        for i in 0..rows {
            let hi = if 2 * q + 1 < k {
                at(r * MR + i, 2 * q + 1)
            } else {
                0.0
            };
            out[q * MR + i] = pair(at(r * MR + i, 2 * q), hi);
        }
    }
}

/// 16 pairs of each of MR rows, by row, to A's layout, by pair: `out[t · MR + i] = tmp[i][t]`,
/// in two 8 × 8 transposes.
#[cfg(target_arch = "x86_64")]
fn rows_to_pairs(tmp: &[[u32; 16]; MR], out: &mut [u32]) {
    assert_eq!(
        out.len(),
        16 * MR,
        "rows_to_pairs: out holds 16 pairs of MR words"
    );
    for h in 0..2 {
        // SAFETY: tmp holds MR = 8 rows of 16 words, out 16 pairs of 8 words; the CPU has AVX
        // (the packing's callers checked AVX512-BF16).
        unsafe {
            crate::kernels::transpose8(
                tmp[0].as_ptr().add(8 * h) as *const f32,
                16,
                out.as_mut_ptr().add(8 * h * MR) as *mut f32,
                MR as isize,
            )
        };
    }
}

/// c = a·b, or c += a·b, with a and b rounded to bf16 and the products summed in f32.
/// a: [M, K], b: [K, N], c: [M, N]. Returns false, doing nothing, where the CPU lacks
/// AVX512-BF16 (the caller then multiplies in f32).
pub fn matmul_bf16(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    // A tall A stored by columns (dW = dyᵀ·x of the LM head) packs slowly, row pairs being far
    // apart; its transpose packs fast as a B. So compute cᵀ = bᵀ·aᵀ instead.
    let (m, n) = (a.nrows(), b.ncols());
    if a.strides()[0] == 1 && a.strides()[1] != 1 && m > n {
        return matmul_bf16(b.t(), a.t(), c.reversed_axes(), accumulate);
    }
    multiply_in_kept_memory(a, Panels::Unpacked(b), c, accumulate)
}

/// `multiply`, packing A into this thread's memory of its last product. Returns false, doing
/// nothing, where the CPU lacks AVX512-BF16.
fn multiply_in_kept_memory(
    a: ArrayView2<f32>,
    b: Panels,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    if !available() {
        return false;
    }
    let a_buf = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let a_buf = multiply(a, b, c, accumulate, a_buf);
    BUFFERS.with(|b| *b.borrow_mut() = a_buf);
    true
}

thread_local! {
    /// Packed A's memory of this thread's last product. (Taken out during a product, so that a
    /// product started on this thread meanwhile, by rayon, gets fresh memory.)
    static BUFFERS: std::cell::RefCell<Vec<u32>> = Default::default();
    /// The panels of B a task packs for itself.
    static PANEL: std::cell::RefCell<Vec<u32>> = Default::default();
    /// Packed A laid out by rows for AMX, as `BUFFERS`.
    static ROWS: std::cell::RefCell<Vec<u32>> = Default::default();
}

/// B as `multiply` takes it: packed once already, or packed a panel at a time by the task
/// that multiplies it, so that the panel goes to that core's cache rather than to memory.
#[derive(Clone, Copy)]
enum Panels<'a> {
    Packed(&'a PackedB),
    Unpacked(ArrayView2<'a, f32>),
    /// In bf16 already (a weight's copy): packing only lays the pairs out.
    Halves(ArrayView2<'a, u16>),
}

// ANCHOR: matvec
impl PackedB {
    /// y = x·B, or y += x·B, for one row: x: [K] -> y: [N]. Each pair of bfloat16 numbers is
    /// widened to two f32 (a shift, a mask) and multiplied by x's two numbers, unrounded; a
    /// panel's 32 columns keep 32 sums for even k and 32 for odd k, and the threads share the
    /// panels. The same sums in the same order on every CPU: plain f32 arithmetic.
    pub fn matvec(&self, x: &[f32], y: &mut [f32], accumulate: bool) {
        assert_eq!(x.len(), self.k, "matvec: x has the wrong length");
        assert_eq!(y.len(), self.n, "matvec: y has the wrong length");
        let words = self.k.div_ceil(2) * NR;
        y.par_chunks_mut(NR)
            .zip(self.data.par_chunks_exact(words))
            .for_each(|(out, panel)| {
                let sums = panel_times(panel, x);
                for (o, s) in out.iter_mut().zip(sums) {
                    *o = if accumulate { *o + s } else { s };
                }
            });
    }
}

/// How far ahead, in bytes, [`PackedB::matvec`] asks for a panel's words: GPT-2 124M's bf16
/// decoding ran a tenth faster asking 1 to 3 KiB ahead than 4 KiB (`kernels::AHEAD`).
const PANEL_AHEAD: usize = 2048;

crate::kernels::simd_dispatch! {
    /// x times one panel of B: its NR columns' sums, even k and odd k apart until the end.
    fn panel_times(panel: &[u32], x: &[f32]) -> [f32; NR] {
        let (mut even, mut odd) = ([0.0f32; NR], [0.0f32; NR]);
        for (q, words) in panel.chunks_exact(NR).enumerate() {
            // The panel streams from memory: ask for its two cache lines further on.
            let ahead = words.as_ptr().wrapping_add(PANEL_AHEAD / 4);
            crate::kernels::prefetch(ahead);
            crate::kernels::prefetch(ahead.wrapping_add(16));
            let (x0, x1) = (x[2 * q], x.get(2 * q + 1).copied().unwrap_or(0.0));
            for j in 0..NR {
                even[j] += crate::kernels::bf16_to_f32(words[j] as u16) * x0;
                odd[j] += f32::from_bits(words[j] & 0xFFFF_0000) * x1;
            }
        }
        std::array::from_fn(|j| even[j] + odd[j])
    }
}
// ANCHOR_END: matvec

/// Panels `ps` of B, packed one after another into `out` as `pack_panel` packs each. Rows in
/// one piece are read a group's width at a time (dlogits' rows lie 200 KB apart).
fn pack_panels(b: ArrayView2<f32>, ps: std::ops::Range<usize>, out: &mut [u32]) {
    let (k, n) = b.dim();
    let k2 = k.div_ceil(2);
    let words = k2 * NR;
    let rs = b.strides()[0];
    #[cfg(target_arch = "x86_64")]
    if b.strides()[1] == 1 && ps.end * NR <= n && k % 2 == 0 && avx512_bf16() {
        let base = b.as_ptr();
        for q in 0..k2 {
            for (g, p) in ps.clone().enumerate() {
                // SAFETY: rows 2q and 2q + 1 hold NR numbers from column p · NR, and out holds
                // NR words at panel g's pair q; the CPU has AVX-512 (matmul_bf16 checked).
                unsafe {
                    let r0 = base.offset(2 * q as isize * rs + (p * NR) as isize);
                    pairs_of_rows(r0, r0.offset(rs), out.as_mut_ptr().add(g * words + q * NR));
                }
            }
        }
        return;
    }
    for (p, out) in ps.zip(out.chunks_exact_mut(words)) {
        pack_panel(b, p, out);
    }
}

/// Panel p of B (NR columns from p · NR, all rows), packed into `out` as `PackedB` lays it
/// out: pair q, column j at q · NR + j; columns past the edge and a missing last row are 0.
fn pack_panel(b: ArrayView2<f32>, p: usize, out: &mut [u32]) {
    let (k, n) = b.dim();
    let k2 = k.div_ceil(2);
    let cols = NR.min(n - p * NR);
    assert_eq!(out.len(), k2 * NR, "pack_panel: a panel is k2 · NR words");
    if cols < NR {
        // The loops below write the panel's columns only.
        out.fill(0);
    }
    let (rs, cs) = (b.strides()[0], b.strides()[1]);
    let base = b.as_ptr();
    // SAFETY (every read below): (kk, j) with kk < k and j < n lies inside b.
    let at = |kk: usize, j: usize| unsafe { *base.offset(kk as isize * rs + j as isize * cs) };
    #[cfg(target_arch = "x86_64")]
    if cols == NR && cs == 1 && avx512_bf16() {
        // Rows in one piece: 32 numbers of each of two rows at a time.
        for q in 0..k / 2 {
            // SAFETY: rows 2q and 2q + 1 hold NR numbers from column p · NR, and out holds
            // NR words from q · NR; the CPU has AVX-512 (matmul_bf16 checked).
            unsafe {
                let r0 = base.offset(2 * q as isize * rs + (p * NR) as isize);
                let r1 = r0.offset(rs);
                pairs_of_rows(r0, r1, out.as_mut_ptr().add(q * NR));
            }
        }
        if k % 2 == 1 {
            for j in 0..NR {
                out[(k2 - 1) * NR + j] = pair(at(k - 1, p * NR + j), 0.0);
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if rs == 1 && avx512_bf16() {
        // Columns in one piece: a column's 32 numbers are 16 pairs of consecutive rows. Sixteen
        // columns at a time give a 16 × 16 block of pairs, by column; it goes to the panel by
        // pair, transposed in four blocks of 8 × 8 in AVX registers.
        let mut block = [[0u32; 16]; 16];
        let mut done = 0; // columns packed sixteen at a time
        while done + 16 <= cols {
            let col = |c: usize| unsafe { base.offset((p * NR + done + c) as isize * cs) };
            let mut q = 0;
            while 2 * q + 32 <= k {
                for (c, pairs) in block.iter_mut().enumerate() {
                    // SAFETY: the column holds k numbers; the CPU has AVX-512.
                    unsafe { pairs_of_column(col(c).add(2 * q), pairs) };
                }
                for (i0, c0) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                    // SAFETY: pairs i0.. of columns c0.. are 8 × 8 words of `block`, rows 16
                    // apart; out holds pair q + i0 + 7, column done + c0 + 7 of the panel.
                    unsafe {
                        crate::kernels::transpose8(
                            block[c0].as_ptr().add(i0) as *const f32,
                            16,
                            out.as_mut_ptr().add((q + i0) * NR + done + c0) as *mut f32,
                            NR as isize,
                        )
                    };
                }
                q += 16;
            }
            for q in q..k2 {
                for jj in done..done + 16 {
                    let hi = if 2 * q + 1 < k {
                        at(2 * q + 1, p * NR + jj)
                    } else {
                        0.0
                    };
                    out[q * NR + jj] = pair(at(2 * q, p * NR + jj), hi);
                }
            }
            done += 16;
        }
        let mut tmp = [0u32; 16];
        for jj in done..cols {
            let col = unsafe { base.offset((p * NR + jj) as isize * cs) };
            let mut q = 0;
            while 2 * q + 32 <= k {
                // SAFETY: the column holds k numbers; the CPU has AVX-512.
                unsafe { pairs_of_column(col.add(2 * q), &mut tmp) };
                for (i, &w) in tmp.iter().enumerate() {
                    out[(q + i) * NR + jj] = w;
                }
                q += 16;
            }
            for q in q..k2 {
                let hi = if 2 * q + 1 < k {
                    at(2 * q + 1, p * NR + jj)
                } else {
                    0.0
                };
                out[q * NR + jj] = pair(at(2 * q, p * NR + jj), hi);
            }
        }
        return;
    }
    for q in 0..k2 {
        for jj in 0..cols {
            let hi = if 2 * q + 1 < k {
                at(2 * q + 1, p * NR + jj)
            } else {
                0.0
            };
            out[q * NR + jj] = pair(at(2 * q, p * NR + jj), hi);
        }
    }
}

/// Panels `ps` of B, given in bf16, laid out as `pack_panels` lays out f32's (nothing to round):
/// the pairs of rows in one piece interleaved, a group's width at a time; the pairs of columns
/// in one piece, two neighbouring bf16 of a column, already words, transposed 8 × 8.
fn pack_halves(b: ArrayView2<u16>, ps: std::ops::Range<usize>, out: &mut [u32]) {
    let (k, n) = b.dim();
    let k2 = k.div_ceil(2);
    let words = k2 * NR;
    let (rs, cs) = (b.strides()[0], b.strides()[1]);
    let base = b.as_ptr();
    // SAFETY (every read below): (kk, j) with kk < k and j < n lies inside b.
    let half = |kk: usize, j: usize| unsafe { *base.offset(kk as isize * rs + j as isize * cs) };
    let word = |q: usize, j: usize| {
        let hi = if 2 * q + 1 < k { half(2 * q + 1, j) } else { 0 };
        half(2 * q, j) as u32 | (hi as u32) << 16
    };
    let full = ps.end * NR <= n;
    #[cfg(target_arch = "x86_64")]
    if cs == 1 && full {
        for q in 0..k / 2 {
            for (g, p) in ps.clone().enumerate() {
                // SAFETY: rows 2q and 2q + 1 hold NR numbers from column p · NR, and out holds
                // NR words at panel g's pair q; the CPU has AVX-512 (matmul_bf16 checked).
                unsafe {
                    let r0 = base.offset(2 * q as isize * rs + (p * NR) as isize);
                    pairs_of_half_rows(r0, r0.offset(rs), out.as_mut_ptr().add(g * words + q * NR));
                }
            }
        }
        for q in k / 2..k2 {
            for (g, p) in ps.clone().enumerate() {
                for jj in 0..NR {
                    out[g * words + q * NR + jj] = word(q, p * NR + jj);
                }
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if rs == 1 && full && cs % 2 == 0 && (base as usize).is_multiple_of(4) {
        // Whole pairs only, eight at a time: an odd k's last pair is made below.
        let blocks = k / 16 * 8;
        for (g, p) in ps.clone().enumerate() {
            for c0 in (0..NR).step_by(8) {
                let col = base.wrapping_offset((p * NR + c0) as isize * cs) as *const f32;
                for q in (0..blocks).step_by(8) {
                    // SAFETY: columns p·NR + c0.. (8 of them, cs / 2 words apart) hold pairs
                    // q..q + 8 as words; out holds pair q + 7, column c0 + 7 of panel g.
                    unsafe {
                        crate::kernels::transpose8(
                            col.add(q),
                            cs / 2,
                            out.as_mut_ptr().add(g * words + q * NR + c0) as *mut f32,
                            NR as isize,
                        )
                    };
                }
            }
            for q in blocks..k2 {
                for jj in 0..NR {
                    out[g * words + q * NR + jj] = word(q, p * NR + jj);
                }
            }
        }
        return;
    }
    for (g, p) in ps.enumerate() {
        let cols = NR.min(n - p * NR);
        let out = &mut out[g * words..(g + 1) * words];
        for q in 0..k2 {
            for jj in 0..NR {
                out[q * NR + jj] = if jj < cols { word(q, p * NR + jj) } else { 0 };
            }
        }
    }
}

/// out[j] = r0[j] | r1[j] << 16 for j < 32: two rows of bf16 interleaved into pairs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pairs_of_half_rows(r0: *const u16, r1: *const u16, out: *mut u32) {
    use std::arch::x86_64::*;
    for h in 0..2 {
        // SAFETY: the caller gives 32 numbers at r0 and r1, and 32 words at out.
        unsafe {
            let lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(r0.add(16 * h) as *const __m256i));
            let hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256(r1.add(16 * h) as *const __m256i));
            let w = _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi));
            _mm512_storeu_si512(out.add(16 * h) as *mut __m512i, w);
        }
    }
}

/// out[i] = x[i] rounded to bf16, as the products round it (nearest, ties to even), written
/// with streaming stores where out's lines are whole: the copy is read next step, not now.
pub fn round_streaming(x: &[f32], out: &mut [u16]) {
    assert_eq!(
        x.len(),
        out.len(),
        "round_streaming: x and out differ in length"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx512_bf16() {
        // SAFETY: the CPU has AVX512-BF16, checked above.
        done = unsafe { round_streaming_avx512(x, out) };
    }
    for (o, &v) in out[done..].iter_mut().zip(&x[done..]) {
        *o = to_bf16(v) as u16;
    }
}

/// `round_streaming` up to the first 64-byte boundary of out one number at a time, then whole
/// lines, 32 numbers each. Returns how many numbers it rounded, from the first (the rest, short
/// of a line, is left to the caller): none if out ends before the boundary.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_streaming_avx512(x: &[f32], out: &mut [u16]) -> usize {
    use std::arch::x86_64::*;
    let lead = out.as_ptr().align_offset(64);
    if lead >= out.len() {
        return 0;
    }
    for (o, &v) in out[..lead].iter_mut().zip(x) {
        *o = to_bf16(v) as u16;
    }
    let mut i = lead;
    while i + 32 <= x.len() {
        // SAFETY: 32 numbers of x from i, and out's 64 bytes from i, on a 64-byte boundary.
        unsafe {
            let both = _mm512_cvtne2ps_pbh(
                _mm512_loadu_ps(x.as_ptr().add(i + 16)),
                _mm512_loadu_ps(x.as_ptr().add(i)),
            );
            let words = std::mem::transmute::<__m512bh, __m512i>(both);
            _mm512_stream_si512(out.as_mut_ptr().add(i) as *mut __m512i, words);
        }
        i += 32;
    }
    _mm_sfence();
    i
}

/// Sixteen f32 rounded to bf16 as `to_bf16` does, each in its lane's low half, by the
/// instruction AVX512-BF16 has for it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn round16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    // SAFETY: 16 bf16 are 32 bytes of plain data, as an __m256i reads them.
    let halves = unsafe { std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(x)) };
    _mm512_cvtepu16_epi32(halves)
}

/// out[j] = pair(r0[j], r1[j]) for j < 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pairs_of_rows(r0: *const f32, r1: *const f32, out: *mut u32) {
    use std::arch::x86_64::*;
    // Word 2j of the result takes bf16 j (from r0), word 2j + 1 bf16 16 + j (from r1).
    let index = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    );
    for h in 0..2 {
        // SAFETY: the caller gives 32 numbers at r0 and r1, and 32 words at out.
        unsafe {
            let both = _mm512_cvtne2ps_pbh(
                _mm512_loadu_ps(r1.add(16 * h)),
                _mm512_loadu_ps(r0.add(16 * h)),
            );
            let both = std::mem::transmute::<__m512bh, __m512i>(both);
            let w = _mm512_permutexvar_epi16(index, both);
            _mm512_storeu_si512(out.add(16 * h) as *mut __m512i, w);
        }
    }
}

/// out[j] = pair(r0[j], r1[j]) for j < 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs_of_rows8(r0: *const f32, r1: *const f32, out: *mut u32) {
    use std::arch::x86_64::*;
    // SAFETY: the caller gives 8 numbers at r0 and r1, and 8 words at out.
    unsafe {
        let both = _mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(r0))),
            _mm256_castps_pd(_mm256_loadu_ps(r1)),
        );
        let x = round16(_mm512_castpd_ps(both));
        let lo = _mm512_castsi512_si256(x);
        let hi = _mm512_extracti64x4_epi64::<1>(x);
        let w = _mm256_or_si256(lo, _mm256_slli_epi32::<16>(hi));
        _mm256_storeu_si256(out as *mut __m256i, w);
    }
}

/// out[i] = pair(x[2i], x[2i + 1]) for i < 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs_of_column(x: *const f32, out: &mut [u32; 16]) {
    use std::arch::x86_64::*;
    // SAFETY: the caller gives 32 numbers at x.
    unsafe {
        // 32 bf16 in order (the second operand's in the low half), which read as 32-bit words
        // are the pairs.
        let both = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x.add(16)), _mm512_loadu_ps(x));
        let words = std::mem::transmute::<__m512bh, __m512i>(both);
        _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, words);
    }
}

/// `matmul_bf16` with B packed already: a weight packed once for generating, or the LM head's
/// dlogits packed once for both its products.
pub fn matmul_bf16_packed(
    a: ArrayView2<f32>,
    b: &PackedB,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    if !available() {
        return false;
    }
    multiply(a, Panels::Packed(b), c, accumulate, Vec::new());
    true
}

/// A [M, K] packed whole, as the A of a product (panels of MR rows): the A half of a
/// [`PackedBoth`], or an operand packed beforehand to time the multiply alone, as a bf16
/// `torch.matmul` is handed bf16 operands. Needs AVX512-BF16 (see [`available`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackedA {
    m: usize,
    k: usize,
    data: Vec<u32>,
    /// `data` laid out by rows, where the product runs on AMX (else empty).
    rows: Vec<u32>,
}

impl PackedA {
    pub fn new(a: ArrayView2<f32>) -> PackedA {
        let (m, k) = a.dim();
        let mut packed = PackedA {
            m,
            k,
            data: pack_a(a, Vec::new()),
            rows: Vec::new(),
        };
        packed.lay_out_rows();
        packed
    }

    /// Fills `rows` from `data` where the product runs on AMX.
    fn lay_out_rows(&mut self) {
        if crate::amx::available() {
            let rows = std::mem::take(&mut self.rows);
            self.rows = crate::amx::rows_from_panels(&self.data, self.m, self.k.div_ceil(2), rows);
        }
    }

    /// c = a·b or c += a·b with this A; false, doing nothing, without AVX512-BF16.
    fn times(&self, b: Panels, c: ArrayViewMut2<f32>, accumulate: bool) -> bool {
        if !available() {
            return false;
        }
        let a = if crate::amx::available() {
            LayoutA::Rows(&self.rows)
        } else {
            LayoutA::Panels(&self.data)
        };
        multiply_packed(a, self.m, self.k, b, c, accumulate);
        true
    }
}

/// `matmul_bf16` with both operands packed already: the kernel and the write-back alone.
pub fn matmul_bf16_prepacked(
    a: &PackedA,
    b: &PackedB,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    a.times(Panels::Packed(b), c, accumulate)
}

/// One matrix X [M, K] packed both ways at once: as the A of `pack_a` and as a [`PackedB`].
/// The LM head's two backward products both read the gradient of the logits, 205 MB at the
/// `shakespeare` preset: as A of dx = dlogits · wte, and as B of dwteᵀ = lnfᵀ · dlogits. One
/// pass over it makes both, rounding each number once.
#[derive(Debug, Default)]
pub struct PackedBoth {
    a: PackedA,
    b: PackedB,
}

impl PackedBoth {
    /// Packs `x` (rows in one piece) into this value's memory, kept from its last use.
    /// Needs AVX512-BF16 (see [`available`]).
    pub fn pack(&mut self, x: ArrayView2<f32>) {
        let (m, k) = x.dim();
        assert_eq!(
            x.strides()[1],
            1,
            "PackedBoth::pack: x's rows must be in one piece"
        );
        let (k2, m2) = (k.div_ceil(2), m.div_ceil(2));
        let (a_words, b_words) = (m.div_ceil(MR) * k2 * MR, k.div_ceil(NR) * m2 * NR);
        // Every word is written below, so memory kept from an earlier pass is not cleared.
        for (buf, len) in [(&mut self.a.data, a_words), (&mut self.b.data, b_words)] {
            buf.truncate(len);
            buf.resize(len, 0);
        }
        (self.a.m, self.a.k) = (m, k);
        (self.b.k, self.b.n) = (m, k);
        let b_ptr = SendPtr(self.b.data.as_mut_ptr());
        self.a
            .data
            .par_chunks_mut(k2 * MR)
            .enumerate()
            .for_each(|(r, a_panel)| {
                // SAFETY: this task writes B's pairs q of rows 2q, 2q + 1 in r·MR.., which no
                // other task writes; the CPU has AVX-512 (the caller checked).
                unsafe { pack_both_panel(x, r, a_panel, b_ptr.get()) }
            });
        self.a.lay_out_rows();
    }

    /// X as the B of a product.
    pub fn as_b(&self) -> &PackedB {
        &self.b
    }
}

/// Rows r·MR.. of x: panel r of A into `a_panel`, and the same rows' pairs of B into `b`
/// (PackedB's layout for B = x). Sixteen columns of eight rows at a time where the panel is
/// whole; `pack_a_panel` and single numbers at the edges.
///
/// # Safety
/// `b` holds `k.div_ceil(NR) · m.div_ceil(2) · NR` words; no other thread writes the pairs of
/// these rows; the CPU has AVX-512.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f,avx512bf16"))]
unsafe fn pack_both_panel(x: ArrayView2<f32>, r: usize, a_panel: &mut [u32], b: *mut u32) {
    let (m, k) = x.dim();
    let m2 = m.div_ceil(2);
    let rows = MR.min(m - r * MR);
    let rs = x.strides()[0];
    let base = x.as_ptr();
    let full = k / NR; // panels of B with all NR columns
    // SAFETY (every write to b): pair q of panel p sits at (p · m2 + q) · NR, inside b.
    let b_at = |p: usize, q: usize| unsafe { b.add((p * m2 + q) * NR) };
    let mut done = 0; // columns packed by the fast path, for both layouts
    #[cfg(target_arch = "x86_64")]
    if rows == MR {
        use std::arch::x86_64::*;
        let mut tmp = [[0u32; 16]; MR];
        for p in 0..full {
            // SAFETY: the NR numbers from column p · NR of each of the MR rows are inside x.
            unsafe {
                let mut rounded = [[_mm512_setzero_si512(); 2]; MR];
                for (i, row) in rounded.iter_mut().enumerate() {
                    let at = base.offset((r * MR + i) as isize * rs).add(p * NR);
                    row[0] = round16(_mm512_loadu_ps(at));
                    row[1] = round16(_mm512_loadu_ps(at.add(16)));
                    // A: 16 pairs of neighbouring columns, as pairs_of_column makes them.
                    let lo = _mm512_cvtepi32_epi16(row[0]);
                    let hi = _mm512_cvtepi32_epi16(row[1]);
                    _mm256_storeu_si256(tmp[i].as_mut_ptr() as *mut __m256i, lo);
                    _mm256_storeu_si256(tmp[i].as_mut_ptr().add(8) as *mut __m256i, hi);
                }
                rows_to_pairs(&tmp, &mut a_panel[p * 16 * MR..(p + 1) * 16 * MR]);
                // B: rows 2q and 2q + 1 side by side, for the MR / 2 pairs of these rows.
                for (h, two) in rounded.chunks_exact(2).enumerate() {
                    let out = b_at(p, r * MR / 2 + h);
                    for (half, (&lo, &hi)) in two[0].iter().zip(&two[1]).enumerate() {
                        let w = _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi));
                        _mm512_storeu_si512(out.add(16 * half) as *mut __m512i, w);
                    }
                }
            }
        }
        done = full * NR;
    }
    // The rest of A: pack_a_panel's pairs from column `done` on (all of them if none were done).
    if done == 0 {
        pack_a_panel(x, r, a_panel);
    } else {
        let k2 = k.div_ceil(2);
        let at = |i: usize, kk: usize| x[[r * MR + i, kk]];
        for q in done / 2..k2 {
            for i in 0..MR {
                let hi = if 2 * q + 1 < k { at(i, 2 * q + 1) } else { 0.0 };
                a_panel[q * MR + i] = pair(at(i, 2 * q), hi);
            }
        }
    }
    // The rest of B: its pairs of these rows, for the columns the fast path left.
    for q in r * MR / 2..(r * MR + rows).div_ceil(2) {
        let row = |kk: usize, j: usize| if kk < m { x[[kk, j]] } else { 0.0 };
        for p in done / NR..k.div_ceil(NR) {
            let out = b_at(p, q);
            for jj in 0..NR {
                let j = p * NR + jj;
                let w = if j < k {
                    pair(row(2 * q, j), row(2 * q + 1, j))
                } else {
                    0
                };
                // SAFETY: jj < NR words from out.
                unsafe { *out.add(jj) = w };
            }
        }
    }
}

/// `matmul_bf16` with B in bf16 already: a weight's copy (see [`crate::layers::Bf16Copy`]),
/// whose panels are laid out from it as from f32, but with half the bytes read and nothing to
/// round. The product is the same to the last bit.
pub fn matmul_bf16_halves(
    a: ArrayView2<f32>,
    b: ArrayView2<u16>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    multiply_in_kept_memory(a, Panels::Halves(b), c, accumulate)
}

/// [`matmul_bf16_both_a`] with B in bf16 already, as [`matmul_bf16_halves`] takes it.
pub fn matmul_bf16_both_a_halves(
    a: &PackedBoth,
    b: ArrayView2<u16>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    a.a.times(Panels::Halves(b), c, accumulate)
}

/// `matmul_bf16` with A packed already, as the A of a [`PackedBoth`].
pub fn matmul_bf16_both_a(
    a: &PackedBoth,
    b: ArrayView2<f32>,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    a.a.times(Panels::Unpacked(b), c, accumulate)
}

/// The product, packing A into `a_buf`, which it returns for reuse.
fn multiply(
    a: ArrayView2<f32>,
    b: Panels,
    c: ArrayViewMut2<f32>,
    accumulate: bool,
    a_buf: Vec<u32>,
) -> Vec<u32> {
    let (m, k) = a.dim();
    if crate::amx::available() {
        let rows = ROWS.with(|r| std::mem::take(&mut *r.borrow_mut()));
        let (rows, a_buf) = if a.strides()[1] == 1 {
            (pack_rows(a, rows), a_buf)
        } else {
            let pa = pack_a(a, a_buf);
            (
                crate::amx::rows_from_panels(&pa, m, k.div_ceil(2), rows),
                pa,
            )
        };
        multiply_packed(LayoutA::Rows(&rows), m, k, b, c, accumulate);
        ROWS.with(|r| *r.borrow_mut() = rows);
        return a_buf;
    }
    let pa = pack_a(a, a_buf);
    multiply_packed(LayoutA::Panels(&pa), m, k, b, c, accumulate);
    pa
}

/// A [M, K] with rows in one piece, laid out by rows for AMX in one pass, as
/// [`crate::amx::rows_from_panels`] lays out the panels of `pack_a`: 16 pairs of a row rounded
/// per instruction, where a row's pairs are its neighbouring numbers.
fn pack_rows(a: ArrayView2<f32>, out: Vec<u32>) -> Vec<u32> {
    let (m, k) = a.dim();
    let k2 = k.div_ceil(2);
    let stride = crate::amx::row_stride(k2);
    let mut out = crate::amx::rows_memory(m, k2, out);
    out.par_chunks_mut(MR * stride)
        .enumerate()
        .for_each(|(r, rows)| {
            for (i, row) in (r * MR..).zip(rows.chunks_exact_mut(stride)) {
                if i >= m {
                    row.fill(0);
                    continue;
                }
                let x = a.row(i);
                let x = x.as_slice().expect("rows in one piece");
                let mut q = 0;
                #[cfg(target_arch = "x86_64")]
                while 2 * q + 32 <= k {
                    let out: &mut [u32; 16] = (&mut row[q..q + 16]).try_into().expect("16 words");
                    // SAFETY: x holds 32 numbers from 2q; the CPU has AVX512-BF16 (AMX's
                    // products check it).
                    unsafe { pairs_of_column(x.as_ptr().add(2 * q), out) };
                    q += 16;
                }
                for q in q..k2 {
                    let hi = if 2 * q + 1 < k { x[2 * q + 1] } else { 0.0 };
                    row[q] = pair(x[2 * q], hi);
                }
                row[k2..].fill(0);
            }
        });
    out
}

/// Packed A as a kernel reads it: panels of MR rows for `vdpbf16ps`, or rows for AMX.
#[derive(Clone, Copy)]
enum LayoutA<'a> {
    Panels(&'a [u32]),
    Rows(&'a [u32]),
}

/// The product of A [m, k], packed as `pack_a` packs it (or then laid out by rows, for AMX),
/// and B.
fn multiply_packed(
    a: LayoutA,
    m: usize,
    k: usize,
    b: Panels,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    let (bk, n) = match b {
        Panels::Packed(b) => (b.k, b.n),
        Panels::Unpacked(b) => b.dim(),
        Panels::Halves(b) => b.dim(),
    };
    assert_eq!(k, bk, "matmul_bf16: a is [{m}, {k}] but b is [{bk}, {n}]");
    assert_eq!(c.dim(), (m, n), "matmul_bf16: c must be [{m}, {n}]");
    if m == 0 || n == 0 {
        return;
    }
    let k2 = k.div_ceil(2);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let c_ptr = SendPtr(c.as_mut_ptr());
    let store = if accumulate {
        Store::Add
    } else if m * n >= STREAM_MIN {
        Store::Stream
    } else {
        Store::Write
    };
    let panels = n.div_ceil(NR);
    // A task takes a group of neighbouring panels of B and runs each panel of A across all of
    // them: c's rows are then written a group's width at a time rather than 128 bytes here and
    // there, and A's panel is read from L1 for all but the first. The group stays within
    // L2, and there are enough groups to keep every thread busy.
    let panel_words = k2 * NR;
    // A transposed c is written 8 numbers of each of the group's columns per panel of A; more
    // than 128 KiB of such columns in flight was measured slower (GPT-2's LM head dW: 58 ms
    // with one panel a task, 68 ms with four).
    let c_cap = if c_rs == 1 && c_cs != 1 {
        (32 * 1024) / (m * NR)
    } else {
        usize::MAX
    };
    // AMX runs k in parts of KC pairs, so only a part of each panel need stay in L2.
    let resident = match a {
        LayoutA::Rows(_) => k2.min(KC) * NR,
        LayoutA::Panels(_) => panel_words,
    };
    let group = (GROUP_WORDS / resident)
        .min(c_cap)
        .min(panels / (4 * rayon::current_num_threads()))
        .max(1);
    let run = |pbs: &[u32], p0: usize| {
        let pa = match a {
            LayoutA::Panels(pa) => pa,
            LayoutA::Rows(ra) => {
                return run_amx(ra, m, k2, n, pbs, p0, c_ptr, c_rs, c_cs, store);
            }
        };
        debug_assert_eq!(pa.len(), m.div_ceil(MR) * k2 * MR);
        let mut tile = [0f32; MR * NR];
        for r in 0..m.div_ceil(MR) {
            let rows = MR.min(m - r * MR);
            let pa = &pa[r * k2 * MR..(r + 1) * k2 * MR];
            for (g, pb) in pbs.chunks_exact(panel_words).enumerate() {
                let p = p0 + g;
                let cols = NR.min(n - p * NR);
                let first = c_ptr
                    .get()
                    .wrapping_offset((r * MR) as isize * c_rs + (p * NR) as isize * c_cs);
                // SAFETY: the CPU has AVX512-BF16 (checked above); pa and pb hold k2 pairs of
                // MR and NR words.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    prefetch_tile(first, c_rs, c_cs, rows, cols, store);
                    kernel(pa, pb, k2, &mut tile)
                };
                // SAFETY: (r·MR.., p·NR..) plus rows × cols is inside c, and each task writes
                // only its own columns p·NR.. of c; the CPU has AVX-512.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    write_back(&tile, first, c_rs, c_cs, rows, cols, store)
                };
            }
        }
        // Streamed stores are ordered before what this thread writes next.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
    };
    (0..panels.div_ceil(group)).into_par_iter().for_each(|g| {
        let ps = g * group..panels.min((g + 1) * group);
        match b {
            Panels::Packed(b) => run(
                &b.data[ps.start * panel_words..ps.end * panel_words],
                ps.start,
            ),
            Panels::Unpacked(b) => PANEL.with(|buf| {
                let mut buf = buf.borrow_mut();
                buf.resize(ps.len() * panel_words, 0);
                pack_panels(b, ps.clone(), &mut buf);
                run(&buf, ps.start)
            }),
            Panels::Halves(b) => PANEL.with(|buf| {
                let mut buf = buf.borrow_mut();
                buf.resize(ps.len() * panel_words, 0);
                pack_halves(b, ps.clone(), &mut buf);
                run(&buf, ps.start)
            }),
        }
    });
}

/// `multiply_packed`'s task on AMX: every block of 32 rows of A (laid out by rows) times each
/// of the panels `pbs` of B, the first of them panel `p0`, into c.
#[allow(clippy::too_many_arguments)]
fn run_amx(
    ra: &[u32],
    m: usize,
    k2: usize,
    n: usize,
    pbs: &[u32],
    p0: usize,
    c_ptr: SendPtr<f32>,
    c_rs: isize,
    c_cs: isize,
    store: Store,
) {
    use crate::amx::A_ROWS;
    let stride = crate::amx::row_stride(k2);
    assert_eq!(ra.len(), m.div_ceil(A_ROWS) * A_ROWS * stride);
    let mut tile = [0f32; A_ROWS * NR];
    // SAFETY (the three blocks): AMX is available (multiply checked), so is AVX512-BF16.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        crate::amx::configure()
    };
    // k in parts of KC pairs (LM head dx has 25,129): a part of A's rows and of the group's
    // panels stays in L2 while every tile of the group takes it; c sums the parts.
    for q0 in (0..k2).step_by(KC) {
        let kc = KC.min(k2 - q0);
        let store = if q0 > 0 { Store::Add } else { store };
        for (g, pb) in pbs.chunks_exact(k2 * NR).enumerate() {
            let p = p0 + g;
            let cols = NR.min(n - p * NR);
            for r in 0..m.div_ceil(A_ROWS) {
                let rows = A_ROWS.min(m - r * A_ROWS);
                let first = c_ptr
                    .get()
                    .wrapping_offset((r * A_ROWS) as isize * c_rs + (p * NR) as isize * c_cs);
                // SAFETY: ra holds 32 rows of `stride` words from row r · 32, pb k2 pairs of
                // NR words, so pairs q0..q0 + kc of both are inside; the tiles are configured.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    prefetch_tile(first, c_rs, c_cs, rows, cols, store);
                    crate::amx::kernel(
                        ra.as_ptr().add(r * A_ROWS * stride + q0),
                        stride,
                        pb.as_ptr().add(q0 * NR),
                        kc,
                        &mut tile,
                        false,
                    );
                }
                for (h, part) in tile.chunks_exact(MR * NR).enumerate() {
                    let part_rows = rows.saturating_sub(h * MR).min(MR);
                    if part_rows == 0 {
                        break;
                    }
                    let part: &[f32; MR * NR] = part.try_into().expect("MR · NR numbers");
                    // SAFETY: rows h·MR.. of this block, cols from p·NR, are inside c, and each
                    // task writes only its own columns of c; the CPU has AVX-512.
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        write_back(
                            part,
                            first.wrapping_offset((h * MR) as isize * c_rs),
                            c_rs,
                            c_cs,
                            part_rows,
                            cols,
                            store,
                        )
                    };
                }
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    unsafe {
        // Streamed stores are ordered before what this thread writes next.
        std::arch::x86_64::_mm_sfence();
        crate::amx::release()
    };
}

/// c[i, j] = tile[i · NR + j] (or += with [`Store::Add`]) for i < rows, j < cols, c at `first`
/// with strides `rs`, `cs`. With a short k this write-back costs as much as the tile itself,
/// so the two common layouts get AVX-512 loops: rows in one piece (masked at the edge), and
/// a transposed c (a product swapped to keep the long side in B), whose columns are.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn write_back(
    tile: &[f32; MR * NR],
    first: *mut f32,
    rs: isize,
    cs: isize,
    rows: usize,
    cols: usize,
    store: Store,
) {
    use std::arch::x86_64::*;
    let accumulate = store == Store::Add;
    // SAFETY (throughout): the caller gives c's rows × cols at first, strides rs and cs.
    unsafe {
        if streams(first, rs, cs, cols, store) {
            // Whole lines on 64-byte boundaries (checked by `streams`).
            for i in 0..rows {
                let dst = first.offset(i as isize * rs);
                for h in 0..2 {
                    let v = _mm512_loadu_ps(tile.as_ptr().add(i * NR + 16 * h));
                    _mm512_stream_ps(dst.add(16 * h), v);
                }
            }
            return;
        }
        if cs == 1 {
            let mask = |h: usize| {
                let n = cols.saturating_sub(16 * h).min(16);
                ((1u32 << n) - 1) as __mmask16
            };
            let (m0, m1) = (mask(0), mask(1));
            for i in 0..rows {
                let dst = first.offset(i as isize * rs);
                for (h, m) in [(0, m0), (1, m1)] {
                    let mut v = _mm512_loadu_ps(tile.as_ptr().add(i * NR + 16 * h));
                    if accumulate {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, dst.add(16 * h)));
                    }
                    _mm512_mask_storeu_ps(dst.add(16 * h), m, v);
                }
            }
            return;
        }
        if rs == 1 && rows == MR {
            // Column j of the tile is tile[j], tile[NR + j], …: gathered 8 at a time.
            let index = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
            for j in 0..cols {
                let dst = first.offset(j as isize * cs);
                let mut v = _mm256_i32gather_ps::<4>(tile.as_ptr().add(j), index);
                if accumulate {
                    v = _mm256_add_ps(v, _mm256_loadu_ps(dst));
                }
                _mm256_storeu_ps(dst, v);
            }
            return;
        }
        for i in 0..rows {
            for j in 0..cols {
                let dst = first.offset(i as isize * rs + j as isize * cs);
                let v = tile[i * NR + j];
                *dst = if accumulate { *dst + v } else { v };
            }
        }
    }
}

/// How a tile goes into c: written, added, or written past the caches where it can be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Write,
    Add,
    /// Written with streaming stores where they overwrite whole lines (32 numbers of a row,
    /// rows on 64-byte boundaries), for a c too large to be read again from the caches: a
    /// gradient, read next by the optimizer. An ordinary store first reads each line it writes.
    Stream,
}

/// A c of this many numbers or more (4 MiB: twice a core's L2 on the Xeons with AMX) is
/// written with [`Store::Stream`]. (GPT-2's dW of c_attn and of both MLP matrices, the LM
/// head's dwte, the logits; a smaller c, like the dx the next layer reads at once, stays in
/// cache.)
const STREAM_MIN: usize = 1 << 20;

/// Does a tile's write-back go past the caches?
#[cfg(target_arch = "x86_64")]
fn streams(first: *mut f32, rs: isize, cs: isize, cols: usize, store: Store) -> bool {
    store == Store::Stream
        && cs == 1
        && cols == NR
        && (first as usize).is_multiple_of(64)
        && rs.rem_euclid(16) == 0
}

/// Asks for the cache lines of c that a tile will write, before the tile is computed: c is
/// usually far out in memory (a gradient, or an array not yet touched), and its lines then
/// arrive while the kernel runs instead of stalling the write-back.
#[cfg(target_arch = "x86_64")]
fn prefetch_tile(first: *mut f32, rs: isize, cs: isize, rows: usize, cols: usize, store: Store) {
    use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
    if streams(first, rs, cs, cols, store) {
        // Written past the caches: nothing to fetch.
        return;
    }
    // SAFETY: a prefetch reads nothing and cannot fault, wherever it points.
    let line = |x: *mut f32| unsafe { _mm_prefetch::<_MM_HINT_ET0>(x as *const i8) };
    if cs == 1 {
        // A row's 32 numbers span three lines when they do not start on one.
        for i in 0..rows {
            let row = first.wrapping_offset(i as isize * rs);
            for j in [0, cols / 2, cols - 1] {
                line(row.wrapping_add(j));
            }
        }
    } else if rs == 1 {
        for j in 0..cols {
            let col = first.wrapping_offset(j as isize * cs);
            line(col);
            line(col.wrapping_add(rows - 1));
        }
    }
}

/// A raw pointer that rayon's tasks may share: each writes its own part (columns of c, pairs
/// of packed B).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

// ANCHOR: kernel
/// One register tile: tile[i · NR + j] = Σ_q pa[q][i] · pb[q][j], both pairs of bf16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn kernel(pa: &[u32], pb: &[u32], k2: usize, tile: &mut [f32; MR * NR]) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for q in 0..k2 {
        // SAFETY: pb holds k2 · NR words and pa k2 · MR.
        let (b0, b1, a) = unsafe {
            let b = pb.as_ptr().add(q * NR) as *const __m512i;
            (
                _mm512_loadu_si512(b),
                _mm512_loadu_si512(b.add(1)),
                pa.as_ptr().add(q * MR),
            )
        };
        // SAFETY: both are 64 bytes of plain data; __m512bh reads them as 32 bf16.
        let as_bh = |v: __m512i| unsafe { std::mem::transmute::<__m512i, __m512bh>(v) };
        let (b0, b1) = (as_bh(b0), as_bh(b1));
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: a points at MR words.
            let ai = as_bh(_mm512_set1_epi32(unsafe { *a.add(i) } as i32));
            row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
            row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: tile has MR · NR entries.
        unsafe {
            _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR), row[0]);
            _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR + 16), row[1]);
        }
    }
}
// ANCHOR_END: kernel

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The product of the operands as rounded to bf16, in f64: what the kernel must give, up
    /// to the order of its f32 sums.
    fn reference(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f64> {
        let round = |x: &f32| half::bf16::from_f32(*x).to_f32() as f64;
        a.map(round).dot(&b.map(round))
    }

    #[test]
    fn one_row_through_the_pairs_multiplies_the_rounded_weights_by_the_unrounded_row() {
        let mut rng = crate::rng::Rng::new(9);
        // An odd k (a last pair half empty), a last panel partly full, k past a prefetch's reach.
        for (k, n) in [(7, 33), (64, 70), (1536, 96)] {
            let b = Array2::from_shape_simple_fn((k, n), || rng.normal() as f32);
            let x = Array2::from_shape_simple_fn((1, k), || rng.normal() as f32);
            let packed = PackedB::new(b.view());
            let round = |v: &f32| half::bf16::from_f32(*v).to_f32() as f64;
            let want = x.mapv(|v| v as f64).dot(&b.map(round));
            // Each sum's error bound: f32 rounding of every partial sum of |terms|.
            let size = x.mapv(|v| v.abs() as f64).dot(&b.map(|v| round(v).abs()));
            for accumulate in [false, true] {
                let mut y = vec![0.5f32; n];
                packed.matvec(x.as_slice().unwrap(), &mut y, accumulate);
                let shift = if accumulate { 0.5 } else { 0.0 };
                for j in 0..n {
                    let err = (y[j] as f64 - shift - want[[0, j]]).abs();
                    let bound = 1e-6 * (k as f64).sqrt() * size[[0, j]] + 1e-6;
                    assert!(
                        err <= bound,
                        "k {k} n {n} [{j}]: {} vs {}",
                        y[j],
                        want[[0, j]]
                    );
                }
            }
        }
    }

    #[test]
    fn rounds_like_the_half_crate_but_flushes_subnormals() {
        let mut rng = crate::rng::Rng::new(4);
        let special = [
            0.0f32,
            -0.0,
            1.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-40,
            f32::INFINITY,
        ];
        let ties = [f32::from_bits(0x3F80_8000), f32::from_bits(0x3F81_8000)];
        let random = (0..100_000).map(|_| f32::from_bits(rng.next_u64() as u32));
        for x in special.into_iter().chain(ties).chain(random) {
            let want = half::bf16::from_f32(x);
            if x.is_nan() {
                assert!(f32::from_bits(to_bf16(x) << 16).is_nan());
            } else if x.is_subnormal() {
                assert_eq!(to_bf16(x), to_bf16(0f32.copysign(x)), "{x:e}");
            } else {
                assert_eq!(to_bf16(x), want.to_bits() as u32, "{x:e}");
            }
        }
    }

    #[test]
    fn the_instructions_round_as_to_bf16_does() {
        if !available() {
            return;
        }
        let mut rng = crate::rng::Rng::new(5);
        let special = [
            0.0f32,
            -0.0,
            1e-40,
            -1e-40,
            f32::MAX,
            f32::NAN,
            f32::NEG_INFINITY,
        ];
        let ties = [f32::from_bits(0x3F80_8000), f32::from_bits(0x3F81_8000)];
        let random = (0..100_000).map(|_| f32::from_bits(rng.next_u64() as u32));
        let xs: Vec<f32> = special.into_iter().chain(ties).chain(random).collect();
        for x in xs.chunks_exact(64) {
            let (mut one, mut rows, mut column) = ([0u32; 16], [0u32; 32], [0u32; 16]);
            // SAFETY: the CPU has AVX512-BF16 (checked above); x holds 64 numbers, the outputs
            // 16, 32 and 16 words.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                use std::arch::x86_64::*;
                let rounded = round16(_mm512_loadu_ps(x.as_ptr()));
                _mm512_storeu_si512(one.as_mut_ptr() as *mut __m512i, rounded);
                pairs_of_rows(x.as_ptr(), x[32..].as_ptr(), rows.as_mut_ptr());
                pairs_of_column(x.as_ptr(), &mut column);
            }
            for i in 0..16 {
                assert_eq!(one[i], to_bf16(x[i]), "{:e}", x[i]);
                assert_eq!(column[i], pair(x[2 * i], x[2 * i + 1]));
            }
            for j in 0..32 {
                assert_eq!(rows[j], pair(x[j], x[32 + j]));
            }
        }
    }

    /// A random matrix with a NaN first and a subnormal last, and two copies to view it in
    /// other layouts: its transpose stored by rows (so that `.t()` is stored by columns; a
    /// view's `to_owned` would keep the view's order) and a copy with every column twice (so
    /// that `.slice(s![.., ..;2])` is strided).
    fn matrix_and_copies(
        rng: &mut crate::rng::Rng,
        rows: usize,
        cols: usize,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let mut x = Array2::from_shape_simple_fn((rows, cols), || rng.normal() as f32);
        x[[0, 0]] = f32::NAN;
        x[[rows - 1, cols - 1]] = 1e-40;
        let xt = Array2::from_shape_fn((cols, rows), |(j, i)| x[[i, j]]);
        assert_eq!(xt.t().strides(), [1, rows as isize]);
        let doubled = Array2::from_shape_fn((rows, 2 * cols), |(i, j)| x[[i, j / 2]]);
        (x, xt, doubled)
    }

    /// x [K, N] laid out by the definition of the packing: pair q (rows 2q and 2q + 1, the
    /// second 0 past the edge), column j of panel p (`width` columns) at
    /// (p · ⌈K/2⌉ + q) · width + j mod width; columns past the edge 0.
    fn by_definition(x: ArrayView2<f32>, width: usize) -> Vec<u32> {
        let (k, n) = x.dim();
        let k2 = k.div_ceil(2);
        let mut out = vec![0u32; n.div_ceil(width) * k2 * width];
        for q in 0..k2 {
            for j in 0..n {
                let hi = if 2 * q + 1 < k {
                    x[[2 * q + 1, j]]
                } else {
                    0.0
                };
                out[(j / width * k2 + q) * width + j % width] = pair(x[[2 * q, j]], hi);
            }
        }
        out
    }

    #[test]
    fn packing_lays_b_out_as_defined_whole_or_a_panel_at_a_time() {
        // On any CPU: one-row products read packed weights where there is no AVX512-BF16 too.
        let mut rng = crate::rng::Rng::new(9);
        for &(k, n) in &[(64, 64), (67, 70), (1, 33), (33, 1), (96, 32)] {
            let (b, bt, doubled) = matrix_and_copies(&mut rng, k, n);
            // Row-major, column-major (a transposed view) and strided.
            let views = [b.view(), bt.t(), doubled.slice(ndarray::s![.., ..;2])];
            let k2 = k.div_ceil(2);
            let want = by_definition(b.view(), NR);
            for view in views {
                assert_eq!(PackedB::new(view).data, want, "whole, k {k}, n {n}");
                let mut out = vec![7; k2 * NR];
                for p in 0..n.div_ceil(NR) {
                    pack_panel(view, p, &mut out);
                    let want = &want[p * k2 * NR..(p + 1) * k2 * NR];
                    assert_eq!(&out[..], want, "k {k}, n {n}, panel {p}");
                }
            }
        }
    }

    /// Equal to the bit, or both NaN (whose payload the rounding instructions may change).
    fn same(x: &[f32], y: &[f32]) -> bool {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
    }

    /// Each panel of `copy` packed on its own is its part of `want`; memory holding 7s, as if
    /// kept from a larger product, must not show through.
    fn each_panel_packs_as(copy: ArrayView2<u16>, want: &[u32], what: &str) {
        let words = copy.nrows().div_ceil(2) * NR;
        for (p, want) in want.chunks_exact(words).enumerate() {
            let mut out = vec![7; words];
            pack_halves(copy, p..p + 1, &mut out);
            assert_eq!(out, want, "{what}, panel {p}");
        }
    }

    #[test]
    fn a_bf16_copy_packs_and_multiplies_as_its_f32_original_does() {
        if !available() {
            return;
        }
        let mut rng = crate::rng::Rng::new(17);
        let halves = |x: &Array2<f32>| x.map(|&v| to_bf16(v) as u16);
        // k odd, short of a block of 16 and past several; n short of a panel and past one.
        for &(k, n) in &[
            (64, 64),
            (67, 70),
            (1, 33),
            (33, 1),
            (96, 32),
            (300, 64),
            (48, 96),
        ] {
            let (b, bt, doubled) = matrix_and_copies(&mut rng, k, n);
            let (h, ht, hd) = (halves(&b), halves(&bt), halves(&doubled));
            // Rows in one piece (x·W), columns in one piece (dy·Wᵀ), and strided.
            let views = [
                (b.view(), h.view()),
                (bt.t(), ht.t()),
                (
                    doubled.slice(ndarray::s![.., ..;2]),
                    hd.slice(ndarray::s![.., ..;2]),
                ),
            ];
            let (k2, panels) = (k.div_ceil(2), n.div_ceil(NR));
            let want = by_definition(b.view(), NR);
            let a = Array2::from_shape_simple_fn((37, k), || rng.normal() as f32);
            for (view, copy) in views {
                // All panels as one group, and each on its own; memory holding 7s, as if kept
                // from a larger product, must not show through.
                let mut out = vec![7; panels * k2 * NR];
                pack_halves(copy, 0..panels, &mut out);
                assert_eq!(out, want, "k {k}, n {n}, strides {:?}", copy.strides());
                each_panel_packs_as(copy, &want, &format!("k {k}, n {n}"));
                let mut from_f32 = Array2::zeros((37, n));
                let mut from_copy = Array2::from_elem((37, n), 1.0);
                matmul_bf16(a.view(), view, from_f32.view_mut(), false);
                matmul_bf16_halves(a.view(), copy, from_copy.view_mut(), false);
                assert!(
                    same(from_f32.as_slice().unwrap(), from_copy.as_slice().unwrap()),
                    "product, k {k}, n {n}, strides {:?}",
                    copy.strides()
                );
                // The LM head's dx: A packed both ways beforehand.
                let mut both = PackedBoth::default();
                both.pack(a.view());
                let mut from_copy = Array2::from_elem((37, n), 1.0);
                matmul_bf16_both_a_halves(&both, copy, from_copy.view_mut(), false);
                assert!(
                    same(from_f32.as_slice().unwrap(), from_copy.as_slice().unwrap()),
                    "A packed beforehand, k {k}, n {n}"
                );
            }
            // Columns in one piece, an even stride, but an odd k (a slice of them): the last
            // pair's second number is 0, not the number after it in memory.
            if k % 2 == 0 {
                let rows = ndarray::s![..k - 1, ..];
                let (view, copy) = (bt.t().slice_move(rows), ht.t().slice_move(rows));
                each_panel_packs_as(copy, &by_definition(view, NR), &format!("k {}", k - 1));
            }
        }
    }

    #[test]
    fn rounding_past_the_caches_rounds_as_the_products_do_at_any_alignment() {
        let mut rng = crate::rng::Rng::new(19);
        let mut x: Vec<f32> = (0..200).map(|_| rng.normal() as f32).collect();
        // A tie to even each way, a subnormal (flushed, as the instructions flush it), infinity.
        x[3] = f32::from_bits(0x3F80_8000);
        x[40] = f32::from_bits(0x3F81_8000);
        x[41] = 1e-40;
        x[77] = f32::INFINITY;
        let mut out = vec![0u16; 240];
        for start in 0..34 {
            for len in [0, 1, 31, 32, 33, 100, 200] {
                out.fill(7);
                round_streaming(&x[..len], &mut out[start..start + len]);
                for (i, &v) in x[..len].iter().enumerate() {
                    assert_eq!(
                        out[start + i],
                        to_bf16(v) as u16,
                        "start {start}, len {len}"
                    );
                }
                assert!(
                    out[..start]
                        .iter()
                        .chain(&out[start + len..])
                        .all(|&w| w == 7)
                );
            }
        }
    }

    #[test]
    fn packing_lays_a_out_as_defined_by_rows_by_columns_or_strided() {
        if !available() {
            return;
        }
        let mut rng = crate::rng::Rng::new(11);
        for &(m, k) in &[(8, 64), (13, 67), (1, 33), (33, 1), (16, 96), (9, 31)] {
            let (a, at, doubled) = matrix_and_copies(&mut rng, m, k);
            let views = [a.view(), at.t(), doubled.slice(ndarray::s![.., ..;2])];
            // A's layout of a is B's layout of aᵀ, in panels of MR.
            let want = by_definition(a.t(), MR);
            for view in views {
                // Memory left over from a larger product must not show through.
                assert_eq!(pack_a(view, vec![7; 5000]), want, "m {m}, k {k}");
            }
        }
    }

    #[test]
    fn rows_packed_in_one_pass_are_the_panels_laid_out_by_rows() {
        if !available() {
            return;
        }
        let mut rng = crate::rng::Rng::new(13);
        // Memory holding 7s, as if kept from a larger product, must not show through; k short
        // of 32 numbers, odd, and past a whole 32; rows short of and past a block of 32.
        for &(m, k) in &[
            (70, 300),
            (8, 64),
            (13, 67),
            (1, 33),
            (33, 1),
            (9, 31),
            (40, 96),
        ] {
            let (a, _, _) = matrix_and_copies(&mut rng, m, k);
            let want = crate::amx::rows_from_panels(
                &pack_a(a.view(), Vec::new()),
                m,
                k.div_ceil(2),
                Vec::new(),
            );
            assert_eq!(pack_rows(a.view(), vec![7; 50_000]), want, "m {m}, k {k}");
        }
    }

    #[test]
    fn packing_both_ways_or_beforehand_equals_each_packing_and_product() {
        if !available() {
            return;
        }
        let mut rng = crate::rng::Rng::new(12);
        let mut both = PackedBoth::default();
        // A larger shape first, so that memory kept from it must not show through.
        for &(m, k) in &[
            (40, 200),
            (16, 64),
            (13, 67),
            (1, 33),
            (33, 1),
            (8, 50),
            (24, 113),
        ] {
            let (mut x, _, _) = matrix_and_copies(&mut rng, m, k);
            both.pack(x.view());
            assert_eq!(both.a, PackedA::new(x.view()), "A, m {m}, k {k}");
            assert_eq!(both.b, PackedB::new(x.view()), "B, m {m}, k {k}");
            x[[0, 0]] = 0.5;
            both.pack(x.view());
            let w = Array2::from_shape_simple_fn((k, 40), || rng.normal() as f32);
            let (mut got, mut want) = (Array2::zeros((m, 40)), Array2::zeros((m, 40)));
            assert!(matmul_bf16_both_a(&both, w.view(), got.view_mut(), false));
            assert!(matmul_bf16(x.view(), w.view(), want.view_mut(), false));
            assert_eq!(got, want, "x·w, m {m}, k {k}");
            // Both operands packed beforehand: the same numbers, summed in the same order.
            let (pa, pw) = (PackedA::new(x.view()), PackedB::new(w.view()));
            got.fill(1.0);
            assert!(matmul_bf16_prepacked(&pa, &pw, got.view_mut(), false));
            assert_eq!(got, want, "packed x · packed w, m {m}, k {k}");
        }
    }

    #[test]
    fn multiplies_the_rounded_operands_at_any_shape_and_stride() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (8, 32, 32),
            (17, 33, 65),
            (64, 768, 100),
            // Wide enough that a task takes a group of several panels of B.
            (19, 40, 1285),
            (19, 41, 1285),
            // On AMX: k in three parts (512, 512 and 21 pairs, 5 past the last step of 16),
            // the rows in a whole block of 32 and a part of one.
            (40, 2090, 45),
        ] {
            let a =
                Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 13) as f32 / 7.0 - 0.9);
            let b =
                Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 11) % 17) as f32 / 9.0 - 0.8);
            let want = reference(&a, &b);
            let mut c = Array2::from_elem((m, n), 2.0f32);
            assert!(matmul_bf16(a.view(), b.view(), c.view_mut(), true));
            let scale = k as f64;
            for (got, want) in c.iter().zip(&want) {
                assert!(
                    (*got as f64 - 2.0 - want).abs() < 1e-5 * scale,
                    "{m}x{k}x{n}"
                );
            }
            // Transposed views: c = (aᵀ)ᵀ·(bᵀ)ᵀ through strides.
            let at = Array2::from_shape_fn((k, m), |(j, i)| a[[i, j]]);
            let bt = Array2::from_shape_fn((n, k), |(j, i)| b[[i, j]]);
            let mut c2 = Array2::zeros((m, n));
            assert!(matmul_bf16(at.t(), bt.t(), c2.view_mut(), false));
            assert!(
                c2.iter()
                    .zip(&want)
                    .all(|(g, w)| (*g as f64 - w).abs() < 1e-5 * scale)
            );
            // Into a transposed c.
            let mut ct = Array2::<f32>::zeros((n, m));
            assert!(matmul_bf16(
                a.view(),
                b.view(),
                ct.view_mut().reversed_axes(),
                false
            ));
            assert!(
                ct.t()
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| (*g as f64 - w).abs() < 1e-5 * scale)
            );
        }
    }

    #[test]
    fn a_c_too_large_for_the_caches_is_written_past_them_whole() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        // m · n ≥ STREAM_MIN: whole lines of c go with streaming stores; the last panel's 16
        // columns and the last block's 31 rows test the edges. c holds NaN to start with, and
        // its rows start on 64-byte boundaries.
        let (m, k, n) = (511, 24, 2064);
        assert!(m * n >= STREAM_MIN);
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 13) as f32 / 7.0 - 0.9);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 11) % 17) as f32 / 9.0 - 0.8);
        let want = reference(&a, &b);
        let mut memory = vec![f32::NAN; m * n + 16];
        let at = memory.as_ptr().align_offset(64);
        let mut c =
            ndarray::ArrayViewMut2::from_shape((m, n), &mut memory[at..at + m * n]).unwrap();
        #[cfg(target_arch = "x86_64")]
        assert!(streams(c.as_mut_ptr(), n as isize, 1, NR, Store::Stream));
        assert!(matmul_bf16(a.view(), b.view(), c.view_mut(), false));
        for (got, want) in c.iter().zip(&want) {
            assert!(
                (*got as f64 - want).abs() < 1e-5 * k as f64,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn both_kernels_multiply_the_rounded_operands() {
        if !available() {
            return;
        }
        // vdpbf16ps on A's panels always, AMX on A's rows where this CPU has it: a product
        // picks one of the two, so each is called here by the layout it reads.
        for &(m, k, n) in &[(3, 5, 7), (33, 64, 65), (40, 2090, 45)] {
            let a =
                Array2::from_shape_fn((m, k), |(i, j)| ((i * 3 + j * 7) % 11) as f32 / 5.0 - 1.0);
            let b =
                Array2::from_shape_fn((k, n), |(i, j)| ((i * 13 + j * 5) % 19) as f32 / 8.0 - 1.1);
            let want = reference(&a, &b);
            let panels = pack_a(a.view(), Vec::new());
            let rows = crate::amx::available()
                .then(|| crate::amx::rows_from_panels(&panels, m, k.div_ceil(2), Vec::new()));
            let layouts =
                std::iter::once(LayoutA::Panels(&panels)).chain(rows.as_deref().map(LayoutA::Rows));
            for (which, layout) in ["vdpbf16ps", "AMX"].iter().zip(layouts) {
                let mut c = Array2::from_elem((m, n), f32::NAN);
                multiply_packed(
                    layout,
                    m,
                    k,
                    Panels::Unpacked(b.view()),
                    c.view_mut(),
                    false,
                );
                for (got, want) in c.iter().zip(&want) {
                    assert!(
                        (*got as f64 - want).abs() < 1e-5 * k as f64,
                        "{which}, {m}x{k}x{n}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even_so_the_error_is_bounded() {
        if !available() {
            return;
        }
        // Against the exact f32 product: each operand is off by at most 2⁻⁹ relative.
        let (m, k, n) = (16, 256, 48);
        let a = Array2::from_shape_fn((m, k), |(i, j)| {
            ((i * 31 + j * 17) % 101) as f32 / 50.0 - 1.0
        });
        let b = Array2::from_shape_fn((k, n), |(i, j)| {
            ((i * 13 + j * 29) % 97) as f32 / 48.0 - 1.0
        });
        let exact = a.dot(&b);
        let bound = a.mapv(f32::abs).dot(&b.mapv(f32::abs)) * (2.0 / 256.0);
        let mut c = Array2::zeros((m, n));
        assert!(matmul_bf16(a.view(), b.view(), c.view_mut(), false));
        for ((got, want), bound) in c.iter().zip(&exact).zip(&bound) {
            assert!((got - want).abs() <= *bound, "{got} vs {want}");
        }
    }
}
