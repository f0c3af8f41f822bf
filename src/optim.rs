//! How the parameters learn: AdamW, global-norm gradient clipping, and learning-rate schedules.

use rayon::prelude::*;

use crate::kernels::{Precision, precision};
use crate::layers::Params;

/// AdamW's settings; the defaults are GPT-2's (and nanoGPT's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay, applied only to parameters with two or more dimensions.
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// AdamW's running averages of each parameter's gradient (m) and squared gradient (v).
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates made so far: the t of the bias corrections.
    pub t: u64,
    /// Each parameter's name and number count, in visiting order: its moments' place in `m`
    /// and `v`.
    layout: Vec<(String, usize)>,
    /// Every parameter's m, one after the other, and the same for v: one allocation each,
    /// where one per tensor would leave a partly used page at each tensor's end.
    m: Vec<f32>,
    v: Vec<f32>,
}

impl AdamW {
    /// Zero moments for every parameter of `model`.
    pub fn new<M: Params>(model: &mut M, config: AdamWConfig) -> AdamW {
        let mut layout = Vec::new();
        model.visit("", &mut |name, _, value, _| {
            layout.push((name.to_string(), value.len()));
        });
        let n = layout.iter().map(|(_, len)| len).sum();
        AdamW {
            config,
            t: 0,
            layout,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// (name, m, v) for each parameter, in visiting order.
    pub fn moments(&self) -> impl Iterator<Item = (&str, &[f32], &[f32])> {
        let (mut m, mut v) = (&self.m[..], &self.v[..]);
        self.layout.iter().map(move |(name, len)| {
            let (mine_m, rest_m) = m.split_at(*len);
            let (mine_v, rest_v) = v.split_at(*len);
            (m, v) = (rest_m, rest_v);
            (name.as_str(), mine_m, mine_v)
        })
    }

    /// (name, m, v) for each parameter, in visiting order, to change.
    pub fn moments_mut(&mut self) -> impl Iterator<Item = (&str, &mut [f32], &mut [f32])> {
        let (mut m, mut v) = (&mut self.m[..], &mut self.v[..]);
        self.layout.iter().map(move |(name, len)| {
            let (mine_m, rest_m) = std::mem::take(&mut m).split_at_mut(*len);
            let (mine_v, rest_v) = std::mem::take(&mut v).split_at_mut(*len);
            (m, v) = (rest_m, rest_v);
            (name.as_str(), mine_m, mine_v)
        })
    }

    // ANCHOR: step
    /// One update of every parameter from its gradient, with learning rate `lr`:
    /// decay the weights (matrices and embeddings only), then take Adam's step
    /// m̂ / (√v̂ + eps), with m̂ and v̂ the bias-corrected running averages.
    pub fn step<M: Params>(&mut self, model: &mut M, lr: f32) {
        self.step_scaled(model, lr, 1.0);
    }

    /// [`AdamW::step`] with every gradient multiplied by `grad_scale` first (the clipping
    /// factor): the same numbers as [`scale_grads`] then `step`, in one pass over memory
    /// instead of two. The gradients themselves are left as they were.
    pub fn step_scaled<M: Params>(&mut self, model: &mut M, lr: f32, grad_scale: f32) {
        self.t += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let correction1 = 1.0 - beta1.powi(self.t as i32);
        let correction2_sqrt = (1.0 - beta2.powi(self.t as i32)).sqrt();
        let mut moments = self.moments_mut();
        // Training in bf16, a weight's bf16 copy is written in the same pass as its value.
        let copies = precision() == Precision::Bf16 && crate::matmul_bf16::available();
        model.visit_copies("", &mut |name, shape, value, grad, copy| {
            let (own, m, v) = moments.next().expect("the same parameters as at creation");
            debug_assert_eq!(own, name);
            let value_len = value.len();
            let decay = if shape.len() >= 2 {
                1.0 - lr * weight_decay
            } else {
                1.0
            };
            let update = Update {
                grad_scale,
                decay,
                beta1,
                beta2,
                correction2_sqrt,
                eps,
                step: lr / correction1,
            };
            // Every number is updated on its own, so large tensors are split across the threads.
            const CHUNK: usize = 1 << 15;
            let chunks = value
                .par_chunks_mut(CHUNK)
                .zip(grad.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK));
            match copy.filter(|_| copies) {
                Some(copy) => {
                    copy.data.resize(value_len, 0);
                    chunks.zip(copy.data.par_chunks_mut(CHUNK)).for_each(
                        |((((value, grad), m), v), copy)| {
                            adamw_update(value, grad, m, v, update);
                            // Rounded while the chunk is in cache.
                            crate::matmul_bf16::round_streaming(value, copy);
                        },
                    );
                    copy.fresh = true;
                }
                None => chunks
                    .for_each(|(((value, grad), m), v)| adamw_update(value, grad, m, v, update)),
            }
        });
    }
    // ANCHOR_END: step

    /// Clips the gradients to a global norm of `max_norm` (0 = no limit) and updates, in one
    /// pass: the clipping factor goes into [`AdamW::step_scaled`]. Returns the norm before
    /// clipping.
    pub fn step_clipped<M: Params>(&mut self, model: &mut M, lr: f32, max_norm: f32) -> f32 {
        let norm = grad_norm(model);
        self.step_scaled(model, lr, clip_factor(norm, max_norm));
        norm
    }
}

/// The numbers of one AdamW update that are the same for every element of a tensor.
#[derive(Debug, Clone, Copy)]
pub struct Update {
    pub grad_scale: f32,
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub correction2_sqrt: f32,
    pub eps: f32,
    /// lr / (1 − β₁ᵗ)
    pub step: f32,
}

crate::kernels::simd_dispatch! {
    /// AdamW on a slice of one tensor: its values, gradients and moments, element by element.
    /// (Compiled for AVX-512 where the CPU has it: the square root and the division are the
    /// slow part, and sixteen lanes do them four times as fast as the baseline's four.)
    fn adamw_update(value: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], u: Update) -> () {
        for (((p, &g), m), v) in value
            .iter_mut()
            .zip(grad)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            let g = g * u.grad_scale;
            *p *= u.decay;
            *m = u.beta1 * *m + (1.0 - u.beta1) * g;
            *v = u.beta2 * *v + (1.0 - u.beta2) * g * g;
            let denom = v.sqrt() / u.correction2_sqrt + u.eps;
            *p -= u.step * *m / denom;
        }
    }
}

// ANCHOR: clip
/// The global norm of all gradients together, √(Σ g²).
pub fn grad_norm<M: Params>(model: &mut M) -> f32 {
    let mut sum = 0.0f64;
    model.visit("", &mut |_, _, _, grad| {
        // Chunks summed in parallel, then added in order: the same result on any thread count.
        let chunks: Vec<f64> = grad.par_chunks(1 << 15).map(sum_of_squares).collect();
        sum += chunks.iter().sum::<f64>();
    });
    sum.sqrt() as f32
}

crate::kernels::simd_dispatch! {
    /// Σ g² in f64, in sixteen running sums side by side: a single sum waits for each addition
    /// before the next (GPT-2 124M's gradients: 53 ms with one sum, 15 ms with sixteen).
    fn sum_of_squares(g: &[f32]) -> f64 {
        const LANES: usize = 16;
        let mut lanes = [0f64; LANES];
        let mut chunks = g.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (sum, &g) in lanes.iter_mut().zip(chunk) {
                *sum += (g as f64) * (g as f64);
            }
        }
        let rest: f64 = chunks
            .remainder()
            .iter()
            .map(|&g| (g as f64) * (g as f64))
            .sum();
        lanes.iter().sum::<f64>() + rest
    }
}

/// The factor that brings a gradient of norm `norm` down to `max_norm` (1 when it is within
/// it, or when `max_norm` is 0, meaning no limit).
pub fn clip_factor(norm: f32, max_norm: f32) -> f32 {
    let scale = max_norm / (norm + 1e-6);
    if max_norm > 0.0 && scale < 1.0 {
        scale
    } else {
        1.0
    }
}

/// Scales all gradients down so that their global norm is at most `max_norm` (0 = no limit).
/// Returns the norm before clipping.
pub fn clip_grad_norm<M: Params>(model: &mut M, max_norm: f32) -> f32 {
    let norm = grad_norm(model);
    let scale = clip_factor(norm, max_norm);
    if scale < 1.0 {
        scale_grads(model, scale);
    }
    norm
}
// ANCHOR_END: clip

/// Multiplies every gradient by `factor`.
pub fn scale_grads<M: Params>(model: &mut M, factor: f32) {
    model.visit("", &mut |_, _, _, grad| {
        grad.par_chunks_mut(1 << 15)
            .for_each(|g| g.iter_mut().for_each(|g| *g *= factor))
    });
}

// ANCHOR: schedule
/// The learning rate as a function of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant {
        lr: f32,
    },
    /// A linear warm-up from lr/warmup to lr over `warmup` steps, then a cosine decay to
    /// `min_lr` at step `total`.
    Cosine {
        lr: f32,
        min_lr: f32,
        warmup: usize,
        total: usize,
    },
}

impl Schedule {
    pub fn lr(&self, step: usize) -> f32 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::Cosine {
                lr,
                min_lr,
                warmup,
                total,
            } => {
                if step < warmup {
                    return lr * (step + 1) as f32 / warmup as f32;
                }
                if step >= total {
                    return min_lr;
                }
                let progress = (step - warmup) as f32 / (total - warmup).max(1) as f32;
                let cosine = 0.5 * (1.0 + (std::f32::consts::PI * progress).cos());
                min_lr + cosine * (lr - min_lr)
            }
        }
    }
}
// ANCHOR_END: schedule

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_shape() {
        let s = Schedule::Cosine {
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 10,
            total: 110,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-9);
        assert!((s.lr(9) - 1e-3).abs() < 1e-9);
        assert!((s.lr(10) - 1e-3).abs() < 1e-9);
        assert!((s.lr(60) - 5.5e-4).abs() < 1e-7);
        assert!((s.lr(110) - 1e-4).abs() < 1e-9);
        assert!((s.lr(500) - 1e-4).abs() < 1e-9);
    }

    #[test]
    fn sum_of_squares_counts_every_number_once_lanes_and_remainder() {
        // Σ k² for k = 1..n is n(n+1)(2n+1)/6; lengths below, at and past the sixteen lanes.
        for n in [0usize, 1, 15, 16, 17, 100, 1 << 15] {
            let g: Vec<f32> = (1..=n).map(|k| k as f32).collect();
            let exact = (n * (n + 1) * (2 * n + 1) / 6) as f64;
            assert_eq!(sum_of_squares(&g), exact, "n = {n}");
        }
    }
}
