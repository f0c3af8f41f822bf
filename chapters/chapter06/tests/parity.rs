//! Ten AdamW steps on the reference model reproduce PyTorch's losses and gradient norms.

use chapter05::reference;
use gpt2::GPT;
use gpt2::train::{TrainConfig, Trainer};

// ANCHOR: parity
#[test]
fn ten_adamw_steps_match_pytorch() {
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
    let model = GPT::load(&reference::dir()).unwrap();
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
// ANCHOR_END: parity
