//! Measurements of speed and memory: training steps, generated tokens, matrix multiplies.

use std::time::Instant;

use ndarray::Array2;

use crate::config::GPTConfig;
use crate::generate::{Sampling, generate};
use crate::kernels::matmul;
use crate::model::{GPT, ModelError};
use crate::optim::{AdamW, AdamWConfig};
use crate::quant::Weights;
use crate::rng::Rng;

/// How fast a training step runs.
#[derive(Debug, Clone, Copy)]
pub struct StepTiming {
    /// Median seconds per step (forward, backward, clipping, AdamW).
    pub seconds: f64,
    /// Median seconds of each phase: the forward pass with the loss, the backward pass, and
    /// the optimizer (zeroing, clipping and AdamW).
    pub forward: f64,
    pub backward: f64,
    pub optimizer: f64,
    pub tokens_per_s: f64,
    /// Model FLOPs per second (chapter 1's count), in GFLOP/s.
    pub gflops: f64,
}

// ANCHOR: train_step
/// Times `steps` training steps (after one warm-up step) of a fresh model of `config` on random
/// tokens, B sequences of T.
pub fn train_step(
    config: GPTConfig,
    b: usize,
    t: usize,
    steps: usize,
) -> Result<StepTiming, ModelError> {
    let mut model = GPT::new(config, 0);
    let mut opt = AdamW::new(&mut model, AdamWConfig::default());
    let mut rng = Rng::new(1);
    let mut random = |_| rng.below(config.vocab_size as u64) as u32;
    let x = Array2::from_shape_fn((b, t), &mut random);
    let y = Array2::from_shape_fn((b, t), &mut random);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut total, mut fwd, mut bwd, mut opt_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for step in 0..=steps.max(1) {
        let t0 = Instant::now();
        crate::layers::Params::zero_grad(&mut model);
        let t1 = Instant::now();
        model.forward_train(x.view(), y.view())?;
        let t2 = Instant::now();
        model.backward()?;
        let t3 = Instant::now();
        opt.step_clipped(&mut model, 1e-4, 1.0);
        let t4 = Instant::now();
        if step > 0 {
            total.push((t4 - t0).as_secs_f64());
            fwd.push((t2 - t1).as_secs_f64());
            bwd.push((t3 - t2).as_secs_f64());
            opt_t.push(((t1 - t0) + (t4 - t3)).as_secs_f64());
        }
    }
    let seconds = median(total);
    Ok(StepTiming {
        seconds,
        forward: median(fwd),
        backward: median(bwd),
        optimizer: median(opt_t),
        tokens_per_s: (b * t) as f64 / seconds,
        gflops: config.train_flops_per_step(b, t) / seconds / 1e9,
    })
}
// ANCHOR_END: train_step

/// How `generation` produces each token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// Recompute the whole context for every token.
    Uncached,
    /// With the KV cache, f32 weights.
    Cached,
    /// With the KV cache, weights rounded to bfloat16 for each new token.
    CachedBf16,
}

/// Tokens per second generating `new` tokens greedily after an 8-token prompt: the median of
/// three runs (a small model's run takes a few milliseconds, which the machine's noise moves).
pub fn generation(model: &mut GPT, new: usize, decoding: Decoding) -> Result<f64, ModelError> {
    let mut rates = (0..3)
        .map(|_| generation_once(model, new, decoding))
        .collect::<Result<Vec<f64>, ModelError>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[1])
}

fn generation_once(model: &mut GPT, new: usize, decoding: Decoding) -> Result<f64, ModelError> {
    let prompt: Vec<u32> = (0..8).map(|i| i * 1000 + 17).collect();
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    let mut rng = Rng::new(0);
    if decoding == Decoding::CachedBf16 {
        model.use_bf16_for_decoding();
    }
    let start = Instant::now();
    let out = match decoding {
        Decoding::Uncached => {
            crate::generate::generate_uncached(model, &prompt, new, &greedy, &mut rng)?
        }
        Decoding::Cached | Decoding::CachedBf16 => {
            generate(model, &prompt, new, &greedy, None, &mut rng, |_| {})?
        }
    };
    Ok(out.len() as f64 / start.elapsed().as_secs_f64())
}

/// How fast a model reads a prompt and then generates from it, with its weights in one format.
#[derive(Debug, Clone, Copy)]
pub struct DecodeTiming {
    /// Prompt tokens per second of the first pass over the prompt (the median of three).
    pub prefill_tokens_per_s: f64,
    /// New tokens per second after it, one at a time with the KV cache (the median of three).
    pub decode_tokens_per_s: f64,
    /// Bytes of weights each new token reads (the matrices in their format).
    pub weight_bytes: usize,
}

/// Times a prompt of `prompt` tokens, then `new` tokens generated greedily, with `weights`
/// (the model's own f32 weights afterwards). Both are cut to fit the model's context.
pub fn decode(
    model: &mut GPT,
    weights: Weights,
    prompt: usize,
    new: usize,
) -> Result<DecodeTiming, ModelError> {
    let block = model.config.block_size;
    let prompt = prompt.min(block / 2).max(1);
    let new = new.min(block - prompt).max(1);
    let vocab = model.config.vocab_size as u32;
    let ids: Vec<u32> = (0..prompt as u32)
        .map(|i| (i * 1000 + 17) % vocab)
        .collect();
    model.use_weights(weights);
    let weight_bytes = model.weight_bytes();
    let argmax = |l: &ndarray::Array1<f32>| {
        (0..l.len()).fold(0, |b, i| if l[i] > l[b] { i } else { b }) as u32
    };
    // Three rounds of the prompt and the new tokens; the medians. Driven from the pool, as
    // `generate` does.
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    let m = &*model;
    crate::kernels::on_pool(|| -> Result<(), ModelError> {
        for _ in 0..3 {
            let mut cache = m.new_cache();
            let start = Instant::now();
            let mut logits = m.forward_cached(&ids, &mut cache)?;
            prefill.push(prompt as f64 / start.elapsed().as_secs_f64());
            let start = Instant::now();
            for _ in 0..new {
                let next = argmax(&logits);
                logits = m.forward_cached(&[next], &mut cache)?;
            }
            decode.push(new as f64 / start.elapsed().as_secs_f64());
        }
        Ok(())
    })?;
    prefill.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    model.drop_copies();
    Ok(DecodeTiming {
        prefill_tokens_per_s: prefill[1],
        decode_tokens_per_s: decode[1],
        weight_bytes,
    })
}

/// GFLOP/s of the matrix multiply for [m, k]·[k, n], both stored by rows, the median of
/// `reps` runs.
pub fn matmul_gflops(m: usize, k: usize, n: usize, reps: usize) -> f64 {
    let p = Product {
        name: "",
        m,
        k,
        n,
        a_t: false,
        b_t: false,
    };
    product_gflops(&p, reps)
}

/// GFLOP/s of the matrix multiply for `p`, its operands laid out as it says, the median of
/// `reps` runs.
pub fn product_gflops(p: &Product, reps: usize) -> f64 {
    let (m, k, n) = (p.m, p.k, p.n);
    let (a, b) = (laid(m, k, p.a_t, 1), laid(k, n, p.b_t, 3));
    let mut c = Array2::zeros((m, n));
    let seconds = median_seconds(reps, || matmul(a.view(), b.view(), c.view_mut(), false));
    2.0 * (m * k * n) as f64 / seconds / 1e9
}

/// The median time of `reps` calls of `f`, after one untimed call.
fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// GFLOP/s of the bf16 multiply for `p` with both operands rounded and packed beforehand (the
/// kernel and the write-back alone, as a bf16 `torch.matmul` is handed bf16 operands), the
/// median of `reps` runs; None where the CPU lacks AVX512-BF16.
pub fn product_gflops_prepacked(p: &Product, reps: usize) -> Option<f64> {
    use crate::matmul_bf16::{PackedA, PackedB, available, matmul_bf16_prepacked};
    if !available() {
        return None;
    }
    let (m, k, n) = (p.m, p.k, p.n);
    let a = PackedA::new(laid(m, k, p.a_t, 1).view());
    let b = PackedB::new(laid(k, n, p.b_t, 3).view());
    let mut c = Array2::zeros((m, n));
    let seconds = median_seconds(reps, || {
        matmul_bf16_prepacked(&a, &b, c.view_mut(), false);
    });
    Some(2.0 * (m * k * n) as f64 / seconds / 1e9)
}

/// A matrix [rows, cols] of small numbers (`seed` varies them), stored by rows, or by columns
/// when `by_columns` (as the transpose of a matrix stored by rows): an operand of a timed
/// product.
pub fn laid(rows: usize, cols: usize, by_columns: bool, seed: usize) -> Array2<f32> {
    let value = |i: usize, j: usize| ((i * seed + j) % 7) as f32 * 0.1;
    if by_columns {
        Array2::from_shape_fn((cols, rows), |(j, i)| value(i, j)).reversed_axes()
    } else {
        Array2::from_shape_fn((rows, cols), |(i, j)| value(i, j))
    }
}

/// A product of a training step, [m, k]·[k, n], with its operands laid out as the step has
/// them: `a_t` (`b_t`) when A (B) is the transpose of a matrix stored by rows, as xᵀ in
/// dW = xᵀ·dy and Wᵀ in dx = dy·Wᵀ are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Product {
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_t: bool,
    pub b_t: bool,
}

/// The products of a training step that `gpt2 bench --matmul` times, for `rows` = B·T tokens of
/// a model of `config`: the MLP's and the LM head's, forward and backward. (GPT-2 stores a
/// linear layer's W as [in, out] and the token embedding as [V, C].) scripts/pytorch_bench.py
/// times torch.matmul at the same list.
pub fn step_products(config: &GPTConfig, rows: usize) -> Vec<Product> {
    let (c, v) = (config.n_embd, config.vocab_size);
    let p = |name, m, k, n, a_t, b_t| Product {
        name,
        m,
        k,
        n,
        a_t,
        b_t,
    };
    vec![
        p("c_fc forward, x·W", rows, c, 4 * c, false, false),
        p("c_proj forward, x·W", rows, 4 * c, c, false, false),
        p("c_fc dx = dy·Wᵀ", rows, 4 * c, c, false, true),
        p("c_fc dW = xᵀ·dy", c, rows, 4 * c, true, false),
        p("LM head forward, x·wteᵀ", rows, c, v, false, true),
        p("LM head dx = dy·wte", rows, v, c, false, false),
        p("LM head dwteᵀ = xᵀ·dy", c, rows, v, true, false),
    ]
}

/// The peak resident memory of this process so far, in bytes (Linux; None elsewhere).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
