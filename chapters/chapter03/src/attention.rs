//! The readable GPT-2, part 1: the linear layer and causal self-attention, each a forward pass
//! that returns what its backward pass needs and a backward pass that returns the gradients.
//!
//! Plain ndarray: `dot`, broadcasting, `mapv` and sums over an axis, one thread, nothing reused.
//! Shapes use N for the number of positions in a batch (B·T) and C for the width.

use ndarray::{Array2, Array4, ArrayView2, ArrayViewMutD, Axis, Ix4, s};

use gpt2::rng::Rng;

use crate::dropout::Dropout;

// ANCHOR: parameters
/// A layer's learned tensors, by GPT-2's names (`weight`, `c_attn.bias`, ...), in a fixed order.
/// The gradients returned by `backward` have the same type as the layer, so the same call lists
/// a gradient's tensors too, in the same order: that is all an optimizer needs.
pub trait Parameters {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)>;
}

/// `prefix.name` for each of a part's parameters.
pub fn prefixed<'a>(
    prefix: &str,
    part: Vec<(String, ArrayViewMutD<'a, f32>)>,
) -> Vec<(String, ArrayViewMutD<'a, f32>)> {
    let named = part.into_iter();
    named.map(|(n, p)| (format!("{prefix}.{n}"), p)).collect()
}
// ANCHOR_END: parameters

// ANCHOR: linear
/// y = x·W + b. GPT-2 stores W as [in, out] (its "Conv1D"), so no transpose is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// weight: [in, out]
    pub weight: Array2<f32>,
    /// bias: [out]
    pub bias: ndarray::Array1<f32>,
}

impl Linear {
    /// x: [N, in] -> y: [N, out]. The backward pass needs x, which the caller keeps.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        x.dot(&self.weight) + &self.bias
    }

    /// x: [N, in] (the forward input), dy: [N, out] -> (dx: [N, in], the gradients).
    /// dW = xᵀ·dy, db = the sum of dy over positions, dx = dy·Wᵀ.
    pub fn backward(&self, x: &Array2<f32>, dy: &Array2<f32>) -> (Array2<f32>, Linear) {
        let grads = Linear {
            weight: x.t().dot(dy),
            bias: dy.sum_axis(Axis(0)),
        };
        (dy.dot(&self.weight.t()), grads)
    }
}
// ANCHOR_END: linear

impl Linear {
    /// A layer with all parameters zero.
    pub fn zeros(fan_in: usize, fan_out: usize) -> Linear {
        let (weight, bias) = (
            Array2::zeros((fan_in, fan_out)),
            ndarray::Array1::zeros(fan_out),
        );
        Linear { weight, bias }
    }

    /// GPT-2's initialisation: weights from N(0, std²), biases zero.
    pub fn init(fan_in: usize, fan_out: usize, std: f32, rng: &mut Rng) -> Linear {
        let weight = Array2::from_shape_simple_fn((fan_in, fan_out), || rng.normal() as f32 * std);
        let bias = ndarray::Array1::zeros(fan_out);
        Linear { weight, bias }
    }
}

impl Parameters for Linear {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("weight".into(), self.weight.view_mut().into_dyn()),
            ("bias".into(), self.bias.view_mut().into_dyn()),
        ]
    }
}

// ANCHOR: attend
/// One head of causal attention. q: [Tq, d], k and v: [Tk, d], where query i stands at position
/// `offset + i` and key j at position j -> (out: [Tq, d], weights: [Tq, Tk]).
/// Query i scores the keys j ≤ offset + i with q·k / √d; a softmax turns the scores into
/// weights (0 for the keys in its future); out is the weighted sum of the values.
pub fn attend(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    offset: usize,
) -> (Array2<f32>, Array2<f32>) {
    let scale = 1.0 / (q.ncols() as f32).sqrt();
    let mut scores = q.dot(&k.t()) * scale;
    for ((i, j), s) in scores.indexed_iter_mut() {
        if j > offset + i {
            *s = f32::NEG_INFINITY; // the mask: e^-∞ = 0
        }
    }
    // Subtracting each row's maximum keeps exp from overflowing and does not change the result.
    let max = scores.map_axis(Axis(1), |r| r.fold(f32::NEG_INFINITY, |m, &x| m.max(x)));
    let exp = (scores - &max.insert_axis(Axis(1))).mapv(f32::exp);
    let weights = &exp / &exp.sum_axis(Axis(1)).insert_axis(Axis(1));
    (weights.dot(&v), weights)
}
// ANCHOR_END: attend

// ANCHOR: attention
/// Multi-head causal self-attention, as in GPT-2.
#[derive(Debug, Clone, PartialEq)]
pub struct CausalSelfAttention {
    /// c_attn: C -> 3C, queries, keys and values of all heads at once
    pub c_attn: Linear,
    /// c_proj: C -> C, mixes the heads' outputs
    pub c_proj: Linear,
    pub n_head: usize,
}

/// What attention's forward pass keeps for its backward pass.
#[derive(Debug, Clone)]
pub struct AttentionCache {
    /// x: [N, C], the input
    pub x: Array2<f32>,
    /// qkv: [N, 3C], c_attn's output: q, k and v side by side
    pub qkv: Array2<f32>,
    /// att: [B, n_head, T, T], the attention weights
    pub att: Array4<f32>,
    /// y: [N, C], the heads' outputs side by side (c_proj's input)
    pub y: Array2<f32>,
    /// att_mask: [B, n_head, T, T], dropout's mask on the weights while training
    pub att_mask: Option<Array4<f32>>,
}

impl CausalSelfAttention {
    /// x: [N, C], N = B·T, sequence after sequence -> out: [N, C].
    /// Head h owns columns h·d..(h+1)·d of q, of k and of v, with d = C / n_head.
    pub fn forward(
        &self,
        x: &Array2<f32>,
        t: usize,
        drop: &mut Dropout,
    ) -> (Array2<f32>, AttentionCache) {
        let (n, c) = x.dim();
        let (nh, d) = (self.n_head, c / self.n_head);
        let qkv = self.c_attn.forward(x);
        let mut att = Array4::zeros((n / t, nh, t, t));
        let att_mask = drop.mask(Ix4(n / t, nh, t, t), drop.attn);
        let mut y = Array2::zeros((n, c));
        for b in 0..n / t {
            for h in 0..nh {
                let rows = b * t..(b + 1) * t;
                let cols = |third: usize| third * c + h * d..third * c + (h + 1) * d;
                let part = |third: usize| qkv.slice(s![rows.clone(), cols(third)]);
                let (mut out, weights) = attend(part(0), part(1), part(2), 0);
                if let Some(m) = &att_mask {
                    // Dropout drops weights: out = (weights ⊙ mask)·v
                    out = (&weights * &m.slice(s![b, h, .., ..])).dot(&part(2));
                }
                y.slice_mut(s![rows, h * d..(h + 1) * d]).assign(&out);
                att.slice_mut(s![b, h, .., ..]).assign(&weights);
            }
        }
        let out = self.c_proj.forward(&y);
        (
            out,
            AttentionCache {
                x: x.clone(),
                qkv,
                att,
                y,
                att_mask,
            },
        )
    }
}
// ANCHOR_END: attention

// ANCHOR: backward
impl CausalSelfAttention {
    /// cache: from `forward`, dout: [N, C] -> (dx: [N, C], the gradients).
    /// Each step of the forward pass, undone in reverse order.
    pub fn backward(
        &self,
        cache: &AttentionCache,
        dout: &Array2<f32>,
    ) -> (Array2<f32>, CausalSelfAttention) {
        let (n, c) = cache.x.dim();
        let (nh, d, t) = (self.n_head, c / self.n_head, cache.att.dim().2);
        let scale = 1.0 / (d as f32).sqrt();
        let (dy, c_proj) = self.c_proj.backward(&cache.y, dout);
        let mut dqkv = Array2::zeros((n, 3 * c));
        for b in 0..n / t {
            for h in 0..nh {
                let rows = b * t..(b + 1) * t;
                let cols = |third: usize| third * c + h * d..third * c + (h + 1) * d;
                let part = |third: usize| cache.qkv.slice(s![rows.clone(), cols(third)]);
                let (q, k, v) = (part(0), part(1), part(2));
                let p = cache.att.slice(s![b, h, .., ..]);
                let dout = dy.slice(s![rows.clone(), h * d..(h + 1) * d]);
                // out = p·v, or (p ⊙ m)·v with dropout's mask m
                let (dp, dv) = match &cache.att_mask {
                    None => (dout.dot(&v.t()), p.t().dot(&dout)),
                    Some(m) => {
                        let m = m.slice(s![b, h, .., ..]);
                        (dout.dot(&v.t()) * m, (&p * &m).t().dot(&dout))
                    }
                };
                // p = softmax(scores), row by row: ds = p ⊙ (dp − Σⱼ pⱼ dpⱼ); masked p are 0
                let dot = (&p * &dp).sum_axis(Axis(1)).insert_axis(Axis(1));
                let ds = &p * &(&dp - &dot) * scale;
                // scores = q·kᵀ / √d
                dqkv.slice_mut(s![rows.clone(), cols(0)])
                    .assign(&ds.dot(&k));
                dqkv.slice_mut(s![rows.clone(), cols(1)])
                    .assign(&ds.t().dot(&q));
                dqkv.slice_mut(s![rows, cols(2)]).assign(&dv);
            }
        }
        let (dx, c_attn) = self.c_attn.backward(&cache.x, &dqkv);
        let n_head = nh;
        (
            dx,
            CausalSelfAttention {
                c_attn,
                c_proj,
                n_head,
            },
        )
    }
}
// ANCHOR_END: backward

impl CausalSelfAttention {
    /// GPT-2's initialisation; `proj_std` is the (smaller) std of the residual projection.
    pub fn init(c: usize, n_head: usize, std: f32, proj_std: f32, rng: &mut Rng) -> Self {
        CausalSelfAttention {
            c_attn: Linear::init(c, 3 * c, std, rng),
            c_proj: Linear::init(c, c, proj_std, rng),
            n_head,
        }
    }
}

impl Parameters for CausalSelfAttention {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut all = prefixed("c_attn", self.c_attn.parameters());
        all.extend(prefixed("c_proj", self.c_proj.parameters()));
        all
    }
}
