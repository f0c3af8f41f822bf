//! The whole GPT-2: embeddings, a stack of blocks, a final LayerNorm, and the LM head tied to
//! the token embedding, with the cross-entropy loss and the backward pass of all of it.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, ArrayViewMut1, ArrayViewMut2, Ix2, Zip, s};
use thiserror::Error;

use crate::attention::KvCache;
use crate::block::{Block, BlockCache, Scratch};
use crate::config::GPTConfig;
use crate::dropout::{DropoutRates, fill_mask};
use crate::kernels::{
    Precision, exp_shifted_scaled_inplace, exp_shifted_sum_inplace, matmul, matmul_copy,
    max_and_exp_sum, precision, row_max, scale_inplace,
};
use crate::layers::{LayerNorm, Param, Params, VisitCopies, join, visit_param};
use crate::matmul_bf16;
use crate::quant::{Packed, Weights};
use crate::rng::Rng;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("a sequence of {t} tokens is longer than the model's context of {block_size}")]
    TooLong { t: usize, block_size: usize },
    #[error("token id {id} is outside the model's vocabulary of {vocab} ids")]
    BadToken { id: u32, vocab: usize },
    #[error("the targets are {found:?} but the inputs are {expected:?}")]
    TargetShape {
        expected: (usize, usize),
        found: (usize, usize),
    },
    #[error("an empty batch: {b} sequences of {t} tokens")]
    Empty { b: usize, t: usize },
    #[error("backward() needs a forward pass with targets first")]
    NoLoss,
}

/// Columns of dlogits (4,096 tokens of the vocabulary) that the bf16 LM head's backward rounds and
/// packs at a time: on AMX its bf16 copies then take 6 MiB at B·T = 256 rather than 74 MiB for
/// all 50,257, and there dlnf's sum over the slices is the whole product's, in the same order.
const LM_HEAD_SLICE: usize = 4 * matmul_bf16::K_PART;

/// What the forward pass keeps for the backward pass. Reused from step to step.
#[derive(Debug, Default)]
struct Activations {
    b: usize,
    t: usize,
    ids: Vec<u32>,
    targets: Option<Vec<u32>>,
    /// residual[l]: [N, C], the input of block l; residual[n_layer] is the last block's output
    residual: Vec<Array2<f32>>,
    caches: Vec<BlockCache>,
    /// ln_f's output [N, C], and its rows' statistics
    lnf: Array2<f32>,
    lnf_mean: Array1<f32>,
    lnf_rstd: Array1<f32>,
    /// logits: [N, V]
    logits: Array2<f32>,
    /// Each row's log-sum-exp of the logits, for the loss and its gradient: [N]
    lse: Array1<f32>,
    /// After `forward_train`, `logits` holds the gradient of the loss instead.
    logits_are_grad: bool,
    /// Dropout's mask on the embeddings while training, if any: [N, C]
    embd_mask: Option<Array2<f32>>,
}

// ANCHOR: gpt
/// GPT-2: token and position embeddings, `n_layer` blocks, a final LayerNorm, and an LM head
/// that reuses the token embedding.
#[derive(Debug)]
pub struct GPT {
    pub config: GPTConfig,
    /// wte: [vocab_size, C], token embeddings and LM head
    pub wte: Param<Ix2>,
    /// wpe: [block_size, C], position embeddings
    pub wpe: Param<Ix2>,
    /// h: the blocks
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
    acts: Activations,
    dlogits: Array2<f32>,
    /// dlogits rounded to bf16 and packed for both backward products of the LM head (with
    /// `--precision bf16`); memory kept from step to step.
    dlogits_bf16: matmul_bf16::PackedBoth,
    /// What the blocks compute again in the backward pass rather than keep, one block at a time.
    scratch: Scratch,
    /// The LM head's copy in a smaller format, if any (see [`GPT::use_weights`]).
    wte_packed: Option<Packed>,
    /// Built for forward passes only (see [`GPT::load_for_inference`]): no gradients, and
    /// weight matrices perhaps only in their packed copies.
    inference_only: bool,
}
// ANCHOR_END: gpt

impl GPT {
    // ANCHOR: init
    /// A randomly initialised model, GPT-2's way: every weight from N(0, 0.02²) except the two
    /// residual projections of each block, N(0, (0.02/√(2·n_layer))²); biases 0; LayerNorms 1, 0.
    pub fn new(config: GPTConfig, seed: u64) -> GPT {
        let mut rng = Rng::new(seed);
        let (c, eps) = (config.n_embd, config.layer_norm_eps as f32);
        GPT {
            wte: Param::normal(Ix2(config.vocab_size, c), 0.02, &mut rng).with_copy(),
            wpe: Param::normal(Ix2(config.block_size, c), 0.02, &mut rng),
            h: (0..config.n_layer)
                .map(|_| Block::init(c, config.n_head, config.n_layer, eps, &mut rng))
                .collect(),
            ln_f: LayerNorm::new(c, eps),
            config,
            acts: Activations::default(),
            dlogits: Array2::zeros((0, 0)),
            dlogits_bf16: Default::default(),
            scratch: Scratch::default(),
            wte_packed: None,
            inference_only: false,
        }
    }
    // ANCHOR_END: init

    /// Builds a model from parts (as a checkpoint loader does).
    pub fn from_parts(
        config: GPTConfig,
        wte: Param<Ix2>,
        wpe: Param<Ix2>,
        h: Vec<Block>,
        ln_f: LayerNorm,
    ) -> GPT {
        GPT {
            config,
            wte: wte.with_copy(),
            wpe,
            h,
            ln_f,
            acts: Activations::default(),
            dlogits: Array2::zeros((0, 0)),
            dlogits_bf16: Default::default(),
            scratch: Scratch::default(),
            wte_packed: None,
            inference_only: false,
        }
    }

    /// Checks a batch: T within the context, ids within the vocabulary, targets of the same shape.
    fn check(
        &self,
        ids: ArrayView2<u32>,
        targets: Option<ArrayView2<u32>>,
    ) -> Result<(), ModelError> {
        let (b, t) = ids.dim();
        if b == 0 || t == 0 {
            return Err(ModelError::Empty { b, t });
        }
        if t > self.config.block_size {
            return Err(ModelError::TooLong {
                t,
                block_size: self.config.block_size,
            });
        }
        let vocab = self.config.vocab_size;
        let all = ids.iter().chain(targets.iter().flat_map(|y| y.iter()));
        if let Some(&id) = all.into_iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::BadToken { id, vocab });
        }
        match targets {
            Some(y) if y.dim() != (b, t) => Err(ModelError::TargetShape {
                expected: (b, t),
                found: y.dim(),
            }),
            _ => Ok(()),
        }
    }

    // ANCHOR: forward
    /// ids: [B, T] -> logits: [B, T, vocab_size], and with targets [B, T] the mean cross-entropy.
    pub fn forward(
        &mut self,
        ids: ArrayView2<u32>,
        targets: Option<ArrayView2<u32>>,
    ) -> Result<(ArrayView3<'_, f32>, Option<f32>), ModelError> {
        let loss = self.run(ids, targets, false, None)?;
        Ok((self.logits(), loss))
    }

    /// The training pass: the mean cross-entropy of `ids` predicting `targets`. The logits are
    /// not kept: each row is turned into its gradient as soon as its loss is known, while it is
    /// still in the CPU's cache, ready for `backward`.
    pub fn forward_train(
        &mut self,
        ids: ArrayView2<u32>,
        targets: ArrayView2<u32>,
    ) -> Result<f32, ModelError> {
        Ok(self
            .run(ids, Some(targets), true, None)?
            .unwrap_or(f32::NAN))
    }

    /// `forward_train` with dropout at GPT-2's three places, its masks drawn from `rng`.
    pub fn forward_train_dropout(
        &mut self,
        ids: ArrayView2<u32>,
        targets: ArrayView2<u32>,
        rates: DropoutRates,
        rng: &mut Rng,
    ) -> Result<f32, ModelError> {
        let loss = self.run(ids, Some(targets), true, Some((rates, rng)))?;
        Ok(loss.unwrap_or(f32::NAN))
    }

    fn run(
        &mut self,
        ids: ArrayView2<u32>,
        targets: Option<ArrayView2<u32>>,
        fuse: bool,
        mut dropout: Option<(DropoutRates, &mut Rng)>,
    ) -> Result<Option<f32>, ModelError> {
        self.check(ids, targets)?;
        let (b, t) = ids.dim();
        let (n, c, v) = (b * t, self.config.n_embd, self.config.vocab_size);
        // A model loaded for inference never runs backward: its layers share one cache.
        let caches = if self.inference_only { 1 } else { self.h.len() };
        let a = &mut self.acts;
        a.ensure(b, t, c, v, self.h.len(), caches);
        a.ids = ids.iter().copied().collect();
        a.targets = targets.map(|y| y.iter().copied().collect());
        a.logits_are_grad = false;

        // x = wte[token] + wpe[position]
        let (wte, wpe) = (&self.wte.value, &self.wpe.value);
        Zip::indexed(a.residual[0].rows_mut()).par_for_each(|row, mut x| {
            x.assign(&wte.row(a.ids[row] as usize));
            x += &wpe.row(row % t);
        });
        // Dropout's masks, drawn in the readable model's order: the embeddings', then each
        // block's.
        match dropout.as_mut() {
            Some((rates, rng)) => {
                fill_mask(&mut a.embd_mask, Ix2(n, c), rates.embd, rng);
                if let Some(m) = &a.embd_mask {
                    a.residual[0] *= m;
                }
            }
            None => a.embd_mask = None,
        }
        let shape = (b, t, c, self.config.n_head);
        for cache in &mut a.caches {
            let rates = dropout.as_ref().map(|d| d.0).unwrap_or_default();
            let rng = dropout.as_mut().map(|(_, rng)| &mut **rng);
            cache.draw_dropout(shape, rates, rng);
        }
        for (l, block) in self.h.iter().enumerate() {
            let (done, rest) = a.residual.split_at_mut(l + 1);
            let (cache, out) = (&mut a.caches[l % caches], rest[0].view_mut());
            block.forward(done[l].view(), b, t, cache, &mut self.scratch, out);
        }
        let last = a.residual[self.h.len()].view();
        self.ln_f.forward(
            last,
            a.lnf.view_mut(),
            a.lnf_mean.view_mut(),
            a.lnf_rstd.view_mut(),
        );
        // The LM head: scores against every token embedding, logits = lnf · wteᵀ.
        if !self
            .wte_packed
            .as_ref()
            .is_some_and(|w| w.forward(a.lnf.view(), a.logits.view_mut(), false))
        {
            let copy = self.wte.bf16().map(|w| w.reversed_axes());
            matmul_copy(a.lnf.view(), wte.t(), copy, a.logits.view_mut(), false);
        }

        let Some(y) = a.targets.as_ref() else {
            return Ok(None);
        };
        let loss = cross_entropy(a.logits.view_mut(), y, a.lse.view_mut(), fuse) / n as f32;
        a.logits_are_grad = fuse;
        Ok(Some(loss))
    }
    // ANCHOR_END: forward

    // ANCHOR: backward
    /// Adds the gradient of the last forward pass's loss to every parameter's `grad`.
    pub fn backward(&mut self) -> Result<(), ModelError> {
        self.assert_trainable("differentiated");
        let a = &self.acts;
        let targets = a.targets.as_ref().ok_or(ModelError::NoLoss)?;
        let (b, t) = (a.b, a.t);
        let n = b * t;
        // Softmax and cross-entropy together: dlogits = (softmax(logits) - onehot(target)) / N,
        // already in place if the forward pass was `forward_train`.
        if !a.logits_are_grad {
            if self.dlogits.dim() != a.logits.dim() {
                self.dlogits = a.logits.clone();
            } else {
                self.dlogits.assign(&a.logits);
            }
            let scale = 1.0 / n as f32;
            Zip::from(self.dlogits.rows_mut())
                .and(&a.lse)
                .and(&Array1::from_iter(targets.iter().copied()))
                .par_for_each(|mut d, &lse, &y| {
                    softmax_grad_row(d.as_slice_mut().expect("contiguous rows"), lse, y, scale);
                });
        }
        let dlogits = if a.logits_are_grad {
            a.logits.view()
        } else {
            self.dlogits.view()
        };
        // logits = lnf · wteᵀ: dlnf = dlogits · wte, dwte += dlogitsᵀ · lnf (the LM head's share)
        let mut dlnf = Array2::zeros(a.lnf.dim());
        // dwte is written where zero_grad only marked it as zero, added to otherwise.
        let add = !self.wte.take_grad_zero();
        if precision() == Precision::Bf16 && matmul_bf16::available() {
            lm_head_backward_bf16(
                dlogits,
                a.lnf.view(),
                &mut self.wte,
                add,
                &mut self.dlogits_bf16,
                LM_HEAD_SLICE,
                dlnf.view_mut(),
            );
        } else {
            matmul(
                dlogits.view(),
                self.wte.value.view(),
                dlnf.view_mut(),
                false,
            );
            matmul(dlogits.t(), a.lnf.view(), self.wte.grad.view_mut(), add);
        }

        let mut dx = Array2::zeros(a.lnf.dim());
        let last = a.residual[self.h.len()].view();
        self.ln_f.backward(
            last,
            a.lnf_mean.view(),
            a.lnf_rstd.view(),
            dlnf.view(),
            dx.view_mut(),
        );
        for (l, block) in self.h.iter_mut().enumerate().rev() {
            let mut dinput = Array2::zeros(dx.dim());
            block.backward(
                a.residual[l].view(),
                b,
                t,
                &a.caches[l],
                &mut self.scratch,
                dx.view(),
                dinput.view_mut(),
            );
            dx = dinput;
        }
        if let Some(m) = &a.embd_mask {
            dx *= m;
        }
        // x = wte[token] + wpe[position]: each row's gradient goes back to the rows it came from.
        for (row, d) in dx.rows().into_iter().enumerate() {
            let mut token = self.wte.grad.row_mut(a.ids[row] as usize);
            token += &d;
            let mut position = self.wpe.grad.row_mut(row % t);
            position += &d;
        }
        Ok(())
    }
    // ANCHOR_END: backward

    /// The logits of the last `forward` pass: [B, T, vocab_size]. (After `forward_train` the
    /// buffer holds their gradient instead.)
    pub fn logits(&self) -> ArrayView3<'_, f32> {
        let (b, t, v) = (self.acts.b, self.acts.t, self.config.vocab_size);
        self.acts
            .logits
            .view()
            .into_shape_with_order((b, t, v))
            .expect("[N, V] is [B, T, V]")
    }
}

// ANCHOR: cross_entropy
/// Sum over rows of -ln softmax(logits)[target], computed stably as log-sum-exp minus the
/// target's logit. Writes each row's log-sum-exp into `lse`. With `grad`, also replaces each
/// row by the gradient of the mean loss, (softmax(row) - onehot(target)) / N.
pub fn cross_entropy(
    mut logits: ArrayViewMut2<f32>,
    targets: &[u32],
    mut lse: ArrayViewMut1<f32>,
    grad: bool,
) -> f32 {
    let scale = 1.0 / targets.len() as f32;
    let mut losses = vec![0.0f64; targets.len()];
    Zip::from(&mut losses)
        .and(&mut lse)
        .and(logits.rows_mut())
        .and(targets)
        .par_for_each(|loss, lse, mut row, &y| {
            let row = row.as_slice_mut().expect("contiguous rows");
            if grad {
                // One exponential per logit: e^(ℓ - max) in place, then scaled by 1 / Σ.
                let (max, target) = (row_max(row), row[y as usize]);
                let sum = exp_shifted_sum_inplace(row, max);
                *lse = max + sum.ln();
                *loss = (*lse - target) as f64;
                scale_inplace(row, scale / sum);
                row[y as usize] -= scale;
            } else {
                let (max, sum) = max_and_exp_sum(row);
                *lse = max + sum.ln();
                *loss = (*lse - row[y as usize]) as f64;
            }
        });
    // Summed in order, so that the same batch always gives the same loss, to the last bit.
    losses.iter().sum::<f64>() as f32
}

/// One row of logits becomes (e^(l - lse) - [j = y]) · scale: softmax minus the target, scaled.
fn softmax_grad_row(row: &mut [f32], lse: f32, y: u32, scale: f32) {
    exp_shifted_scaled_inplace(row, lse, scale);
    row[y as usize] -= scale;
}
// ANCHOR_END: cross_entropy

impl Activations {
    /// Room for a batch of `b` sequences of `t`, with `caches` layer caches for `n_layer` layers.
    fn ensure(&mut self, b: usize, t: usize, c: usize, v: usize, n_layer: usize, caches: usize) {
        let n = b * t;
        (self.b, self.t) = (b, t);
        if self.residual.len() != n_layer + 1 || self.residual[0].dim() != (n, c) {
            self.residual = (0..=n_layer).map(|_| Array2::zeros((n, c))).collect();
            self.lnf = Array2::zeros((n, c));
            self.lnf_mean = Array1::zeros(n);
            self.lnf_rstd = Array1::zeros(n);
        }
        self.caches.resize_with(caches, BlockCache::default);
        if self.logits.dim() != (n, v) {
            self.logits = Array2::zeros((n, v));
            self.lse = Array1::zeros(n);
        }
    }
}

/// The keys and values of every layer, for incremental decoding.
#[derive(Debug, Clone)]
pub struct Cache {
    pub layers: Vec<KvCache>,
}

impl Cache {
    /// Positions already fed.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl GPT {
    /// An empty cache, with room for a whole context.
    pub fn new_cache(&self) -> Cache {
        let c = &self.config;
        Cache {
            layers: (0..c.n_layer)
                .map(|_| KvCache::new(c.n_head, c.block_size, c.head_dim()))
                .collect(),
        }
    }

    // ANCHOR: forward_cached
    /// Feeds the positions `ids`, which follow the `cache.len()` already fed, and returns the
    /// logits of the last of them: [vocab_size]. Each layer reads the keys and values of the
    /// earlier positions from the cache instead of recomputing them.
    pub fn forward_cached(
        &self,
        ids: &[u32],
        cache: &mut Cache,
    ) -> Result<Array1<f32>, ModelError> {
        let past = cache.len();
        let t = past + ids.len();
        let (c, vocab) = (self.config.n_embd, self.config.vocab_size);
        if ids.is_empty() {
            return Err(ModelError::Empty { b: 1, t: 0 });
        }
        if t > self.config.block_size {
            return Err(ModelError::TooLong {
                t,
                block_size: self.config.block_size,
            });
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::BadToken { id, vocab });
        }
        let mut x = Array2::from_shape_fn((ids.len(), c), |(i, j)| {
            self.wte.value[[ids[i] as usize, j]] + self.wpe.value[[past + i, j]]
        });
        for (block, kv) in self.h.iter().zip(&mut cache.layers) {
            x = block.forward_cached(x.view(), kv);
        }
        // Only the last position's prediction is needed.
        let last = x.slice(ndarray::s![ids.len() - 1.., ..]);
        let normed = self.ln_f.apply(last);
        let mut logits = Array2::zeros((1, vocab));
        if !self
            .wte_packed
            .as_ref()
            .is_some_and(|w| w.forward(normed.view(), logits.view_mut(), false))
        {
            matmul(normed.view(), self.wte.value.t(), logits.view_mut(), false);
        }
        Ok(logits.row(0).to_owned())
    }
    // ANCHOR_END: forward_cached

    // ANCHOR: use_bf16
    /// Keeps a copy of every weight matrix in `weights`' format for generating: f32 laid out by
    /// output (a new token's products then read each output's weights as one stream), bfloat16
    /// (each new token reads half the bytes, and a prompt's rows go through the bfloat16 matrix
    /// multiply where the CPU has it), or int8 or int4, for every product. The f32 weights stay,
    /// and serve whatever the copy does not (the backward pass; with bfloat16, a prompt's rows
    /// on a CPU without AVX512-BF16). Visiting the parameters (an optimizer step, say) drops the
    /// copies, so they never go stale; so does [`GPT::drop_copies`]. To generate only,
    /// [`GPT::load_for_inference`] makes the copies as it loads and keeps no more.
    pub fn use_weights(&mut self, weights: Weights) {
        self.assert_trainable("repacked");
        for linear in self.h.iter_mut().flat_map(Block::matrices_mut) {
            linear.pack(weights);
        }
        self.wte_packed = head_copy(self.wte.value.view(), weights);
    }
    // ANCHOR_END: use_bf16

    /// Drops the copies of [`GPT::use_weights`]: the model computes with its f32 weights alone.
    pub fn drop_copies(&mut self) {
        self.assert_trainable("left without its copies");
        for linear in self.h.iter_mut().flat_map(Block::matrices_mut) {
            linear.packed = None;
        }
        self.wte_packed = None;
    }

    /// Marks a model built for forward passes only, its LM head packed in `weights`' format.
    pub(crate) fn make_inference_only(&mut self, weights: Weights) {
        self.wte_packed = head_copy(self.wte.value.view(), weights);
        self.inference_only = true;
    }

    /// Whether the model was built for forward passes only ([`GPT::load_for_inference`]).
    pub fn is_inference_only(&self) -> bool {
        self.inference_only
    }

    /// A model built for forward passes only may lack its f32 weights and has no gradients:
    /// using it otherwise is a mistake in the calling code, not in its input.
    fn assert_trainable(&self, what: &str) {
        assert!(
            !self.inference_only,
            "a model loaded for inference cannot be {what}; load it with GPT::load"
        );
    }

    /// bfloat16 copies of the weights for generating: [`GPT::use_weights`] with `Weights::Bf16`.
    pub fn use_bf16_for_decoding(&mut self) {
        self.use_weights(Weights::Bf16);
    }

    /// The weights the model computes with (f32 unless [`GPT::use_weights`] said otherwise).
    pub fn weights(&self) -> Weights {
        self.wte_packed
            .as_ref()
            .map_or(Weights::F32, Packed::weights)
    }

    /// Rounds the weights that `Weights::Bf16` copies (every block's matrices and the token
    /// embeddings, which are also the LM head) to bfloat16 in place: every product, of any
    /// number of rows, then computes what generating with bfloat16 weights computes. The model
    /// must compute in f32 ([`GPT::load`], or [`GPT::load_for_inference`] with `Weights::F32`).
    pub fn round_matrices_to_bf16(&mut self) {
        assert_eq!(
            self.weights(),
            Weights::F32,
            "round the f32 weights, not a model that computes with packed copies"
        );
        let to_bf16 = |x: &mut Array2<f32>| x.mapv_inplace(|v| half::bf16::from_f32(v).to_f32());
        let round = |p: &mut Param<Ix2>| {
            // A training copy made from the unrounded value would no longer match it.
            if let Some(c) = &mut p.copy {
                c.fresh = false;
            }
            to_bf16(&mut p.value);
        };
        round(&mut self.wte);
        for linear in self.h.iter_mut().flat_map(Block::matrices_mut) {
            round(&mut linear.weight);
            if let Some(Packed::F32(w)) = &mut linear.packed {
                to_bf16(w);
            }
        }
    }

    /// Bytes of weight matrices one new token reads: the four matrices of every block and the
    /// LM head, in the format they compute in.
    pub fn weight_bytes(&self) -> usize {
        let linear = |l: &crate::layers::Linear| match &l.packed {
            Some(p) => p.bytes(),
            None => 4 * l.weight.value.len(),
        };
        let head = match &self.wte_packed {
            Some(p) => p.bytes(),
            None => 4 * self.wte.value.len(),
        };
        let blocks: usize = self.h.iter().flat_map(Block::matrices).map(linear).sum();
        blocks + head
    }

    /// Whether bfloat16 copies are in effect.
    pub fn uses_bf16(&self) -> bool {
        self.weights() == Weights::Bf16
    }
}

/// The LM head's copy for `weights`: none for f32, since wte ([vocab, C]) lies by output already.
fn head_copy(wte: ArrayView2<f32>, weights: Weights) -> Option<Packed> {
    match weights {
        Weights::F32 => None,
        w => Packed::new(wte, w),
    }
}

impl Params for GPT {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        self.assert_trainable("visited (trained or saved)");
        self.wte_packed = None;
        visit_param(&mut self.wte, &join(prefix, "wte.weight"), f);
        visit_param(&mut self.wpe, &join(prefix, "wpe.weight"), f);
        for (l, block) in self.h.iter_mut().enumerate() {
            block.visit_copies(&join(prefix, &format!("h.{l}")), f);
        }
        self.ln_f.visit_copies(&join(prefix, "ln_f"), f);
    }

    fn zero_grad(&mut self) {
        // The LM head's product writes dwte whole before the embeddings add to it.
        self.wte.grad_is_zero = true;
        self.wpe.grad.fill(0.0);
        for block in &mut self.h {
            block.zero_grad();
        }
        self.ln_f.zero_grad();
    }
}

/// The LM head's backward products with `--precision bf16`: dlnf = dlogits · wte, and
/// wte.grad gets dlogitsᵀ · lnf (added if `add`, else written). Both read dlogits [N, V], the
/// step's largest array: rounded and packed for both in one pass into `packed` (dwte computed
/// transposed, as `matmul_bf16` would), `slice` tokens of the vocabulary at a time, so that its
/// bf16 copies take a slice's memory, not the whole array's. dlnf sums the slices' products.
fn lm_head_backward_bf16(
    dlogits: ArrayView2<f32>,
    lnf: ArrayView2<f32>,
    wte: &mut Param<Ix2>,
    add: bool,
    packed: &mut matmul_bf16::PackedBoth,
    slice: usize,
    mut dlnf: ArrayViewMut2<f32>,
) {
    let (value, copy, mut grad) = wte.split();
    let vocab = dlogits.ncols();
    for (i, v0) in (0..vocab).step_by(slice).enumerate() {
        let v = v0..vocab.min(v0.saturating_add(slice));
        packed.pack(dlogits.slice(s![.., v.clone()]));
        let sum = i > 0;
        match copy {
            Some(wte) => {
                let wte = wte.slice(s![v.clone(), ..]);
                matmul_bf16::matmul_bf16_both_a_halves(packed, wte, dlnf.view_mut(), sum)
            }
            None => {
                let wte = value.slice(s![v.clone(), ..]);
                matmul_bf16::matmul_bf16_both_a(packed, wte, dlnf.view_mut(), sum)
            }
        };
        let dwte = grad.slice_mut(s![v, ..]).reversed_axes();
        matmul_bf16::matmul_bf16_packed(lnf.t(), packed.as_b(), dwte, add);
    }
}

impl Clone for GPT {
    /// The parameters (and gradients); the activations of the last pass are not copied.
    fn clone(&self) -> GPT {
        GPT {
            config: self.config,
            wte: self.wte.clone(),
            wpe: self.wpe.clone(),
            h: self.h.clone(),
            ln_f: self.ln_f.clone(),
            acts: Activations::default(),
            dlogits: Array2::zeros((0, 0)),
            dlogits_bf16: Default::default(),
            scratch: Scratch::default(),
            wte_packed: self.wte_packed.clone(),
            inference_only: self.inference_only,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every gradient of `model`, in visiting order.
    fn gradients(model: &mut GPT) -> Vec<Vec<f32>> {
        let mut all = Vec::new();
        model.visit("", &mut |_, _, _, g| all.push(g.to_vec()));
        all
    }

    /// One forward and backward pass on a batch of nano's tokens drawn from `seed`.
    fn pass(model: &mut GPT, seed: u64) {
        let mut rng = crate::rng::Rng::new(seed);
        let v = model.config.vocab_size as u64;
        let mut ids = || Array2::from_shape_simple_fn((2, 16), || rng.below(v) as u32);
        let (x, y) = (ids(), ids());
        model.forward(x.view(), Some(y.view())).unwrap();
        model.backward().unwrap();
    }

    #[test]
    fn after_zero_grad_the_gradients_read_as_zero_and_backward_writes_them_whole() {
        let mut fresh = GPT::new(GPTConfig::preset("nano").unwrap(), 1);
        let mut used = fresh.clone();
        // `used` holds the gradients of another batch, then zero_grad marks the large ones
        // as zero without writing them.
        pass(&mut used, 2);
        used.zero_grad();
        let read = gradients(&mut used.clone());
        assert!(read.iter().flatten().all(|&g| g == 0.0));
        // The next pass writes them, as it adds to the zeros of a fresh model.
        pass(&mut fresh, 1);
        pass(&mut used, 1);
        let (want, got) = (gradients(&mut fresh), gradients(&mut used));
        assert!(want.iter().flatten().any(|&g| g != 0.0));
        assert_eq!(got, want);
    }

    #[test]
    fn the_bf16_lm_head_backward_by_slices_of_the_vocabulary_is_the_whole_product() {
        if !matmul_bf16::available() {
            return;
        }
        // Three whole slices and a part of one; rows and width that no tile fills.
        let (n, c, v, slice) = (40, 100, 3 * 2048 + 37, 2048);
        let mut rng = Rng::new(5);
        let mut random = |shape| Array2::from_shape_simple_fn(shape, || rng.normal() as f32);
        let (dlogits, lnf, start) = (random((n, v)), random((n, c)), random((v, c)));
        let mut weight = Param::new(random((v, c)));
        weight.grad.assign(&start);
        let mut copied = weight.clone();
        let mut data = vec![0; v * c];
        matmul_bf16::round_streaming(weight.value.as_slice().unwrap(), &mut data);
        copied.copy = Some(crate::layers::Bf16Copy { data, fresh: true });
        // With the weight's bf16 copy and writing the gradient; from f32 and adding to it.
        for (wte, add) in [(copied, false), (weight, true)] {
            let run = |slice| {
                let (mut wte, mut dlnf) = (wte.clone(), Array2::zeros((n, c)));
                let mut packed = Default::default();
                let (d, x) = (dlogits.view(), lnf.view());
                lm_head_backward_bf16(d, x, &mut wte, add, &mut packed, slice, dlnf.view_mut());
                (dlnf, wte.grad)
            };
            let (whole, sliced) = (run(usize::MAX), run(slice));
            // On AMX the slices are whole parts of the product's k, so the sums are the same
            // to the last bit; elsewhere they are added in another order.
            let tol = if crate::amx::available() { 0.0 } else { 1e-3 };
            for (want, got) in [(&whole.0, &sliced.0), (&whole.1, &sliced.1)] {
                let worst = (want - got).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
                assert!(worst <= tol, "add {add}: off by {worst}");
            }
            // And the gradient is the product of the operands rounded to bf16.
            let round = |a: &Array2<f32>| {
                let mut h = vec![0; a.len()];
                matmul_bf16::round_streaming(a.as_slice().unwrap(), &mut h);
                let back = h.into_iter().map(crate::kernels::bf16_to_f32).collect();
                Array2::from_shape_vec(a.dim(), back).unwrap()
            };
            let mut by_hand = round(&dlogits).t().dot(&round(&lnf));
            if add {
                by_hand += &start;
            }
            let worst = (&by_hand - &whole.1)
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(worst < 1e-3, "dwte off by {worst}");
        }
    }
}
