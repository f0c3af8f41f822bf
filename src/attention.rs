//! Causal self-attention: every position gathers information from itself and the positions
//! before it, in `n_head` independent heads.

use ndarray::iter::{AxisIter, AxisIterMut};
use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayViewMut2, Axis, Ix2, Zip, s};
use rayon::prelude::*;

use crate::kernels::matmul;
use crate::layers::{Linear, Params, VisitCopies, join, softmax_backward_inplace, softmax_prefix};
use crate::rng::Rng;

/// What the forward pass keeps for the backward pass. Reused from step to step.
#[derive(Debug, Default, Clone)]
pub struct AttentionCache {
    /// qkv: [N, 3C], queries, keys and values of every position (c_attn's output)
    pub qkv: Array2<f32>,
    /// att: [B, n_head, T, T], the attention weights (0 above the diagonal)
    pub att: Array4<f32>,
    /// y: [N, C], the heads' outputs side by side (c_proj's input)
    pub y: Array2<f32>,
    /// att_mask: [B, n_head, T, T], dropout's mask on the weights while training, if any
    pub att_mask: Option<Array4<f32>>,
}

impl AttentionCache {
    fn ensure(&mut self, b: usize, t: usize, c: usize, n_head: usize) {
        if self.qkv.dim() != (b * t, 3 * c) {
            self.qkv = Array2::zeros((b * t, 3 * c));
            self.y = Array2::zeros((b * t, c));
        }
        if self.att.dim() != (b, n_head, t, t) {
            self.att = Array4::zeros((b, n_head, t, t));
        }
    }
}

/// Multi-head causal self-attention, as in GPT-2.
#[derive(Debug, Clone)]
pub struct CausalSelfAttention {
    /// c_attn: C -> 3C, queries, keys and values at once
    pub c_attn: Linear,
    /// c_proj: C -> C, mixes the heads' outputs
    pub c_proj: Linear,
    pub n_head: usize,
}

/// Attention computes its [T, T] weights this many rows at a time (see `forward`).
const ROW_BLOCK: usize = 64;

impl CausalSelfAttention {
    /// GPT-2's initialisation; `proj_std` is the (smaller) std of the residual projection.
    pub fn init(c: usize, n_head: usize, std: f32, proj_std: f32, rng: &mut Rng) -> Self {
        CausalSelfAttention {
            c_attn: Linear::init(c, 3 * c, std, rng),
            c_proj: Linear::init(c, c, proj_std, rng),
            n_head,
        }
    }

    // ANCHOR: forward
    /// x: [N, C] with N = B·T, rows ordered sequence by sequence -> out: [N, C]
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        b: usize,
        t: usize,
        cache: &mut AttentionCache,
        out: ArrayViewMut2<f32>,
    ) {
        let c = x.ncols();
        let (nh, hd) = (self.n_head, c / self.n_head);
        cache.ensure(b, t, c, nh);
        self.c_attn.forward(x, cache.qkv.view_mut());
        let mask = cache.att_mask.as_ref();

        // One task per sequence and head: the sequence's T rows of qkv, the head's [T, T]
        // weights, and the head's hd columns of the sequence's T rows of y.
        Zip::indexed(seqs(cache.qkv.view(), b, t))
            .and(cache.att.outer_iter_mut())
            .and(seqs_mut(cache.y.view_mut(), b, t))
            .par_for_each(|i, qkv, mut att, mut y| {
                att.outer_iter_mut()
                    .into_par_iter()
                    .zip(y.axis_chunks_iter_mut(Axis(1), hd))
                    .enumerate()
                    .for_each(|(h, (mut a, mut y))| {
                        // Head h's slices: columns h·hd.. of the q, k and v thirds. Views.
                        let q = qkv.slice(s![.., h * hd..(h + 1) * hd]);
                        let k = qkv.slice(s![.., c + h * hd..c + (h + 1) * hd]);
                        let v = qkv.slice(s![.., 2 * c + h * hd..2 * c + (h + 1) * hd]);
                        // Rows in blocks: rows r0..r1 only see keys 0..r1, so the masked
                        // corner above the diagonal is never computed (half the work at
                        // large T).
                        for r0 in (0..t).step_by(ROW_BLOCK) {
                            let r1 = (r0 + ROW_BLOCK).min(t);
                            let mut a = a.slice_mut(s![r0..r1, ..]);
                            a.slice_mut(s![.., r1..]).fill(0.0);
                            attend(
                                q.slice(s![r0..r1, ..]),
                                k.slice(s![..r1, ..]),
                                v.slice(s![..r1, ..]),
                                r0,
                                a.slice_mut(s![.., ..r1]),
                                y.slice_mut(s![r0..r1, ..]),
                            );
                        }
                        // Dropout on the weights: y = (a ⊙ mask)·v; `att` keeps a itself.
                        if let Some(m) = mask {
                            let a = &a * &m.slice(s![i, h, .., ..]);
                            matmul(a.view(), v, y.view_mut(), false);
                        }
                    });
            });
        self.c_proj.forward(cache.y.view(), out);
    }
    // ANCHOR_END: forward

    // ANCHOR: backward
    /// x: [N, C] (the forward input), dout: [N, C] -> dx: [N, C]
    pub fn backward(
        &mut self,
        x: ArrayView2<f32>,
        b: usize,
        t: usize,
        cache: &AttentionCache,
        dout: ArrayView2<f32>,
        dx: ArrayViewMut2<f32>,
    ) {
        let c = x.ncols();
        let hd = c / self.n_head;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut dy = Array2::zeros((b * t, c));
        self.c_proj.backward(cache.y.view(), dout, dy.view_mut());

        let mut dqkv = Array2::zeros((b * t, 3 * c));
        let mask = cache.att_mask.as_ref();
        Zip::indexed(seqs(cache.qkv.view(), b, t))
            .and(cache.att.outer_iter())
            .and(seqs(dy.view(), b, t))
            .and(seqs_mut(dqkv.view_mut(), b, t))
            .par_for_each(|i, qkv, att, dy, dqkv| {
                // The gradients of the queries, keys and values: three [T, C] column blocks,
                // each cut into the heads' hd columns.
                let (mut dq, dkv) = dqkv.split_at(Axis(1), c);
                let (mut dk, mut dv) = dkv.split_at(Axis(1), c);
                att.outer_iter()
                    .into_par_iter()
                    .zip(dq.axis_chunks_iter_mut(Axis(1), hd))
                    .zip(dk.axis_chunks_iter_mut(Axis(1), hd))
                    .zip(dv.axis_chunks_iter_mut(Axis(1), hd))
                    .enumerate()
                    .for_each(|(h, (((a, mut dq), mut dk), mut dv))| {
                        let (qc, kc, vc) = (h * hd, c + h * hd, 2 * c + h * hd);
                        let dy_h = dy.slice(s![.., qc..qc + hd]);
                        let q = qkv.slice(s![.., qc..qc + hd]);
                        let k = qkv.slice(s![.., kc..kc + hd]);
                        let v = qkv.slice(s![.., vc..vc + hd]);
                        // The forward pass's row blocks: rows r0..r1 reach keys 0..r1 only.
                        // dk and dv gather every block's share.
                        dk.fill(0.0);
                        dv.fill(0.0);
                        for r0 in (0..t).step_by(ROW_BLOCK) {
                            let r1 = (r0 + ROW_BLOCK).min(t);
                            let a = a.slice(s![r0..r1, ..r1]);
                            let dy_b = dy_h.slice(s![r0..r1, ..]);
                            // y = a·v: da = dy·vᵀ, dv += aᵀ·dy; with dropout's mask m,
                            // y = (a ⊙ m)·v: da = (dy·vᵀ) ⊙ m, dv += (a ⊙ m)ᵀ·dy.
                            let mut da = Array2::zeros((r1 - r0, r1));
                            matmul(dy_b, v.slice(s![..r1, ..]).t(), da.view_mut(), false);
                            let dv_b = dv.slice_mut(s![..r1, ..]);
                            if let Some(m) = mask {
                                let m = m.slice(s![i, h, r0..r1, ..r1]);
                                da *= &m;
                                matmul((&a * &m).t(), dy_b, dv_b, true);
                            } else {
                                matmul(a.t(), dy_b, dv_b, true);
                            }
                            // a = softmax(scores): back through it row by row (masked
                            // entries stay 0), then through the scaling.
                            for (p, mut d) in a.rows().into_iter().zip(da.rows_mut()) {
                                softmax_backward_inplace(p, d.view_mut());
                                d.mapv_inplace(|v| v * scale);
                            }
                            // scores = q·kᵀ: dq = ds·k, dk += dsᵀ·q
                            let dq_b = dq.slice_mut(s![r0..r1, ..]);
                            matmul(da.view(), k.slice(s![..r1, ..]), dq_b, false);
                            let q_b = q.slice(s![r0..r1, ..]);
                            matmul(da.t(), q_b, dk.slice_mut(s![..r1, ..]), true);
                        }
                    });
            });
        self.c_attn.backward(x, dqkv.view(), dx);
    }
    // ANCHOR_END: backward
}

// ANCHOR: attend
/// Queries at positions `first..first + R` attend to the keys and values at positions `0..K`,
/// each query to its own position and those before it.
/// q: [R, hd], k, v: [K, hd] -> a: [R, K], the weights (0 past each query's position), and
/// y: [R, hd], each query's weighted mean of the values.
fn attend(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    first: usize,
    mut a: ArrayViewMut2<f32>,
    y: ArrayViewMut2<f32>,
) {
    let scale = 1.0 / (q.ncols() as f32).sqrt();
    // Scores q·kᵀ/√hd; row i: how well query i matches each key.
    matmul(q, k.t(), a.view_mut(), false);
    for (i, mut row) in a.rows_mut().into_iter().enumerate() {
        row.mapv_inplace(|s| s * scale);
        softmax_prefix(row, first + i + 1); // position first + i sees 0..=first + i
    }
    matmul(a.view(), v, y, false);
}
// ANCHOR_END: attend

/// [B·T, D] viewed as B sequences of [T, D], one after the other.
fn seqs<'a>(a: ArrayView2<'a, f32>, b: usize, t: usize) -> AxisIter<'a, f32, Ix2> {
    let d = a.ncols();
    a.into_shape_with_order((b, t, d))
        .expect("rows are B sequences of T positions")
        .into_outer_iter()
}

fn seqs_mut<'a>(a: ArrayViewMut2<'a, f32>, b: usize, t: usize) -> AxisIterMut<'a, f32, Ix2> {
    let d = a.ncols();
    a.into_shape_with_order((b, t, d))
        .expect("rows are B sequences of T positions")
        .into_outer_iter_mut()
}

impl Params for CausalSelfAttention {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        self.c_attn.visit_copies(&join(prefix, "c_attn"), f);
        self.c_proj.visit_copies(&join(prefix, "c_proj"), f);
    }

    fn zero_grad(&mut self) {
        self.c_attn.zero_grad();
        self.c_proj.zero_grad();
    }
}

/// The keys and values of the positions a layer has already seen, so that generating one more
/// token costs one position's work instead of the whole context's.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// k, v: [n_head, capacity, head_dim]
    pub k: Array3<f32>,
    pub v: Array3<f32>,
    /// How many positions are filled.
    pub len: usize,
}

impl KvCache {
    pub fn new(n_head: usize, capacity: usize, head_dim: usize) -> KvCache {
        KvCache {
            k: Array3::zeros((n_head, capacity, head_dim)),
            v: Array3::zeros((n_head, capacity, head_dim)),
            len: 0,
        }
    }
}

impl CausalSelfAttention {
    // ANCHOR: forward_cached
    /// Attention for new positions only. x: [T_new, C], the positions that follow the
    /// `cache.len` already seen -> out: [T_new, C]. Their keys and values join the cache.
    pub fn forward_cached(&self, x: ArrayView2<f32>, cache: &mut KvCache, out: ArrayViewMut2<f32>) {
        let (t_new, c) = x.dim();
        let (nh, hd) = (self.n_head, c / self.n_head);
        let (past, total) = (cache.len, cache.len + t_new);
        let mut qkv = Array2::zeros((t_new, 3 * c));
        self.c_attn.forward(x, qkv.view_mut());
        for h in 0..nh {
            let (kc, vc) = (c + h * hd, 2 * c + h * hd);
            cache
                .k
                .slice_mut(s![h, past..total, ..])
                .assign(&qkv.slice(s![.., kc..kc + hd]));
            cache
                .v
                .slice_mut(s![h, past..total, ..])
                .assign(&qkv.slice(s![.., vc..vc + hd]));
        }
        cache.len = total;
        let mut y = Array2::zeros((t_new, c));
        // The heads are independent: one task each, writing its own hd columns of y.
        y.axis_chunks_iter_mut(Axis(1), hd)
            .into_par_iter()
            .enumerate()
            .for_each(|(h, y)| {
                // The new queries against every key so far: [T_new, total].
                attend(
                    qkv.slice(s![.., h * hd..(h + 1) * hd]),
                    cache.k.slice(s![h, ..total, ..]),
                    cache.v.slice(s![h, ..total, ..]),
                    past,
                    Array2::zeros((t_new, total)).view_mut(),
                    y,
                );
            });
        self.c_proj.forward(y.view(), out);
    }
    // ANCHOR_END: forward_cached
}
