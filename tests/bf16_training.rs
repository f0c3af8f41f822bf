//! Mixed precision (`--precision bf16`): the matrix multiplies in bfloat16 with f32 sums change
//! the logits and the gradients by little, measured against f32 on the same weights and batch.
//! One test in its own process: the precision is set for the whole process.

use gpt2::GPTConfig;
use gpt2::gradcheck::gradients;
use gpt2::kernels::{Precision, set_precision};
use gpt2::layers::Params;
use gpt2::rng::Rng;
use ndarray::{Array2, Array3};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny");

fn batch(vocab: usize, b: usize, t: usize, seed: u64) -> (Array2<u32>, Array2<u32>) {
    let mut rng = Rng::new(seed);
    let mut ids = || Array2::from_shape_simple_fn((b, t), || rng.below(vocab as u64) as u32);
    (ids(), ids())
}

/// Every gradient, by name.
type Grads = Vec<(String, Vec<f32>)>;

/// Logits, loss and every gradient of one forward and backward pass at precision `p`.
fn pass(
    model: &mut gpt2::GPT,
    x: &Array2<u32>,
    y: &Array2<u32>,
    p: Precision,
) -> (Array3<f32>, f32, Grads) {
    set_precision(p);
    let (logits, loss) = model.forward(x.view(), Some(y.view())).unwrap();
    let logits = logits.to_owned();
    model.zero_grad();
    model.backward().unwrap();
    set_precision(Precision::F32);
    (logits, loss.unwrap(), gradients(model))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(f64::MIN_POSITIVE)
}

#[test]
fn bf16_multiplies_change_logits_and_gradients_by_little() {
    if !set_precision(Precision::Bf16) {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    set_precision(Precision::F32);

    // The reference model: the same argmax everywhere, logits within 0.02 of f32's.
    let mut model = gpt2::GPT::load(std::path::Path::new(TINY)).unwrap();
    let (x, y) = batch(model.config.vocab_size, 4, 16, 1);
    let (f32_logits, f32_loss, _) = pass(&mut model, &x, &y, Precision::F32);
    let (bf_logits, bf_loss, _) = pass(&mut model, &x, &y, Precision::Bf16);
    let worst = (&f32_logits - &bf_logits)
        .iter()
        .fold(0f32, |m, d| m.max(d.abs()));
    println!("tiny model: largest logit difference {worst:.2e}, loss {f32_loss} vs {bf_loss}");
    assert!(worst < 0.02, "{worst}");
    assert!(worst > 0.0, "the bf16 path was not taken");
    let argmax = |l: &Array3<f32>| -> Vec<usize> {
        l.rows()
            .into_iter()
            .map(|r| (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
            .collect()
    };
    assert_eq!(argmax(&f32_logits), argmax(&bf_logits));

    // The shakespeare preset at initialisation: every gradient points where f32's does.
    let mut model = gpt2::GPT::new(GPTConfig::preset("shakespeare").unwrap(), 3);
    let (x, y) = batch(model.config.vocab_size, 4, 128, 2);
    let (_, _, f32_grads) = pass(&mut model, &x, &y, Precision::F32);
    let (_, _, bf_grads) = pass(&mut model, &x, &y, Precision::Bf16);
    let mut lowest = (1.0, String::new());
    for ((name, g), (_, h)) in f32_grads.iter().zip(&bf_grads) {
        let c = cosine(g, h);
        if c < lowest.0 {
            lowest = (c, name.clone());
        }
    }
    println!(
        "shakespeare: lowest gradient cosine {:.5} ({})",
        lowest.0, lowest.1
    );
    assert!(lowest.0 >= 0.999, "{}: {}", lowest.1, lowest.0);
}
