//! `cargo run --release -p chapter01 [-- TEXT_FILE]`: the presets and their sizes, then a bigram
//! model of tiny Shakespeare, its loss, and a sample from it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chapter01::{Bigram, GPT2_VOCAB, gpt2_tokens, train_val_split};
use gpt2::GPTConfig;
use gpt2::numfmt::group_digits;
use gpt2::rng::Rng;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(gpt2::data::default_text_path);

    println!("== GPT-2's sizes ==\n");
    print!("{}", gpt2::config::presets_table());

    let gpt2 = GPTConfig::preset("gpt2")?;
    println!("\n== gpt2, tensor by tensor ==\n");
    print!("{}", gpt2.param_count().table());
    println!(
        "\nTraining costs {:.2} GFLOP per token at T = 1024, {:.1} GFLOP per step at B = 4, T = 64.",
        gpt2.train_flops_per_token(1024) / 1e9,
        gpt2.train_flops_per_step(4, 64) / 1e9
    );

    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    println!("\n== A bigram model of {name} ==\n");
    let tokens = gpt2_tokens(&path)?;
    let (train, val) = train_val_split(&tokens);
    if val.len() < 2 {
        anyhow::bail!(
            "{} is too short: it needs at least 20 tokens",
            path.display()
        );
    }
    println!(
        "{} GPT-2 tokens: {} to train on, {} to validate.",
        group_digits(tokens.len() as u64),
        group_digits(train.len() as u64),
        group_digits(val.len() as u64)
    );
    println!(
        "A uniform guess over {} tokens costs ln({}) = {:.3} nats per token.\n",
        group_digits(GPT2_VOCAB as u64),
        GPT2_VOCAB,
        (GPT2_VOCAB as f64).ln()
    );
    println!("{:>8} {:>8} {:>8}", "alpha", "train", "val");
    let mut best: Option<(f64, Bigram, f64)> = None;
    for alpha in [1.0, 0.1, 0.01, 0.003, 0.001, 0.0003] {
        let model = Bigram::fit(train, GPT2_VOCAB, alpha);
        let (t, v) = (model.loss(train), model.loss(val));
        println!("{alpha:>8} {t:>8.3} {v:>8.3}");
        if best.as_ref().is_none_or(|b| v < b.2) {
            best = Some((alpha, model, v));
        }
    }
    let (alpha, _, val_loss) = best.context("no model was fitted")?;
    println!("\nBaseline: validation loss {val_loss:.3} nats per token (alpha = {alpha}).");

    let bpe = tiktoken_rs::r50k_base()?;
    let start = bpe.encode_ordinary("ROMEO")[0];
    // Smoothing spreads probability over all 50,257 tokens, which helps the loss but makes
    // samples word salad: sample from the raw counts (alpha = 0) instead.
    let counts_only = Bigram::fit(train, GPT2_VOCAB, 0.0);
    let mut rng = Rng::new(1337);
    let mut sample = vec![start];
    sample.extend(counts_only.sample(start, 60, &mut rng));
    let bytes = bpe.decode_bytes(&sample)?;
    println!(
        "\nA sample from the counts alone (alpha = 0, seed 1337), one token at a time:\n\n{}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}
