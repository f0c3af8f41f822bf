//! The claims of chapter 4: LayerNorm, GELU, the MLP and the whole block have correct
//! gradients, and a stack of blocks loaded with Hugging Face's weights computes Hugging Face's
//! logits.

use std::path::PathBuf;

use gpt2::GPTConfig;
use gpt2::block::{Block, BlockCache, Mlp, MlpCache};
use gpt2::checkpoint::{Tensors, read_safetensors};
use gpt2::gradcheck::{Check, check_layer};
use gpt2::kernels::matmul;
use gpt2::layers::{LayerNorm, Linear, Params, Visit, gelu_backward, gelu_forward};
use gpt2::rng::Rng;
use ndarray::{Array1, Array2, ArrayView2, Ix3, s};

fn random(shape: (usize, usize), std: f32, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32 * std)
}

/// Gives every parameter a random value, so that no gradient is trivially zero.
fn scramble<M: Params>(m: &mut M, std: f32, rng: &mut Rng) {
    m.visit("", &mut |name, _, v, _| {
        let base = if name.starts_with("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        v.iter_mut()
            .for_each(|x| *x = base + rng.normal() as f32 * std);
    });
}

fn report(layer: &str, checks: &[Check], bound: f64) {
    for c in checks {
        println!("{layer} {:<22} relative error {:.1e}", c.name, c.rel_error);
        assert!(
            c.rel_error < bound,
            "{layer} {}: {:.2e}",
            c.name,
            c.rel_error
        );
    }
}

fn ln_forward(ln: &LayerNorm, x: ArrayView2<f32>) -> (Array2<f32>, Array1<f32>, Array1<f32>) {
    let mut y = Array2::zeros(x.raw_dim());
    let (mut mean, mut rstd) = (Array1::zeros(x.nrows()), Array1::zeros(x.nrows()));
    ln.forward(x, y.view_mut(), mean.view_mut(), rstd.view_mut());
    (y, mean, rstd)
}

#[test]
fn layernorm_gradients() {
    let mut rng = Rng::new(1);
    let mut ln = LayerNorm::new(8, 1e-5);
    scramble(&mut ln, 0.5, &mut rng);
    let x = random((6, 8), 1.5, &mut rng);
    let checks = check_layer(
        &ln,
        &x,
        1e-2,
        |ln, x| ln_forward(ln, x).0,
        |ln, x, dy| {
            let (_, mean, rstd) = ln_forward(ln, x);
            let mut dx = Array2::zeros(x.raw_dim());
            ln.backward(x, mean.view(), rstd.view(), dy, dx.view_mut());
            dx
        },
    );
    report("LayerNorm", &checks, 1e-4);
}

#[test]
fn layernorm_output_is_normalised() {
    let mut rng = Rng::new(2);
    let ln = LayerNorm::new(64, 1e-5);
    let x = random((10, 64), 3.0, &mut rng) + 5.0;
    let (y, _, _) = ln_forward(&ln, x.view());
    for row in y.rows() {
        let mean = row.sum() / 64.0;
        let var = row.mapv(|v| (v - mean).powi(2)).sum() / 64.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
            "{mean} {var}"
        );
    }
}

/// GELU has no parameters; this wrapper lets the layer checker drive it.
#[derive(Clone)]
struct Gelu;

impl Params for Gelu {
    fn visit(&mut self, _: &str, _: &mut Visit<'_>) {}
}

#[test]
fn gelu_gradient() {
    let mut rng = Rng::new(3);
    let x = random((5, 7), 2.0, &mut rng);
    let checks = check_layer(
        &Gelu,
        &x,
        1e-2,
        |_, x| {
            let mut y = Array2::zeros(x.raw_dim());
            gelu_forward(x, y.view_mut());
            y
        },
        |_, x, dy| {
            let mut dx = Array2::zeros(x.raw_dim());
            gelu_backward(x, dy, dx.view_mut());
            dx
        },
    );
    report("GELU", &checks, 1e-4);
}

#[test]
fn mlp_gradients() {
    let mut rng = Rng::new(4);
    let mut mlp = Mlp {
        c_fc: Linear::zeros(6, 24),
        c_proj: Linear::zeros(24, 6),
    };
    scramble(&mut mlp, 0.4, &mut rng);
    let x = random((5, 6), 1.0, &mut rng);
    let forward = |m: &Mlp, x: ArrayView2<f32>| {
        let mut out = Array2::zeros(x.raw_dim());
        m.forward(x, &mut MlpCache::default(), out.view_mut());
        out
    };
    let checks = check_layer(&mlp, &x, 1e-2, forward, |m, x, dout| {
        let mut cache = MlpCache::default();
        let mut out = Array2::zeros(x.raw_dim());
        m.forward(x, &mut cache, out.view_mut());
        let mut dx = Array2::zeros(x.raw_dim());
        m.backward(x, &cache, dout, dx.view_mut());
        dx
    });
    report("MLP", &checks, 1e-4);
    assert_eq!(checks.len(), 5);
}

// ANCHOR: block_gradcheck
#[test]
fn block_gradients() {
    let (b, t, c, n_head) = (2, 4, 8, 2);
    let mut rng = Rng::new(5);
    let mut block = Block::init(c, n_head, 2, 1e-5, &mut rng);
    scramble(&mut block, 0.3, &mut rng);
    let x = random((b * t, c), 1.0, &mut rng);
    let forward = |blk: &Block, x: ArrayView2<f32>| {
        let mut out = Array2::zeros(x.raw_dim());
        blk.forward(x, b, t, &mut BlockCache::default(), out.view_mut());
        out
    };
    let checks = check_layer(&block, &x, 1e-2, forward, |blk, x, dout| {
        let mut cache = BlockCache::default();
        let mut out = Array2::zeros(x.raw_dim());
        blk.forward(x, b, t, &mut cache, out.view_mut());
        let mut dx = Array2::zeros(x.raw_dim());
        blk.backward(x, b, t, &cache, dout, dx.view_mut());
        dx
    });
    report("block", &checks, 5e-4);
    // The input and all twelve parameters: ln_1, c_attn, c_proj, ln_2, c_fc, c_proj (w and b).
    assert_eq!(checks.len(), 13);
}
// ANCHOR_END: block_gradcheck

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny")
        .join(name)
}

// ANCHOR: reference
#[test]
fn blocks_with_hugging_face_weights_give_hugging_face_logits() {
    let config = GPTConfig::load_hf(&fixture("config.json")).unwrap();
    let (c, v) = (config.n_embd, config.vocab_size);
    let mut tensors = Tensors::read(&fixture("model.safetensors")).unwrap();
    let wte = tensors.take2("transformer.wte.weight", v, c).unwrap();
    let wpe = tensors
        .take2("transformer.wpe.weight", config.block_size, c)
        .unwrap();
    let blocks: Vec<Block> = (0..config.n_layer)
        .map(|l| Block::from_tensors(&mut tensors, &format!("transformer.h.{l}"), &config).unwrap())
        .collect();
    let ln_f = LayerNorm::from_tensors(&mut tensors, "transformer.ln_f", c, 1e-5).unwrap();
    assert_eq!(tensors.remaining().count(), 0, "every tensor is used");

    // The reference batch: 4 sequences of 16 token ids.
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let rows = expected["batch"]["x"].as_array().unwrap();
    let (b, t) = (rows.len(), rows[0].as_array().unwrap().len());
    let ids: Vec<usize> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
        })
        .collect();

    // Token embedding plus position embedding, then the blocks, then ln_f.
    let mut x = Array2::from_shape_fn((b * t, c), |(n, j)| wte[[ids[n], j]] + wpe[[n % t, j]]);
    for block in &blocks {
        let mut out = Array2::zeros(x.raw_dim());
        block.forward(x.view(), b, t, &mut BlockCache::default(), out.view_mut());
        x = out;
    }
    let (x, _, _) = ln_forward(&ln_f, x.view());
    // The LM head is wte, transposed: logits [N, V].
    let mut logits = Array2::zeros((b * t, v));
    matmul(x.view(), wte.t(), logits.view_mut(), false);

    let reference = read_safetensors(&fixture("expected.safetensors")).unwrap();
    let reference = reference["logits"]
        .clone()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let reference = reference.to_shape((b * t, v)).unwrap();
    let err = (&logits - &reference)
        .mapv(f32::abs)
        .fold(0.0f32, |m, &e| m.max(e));
    println!("max |logits - reference| = {err:.2e}");
    assert!(err <= 1e-4, "max abs error {err}");
    assert!(logits.slice(s![0, ..]).iter().any(|&l| l != 0.0));
}
// ANCHOR_END: reference
