//! The readable generation of this chapter: greedy decoding reproduces Hugging Face's tokens,
//! the cache changes nothing but the speed, and sampling draws what the library draws.

use chapter05::gpt::GPT;
use chapter05::reference;
use chapter07::generate::{forward_cached, generate, new_cache, sample};
use gpt2::generate::{Sampling, pick};
use gpt2::rng::Rng;
use ndarray::{Array2, s};

// ANCHOR: parity
#[test]
fn readable_greedy_tokens_match_hugging_face() {
    let expected = reference::expected().unwrap();
    let prompt = reference::id_list(&expected["greedy"]["prompt"]).unwrap();
    let continuation = reference::id_list(&expected["greedy"]["continuation"]).unwrap();
    let model = GPT::load(&reference::dir()).unwrap();
    let ours = generate(
        &model,
        &prompt,
        continuation.len(),
        0.0,
        0,
        &mut Rng::new(0),
    );
    assert_eq!(ours, continuation);
}
// ANCHOR_END: parity

// ANCHOR: cache
#[test]
fn readable_cache_gives_the_logits_of_the_whole_context() {
    let model = GPT::load(&reference::dir()).unwrap();
    let mut ids: Vec<u32> = vec![7, 300, 42, 5, 99];
    let mut cache = new_cache(&model);
    let mut cached = forward_cached(&model, &ids, &mut cache);
    // Up to the context of 32: each step's last row equals the full forward pass's last row.
    for step in 0..27 {
        let x = Array2::from_shape_vec((1, ids.len()), ids.clone()).unwrap();
        let full = model.forward(&x).0;
        let err = (&cached.row(cached.nrows() - 1) - &full.slice(s![0, ids.len() - 1, ..]))
            .mapv(f32::abs)
            .fold(0.0f32, |m, &e| m.max(e));
        assert!(err <= 1e-5, "step {step}: max difference {err}");
        let next = (step * 37 % 512) as u32;
        ids.push(next);
        cached = forward_cached(&model, &[next], &mut cache);
    }
    assert_eq!(cache[0].k.nrows(), 32);
}
// ANCHOR_END: cache

#[test]
fn readable_sampling_draws_what_the_library_draws() {
    let mut rng = Rng::new(9);
    let logits = ndarray::Array1::from_shape_simple_fn(512, || 3.0 * rng.normal() as f32);
    for (temperature, top_k) in [(1.0, 0), (0.7, 40), (1.3, 5), (0.0, 0), (1.0, 1)] {
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        let settings = Sampling {
            temperature,
            top_k,
            top_p: 1.0,
        };
        for _ in 0..200 {
            let mine = sample(logits.view(), temperature, top_k, &mut a);
            let theirs = pick(logits.as_slice().unwrap(), &settings, &mut b);
            assert_eq!(mine, theirs, "temperature {temperature}, top-k {top_k}");
        }
    }
}

#[test]
fn readable_generation_equals_the_library_with_a_seed_past_the_context() {
    let mut library = gpt2::GPT::load(&reference::dir()).unwrap();
    let model = GPT::from_library(&mut library);
    let prompt = [1, 2, 3];
    // 40 tokens: past the context of 32, where the window slides.
    let mine = generate(&model, &prompt, 40, 1.0, 50, &mut Rng::new(4));
    let settings = Sampling {
        temperature: 1.0,
        top_k: 50,
        top_p: 1.0,
    };
    let theirs = gpt2::generate::generate(
        &library,
        &prompt,
        40,
        &settings,
        None,
        &mut Rng::new(4),
        |_| {},
    );
    assert_eq!(mine, theirs.unwrap());
}
