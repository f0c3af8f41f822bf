//! `cargo run --release -p chapter02 [-- "any text"]`: the text cut into GPT-2's tokens, then
//! into the tokens of a BPE learned from tiny Shakespeare, and how compression grows with the
//! size of the vocabulary; then GPT-2's merges of one pre-token, step by step.

use std::path::PathBuf;

use anyhow::Result;
use chapter02::experiments::{
    bytes_per_token, plot_compression, show_merge, show_tokens, split_text,
};
use chapter02::merges::{merge_steps, plot_merge_steps};
use gpt2::Tokenizer;
use gpt2::tokenizer::train::train;

/// The pre-token whose merges the figure traces.
const MERGED: &str = " tokenization";

const DEFAULT_TEXT: &str = "ROMEO: I'll meet thee at 11 o'clock.\n안녕하세요 👋";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_TEXT.to_string());
    let gpt2 = Tokenizer::gpt2()?;
    let ids = gpt2.encode(&text);
    println!("== GPT-2's tokenizer ==\n");
    println!("{}\n", show_tokens(&gpt2, &ids)?);
    println!(
        "{} bytes, {} tokens: {:.2} bytes per token.",
        text.len(),
        ids.len(),
        text.len() as f64 / ids.len().max(1) as f64
    );

    let shakespeare = gpt2::data::read_text(&gpt2::data::default_text_path())?;
    let (train_text, val_text) = split_text(&shakespeare, 0.9);
    let ours = train(train_text, 1024)?;
    println!("\n== A tokenizer learned from tiny Shakespeare (vocabulary 1,024) ==\n");
    println!("Its first ten merges:");
    for (k, &merge) in ours.merges().iter().take(10).enumerate() {
        println!("  {:>4}: {}", 256 + k, show_merge(&ours, merge)?);
    }
    let ids = ours.encode(&text);
    println!("\n{}\n", show_tokens(&ours, &ids)?);
    println!(
        "{} tokens: {:.2} bytes per token.",
        ids.len(),
        text.len() as f64 / ids.len().max(1) as f64
    );

    println!("\n== Compression against vocabulary size ==\n");
    println!("Trained on the first 90% of tiny Shakespeare, measured on the last 10%:\n");
    println!("{:>10} {:>16}", "vocabulary", "bytes per token");
    let mut points = Vec::new();
    for size in [512, 1024, 2048, 4096, 8192] {
        let tok = train(train_text, size)?;
        let ratio = bytes_per_token(&tok, val_text);
        println!("{size:>10} {ratio:>16.2}");
        points.push((size, ratio));
    }
    let gpt2_ratio = bytes_per_token(&gpt2, val_text);
    println!(
        "{:>10} {gpt2_ratio:>16.2}  (GPT-2's own, learned from WebText)",
        50257
    );

    let figure = PathBuf::from("target/figures/ch02-compression.svg");
    plot_compression(&points, (50257, gpt2_ratio), &figure)?;
    println!("\nWrote the plot to {}.", figure.display());

    let steps = merge_steps(&gpt2, MERGED.as_bytes())?;
    let figure = PathBuf::from("target/figures/ch02-merges.svg");
    plot_merge_steps(&steps, &figure)?;
    println!(
        "Wrote the {} merges of {MERGED:?} to {}.",
        steps.len() - 1,
        figure.display()
    );
    Ok(())
}
