//! Training in bf16, AdamW writes each multiplied weight's bf16 copy as it updates the weight,
//! and the next step's products read the copy instead of rounding the weight again. One test in
//! its own process: the precision is set for the whole process.

use gpt2::kernels::{Precision, set_precision};
use gpt2::layers::{Param, Params};
use gpt2::optim::{AdamW, AdamWConfig};
use gpt2::rng::Rng;
use ndarray::{Array2, Ix2};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny");

/// Every weight that a product multiplies: wte (the LM head) and each block's four Linear.
fn multiplied(model: &mut gpt2::GPT) -> Vec<&mut Param<Ix2>> {
    let mut all = vec![&mut model.wte];
    for block in &mut model.h {
        all.push(&mut block.attn.c_attn.weight);
        all.push(&mut block.attn.c_proj.weight);
        all.push(&mut block.mlp.c_fc.weight);
        all.push(&mut block.mlp.c_proj.weight);
    }
    all
}

/// Logits, loss and every gradient, as bits.
fn pass(model: &mut gpt2::GPT, x: &Array2<u32>, y: &Array2<u32>) -> Vec<u32> {
    let (logits, loss) = model.forward(x.view(), Some(y.view())).unwrap();
    let mut bits: Vec<u32> = logits.iter().map(|v| v.to_bits()).collect();
    bits.push(loss.unwrap().to_bits());
    model.zero_grad();
    model.backward().unwrap();
    for (_, g) in gpt2::gradcheck::gradients(model) {
        bits.extend(g.iter().map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn adamw_writes_the_bf16_copies_and_the_products_read_them_to_the_same_bit() {
    if !set_precision(Precision::Bf16) {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    let mut model = gpt2::GPT::load(std::path::Path::new(TINY)).unwrap();
    let mut rng = Rng::new(5);
    let vocab = model.config.vocab_size as u64;
    let mut ids = || Array2::from_shape_simple_fn((2, 16), || rng.below(vocab) as u32);
    let (x, y) = (ids(), ids());
    let mut adamw = AdamW::new(&mut model, AdamWConfig::default());
    assert!(model.wte.bf16().is_none(), "a copy before any step");

    pass(&mut model, &x, &y);
    adamw.step(&mut model, 1e-3);
    // Every multiplied weight's copy is fresh, and it is the updated weight rounded.
    for w in multiplied(&mut model) {
        let copy = w.bf16().expect("a fresh copy after the step");
        let rounded = w.value.map(|&v| half::bf16::from_f32(v).to_bits());
        assert_eq!(copy, rounded);
    }

    // The same numbers as rounding each weight again: a clone whose copies a visit made stale.
    // (Reading the gradients visits too, so every clone is made before the first pass.)
    let mut stale = model.clone();
    stale.visit("", &mut |_, _, _, _| {});
    assert!(multiplied(&mut stale).iter().all(|w| w.bf16().is_none()));
    // And a clone whose copies changed behind the weights' back (zeros, still marked fresh).
    let mut altered = model.clone();
    for w in multiplied(&mut altered) {
        w.copy.as_mut().unwrap().data.fill(0);
    }
    let mut altered_f32 = altered.clone();
    let bits = pass(&mut model, &x, &y);
    assert_eq!(bits, pass(&mut stale, &x, &y));
    // The products do read the copies: the altered ones change the numbers.
    assert_ne!(bits, pass(&mut altered, &x, &y));

    // In f32 nothing reads them, and the optimizer writes none.
    set_precision(Precision::F32);
    assert_eq!(pass(&mut altered_f32, &x, &y), pass(&mut stale, &x, &y));
    adamw.step(&mut stale, 1e-3);
    assert!(multiplied(&mut stale).iter().all(|w| w.bf16().is_none()));
}
