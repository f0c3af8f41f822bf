//! The readable GPT-2, part 3: the whole model, from token ids to the loss and back to the
//! gradient of every parameter, on top of chapter 4's blocks.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array2, Array3, ArrayD, ArrayViewMutD, Axis, IxDyn};

use chapter03::attention::{Parameters, prefixed};
use chapter03::dropout::{Dropout, apply};
use chapter04::block::{Block, BlockCache, LayerNorm, LayerNormCache};
use gpt2::checkpoint::CheckpointError;
use gpt2::config::GPTConfig;
use gpt2::layers::Params;
use gpt2::rng::Rng;

// ANCHOR: gpt
/// GPT-2: token and position embeddings, `n_layer` blocks, a final LayerNorm, and an LM head
/// that reuses the token embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct GPT {
    pub config: GPTConfig,
    /// wte: [vocab_size, C], token embeddings and LM head
    pub wte: Array2<f32>,
    /// wpe: [block_size, C], position embeddings
    pub wpe: Array2<f32>,
    /// h: the blocks
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
}

/// What the model's backward pass needs: the ids, dropout's mask on the embeddings (while
/// training), each block's cache, ln_f's, and ln_f's output.
#[derive(Debug, Clone)]
pub struct GPTCache {
    pub ids: Array2<u32>,
    pub embd_mask: Option<Array2<f32>>,
    pub blocks: Vec<BlockCache>,
    pub ln_f: LayerNormCache,
    /// x: [N, C], the LM head's input
    pub x: Array2<f32>,
}
// ANCHOR_END: gpt

// ANCHOR: init
impl GPT {
    /// A randomly initialised model, GPT-2's way: every weight from N(0, 0.02²) except the two
    /// residual projections of each block (chapter 4); biases 0; LayerNorms 1, 0.
    pub fn new(config: GPTConfig, seed: u64) -> GPT {
        let mut rng = Rng::new(seed);
        let (c, eps) = (config.n_embd, config.layer_norm_eps as f32);
        let mut normal =
            |rows, std| Array2::from_shape_simple_fn((rows, c), || rng.normal() as f32 * std);
        let (wte, wpe) = (
            normal(config.vocab_size, 0.02),
            normal(config.block_size, 0.02),
        );
        let h = (0..config.n_layer)
            .map(|_| Block::init(c, config.n_head, config.n_layer, eps, &mut rng))
            .collect();
        GPT {
            config,
            wte,
            wpe,
            h,
            ln_f: LayerNorm::new(c, eps),
        }
    }
}
// ANCHOR_END: init

// ANCHOR: forward
impl GPT {
    /// ids: [B, T] -> logits: [B, T, vocab_size], at inference: nothing dropped.
    pub fn forward(&self, ids: &Array2<u32>) -> (Array3<f32>, GPTCache) {
        self.forward_train(ids, &mut Dropout::off())
    }

    /// The forward pass with dropout's masks drawn from `drop` (chapter 6).
    pub fn forward_train(&self, ids: &Array2<u32>, drop: &mut Dropout) -> (Array3<f32>, GPTCache) {
        let (b, t) = ids.dim();
        assert!(
            t <= self.config.block_size,
            "T = {t} is longer than the context"
        );
        // x = wte[token] + wpe[position], row n = b·T + t of the batch
        let mut x = Array2::zeros((b * t, self.config.n_embd));
        for (n, (&id, mut row)) in ids.iter().zip(x.rows_mut()).enumerate() {
            row.assign(&(&self.wte.row(id as usize) + &self.wpe.row(n % t)));
        }
        let embd_mask = drop.mask(x.raw_dim(), drop.embd);
        x = apply(x, &embd_mask);
        let mut blocks = Vec::new();
        for block in &self.h {
            let (out, cache) = block.forward(&x, t, drop);
            blocks.push(cache);
            x = out;
        }
        let (x, ln_f) = self.ln_f.forward(&x);
        // The LM head: a score for every token, logits = x·wteᵀ
        let logits = x.dot(&self.wte.t());
        let logits = logits
            .into_shape_with_order((b, t, self.config.vocab_size))
            .unwrap();
        (
            logits,
            GPTCache {
                ids: ids.clone(),
                embd_mask,
                blocks,
                ln_f,
                x,
            },
        )
    }
}
// ANCHOR_END: forward

// ANCHOR: cross_entropy
/// logits: [B, T, V], targets: [B, T] -> (the mean over positions of −ln softmax(logits)[target],
/// its gradient dlogits: [B, T, V] = (softmax(logits) − onehot(target)) / N).
pub fn cross_entropy(logits: &Array3<f32>, targets: &Array2<u32>) -> (f32, Array3<f32>) {
    let n = targets.len() as f32;
    // −ln softmax(l)[y] = ln Σ e^l − l_y, with the largest logit taken out so exp cannot overflow
    let max = logits.map_axis(Axis(2), |r| r.fold(f32::NEG_INFINITY, |m, &x| m.max(x)));
    let mut exp = logits - &max.view().insert_axis(Axis(2));
    exp.mapv_inplace(f32::exp);
    let sum = exp.sum_axis(Axis(2));
    let mut dlogits = exp / sum.view().insert_axis(Axis(2)) / n;
    let mut loss = 0.0f64;
    for ((b, t), &y) in targets.indexed_iter() {
        loss += (max[[b, t]] + sum[[b, t]].ln() - logits[[b, t, y as usize]]) as f64;
        dlogits[[b, t, y as usize]] -= 1.0 / n;
    }
    ((loss / n as f64) as f32, dlogits)
}
// ANCHOR_END: cross_entropy

// ANCHOR: backward
impl GPT {
    /// cache: from `forward`, dlogits: [B, T, V] -> the gradient of every parameter, as a GPT.
    pub fn backward(&self, cache: &GPTCache, dlogits: &Array3<f32>) -> GPT {
        let (b, t, v) = dlogits.dim();
        let dlogits = dlogits.view().into_shape_with_order((b * t, v)).unwrap();
        // logits = x·wteᵀ: dx = dlogits·wte, and the LM head's share of dwte = dlogitsᵀ·x
        let mut wte = dlogits.t().dot(&cache.x);
        let (mut dx, ln_f) = self.ln_f.backward(&cache.ln_f, &dlogits.dot(&self.wte));
        let mut h = Vec::new();
        for (block, block_cache) in self.h.iter().zip(&cache.blocks).rev() {
            let (d, grads) = block.backward(block_cache, &dx);
            h.push(grads);
            dx = d;
        }
        h.reverse();
        let dx = apply(dx, &cache.embd_mask);
        // x = wte[token] + wpe[position]: each row's gradient goes back to the rows it came from
        let mut wpe = Array2::zeros(self.wpe.raw_dim());
        for (n, (&id, d)) in cache.ids.iter().zip(dx.rows()).enumerate() {
            let mut token = wte.row_mut(id as usize);
            token += &d;
            let mut position = wpe.row_mut(n % t);
            position += &d;
        }
        GPT {
            config: self.config,
            wte,
            wpe,
            h,
            ln_f,
        }
    }

    /// The mean cross-entropy of `ids` predicting `targets` (both [B, T]), and its gradient.
    pub fn loss_and_grads(&self, ids: &Array2<u32>, targets: &Array2<u32>) -> (f32, GPT) {
        let (logits, cache) = self.forward(ids);
        let (loss, dlogits) = cross_entropy(&logits, targets);
        (loss, self.backward(&cache, &dlogits))
    }
}
// ANCHOR_END: backward

impl Parameters for GPT {
    fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut all = vec![
            ("wte.weight".to_string(), self.wte.view_mut().into_dyn()),
            ("wpe.weight".to_string(), self.wpe.view_mut().into_dyn()),
        ];
        for (l, block) in self.h.iter_mut().enumerate() {
            all.extend(prefixed(&format!("h.{l}"), block.parameters()));
        }
        all.extend(prefixed("ln_f", self.ln_f.parameters()));
        all
    }
}

// ANCHOR: load
impl GPT {
    /// Reads a Hugging Face checkpoint folder (config.json and model.safetensors) through the
    /// library's loader, which checks every name and shape, and copies its weights.
    pub fn load(dir: &Path) -> Result<GPT, CheckpointError> {
        Ok(GPT::from_library(&mut gpt2::GPT::load(dir)?))
    }

    /// The library's model, weight for weight: the parameters have the same names.
    pub fn from_library(library: &mut gpt2::GPT) -> GPT {
        let mut model = GPT::new(library.config, 0);
        let tensors = library_tensors(library, false);
        for (name, mut value) in model.parameters() {
            value.assign(&tensors[&name]);
        }
        model
    }
}
// ANCHOR_END: load

/// Every parameter of the library's model (or, with `grad`, its gradient), by name.
pub fn library_tensors(library: &mut gpt2::GPT, grad: bool) -> BTreeMap<String, ArrayD<f32>> {
    let mut tensors = BTreeMap::new();
    library.visit("", &mut |name, shape, value, gradient| {
        let data = if grad { gradient } else { value }.to_vec();
        let tensor = ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape and data agree");
        tensors.insert(name.to_string(), tensor);
    });
    tensors
}

impl GPT {
    /// Writes these weights into the library's model of the same configuration, for the
    /// library's tools (checkpoints, the `gpt2` command, chapter 8's comparisons).
    pub fn to_library(&self) -> gpt2::GPT {
        let mut library = gpt2::GPT::new(self.config, 0);
        let mut mine: BTreeMap<String, ArrayD<f32>> = BTreeMap::new();
        for (name, value) in self.clone().parameters() {
            mine.insert(name, value.to_owned());
        }
        library.visit("", &mut |name, _, value, _| {
            value.copy_from_slice(mine[name].as_slice().expect("contiguous"));
        });
        library
    }
}
