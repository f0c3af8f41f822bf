//! What chapter 8 claims: the faster kernels give the same numbers (or, for bf16 weights, close
//! ones), whatever the number of threads.

use chapter05::reference;
use chapter08::exercises::one_thread_pool;
use chapter08::naive::{matmul_ijk, matmul_tiled};
use chapter08::precision::compare;
use gpt2::layers::{LayerNorm, Params};
use gpt2::optim::{AdamW, AdamWConfig, clip_factor, clip_grad_norm, grad_norm};
use gpt2::quant::Weights;
use gpt2::{GPT, GPTConfig};
use ndarray::{Array1, Array2};

#[test]
fn bf16_weights_predict_nearly_the_same() {
    let model = GPT::load(&reference::dir()).unwrap();
    let c = compare(&model, &reference::tokens().unwrap(), Weights::Bf16).unwrap();
    assert_eq!(c.predictions, 768);
    assert!(c.max_logit_diff < 0.01 * c.logit_range, "{c:?}");
    assert!((c.loss_f32 - c.loss_rounded).abs() < 1e-3, "{c:?}");
    assert!(c.same_argmax > 0.95, "{c:?}");
}

#[test]
fn int8_and_int4_weights_predict_nearly_the_same_int4_less_so() {
    let model = GPT::load(&reference::dir()).unwrap();
    let tokens = reference::tokens().unwrap();
    let int8 = compare(&model, &tokens, Weights::Int8).unwrap();
    let int4 = compare(&model, &tokens, Weights::Int4).unwrap();
    assert!(int8.max_logit_diff < 0.02 * int8.logit_range, "{int8:?}");
    assert!((int8.loss_f32 - int8.loss_rounded).abs() < 0.01, "{int8:?}");
    assert!(int8.same_argmax > 0.9, "{int8:?}");
    assert!(int4.max_logit_diff > int8.max_logit_diff, "{int4:?}");
    assert!((int4.loss_f32 - int4.loss_rounded).abs() < 0.1, "{int4:?}");
}

#[test]
fn bf16_copies_go_when_the_weights_change() {
    let mut model = GPT::new(GPTConfig::preset("nano").unwrap(), 0);
    model.use_bf16_for_decoding();
    assert!(model.uses_bf16());
    assert!(model.h[0].mlp.c_fc.packed.is_some());
    let mut adamw = AdamW::new(&mut model, AdamWConfig::default());
    adamw.step(&mut model, 1e-3);
    assert!(!model.uses_bf16());
    assert!(model.h.iter().all(|b| b.attn.c_attn.packed.is_none()));
}

#[test]
fn clipping_inside_the_update_is_clipping_then_updating() {
    let mut model = GPT::load(&reference::dir()).unwrap();
    let ids = reference::tokens().unwrap();
    let x = Array2::from_shape_vec((4, 16), ids[..64].to_vec()).unwrap();
    let y = Array2::from_shape_vec((4, 16), ids[1..65].to_vec()).unwrap();
    model.zero_grad();
    model.forward_train(x.view(), y.view()).unwrap();
    model.backward().unwrap();
    let mut two_passes = model.clone();
    let mut a = AdamW::new(&mut two_passes, AdamWConfig::default());
    let mut b = AdamW::new(&mut model, AdamWConfig::default());
    let norm = clip_grad_norm(&mut two_passes, 0.5);
    a.step(&mut two_passes, 3e-3);
    let scale = clip_factor(grad_norm(&mut model), 0.5);
    assert!(scale < 1.0, "the gradient is clipped: {norm}");
    b.step_scaled(&mut model, 3e-3, scale);
    let mut values = Vec::new();
    two_passes.visit("", &mut |_, _, v, _| values.push(v.to_vec()));
    let mut i = 0;
    model.visit("", &mut |name, _, v, _| {
        assert_eq!(v, &values[i][..], "{name}");
        i += 1;
    });
}

#[test]
fn layernorm_backward_is_the_same_on_any_number_of_threads() {
    let (n, c) = (300, 96);
    let x = Array2::from_shape_fn((n, c), |(i, j)| ((i * 7 + j * 13) % 31) as f32 * 0.1 - 1.4);
    let dy = Array2::from_shape_fn((n, c), |(i, j)| ((i * 5 + j * 3) % 17) as f32 * 0.05 - 0.4);
    let run = || {
        let mut ln = LayerNorm::new(c, 1e-5);
        ln.weight.value.mapv_inplace(|w| w * 1.5);
        let mut y = Array2::zeros((n, c));
        let (mut mean, mut rstd) = (Array1::zeros(n), Array1::zeros(n));
        ln.forward(x.view(), y.view_mut(), mean.view_mut(), rstd.view_mut());
        let mut dx = Array2::zeros((n, c));
        ln.backward(x.view(), mean.view(), rstd.view(), dy.view(), dx.view_mut());
        (dx, ln.weight.grad, ln.bias.grad)
    };
    assert_eq!(one_thread_pool().install(run), run());
}

#[test]
fn register_tiles_multiply_like_the_definition() {
    let (m, k, n) = (9, 200, 70);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 53) % 89) as f32 / 44.0 - 1.0)
        .collect();
    let (mut want, mut got) = (vec![0.0; m * n], vec![0.0; m * n]);
    matmul_ijk(&a, &b, &mut want, m, k, n);
    matmul_tiled(&a, &b, &mut got, m, k, n);
    for (w, g) in want.iter().zip(&got) {
        assert!((w - g).abs() < 1e-4, "{w} vs {g}");
    }
}

#[test]
fn exercise_1_measures_one_thread_and_all() {
    let [(one, g1), (all, g_all)] = chapter08::exercises::one_thread_and_all(64, 128, 256);
    assert_eq!(one, 1);
    assert_eq!(all, rayon::current_num_threads());
    assert!(g1 > 0.0 && g_all > 0.0);
}

/// The readable model, chapters 3 to 6, stays under 800 lines, and the book says how many.
#[test]
fn the_book_states_the_readable_models_line_count() {
    use chapter08::versions::{READABLE, code_lines};
    let model: usize = READABLE[..5].iter().map(|(_, s)| code_lines(s)).sum();
    assert!(
        model <= 800,
        "the readable model has grown to {model} lines"
    );
    let stated = format!("{model} lines");
    for page in ["ch06-training.md", "ch08-optimization.md"] {
        assert!(
            bookcheck::page(page).contains(&stated),
            "{page} does not say {stated:?}"
        );
    }
}

#[test]
fn line_counts_skip_blank_lines_comments_and_tests() {
    use chapter08::versions::code_lines;
    let source = "//! A module.\n\nfn a() {}\n    // why\nfn b() {}\n#[cfg(test)]\nmod tests {\n    fn c() {}\n}\nfn d() {}\n";
    assert_eq!(code_lines(source), 3);
}

/// Chapter 8's count of where a `shakespeare` step's arithmetic goes is computed, not typed:
/// the LM head's weights among those of all matrix multiplies, its share of a step's FLOPs, and
/// the step's GFLOP at B = 8, T = 128.
#[test]
fn the_books_share_of_the_lm_head_is_the_configs() {
    let config = GPTConfig::preset("shakespeare").unwrap();
    let lm_head = (config.vocab_size * config.n_embd) as f64;
    let step = config.train_flops_per_step(8, 128);
    let share = 6.0 * lm_head * (8 * 128) as f64 / step;
    // The prose as words, without its maths delimiters.
    let page = bookcheck::page("ch08-optimization.md").replace('$', "");
    let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in [
        format!(
            "{:.1} million of the {:.1} million weights",
            lm_head / 1e6,
            config.matmul_params() as f64 / 1e6
        ),
        format!("{:.1}% of the arithmetic", 100.0 * share),
        format!("`shakespeare` step, {:.0} GFLOP", step / 1e9),
    ] {
        assert!(page.contains(&claim), "chapter 8 does not say {claim:?}");
    }
}
