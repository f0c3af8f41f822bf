//! The readable GPT-2, part 2: LayerNorm, GELU, the MLP and the Transformer block, on top of
//! chapter 3's linear layer and attention.

use ndarray::{Array1, Array2, ArrayViewMutD, Axis};

use chapter03::attention::{AttentionCache, CausalSelfAttention, Linear, Parameters, prefixed};
use chapter03::dropout::{Dropout, apply};
use gpt2::rng::Rng;

// ANCHOR: layernorm
/// Normalises each position to mean 0 and variance 1, then scales and shifts it:
/// y = (x − mean) / √(var + eps) · weight + bias.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// weight: [C]
    pub weight: Array1<f32>,
    /// bias: [C]
    pub bias: Array1<f32>,
    pub eps: f32,
}

/// What LayerNorm's backward pass needs: the normalised input n: [N, C] and 1/√(var + eps): [N, 1].
#[derive(Debug, Clone)]
pub struct LayerNormCache {
    pub n: Array2<f32>,
    pub rstd: Array2<f32>,
}

impl LayerNorm {
    /// x: [N, C] -> y: [N, C]
    pub fn forward(&self, x: &Array2<f32>) -> (Array2<f32>, LayerNormCache) {
        let mean = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
        let centred = x - &mean;
        let var = centred.mapv(|v| v * v).mean_axis(Axis(1)).unwrap();
        let rstd = var
            .mapv(|v| 1.0 / (v + self.eps).sqrt())
            .insert_axis(Axis(1));
        let n = centred * &rstd;
        (&n * &self.weight + &self.bias, LayerNormCache { n, rstd })
    }

    /// dy: [N, C] -> (dx: [N, C], the gradients). With g = dy·weight:
    /// dx = rstd · (g − mean(g) − n · mean(g·n)); dweight = Σ dy·n; dbias = Σ dy.
    pub fn backward(&self, cache: &LayerNormCache, dy: &Array2<f32>) -> (Array2<f32>, LayerNorm) {
        let n = &cache.n;
        let g = dy * &self.weight;
        let g_mean = g.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
        let gn_mean = (&g * n).mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
        let dx = (g - g_mean - n * &gn_mean) * &cache.rstd;
        let weight = (dy * n).sum_axis(Axis(0));
        let bias = dy.sum_axis(Axis(0));
        (
            dx,
            LayerNorm {
                weight,
                bias,
                eps: self.eps,
            },
        )
    }
}
// ANCHOR_END: layernorm

impl LayerNorm {
    /// weight 1, bias 0: the identity on normalised input, as GPT-2 starts.
    pub fn new(c: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            weight: Array1::ones(c),
            bias: Array1::zeros(c),
            eps,
        }
    }
}

impl Parameters for LayerNorm {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("weight".into(), self.weight.view_mut().into_dyn()),
            ("bias".into(), self.bias.view_mut().into_dyn()),
        ]
    }
}

// ANCHOR: gelu
/// √(2/π)
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GELU, the tanh approximation GPT-2 uses (`gelu_new`): x/2 · (1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
}

/// dGELU/dx = ½(1 + tanh u) + ½x(1 − tanh² u) · √(2/π)(1 + 3 · 0.044715x²), u as above.
pub fn gelu_grad(x: f32) -> f32 {
    let t = (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh();
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
}
// ANCHOR_END: gelu

// ANCHOR: mlp
/// The MLP: C -> 4C, GELU, 4C -> C, applied to every position on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// c_fc: C -> 4C
    pub c_fc: Linear,
    /// c_proj: 4C -> C
    pub c_proj: Linear,
}

/// What the MLP's backward pass needs: x: [N, C], h = c_fc(x): [N, 4C], gelu(h): [N, 4C].
#[derive(Debug, Clone)]
pub struct MlpCache {
    pub x: Array2<f32>,
    pub h: Array2<f32>,
    pub g: Array2<f32>,
}

impl Mlp {
    /// x: [N, C] -> out: [N, C]
    pub fn forward(&self, x: &Array2<f32>) -> (Array2<f32>, MlpCache) {
        let h = self.c_fc.forward(x);
        let g = h.mapv(gelu);
        let out = self.c_proj.forward(&g);
        (out, MlpCache { x: x.clone(), h, g })
    }

    /// dout: [N, C] -> (dx: [N, C], the gradients)
    pub fn backward(&self, cache: &MlpCache, dout: &Array2<f32>) -> (Array2<f32>, Mlp) {
        let (dg, c_proj) = self.c_proj.backward(&cache.g, dout);
        let dh = dg * cache.h.mapv(gelu_grad);
        let (dx, c_fc) = self.c_fc.backward(&cache.x, &dh);
        (dx, Mlp { c_fc, c_proj })
    }
}
// ANCHOR_END: mlp

impl Parameters for Mlp {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut all = prefixed("c_fc", self.c_fc.parameters());
        all.extend(prefixed("c_proj", self.c_proj.parameters()));
        all
    }
}

// ANCHOR: block
/// One Transformer block, pre-LN as in GPT-2: r = x + attn(ln_1(x)); out = r + mlp(ln_2(r)).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: CausalSelfAttention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

/// What the block's backward pass needs: each sublayer's cache, and dropout's masks on the
/// two branches' outputs (while training).
#[derive(Debug, Clone)]
pub struct BlockCache {
    pub ln_1: LayerNormCache,
    pub attn: AttentionCache,
    pub ln_2: LayerNormCache,
    pub mlp: MlpCache,
    pub attn_drop: Option<Array2<f32>>,
    pub mlp_drop: Option<Array2<f32>>,
}

impl Block {
    /// x: [N, C], N = B·T -> out: [N, C]
    pub fn forward(
        &self,
        x: &Array2<f32>,
        t: usize,
        drop: &mut Dropout,
    ) -> (Array2<f32>, BlockCache) {
        let (a, ln_1) = self.ln_1.forward(x);
        let (a, attn) = self.attn.forward(&a, t, drop);
        let attn_drop = drop.mask(a.raw_dim(), drop.resid);
        let r = x + &apply(a, &attn_drop);
        let (m, ln_2) = self.ln_2.forward(&r);
        let (m, mlp) = self.mlp.forward(&m);
        let mlp_drop = drop.mask(m.raw_dim(), drop.resid);
        (
            r + &apply(m, &mlp_drop),
            BlockCache {
                ln_1,
                attn,
                ln_2,
                mlp,
                attn_drop,
                mlp_drop,
            },
        )
    }
}
// ANCHOR_END: block

// ANCHOR: block_backward
impl Block {
    /// dout: [N, C] -> (dx: [N, C], the gradients). A residual connection passes its gradient
    /// through unchanged and adds the branch's.
    pub fn backward(&self, cache: &BlockCache, dout: &Array2<f32>) -> (Array2<f32>, Block) {
        let dm = apply(dout.clone(), &cache.mlp_drop);
        let (dm, mlp) = self.mlp.backward(&cache.mlp, &dm);
        let (dm, ln_2) = self.ln_2.backward(&cache.ln_2, &dm);
        let dr = dout + &dm;
        let da = apply(dr.clone(), &cache.attn_drop);
        let (da, attn) = self.attn.backward(&cache.attn, &da);
        let (da, ln_1) = self.ln_1.backward(&cache.ln_1, &da);
        (
            dr + &da,
            Block {
                ln_1,
                attn,
                ln_2,
                mlp,
            },
        )
    }
}
// ANCHOR_END: block_backward

impl Block {
    /// GPT-2's initialisation: N(0, 0.02²) weights, and N(0, (0.02/√(2·n_layer))²) for the two
    /// projections that write into the residual stream, so that its variance does not grow
    /// with depth. Draws in the library's order, so the same seed gives the same weights.
    pub fn init(c: usize, n_head: usize, n_layer: usize, eps: f32, rng: &mut Rng) -> Block {
        let std = 0.02;
        let proj_std = std / (2.0 * n_layer as f32).sqrt();
        Block {
            ln_1: LayerNorm::new(c, eps),
            attn: CausalSelfAttention::init(c, n_head, std, proj_std, rng),
            ln_2: LayerNorm::new(c, eps),
            mlp: Mlp {
                c_fc: Linear::init(c, 4 * c, std, rng),
                c_proj: Linear::init(4 * c, c, proj_std, rng),
            },
        }
    }
}

impl Parameters for Block {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut all = prefixed("ln_1", self.ln_1.parameters());
        all.extend(prefixed("attn", self.attn.parameters()));
        all.extend(prefixed("ln_2", self.ln_2.parameters()));
        all.extend(prefixed("mlp", self.mlp.parameters()));
        all
    }
}
