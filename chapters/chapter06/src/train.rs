//! The readable GPT-2, part 4: AdamW, gradient clipping, the learning-rate schedule and the
//! training loop, on top of chapter 5's model.

use ndarray::{Array2, Zip};

use chapter03::attention::Parameters;
use chapter05::gpt::{GPT, cross_entropy};
use gpt2::data::Loader;

// ANCHOR: adamw
/// AdamW: Adam's step on running averages of each parameter's gradient (m) and squared
/// gradient (v), with the weight decay taken apart from the gradient. m and v hold one number
/// per parameter, so they are kept as two models (M is `GPT`, or any layer).
#[derive(Debug, Clone)]
pub struct AdamW<M> {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Applied only to parameters with two or more dimensions (matrices and embeddings).
    pub weight_decay: f32,
    /// Updates made so far: the t of the bias corrections.
    pub t: i32,
    pub m: M,
    pub v: M,
}

impl<M: Parameters + Clone> AdamW<M> {
    /// GPT-2's settings (β = 0.9, 0.95, eps = 1e-8), zero moments.
    pub fn new(model: &M, weight_decay: f32) -> AdamW<M> {
        let mut zeros = model.clone();
        for (_, mut p) in zeros.parameters() {
            p.fill(0.0);
        }
        let (m, v) = (zeros.clone(), zeros);
        AdamW {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay,
            t: 0,
            m,
            v,
        }
    }

    /// One update of every parameter from its gradient, with learning rate `lr`:
    /// p ← p·(1 − lr·decay) − lr · m̂ / (√v̂ + eps), m̂ and v̂ the bias-corrected averages.
    pub fn step(&mut self, model: &mut M, grads: &mut M, lr: f32) {
        self.t += 1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let moments = self.m.parameters().into_iter().zip(self.v.parameters());
        let params = model.parameters().into_iter().zip(grads.parameters());
        for (((_, mut p), (_, g)), ((_, mut m), (_, mut v))) in params.zip(moments) {
            let decay = if p.ndim() >= 2 {
                1.0 - lr * self.weight_decay
            } else {
                1.0
            };
            Zip::from(&mut p)
                .and(&g)
                .and(&mut m)
                .and(&mut v)
                .for_each(|p, &g, m, v| {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p = *p * decay - lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                });
        }
    }
}
// ANCHOR_END: adamw

// ANCHOR: clip
/// Scales the gradients down so that their global norm √(Σ g²) is at most `max_norm`
/// (0 = no limit). Returns the norm before clipping.
pub fn clip_grad_norm<M: Parameters>(grads: &mut M, max_norm: f32) -> f32 {
    let squares = grads
        .parameters()
        .into_iter()
        .map(|(_, g)| g.iter().map(|&g| g as f64 * g as f64).sum::<f64>());
    let norm = squares.sum::<f64>().sqrt() as f32;
    let scale = max_norm / (norm + 1e-6);
    if max_norm > 0.0 && scale < 1.0 {
        for (_, mut g) in grads.parameters() {
            g *= scale;
        }
    }
    norm
}
// ANCHOR_END: clip

// ANCHOR: schedule
/// The learning rate at `step`: a linear warm-up to `lr` over `warmup` steps, then a cosine
/// decay to `min_lr` at step `total`.
pub fn learning_rate(step: usize, lr: f32, min_lr: f32, warmup: usize, total: usize) -> f32 {
    if step < warmup {
        return lr * (step + 1) as f32 / warmup as f32;
    }
    let progress = (step - warmup) as f32 / (total - warmup).max(1) as f32;
    let cosine = 0.5 * (1.0 + (std::f32::consts::PI * progress.min(1.0)).cos());
    min_lr + cosine * (lr - min_lr)
}
// ANCHOR_END: schedule

/// The settings of a run; the defaults are those of `gpt2 train`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub steps: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup: usize,
    pub weight_decay: f32,
    pub grad_clip: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            steps: 1000,
            lr: 3e-3,
            min_lr: 3e-4,
            warmup: 200,
            weight_decay: 0.1,
            grad_clip: 1.0,
        }
    }
}

/// What one step did: its loss (before the update), learning rate and gradient norm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub step: usize,
    pub loss: f32,
    pub lr: f32,
    pub grad_norm: f32,
}

// ANCHOR: train
/// Trains `model` for `settings.steps` steps on the batches `loader` cuts, calling `after`
/// with each step's numbers and the model as it then is.
pub fn train(
    model: &mut GPT,
    loader: &mut Loader,
    settings: &Settings,
    mut after: impl FnMut(Step, &GPT),
) {
    let Settings {
        steps,
        lr,
        min_lr,
        warmup,
        weight_decay,
        grad_clip,
    } = *settings;
    let mut opt = AdamW::new(model, weight_decay);
    for step in 0..steps {
        let batch = loader.next_batch();
        let x = Array2::from_shape_vec((batch.b, batch.t), batch.x).unwrap();
        let y = Array2::from_shape_vec((batch.b, batch.t), batch.y).unwrap();
        let (loss, mut grads) = model.loss_and_grads(&x, &y);
        let grad_norm = clip_grad_norm(&mut grads, grad_clip);
        let lr = learning_rate(step, lr, min_lr, warmup, steps);
        opt.step(model, &mut grads, lr);
        after(
            Step {
                step,
                loss,
                lr,
                grad_norm,
            },
            model,
        );
    }
}
// ANCHOR_END: train

// ANCHOR: evaluate
/// The mean loss of `model` on `tokens`, read in consecutive windows of `t` inputs, `b` per pass.
pub fn evaluate(model: &GPT, tokens: &[u32], b: usize, t: usize) -> f32 {
    let windows = tokens.len().saturating_sub(1) / t;
    let (mut total, mut done) = (0.0f64, 0);
    while done < windows {
        let rows = b.min(windows - done);
        let x = Array2::from_shape_fn((rows, t), |(r, j)| tokens[(done + r) * t + j]);
        let y = Array2::from_shape_fn((rows, t), |(r, j)| tokens[(done + r) * t + j + 1]);
        let (loss, _) = cross_entropy(&model.forward(&x).0, &y);
        total += loss as f64 * rows as f64;
        done += rows;
    }
    (total / windows as f64) as f32
}
// ANCHOR_END: evaluate
