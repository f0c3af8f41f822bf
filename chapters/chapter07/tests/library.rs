//! The fast library's generation (`gpt2::generate`, chapter 8): greedy decoding reproduces
//! Hugging Face's tokens, the KV cache changes nothing but the speed, a seed fixes the sample,
//! and the readable generation of this chapter draws the same tokens.

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

#[test]
fn library_greedy_tokens_match_hugging_face() {
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

#[test]
fn library_cached_and_uncached_logits_agree_at_every_step() {
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

#[test]
fn library_the_window_slides_the_same_way_with_and_without_the_cache() {
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
fn library_the_same_seed_gives_the_same_sample() {
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
fn library_generation_stops_at_the_stop_token() {
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

#[test]
fn readable_generation_equals_the_library_with_a_seed_past_the_context() {
    let mut library = GPT::load(&reference::dir()).unwrap();
    let model = chapter05::gpt::GPT::from_library(&mut library);
    let s = Sampling {
        temperature: 0.9,
        top_k: 50,
        top_p: 0.95,
    };
    // 40 tokens: past the context of 32, where the window slides.
    let mine = chapter07::generate::generate(&model, &[1, 2, 3], 40, &s, None, &mut Rng::new(4));
    let theirs = generate(&library, &[1, 2, 3], 40, &s, None, &mut Rng::new(4), |_| {}).unwrap();
    assert_eq!(mine, theirs);
}

#[test]
fn readable_sampling_draws_what_the_library_draws() {
    let mut rng = Rng::new(9);
    let random = ndarray::Array1::from_shape_simple_fn(512, || 3.0 * rng.normal() as f32);
    // Whole numbers: many ties, some of them cut by top-k, where lower ids come first.
    let ties = random.mapv(f32::round);
    let settings = [
        (1.0, 0, 1.0),
        (0.7, 40, 1.0),
        (1.3, 5, 1.0),
        (0.0, 0, 1.0),
        (1.0, 1, 1.0),
        (1.0, 0, 0.5),
        (0.8, 40, 0.9),
    ];
    for (logits, (temperature, top_k, top_p)) in [&random, &ties]
        .into_iter()
        .flat_map(|l| settings.map(|s| (l, s)))
    {
        let s = Sampling {
            temperature,
            top_k,
            top_p,
        };
        let theirs = gpt2::generate::distribution(logits.as_slice().unwrap(), &s);
        assert_eq!(chapter07::generate::candidates(logits.view(), &s), theirs);
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        for _ in 0..200 {
            let mine = chapter07::generate::sample(logits.view(), &s, &mut a);
            assert_eq!(
                mine,
                gpt2::generate::pick(logits.as_slice().unwrap(), &s, &mut b),
                "{s:?}"
            );
        }
    }
}
