//! The readable training loop of this chapter: ten AdamW steps with clipping and weight decay
//! reproduce PyTorch's losses and gradient norms; the schedule is the one described.

use chapter05::gpt::GPT;
use chapter05::reference;
use chapter06::reference as run;
use chapter06::train::{learning_rate, train};

// ANCHOR: parity
#[test]
fn ten_readable_adamw_steps_match_pytorch() {
    let expected = reference::expected().unwrap();
    let steps = expected["adamw"]["steps"].as_array().unwrap().clone();
    let mut model = GPT::load(&reference::dir()).unwrap();
    train(
        &mut model,
        &mut run::loader().unwrap(),
        &run::settings().unwrap(),
        |s, _| {
            let loss = steps[s.step]["loss"].as_f64().unwrap();
            let norm = steps[s.step]["grad_norm_before_clip"].as_f64().unwrap();
            println!(
                "step {}: loss {:.6} (PyTorch {loss:.6}), grad norm {:.6} (PyTorch {norm:.6})",
                s.step, s.loss, s.grad_norm
            );
            assert!((s.loss as f64 - loss).abs() <= 1e-4, "step {}", s.step);
            assert!(
                (s.grad_norm as f64 - norm).abs() <= 1e-4 * norm,
                "step {}",
                s.step
            );
        },
    );
}
// ANCHOR_END: parity

#[test]
fn the_schedule_warms_up_then_decays_to_the_minimum() {
    let lr = |step| learning_rate(step, 1e-3, 1e-4, 10, 110);
    assert!((lr(0) - 1e-4).abs() < 1e-9, "a tenth of the way up");
    assert!((lr(9) - 1e-3).abs() < 1e-9);
    assert!(
        (lr(60) - 5.5e-4).abs() < 1e-7,
        "half way down the cosine: the mean of lr and min_lr"
    );
    assert!((lr(110) - 1e-4).abs() < 1e-9);
    assert!((lr(500) - 1e-4).abs() < 1e-9);
    // The same numbers as the library's schedule, at every step.
    let theirs = gpt2::optim::Schedule::Cosine {
        lr: 1e-3,
        min_lr: 1e-4,
        warmup: 10,
        total: 110,
    };
    for step in 0..200 {
        assert!((lr(step) - theirs.lr(step)).abs() < 1e-9, "step {step}");
    }
}
