//! `cargo run --release -p chapter03 [-- "a sentence"]`: two hand-built attention heads read a
//! sentence; prints their weights and draws them as a heat map.

use std::path::PathBuf;

use anyhow::Result;
use chapter03::heads::{hand_built, heat_map, weights, weights_table};
use gpt2::Tokenizer;

const DEFAULT: &str = "The cat sat on the mat, and the dog sat on the cat.";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT.to_string());
    let tok = Tokenizer::gpt2()?;
    let ids = tok.encode(&text);
    let labels: Vec<String> = ids
        .iter()
        .map(|&id| {
            Ok(String::from_utf8_lossy(tok.token_bytes(id)?)
                .trim()
                .to_string())
        })
        .collect::<Result<_>>()?;
    println!("{} tokens: {}\n", ids.len(), labels.join(" | "));

    let (attn, x) = hand_built(&ids, 6.0)?;
    let w = weights(&attn, &x);
    let titles = [
        "head 0: the same token earlier",
        "head 1: the previous token",
    ];
    for (h, title) in titles.iter().enumerate() {
        println!("{title} (row: query position, column: key position)\n");
        println!(
            "{}",
            weights_table(&labels, w.index_axis(ndarray::Axis(0), h))
        );
    }
    let path = PathBuf::from("target/figures/ch03-attention.svg");
    heat_map(&labels, &w, &titles, &path)?;
    println!("Wrote the heat map to {}.", path.display());
    chapter03::diagrams::head_split(&PathBuf::from("target/figures/ch03-heads.svg"))?;
    chapter03::diagrams::causal_mask(&PathBuf::from("target/figures/ch03-mask.svg"), 6)?;
    println!("Wrote the diagrams of the heads and the mask to target/figures/.");
    Ok(())
}
