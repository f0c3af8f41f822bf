//! The fast library's trainer (`gpt2::train`, chapter 8): ten AdamW steps on the reference
//! model reproduce PyTorch's losses and gradient norms, and leave the weights the readable
//! loop leaves.

use chapter03::attention::Parameters;
use chapter05::gpt::{GPT, library_tensors};
use chapter05::reference;
use chapter06::reference as run;
use chapter06::train::train;
use gpt2::gradcheck::relative_error;
use gpt2::train::{TrainConfig, Trainer};

#[test]
fn library_ten_adamw_steps_match_pytorch() {
    let expected = reference::expected().unwrap();
    let adamw = &expected["adamw"];
    let tokens = reference::id_list(&expected["tokens"]).unwrap();
    // Step k reads tokens[64k .. 64k + 65] as [4, 16]: the sequential loader with B = 4, T = 16.
    let config = TrainConfig {
        batch: 4,
        seq: 16,
        steps: 10,
        lr: adamw["lr"].as_f64().unwrap() as f32,
        schedule: "constant".into(),
        weight_decay: adamw["weight_decay"].as_f64().unwrap() as f32,
        grad_clip: adamw["grad_clip_global_norm"].as_f64().unwrap() as f32,
        loader: "sequential".into(),
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let model = gpt2::GPT::load(&reference::dir()).unwrap();
    let mut trainer = Trainer::new(model, tokens, Vec::new(), config).unwrap();
    for (k, step) in adamw["steps"].as_array().unwrap().iter().enumerate() {
        let stats = trainer.step().unwrap();
        let loss = step["loss"].as_f64().unwrap();
        let norm = step["grad_norm_before_clip"].as_f64().unwrap();
        println!(
            "step {k}: loss {:.6} (PyTorch {loss:.6}), grad norm {:.6} (PyTorch {norm:.6})",
            stats.loss, stats.grad_norm
        );
        assert!((stats.loss as f64 - loss).abs() <= 1e-4, "step {k}");
        assert!(
            (stats.grad_norm as f64 - norm).abs() <= 1e-4 * norm,
            "step {k}"
        );
    }
}

#[test]
fn ten_readable_adamw_steps_leave_the_library_weights() {
    let tokens = reference::tokens().unwrap();
    let mut model = GPT::load(&reference::dir()).unwrap();
    train(
        &mut model,
        &mut run::loader().unwrap(),
        &run::settings().unwrap(),
        |_, _| {},
    );

    let config = TrainConfig {
        batch: 4,
        seq: 16,
        steps: 10,
        lr: 3e-3,
        schedule: "constant".into(),
        loader: "sequential".into(),
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let library = gpt2::GPT::load(&reference::dir()).unwrap();
    let mut trainer = Trainer::new(library, tokens, Vec::new(), config).unwrap();
    for _ in 0..10 {
        trainer.step().unwrap();
    }
    let theirs = library_tensors(&mut trainer.model, false);
    let c = model.config.n_embd;
    for (name, mine) in model.parameters() {
        let mut mine: Vec<f32> = mine.iter().copied().collect();
        let mut theirs: Vec<f64> = theirs[&name].iter().map(|&x| x as f64).collect();
        if name.ends_with("c_attn.bias") {
            // The keys' bias adds the same q·b to every score of a row, which the softmax
            // ignores: its gradient is 0 but for rounding, and Adam, dividing by √v, turns
            // rounding of either sign into whole steps. The queries' and values' thirds are
            // compared.
            mine.drain(c..2 * c);
            theirs.drain(c..2 * c);
        }
        let err = relative_error(&mine, &theirs);
        println!("{name:<24} relative difference {err:.1e}");
        assert!(err <= 1e-5, "{name}: {err:.2e}");
    }
}
