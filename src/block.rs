//! The Transformer block: attention and an MLP, each behind a LayerNorm and added back to the
//! residual stream ("pre-LN", as in GPT-2).

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, CowArray, Ix2, Ix4};

use crate::attention::{AttentionCache, CausalSelfAttention, KvCache};
use crate::checkpoint::{CheckpointError, Tensors};
use crate::config::GPTConfig;
use crate::dropout::{DropoutRates, fill_mask};
use crate::layers::{LayerNorm, Linear, Params, VisitCopies, gelu_backward, gelu_forward, join};
use crate::rng::Rng;

/// The MLP: C -> 4C, GELU, 4C -> C, applied to every position on its own.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// c_fc: C -> 4C
    pub c_fc: Linear,
    /// c_proj: 4C -> C
    pub c_proj: Linear,
}

/// What the MLP's forward pass keeps for its backward pass: c_fc's output h: [N, 4C]. GELU's
/// output g = gelu(h), c_proj's input, is not kept: the backward pass computes it again (see
/// [`Scratch`]).
#[derive(Debug, Default, Clone)]
pub struct MlpCache {
    pub h: Array2<f32>,
}

/// Memory that the blocks use in turn, for what a block's backward pass computes again rather
/// than each block keeping it from its forward pass: LayerNorm's output `ln` [N, C] and GELU's
/// output `g` [N, 4C]. Recomputing them costs little next to a step (two LayerNorms and one
/// GELU per block, no product); keeping them for every block costs memory at the step's peak,
/// which comes in the backward pass, while every block's activations are held.
#[derive(Debug, Default)]
pub struct Scratch {
    pub ln: Array2<f32>,
    pub g: Array2<f32>,
}

/// `a` as a zeroed [rows, cols] array, unless it has that shape already.
fn shaped(a: &mut Array2<f32>, dims: (usize, usize)) {
    if a.dim() != dims {
        *a = Array2::zeros(dims);
    }
}

// ANCHOR: mlp
impl Mlp {
    /// x: [N, C] -> out: [N, C]. `g` holds GELU's output [N, 4C] until c_proj has read it;
    /// one such array serves every block.
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        cache: &mut MlpCache,
        g: &mut Array2<f32>,
        out: ArrayViewMut2<f32>,
    ) {
        let dims = (x.nrows(), self.c_fc.bias.value.len());
        shaped(&mut cache.h, dims);
        shaped(g, dims);
        self.c_fc.forward(x, cache.h.view_mut());
        gelu_forward(cache.h.view(), g.view_mut());
        self.c_proj.forward(g.view(), out);
    }

    /// x: [N, C] (the forward input), dout: [N, C] -> dx: [N, C]. `g` is memory for an
    /// [N, 4C] array, as in the forward pass.
    pub fn backward(
        &mut self,
        x: ArrayView2<f32>,
        cache: &MlpCache,
        g: &mut Array2<f32>,
        dout: ArrayView2<f32>,
        dx: ArrayViewMut2<f32>,
    ) {
        shaped(g, cache.h.dim());
        // g = gelu(h) again, bit for bit the forward pass's.
        gelu_forward(cache.h.view(), g.view_mut());
        let mut dg = Array2::zeros(cache.h.dim());
        self.c_proj.backward(g.view(), dout, dg.view_mut());
        // dh = dg · gelu'(h), into g's memory: c_proj's backward was the last to read g.
        gelu_backward(cache.h.view(), dg.view(), g.view_mut());
        self.c_fc.backward(x, g.view(), dx);
    }
}
// ANCHOR_END: mlp

impl Params for Mlp {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        self.c_fc.visit_copies(&join(prefix, "c_fc"), f);
        self.c_proj.visit_copies(&join(prefix, "c_proj"), f);
    }

    fn zero_grad(&mut self) {
        self.c_fc.zero_grad();
        self.c_proj.zero_grad();
    }
}

/// One Transformer block.
#[derive(Debug, Clone)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: CausalSelfAttention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

/// What the block's forward pass keeps for its backward pass. Reused from step to step.
/// LayerNorm's outputs are not kept, only their rows' statistics, from which the backward
/// pass computes them again (see [`Scratch`]).
#[derive(Debug, Default, Clone)]
pub struct BlockCache {
    /// The rows' means and reciprocal standard deviations in ln_1(x): [N]
    pub ln1_mean: Array1<f32>,
    pub ln1_rstd: Array1<f32>,
    pub attn: AttentionCache,
    /// r = x + attn(ln_1(x)): [N, C], the residual stream between the two halves
    pub r: Array2<f32>,
    /// The rows' statistics in ln_2(r): [N]
    pub ln2_mean: Array1<f32>,
    pub ln2_rstd: Array1<f32>,
    pub mlp: MlpCache,
    /// Dropout's masks on the attention's and the MLP's outputs while training, if any: [N, C]
    pub attn_drop: Option<Array2<f32>>,
    pub mlp_drop: Option<Array2<f32>>,
}

impl BlockCache {
    /// Draws the block's dropout masks for one training pass (the attention weights', then the
    /// attention output's, then the MLP output's), or clears them when `rng` is None.
    pub fn draw_dropout(
        &mut self,
        (b, t, c, n_head): (usize, usize, usize, usize),
        rates: DropoutRates,
        rng: Option<&mut Rng>,
    ) {
        let Some(rng) = rng else {
            (self.attn.att_mask, self.attn_drop, self.mlp_drop) = (None, None, None);
            return;
        };
        fill_mask(
            &mut self.attn.att_mask,
            Ix4(b, n_head, t, t),
            rates.attn,
            rng,
        );
        fill_mask(&mut self.attn_drop, Ix2(b * t, c), rates.resid, rng);
        fill_mask(&mut self.mlp_drop, Ix2(b * t, c), rates.resid, rng);
    }

    fn ensure(&mut self, n: usize, c: usize) {
        if self.r.dim() != (n, c) {
            self.r = Array2::zeros((n, c));
            for a in [
                &mut self.ln1_mean,
                &mut self.ln1_rstd,
                &mut self.ln2_mean,
                &mut self.ln2_rstd,
            ] {
                *a = Array1::zeros(n);
            }
        }
    }
}

impl Block {
    /// GPT-2's initialisation: N(0, 0.02²) weights, and N(0, (0.02/√(2·n_layer))²) for the two
    /// projections that write into the residual stream, so that its variance does not grow
    /// with depth.
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

    // ANCHOR: forward
    /// x: [N, C], N = B·T -> out: [N, C].
    /// r = x + attn(ln_1(x)); out = r + mlp(ln_2(r)).
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        b: usize,
        t: usize,
        cache: &mut BlockCache,
        scratch: &mut Scratch,
        mut out: ArrayViewMut2<f32>,
    ) {
        let c = cache;
        c.ensure(x.nrows(), x.ncols());
        shaped(&mut scratch.ln, x.dim());
        let ln = &mut scratch.ln;
        self.ln_1.forward(
            x,
            ln.view_mut(),
            c.ln1_mean.view_mut(),
            c.ln1_rstd.view_mut(),
        );
        self.attn
            .forward(ln.view(), b, t, &mut c.attn, c.r.view_mut());
        if let Some(m) = &c.attn_drop {
            c.r *= m;
        }
        c.r += &x;
        self.ln_2.forward(
            c.r.view(),
            ln.view_mut(),
            c.ln2_mean.view_mut(),
            c.ln2_rstd.view_mut(),
        );
        self.mlp
            .forward(ln.view(), &mut c.mlp, &mut scratch.g, out.view_mut());
        if let Some(m) = &c.mlp_drop {
            out *= m;
        }
        out += &c.r;
    }
    // ANCHOR_END: forward

    // ANCHOR: backward
    /// x: [N, C] (the forward input), dout: [N, C] -> dx: [N, C].
    /// A residual connection passes its gradient through unchanged and adds the branch's.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        x: ArrayView2<f32>,
        b: usize,
        t: usize,
        c: &BlockCache,
        scratch: &mut Scratch,
        dout: ArrayView2<f32>,
        mut dx: ArrayViewMut2<f32>,
    ) {
        shaped(&mut scratch.ln, x.dim());
        let ln = &mut scratch.ln;
        // out = r + mlp(ln_2(r)): dr = dout + ln_2ᵀ(mlpᵀ(dout)); dropout's mask, if any,
        // scales the branch's gradient as it scaled its output.
        let mut dln2 = Array2::zeros(x.dim());
        let dm = masked(dout, c.mlp_drop.as_ref());
        let (mean, rstd) = (c.ln2_mean.view(), c.ln2_rstd.view());
        self.ln_2.normalize(c.r.view(), mean, rstd, ln.view_mut());
        self.mlp.backward(
            ln.view(),
            &c.mlp,
            &mut scratch.g,
            dm.view(),
            dln2.view_mut(),
        );
        let mut dr = dout.to_owned();
        self.ln_2
            .backward(c.r.view(), mean, rstd, dln2.view(), dr.view_mut());
        // r = x + attn(ln_1(x)): dx = dr + ln_1ᵀ(attnᵀ(dr))
        let mut dln1 = Array2::zeros(x.dim());
        let da = masked(dr.view(), c.attn_drop.as_ref());
        let (mean, rstd) = (c.ln1_mean.view(), c.ln1_rstd.view());
        self.ln_1.normalize(x, mean, rstd, ln.view_mut());
        self.attn
            .backward(ln.view(), b, t, &c.attn, da.view(), dln1.view_mut());
        dx.assign(&dr);
        self.ln_1.backward(x, mean, rstd, dln1.view(), dx);
    }
    // ANCHOR_END: backward
}

/// dy ⊙ mask, or dy itself (borrowed) without a mask.
fn masked<'a>(dy: ArrayView2<'a, f32>, mask: Option<&Array2<f32>>) -> CowArray<'a, f32, Ix2> {
    match mask {
        Some(m) => CowArray::from(&dy * m),
        None => CowArray::from(dy),
    }
}

impl Block {
    /// Takes the tensors of block `prefix` (e.g. `h.3`) from a checkpoint.
    pub fn from_tensors(
        t: &mut Tensors,
        prefix: &str,
        config: &GPTConfig,
    ) -> Result<Block, CheckpointError> {
        let c = config.n_embd;
        let eps = config.layer_norm_eps as f32;
        let name = |s: &str| join(prefix, s);
        Ok(Block {
            ln_1: LayerNorm::from_tensors(t, &name("ln_1"), c, eps)?,
            attn: CausalSelfAttention {
                c_attn: Linear::from_tensors(t, &name("attn.c_attn"), c, 3 * c)?,
                c_proj: Linear::from_tensors(t, &name("attn.c_proj"), c, c)?,
                n_head: config.n_head,
            },
            ln_2: LayerNorm::from_tensors(t, &name("ln_2"), c, eps)?,
            mlp: Mlp {
                c_fc: Linear::from_tensors(t, &name("mlp.c_fc"), c, 4 * c)?,
                c_proj: Linear::from_tensors(t, &name("mlp.c_proj"), 4 * c, c)?,
            },
        })
    }

    /// The block's four weight matrices, in the order its forward pass uses them: attn.c_attn,
    /// attn.c_proj, mlp.c_fc, mlp.c_proj.
    pub fn matrices(&self) -> [&Linear; 4] {
        [
            &self.attn.c_attn,
            &self.attn.c_proj,
            &self.mlp.c_fc,
            &self.mlp.c_proj,
        ]
    }

    /// [`Block::matrices`], to change.
    pub fn matrices_mut(&mut self) -> [&mut Linear; 4] {
        [
            &mut self.attn.c_attn,
            &mut self.attn.c_proj,
            &mut self.mlp.c_fc,
            &mut self.mlp.c_proj,
        ]
    }
}

impl Block {
    /// The block on new positions only, with the attention's keys and values of earlier
    /// positions taken from (and the new ones added to) `kv`. x: [T_new, C] -> [T_new, C]
    pub fn forward_cached(&self, x: ArrayView2<f32>, kv: &mut KvCache) -> Array2<f32> {
        let mut r = Array2::zeros(x.raw_dim());
        self.attn
            .forward_cached(self.ln_1.apply(x).view(), kv, r.view_mut());
        r += &x;
        let mut out = Array2::zeros(x.raw_dim());
        self.mlp.forward(
            self.ln_2.apply(r.view()).view(),
            &mut MlpCache::default(),
            &mut Array2::zeros((0, 0)),
            out.view_mut(),
        );
        out += &r;
        out
    }
}

impl Params for Block {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        self.ln_1.visit_copies(&join(prefix, "ln_1"), f);
        self.attn.visit_copies(&join(prefix, "attn"), f);
        self.ln_2.visit_copies(&join(prefix, "ln_2"), f);
        self.mlp.visit_copies(&join(prefix, "mlp"), f);
    }

    fn zero_grad(&mut self) {
        self.ln_1.zero_grad();
        self.attn.zero_grad();
        self.ln_2.zero_grad();
        self.mlp.zero_grad();
    }
}
