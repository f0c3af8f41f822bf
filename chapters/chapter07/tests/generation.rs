//! The claims of chapter 7 about the readable generation: greedy decoding reproduces Hugging
//! Face's tokens, the KV cache changes nothing but the speed, a seed fixes the sample, and
//! generation stops at the stop token.

use chapter05::gpt::GPT;
use chapter05::reference;
use chapter07::generate::{forward_cached, generate, new_cache};
use gpt2::generate::Sampling;
use gpt2::rng::Rng;
use ndarray::{Array2, s};

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
    );
    assert_eq!(ours, continuation);
}
// ANCHOR_END: parity

// ANCHOR: cache
#[test]
fn cached_and_uncached_logits_agree_at_every_step() {
    let model = GPT::load(&reference::dir()).unwrap();
    let mut ids: Vec<u32> = vec![7, 300, 42, 5, 99];
    let mut cache = new_cache(&model);
    let mut cached = forward_cached(&model, &ids, &mut cache);
    // Up to the context of 32: each step's last row equals the full forward pass's last row.
    for step in 0..27 {
        let x = Array2::from_shape_vec((1, ids.len()), ids.clone()).unwrap();
        let full = model.forward(&x).0;
        let last = cached.row(cached.nrows() - 1);
        let err = (&last - &full.slice(s![0, ids.len() - 1, ..]))
            .mapv(f32::abs)
            .fold(0.0f32, |m, &e| m.max(e));
        assert!(err <= 1e-5, "step {step}: max difference {err}");
        let next = (step * 37 % 512) as u32;
        ids.push(next);
        cached = forward_cached(&model, &[next], &mut cache);
    }
    assert_eq!(cache[0].k.nrows(), 32, "the context is full");
}
// ANCHOR_END: cache

/// Generation without a cache: the whole context (its last block_size tokens) at every step.
fn generate_uncached(
    model: &GPT,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    rng: &mut Rng,
) -> Vec<u32> {
    let mut ids = prompt.to_vec();
    for _ in 0..max_new {
        let context = &ids[ids.len().saturating_sub(model.config.block_size)..];
        let x = Array2::from_shape_vec((1, context.len()), context.to_vec()).unwrap();
        let logits = model.forward(&x).0;
        ids.push(chapter07::generate::sample(
            logits.slice(s![0, context.len() - 1, ..]),
            s,
            rng,
        ));
    }
    ids[prompt.len()..].to_vec()
}

#[test]
fn the_window_slides_the_same_way_with_and_without_the_cache() {
    let model = GPT::load(&reference::dir()).unwrap();
    let s = Sampling {
        temperature: 0.9,
        top_k: 50,
        top_p: 0.95,
    };
    // 60 tokens: well past the context of 32.
    let cached = generate(&model, &[1, 2, 3], 60, &s, None, &mut Rng::new(5));
    let uncached = generate_uncached(&model, &[1, 2, 3], 60, &s, &mut Rng::new(5));
    assert_eq!(cached, uncached);
}

#[test]
fn the_same_seed_gives_the_same_sample() {
    let model = GPT::load(&reference::dir()).unwrap();
    let s = Sampling::default();
    let a = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(42));
    let b = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(42));
    let c = generate(&model, &[1, 2, 3], 30, &s, None, &mut Rng::new(43));
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
    );
    // Stopping at the first greedy token ends the sample there.
    let stopped = generate(
        &model,
        &[1, 2, 3, 4, 5],
        20,
        &greedy(),
        Some(all[0]),
        &mut Rng::new(0),
    );
    assert_eq!(stopped, [all[0]]);
}
