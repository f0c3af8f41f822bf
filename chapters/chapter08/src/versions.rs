//! From the readable GPT-2 of chapters 3 to 7 to the library, one part at a time: each part of a
//! training step timed in its readable version and in the library's, on the same inputs.

use chapter03::dropout::Dropout;
use std::time::Instant;

use ndarray::{Array1, Array2, Array3};

use chapter03::attention::CausalSelfAttention as ReadableAttention;
use chapter05::gpt::{GPT as ReadableGPT, cross_entropy as readable_cross_entropy};
use chapter06::train::{AdamW as ReadableAdamW, clip_grad_norm};
use gpt2::GPTConfig;
use gpt2::layers::Params;
use gpt2::optim::{AdamW, AdamWConfig};
use gpt2::rng::Rng;

use crate::exercises::one_thread_pool;
use crate::naive::{logsumexp_libm, logsumexp_round};

/// The shortest of repeated runs of `f` (at least two, and about `budget` seconds), in seconds.
pub fn best_time(budget: f64, mut f: impl FnMut()) -> f64 {
    let (start, mut best, mut runs) = (Instant::now(), f64::MAX, 0);
    while runs < 2 || start.elapsed().as_secs_f64() < budget {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// One line of the walk: a part of the step, timed before (readable) and after (library).
pub struct Version {
    pub name: String,
    pub before: f64,
    pub after: f64,
}

fn random_ids(b: usize, t: usize, vocab: usize, rng: &mut Rng) -> Array2<u32> {
    Array2::from_shape_simple_fn((b, t), || rng.below(vocab as u64) as u32)
}

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

// ANCHOR: step
/// A whole training step of the `shakespeare` preset at B = 4, T = 64: chapter 6's readable loop
/// (loss and gradients, clipping, AdamW) against the library's (`forward_train`, `backward`,
/// `step_clipped`), from the same weights on the same batch.
pub fn training_step() -> Version {
    let config = GPTConfig::preset("shakespeare").expect("a preset");
    let mut rng = Rng::new(3);
    let (x, y) = (
        random_ids(4, 64, config.vocab_size, &mut rng),
        random_ids(4, 64, config.vocab_size, &mut rng),
    );
    let mut readable = ReadableGPT::new(config, 1);
    let mut opt = ReadableAdamW::new(&readable, 0.1);
    let before = best_time(1.0, || {
        let (_, mut grads) = readable.loss_and_grads(&x, &y);
        clip_grad_norm(&mut grads, 1.0);
        opt.step(&mut readable, &mut grads, 1e-4);
    });
    let mut library = gpt2::GPT::new(config, 1);
    let mut opt = AdamW::new(&mut library, AdamWConfig::default());
    let after = best_time(1.0, || {
        library.zero_grad();
        library
            .forward_train(x.view(), y.view())
            .expect("a valid batch");
        library.backward().expect("after a forward pass");
        opt.step_clipped(&mut library, 1e-4, 1.0);
    });
    Version {
        name: "training step, shakespeare, B=4 T=64".into(),
        before,
        after,
    }
}
// ANCHOR_END: step

/// The parts of that step, one by one, at its shapes (N = B·T = 256 positions, C = 128,
/// V = 50,257), and attention at GPT-2's full context.
pub fn parts() -> Vec<Version> {
    let mut rng = Rng::new(4);
    let mut out = Vec::new();
    let mut add = |name: &str, before: f64, after: f64| {
        out.push(Version {
            name: name.into(),
            before,
            after,
        })
    };

    // The loss and its gradient over [256, 50257] logits.
    let (n, v) = (256, 50257);
    let logits = Array3::from_shape_simple_fn((4, 64, v), || 4.0 * rng.normal() as f32);
    let targets = random_ids(4, 64, v, &mut rng);
    let before = best_time(0.5, || {
        readable_cross_entropy(&logits, &targets);
    });
    let flat: Vec<u32> = targets.iter().copied().collect();
    let mut work = logits
        .clone()
        .into_shape_with_order((n, v))
        .expect("[N, V]");
    let mut lse = Array1::zeros(n);
    let after = best_time(0.5, || {
        work.assign(&logits.view().into_shape_with_order((n, v)).expect("[N, V]"));
        gpt2::model::cross_entropy(work.view_mut(), &flat, lse.view_mut(), true);
    });
    add("loss and its gradient, [256, 50257]", before, after);

    // LayerNorm and GELU, forward and backward, at [256, 128] and [256, 512].
    let x = random((n, 128), &mut rng);
    let ln = chapter04::block::LayerNorm::new(128, 1e-5);
    let before = best_time(0.3, || {
        let (y, cache) = ln.forward(&x);
        ln.backward(&cache, &y);
    });
    let mut fast_ln = gpt2::layers::LayerNorm::new(128, 1e-5);
    let (mut y, mut mean, mut rstd, mut dx) = (
        Array2::zeros((n, 128)),
        Array1::zeros(n),
        Array1::zeros(n),
        Array2::zeros((n, 128)),
    );
    let after = best_time(0.3, || {
        fast_ln.forward(x.view(), y.view_mut(), mean.view_mut(), rstd.view_mut());
        fast_ln.backward(x.view(), mean.view(), rstd.view(), y.view(), dx.view_mut());
    });
    add("LayerNorm, forward and backward, [256, 128]", before, after);
    let h = random((n, 512), &mut rng);
    let before = best_time(0.3, || {
        let g = h.mapv(chapter04::block::gelu);
        let _ = g * h.mapv(chapter04::block::gelu_grad);
    });
    let (mut g, mut dh) = (Array2::zeros((n, 512)), Array2::zeros((n, 512)));
    let after = best_time(0.3, || {
        gpt2::layers::gelu_forward(h.view(), g.view_mut());
        gpt2::layers::gelu_backward(h.view(), g.view(), dh.view_mut());
    });
    add("GELU, forward and backward, [256, 512]", before, after);

    // Causal attention at GPT-2's width and full context: one layer, one sequence of 1,024.
    let (t, c) = (1024, 768);
    let attn = ReadableAttention::init(c, 12, 0.02, 0.02, &mut rng);
    let x = random((t, c), &mut rng);
    let before = best_time(1.0, || {
        let (y, cache) = attn.forward(&x, t, &mut Dropout::off());
        attn.backward(&cache, &y);
    });
    let mut fast = gpt2::attention::CausalSelfAttention::init(c, 12, 0.02, 0.02, &mut rng);
    let mut cache = gpt2::attention::AttentionCache::default();
    let (mut y, mut dx) = (Array2::zeros((t, c)), Array2::zeros((t, c)));
    let after = best_time(1.0, || {
        fast.forward(x.view(), 1, t, &mut cache, y.view_mut());
        fast.backward(x.view(), 1, t, &cache, y.view(), dx.view_mut());
    });
    let one_thread = one_thread_pool().install(|| {
        best_time(1.0, || {
            fast.forward(x.view(), 1, t, &mut cache, y.view_mut());
            fast.backward(x.view(), 1, t, &cache, y.view(), dx.view_mut());
        })
    });
    add("attention layer, GPT-2 width, T=1024", before, after);
    add("  the same, library on one thread", before, one_thread);

    // AdamW over the 7.2 million parameters of the `shakespeare` preset.
    let config = GPTConfig::preset("shakespeare").expect("a preset");
    let mut model = ReadableGPT::new(config, 1);
    let mut grads = model.clone();
    let mut opt = ReadableAdamW::new(&model, 0.1);
    let before = best_time(0.5, || opt.step(&mut model, &mut grads, 1e-4));
    let mut library = gpt2::GPT::new(config, 1);
    let mut opt = AdamW::new(&mut library, AdamWConfig::default());
    let after = best_time(0.5, || opt.step(&mut library, 1e-4));
    add("AdamW, 7.2 million parameters", before, after);
    out
}

// ANCHOR: exp_versions
/// Milliseconds for the log-sum-exp of every row of [256, 50257] logits, with each version of
/// the exponential: the C library's, the first polynomial one, and the library's.
pub fn exp_versions() -> Vec<(&'static str, f64)> {
    let mut rng = Rng::new(5);
    let logits = Array2::from_shape_simple_fn((256, 50257), || 4.0 * rng.normal() as f32);
    let rows = || {
        logits
            .rows()
            .into_iter()
            .map(|r| r.to_slice().expect("contiguous rows"))
    };
    let libm = best_time(0.5, || {
        rows().for_each(|r| {
            std::hint::black_box(logsumexp_libm(r));
        })
    });
    let round = best_time(0.5, || {
        rows().for_each(|r| {
            std::hint::black_box(logsumexp_round(r));
        })
    });
    let fast = best_time(0.5, || {
        rows().for_each(|r| {
            let (max, sum) = gpt2::kernels::max_and_exp_sum(r);
            std::hint::black_box(max + sum.ln());
        })
    });
    vec![
        ("f32::exp, a call per number", libm * 1e3),
        ("fast_exp with round and as i32", round * 1e3),
        ("fast_exp with the 1.5·2²³ trick", fast * 1e3),
    ]
}
// ANCHOR_END: exp_versions

// ANCHOR: lines
/// The readable GPT-2, file by file: forward, backward, AdamW and the loop (chapters 3 to 6),
/// then sampling and the KV cache (chapter 7).
pub const READABLE: [(&str, &str); 6] = [
    (
        "chapters/chapter03/src/attention.rs",
        include_str!("../../chapter03/src/attention.rs"),
    ),
    (
        "chapters/chapter03/src/dropout.rs",
        include_str!("../../chapter03/src/dropout.rs"),
    ),
    (
        "chapters/chapter04/src/block.rs",
        include_str!("../../chapter04/src/block.rs"),
    ),
    (
        "chapters/chapter05/src/gpt.rs",
        include_str!("../../chapter05/src/gpt.rs"),
    ),
    (
        "chapters/chapter06/src/train.rs",
        include_str!("../../chapter06/src/train.rs"),
    ),
    (
        "chapters/chapter07/src/generate.rs",
        include_str!("../../chapter07/src/generate.rs"),
    ),
];

/// The library's modules that do the same work, made fast.
pub const LIBRARY: [(&str, &str); 9] = [
    ("src/kernels.rs", include_str!("../../../src/kernels.rs")),
    ("src/layers.rs", include_str!("../../../src/layers.rs")),
    (
        "src/attention.rs",
        include_str!("../../../src/attention.rs"),
    ),
    ("src/dropout.rs", include_str!("../../../src/dropout.rs")),
    ("src/block.rs", include_str!("../../../src/block.rs")),
    ("src/model.rs", include_str!("../../../src/model.rs")),
    ("src/optim.rs", include_str!("../../../src/optim.rs")),
    ("src/train.rs", include_str!("../../../src/train.rs")),
    ("src/generate.rs", include_str!("../../../src/generate.rs")),
];

/// Lines of code in a Rust source file: neither blank, nor a comment, nor in a unit-test module
/// (from a `#[cfg(test)]` to the next closing brace at the start of a line).
pub fn code_lines(source: &str) -> usize {
    let mut in_tests = false;
    let is_code = |line: &&str| {
        in_tests |= line.starts_with("#[cfg(test)]");
        let code = !in_tests && !line.trim().is_empty() && !line.trim().starts_with("//");
        in_tests &= *line != "}";
        code
    };
    source.lines().filter(is_code).count()
}
// ANCHOR_END: lines

// ANCHOR: padding
/// Milliseconds for the LM head's product, logits = x·wteᵀ for x: [256, C], at GPT-2's
/// vocabulary of 50,257 and padded to 50,304 (a multiple of 64, as nanoGPT pads it for GPUs),
/// for C = 128 and 768, on the library's multiply.
pub fn vocab_padding() -> Vec<(usize, usize, f64)> {
    let mut rng = Rng::new(6);
    let mut out = Vec::new();
    for c in [128, 768] {
        for v in [50257, 50304] {
            let x = random((256, c), &mut rng);
            let wte = random((v, c), &mut rng);
            let mut logits = Array2::zeros((256, v));
            let t = best_time(0.5, || {
                gpt2::kernels::matmul(x.view(), wte.t(), logits.view_mut(), false)
            });
            out.push((c, v, t * 1e3));
        }
    }
    out
}
// ANCHOR_END: padding
