//! Gradient accumulation is the same update as one big batch, and a run stopped and resumed
//! continues exactly as if it had never stopped.

use chapter05::reference;
use gpt2::GPT;
use gpt2::gradcheck::{gradients, relative_error};
use gpt2::train::{TrainConfig, Trainer};

// ANCHOR: accumulation
#[test]
fn accumulating_four_micro_batches_is_one_batch_of_four() {
    let base = TrainConfig {
        seq: 16,
        steps: 3,
        lr: 3e-3,
        warmup: 1,
        loader: "sequential".into(),
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let big = TrainConfig {
        batch: 8,
        grad_accum: 1,
        ..base.clone()
    };
    let small = TrainConfig {
        batch: 2,
        grad_accum: 4,
        ..base
    };
    let mut one = Trainer::new(
        GPT::load(&reference::dir()).unwrap(),
        reference::tokens().unwrap(),
        vec![],
        big,
    )
    .unwrap();
    let mut four = Trainer::new(
        GPT::load(&reference::dir()).unwrap(),
        reference::tokens().unwrap(),
        vec![],
        small,
    )
    .unwrap();
    for step in 0..3 {
        // The same loss and the same gradient, tensor by tensor...
        let (a, b) = (
            one.accumulate_gradient().unwrap(),
            four.accumulate_gradient().unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "step {step}: loss {a} vs {b}");
        for ((name, ga), (_, gb)) in gradients(&mut one.model)
            .into_iter()
            .zip(gradients(&mut four.model))
        {
            let gb: Vec<f64> = gb.iter().map(|&g| g as f64).collect();
            let err = relative_error(&ga, &gb);
            assert!(err < 1e-5, "step {step}, {name}: relative error {err:.1e}");
        }
        // ...so the same update (applied here to both from the big batch's weights).
        one.opt.step(&mut one.model, 1e-3);
        four.model = one.model.clone();
        four.opt = one.opt.clone();
    }
}
// ANCHOR_END: accumulation

// ANCHOR: resume
#[test]
fn a_resumed_run_gives_the_same_losses() {
    let config = TrainConfig {
        batch: 4,
        seq: 16,
        steps: 8,
        warmup: 2,
        loader: "random".into(),
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let fresh = || {
        Trainer::new(
            GPT::load(&reference::dir()).unwrap(),
            reference::tokens().unwrap(),
            vec![],
            config.clone(),
        )
        .unwrap()
    };
    let mut straight = fresh();
    let all: Vec<f32> = (0..8).map(|_| straight.step().unwrap().loss).collect();

    let mut first = fresh();
    let mut losses: Vec<f32> = (0..3).map(|_| first.step().unwrap().loss).collect();
    let dir = tempfile::tempdir().unwrap();
    first.save(dir.path()).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(dir.path(), reference::tokens().unwrap(), vec![]).unwrap();
    assert_eq!(resumed.step, 3);
    losses.extend((3..8).map(|_| resumed.step().unwrap().loss));
    assert_eq!(losses, all, "bit for bit");
}
// ANCHOR_END: resume
