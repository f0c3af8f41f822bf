//! The solutions to chapter 5's exercises do what the chapter says.

use chapter05::exercises::{initial_loss, logit_lens};
use chapter05::gpt::GPT;
use chapter05::reference;
use gpt2::data::{Loader, LoaderMode, load_tokens};
use gpt2::{GPTConfig, Tokenizer};
use ndarray::Array2;

#[test]
fn a_new_model_is_a_uniform_guess() {
    let tok = Tokenizer::gpt2().unwrap();
    let ids = load_tokens(&gpt2::data::default_text_path(), &tok).unwrap();
    let mut loader = Loader::new(ids, 4, 64, LoaderMode::Sequential, 0, "shakespeare").unwrap();
    let batch = loader.next_batch();
    let x = Array2::from_shape_vec((4, 64), batch.x).unwrap();
    let y = Array2::from_shape_vec((4, 64), batch.y).unwrap();
    let loss = initial_loss(GPTConfig::preset("shakespeare").unwrap(), 1, &x, &y);
    let uniform = (50257f32).ln();
    println!("initial loss {loss:.3}, ln(50257) = {uniform:.3}");
    assert!((loss - uniform).abs() < 0.1, "{loss}");
    let said = format!("We measure {loss:.3}.");
    let page = bookcheck::page("ch05-model.md");
    assert!(page.contains(&said), "the solution does not say {said:?}");
}

#[test]
fn the_last_lens_is_the_models_own_prediction() {
    let model = GPT::load(&reference::dir()).unwrap();
    let ids = [1u32, 2, 3, 4, 5];
    let lens = logit_lens(&model, &ids);
    assert_eq!(lens.len(), 3);
    let x = Array2::from_shape_vec((1, 5), ids.to_vec()).unwrap();
    let (logits, _) = model.forward(&x);
    let last = logits.slice(ndarray::s![0, 4, ..]);
    let top = (0..last.len())
        .max_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap();
    assert_eq!(lens[2] as usize, top);
}

#[test]
fn an_untrained_models_lens_echoes_the_input_token_at_every_depth() {
    let tok = Tokenizer::gpt2().unwrap();
    let model = GPT::new(GPTConfig::preset("shakespeare").unwrap(), 1337);
    let ids = tok.encode("ROMEO:\nI dreamt a dream to-night.\n\nMERCUTIO:\nAnd so did");
    let lens = logit_lens(&model, &ids);
    assert_eq!(lens.len(), 5);
    let last = *ids.last().unwrap();
    assert_eq!(tok.decode(&[last]).unwrap(), " did");
    assert!(lens.iter().all(|&id| id == last), "{lens:?}");
}
