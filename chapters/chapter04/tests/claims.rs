//! The claims of chapter 4: the backward passes of LayerNorm, GELU, the MLP and the block are
//! right, LayerNorm normalises, and blocks loaded with Hugging Face's weights give Hugging Face's
//! logits.

use chapter03::dropout::Dropout;
use std::path::PathBuf;

use chapter03::attention::{Linear, Parameters};
use chapter03::gradcheck::check_layer;
use chapter04::block::{Block, LayerNorm, Mlp, gelu, gelu_grad};
use gpt2::GPTConfig;
use gpt2::checkpoint::read_safetensors;
use gpt2::rng::Rng;
use ndarray::{Array2, Ix2, Ix3};

fn random(shape: (usize, usize), std: f32, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32 * std)
}

/// Every parameter of `m` moved by N(0, std²) noise, so that no gradient is trivially zero.
fn scramble<M: Parameters>(m: &mut M, std: f32, rng: &mut Rng) {
    for (_, mut p) in m.parameters() {
        p.mapv_inplace(|v| v + rng.normal() as f32 * std);
    }
}

fn report(layer: &str, checks: &[(String, f64)], bound: f64) {
    for (name, err) in checks {
        println!("{layer} {name:<18} relative error {err:.1e}");
        assert!(*err < bound, "{layer} {name}: {err:.2e}");
    }
}

#[test]
fn layernorm_gradients() {
    let mut rng = Rng::new(1);
    let mut ln = LayerNorm::new(8, 1e-5);
    scramble(&mut ln, 0.5, &mut rng);
    let x = random((5, 8), 1.0, &mut rng);
    let checks = check_layer(
        &ln,
        &x,
        1e-2,
        |l, x| l.forward(x).0,
        |l, x, dy| l.backward(&l.forward(x).1, dy),
    );
    assert_eq!(checks.len(), 3);
    report("LayerNorm", &checks, 1e-4);
}

#[test]
fn layernorm_output_is_normalised() {
    let mut rng = Rng::new(2);
    let ln = LayerNorm::new(64, 1e-5);
    let x = random((10, 64), 3.0, &mut rng) + 5.0;
    let (y, _) = ln.forward(&x);
    for row in y.rows() {
        let mean = row.sum() / 64.0;
        let var = row.mapv(|v| (v - mean).powi(2)).sum() / 64.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
            "{mean} {var}"
        );
    }
}

#[test]
fn gelu_gradient() {
    let mut rng = Rng::new(3);
    let (mut worst, h) = (0.0f64, 1e-2f64);
    for _ in 0..200 {
        let x = rng.normal() * 2.0;
        let numeric = (gelu((x + h) as f32) as f64 - gelu((x - h) as f32) as f64) / (2.0 * h);
        worst = worst.max((numeric - gelu_grad(x as f32) as f64).abs());
    }
    println!("GELU largest difference from central differences {worst:.1e}");
    assert!(worst < 1e-4);
    // Reference values of the tanh approximation.
    assert!((gelu(1.0) - 0.841_192).abs() < 1e-6);
    assert!((gelu(-1.0) + 0.158_808).abs() < 1e-6);
}

#[test]
fn mlp_gradients() {
    let mut rng = Rng::new(4);
    let mut mlp = Mlp {
        c_fc: Linear::init(6, 24, 0.5, &mut rng),
        c_proj: Linear::init(24, 6, 0.5, &mut rng),
    };
    scramble(&mut mlp, 0.1, &mut rng);
    let x = random((5, 6), 1.0, &mut rng);
    let checks = check_layer(
        &mlp,
        &x,
        1e-2,
        |m, x| m.forward(x).0,
        |m, x, dy| m.backward(&m.forward(x).1, dy),
    );
    assert_eq!(checks.len(), 5);
    report("MLP", &checks, 1e-4);
}

// ANCHOR: block_gradcheck
#[test]
fn block_gradients() {
    let mut rng = Rng::new(5);
    let (b, t, c) = (2, 4, 8);
    let mut block = Block::init(c, 2, 2, 1e-5, &mut rng);
    scramble(&mut block, 0.3, &mut rng);
    let x = random((b * t, c), 1.0, &mut rng);
    let checks = check_layer(
        &block,
        &x,
        1e-2,
        |block, x| block.forward(x, t, &mut Dropout::off()).0,
        |block, x, dout| block.backward(&block.forward(x, t, &mut Dropout::off()).1, dout),
    );
    assert_eq!(checks.len(), 13, "the input and twelve parameter tensors");
    report("block", &checks, 5e-4);
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
    let tensors = read_safetensors(&fixture("model.safetensors")).unwrap();
    let tensor = |name: &str| tensors[&format!("transformer.{name}")].clone();
    let matrix = |name: &str| tensor(name).into_dimensionality::<Ix2>().unwrap();
    let (wte, wpe) = (matrix("wte.weight"), matrix("wpe.weight"));
    // Blocks and ln_f of the right shapes, given the checkpoint's tensors by their GPT-2 names.
    let (c, eps) = (config.n_embd, 1e-5);
    let mut blocks = Vec::new();
    for l in 0..config.n_layer {
        let mut block = Block::init(c, config.n_head, config.n_layer, eps, &mut Rng::new(0));
        for (name, mut p) in block.parameters() {
            p.assign(&tensor(&format!("h.{l}.{name}")));
        }
        blocks.push(block);
    }
    let mut ln_f = LayerNorm::new(c, eps);
    for (name, mut p) in ln_f.parameters() {
        p.assign(&tensor(&format!("ln_f.{name}")));
    }

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
        x = block.forward(&x, t, &mut Dropout::off()).0;
    }
    let x = ln_f.forward(&x).0;
    // The LM head is wte, transposed: logits [N, V].
    let logits = x.dot(&wte.t());

    let reference = read_safetensors(&fixture("expected.safetensors")).unwrap();
    let reference = reference["logits"]
        .clone()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let reference = reference.to_shape((b * t, config.vocab_size)).unwrap();
    let err = (&logits - &reference)
        .mapv(f32::abs)
        .fold(0.0f32, |m, &e| m.max(e));
    println!("max |logits - reference| = {err:.2e}");
    assert!(err <= 1e-4, "max abs error {err}");
}
// ANCHOR_END: reference
