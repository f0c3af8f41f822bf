//! Greedy decoding reproduces Hugging Face's tokens, the KV cache changes nothing but the
//! speed, and a seed fixes the sample.

use chapter05::reference;
use gpt2::GPT;
use gpt2::generate::{Sampling, generate, generate_uncached};
use gpt2::rng::Rng;
use ndarray::Array2;

fn greedy() -> Sampling {
    Sampling {
        temperature: 0.0,
        ..Sampling::default()
    }
}

// ANCHOR: parity
#[test]
fn greedy_tokens_match_hugging_face() {
    let expected = reference::expected().unwrap();
    let prompt = reference::id_list(&expected["greedy"]["prompt"]).unwrap();
    let continuation = reference::id_list(&expected["greedy"]["continuation"]).unwrap();
    let model = GPT::load(&reference::dir()).unwrap();
    let ours = generate(
        &model,
        &prompt,
        continuation.len(),
        &greedy(),
        None,
        &mut Rng::new(0),
        |_| {},
    )
    .unwrap();
    assert_eq!(ours, continuation);
}
// ANCHOR_END: parity

// ANCHOR: cache
#[test]
fn cached_and_uncached_logits_agree_at_every_step() {
    let model = GPT::load(&reference::dir()).unwrap();
    let mut full = GPT::load(&reference::dir()).unwrap();
    let mut ids: Vec<u32> = vec![7, 300, 42, 5, 99];
    let mut cache = model.new_cache();
    let mut cached = model.forward_cached(&ids, &mut cache).unwrap();
    // 25 steps: the context of 32 fills up, and the window starts to slide.
    for step in 0..25 {
        let x = Array2::from_shape_vec((1, ids.len()), ids.clone()).unwrap();
        let (logits, _) = full.forward(x.view(), None).unwrap();
        let reference = logits.slice(ndarray::s![0, ids.len() - 1, ..]);
        let err = (&cached - &reference)
            .mapv(f32::abs)
            .fold(0.0f32, |m, &e| m.max(e));
        assert!(err <= 1e-5, "step {step}: max difference {err}");
        let next = (step * 37 % 512) as u32;
        ids.push(next);
        cached = model.forward_cached(&[next], &mut cache).unwrap();
    }
    assert!(
        model
            .forward_cached(&[1, 2, 3, 4, 5, 6, 7, 8], &mut cache)
            .is_err(),
        "the context is full"
    );
}
// ANCHOR_END: cache

#[test]
fn the_window_slides_the_same_way_with_and_without_the_cache() {
    let mut model = GPT::load(&reference::dir()).unwrap();
    let s = Sampling {
        temperature: 0.9,
        top_k: 50,
        top_p: 0.95,
    };
    let prompt = [1, 2, 3];
    // 60 tokens: well past the context of 32.
    let cached = generate(&model, &prompt, 60, &s, None, &mut Rng::new(5), |_| {}).unwrap();
    let uncached = generate_uncached(&mut model, &prompt, 60, &s, &mut Rng::new(5)).unwrap();
    assert_eq!(cached, uncached);
}

#[test]
fn the_same_seed_gives_the_same_sample() {
    let model = GPT::load(&reference::dir()).unwrap();
    let s = Sampling {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
    };
    let a = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(42), |_| {}).unwrap();
    let b = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(42), |_| {}).unwrap();
    let c = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(43), |_| {}).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn generation_stops_at_the_stop_token() {
    let model = GPT::load(&reference::dir()).unwrap();
    let all = generate(
        &model,
        &[1, 2, 3, 4, 5],
        20,
        &greedy(),
        None,
        &mut Rng::new(0),
        |_| {},
    )
    .unwrap();
    // Greedy decoding produces 467 first: stopping at it ends the sample there.
    let stopped = generate(
        &model,
        &[1, 2, 3, 4, 5],
        20,
        &greedy(),
        Some(all[0]),
        &mut Rng::new(0),
        |_| {},
    )
    .unwrap();
    assert_eq!(stopped, [all[0]]);
}
