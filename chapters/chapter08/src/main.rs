//! `cargo run --release -p chapter08`: the matrix multiply from the definition's triple loop to
//! the library's kernel on all threads, measured at a GPT-2 small layer, with a bar chart; then
//! what bf16 weights cost in accuracy, on a model trained for a minute.
//! `-- matmul` or `-- bf16` runs one of the two.

use std::path::PathBuf;

use anyhow::{Result, bail};
use chapter08::ladder::{ladder, plot};
use chapter08::precision::{compare, continuations};
use gpt2::Tokenizer;
use gpt2::generate::Sampling;

const PROMPT: &str = "ROMEO:\nI will";

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_default();
    if !["", "matmul", "bf16"].contains(&which.as_str()) {
        bail!("unknown section {which:?}: expected `matmul` or `bf16`");
    }
    if which != "bf16" {
        matmul()?;
    }
    if which != "matmul" {
        bf16()?;
    }
    Ok(())
}

fn matmul() -> Result<()> {
    let (m, k, n) = (256, 768, 3072);
    println!("c = a·b with a: [{m}, {k}], b: [{k}, {n}] (GPT-2 small's c_fc at B·T = {m})\n");
    let rungs = ladder(m, k, n);
    let first = rungs[0].gflops;
    println!("{:<16} {:>9} {:>9}", "version", "GFLOP/s", "speed-up");
    for r in &rungs {
        println!("{:<16} {:>9.1} {:>9.0}", r.name, r.gflops, r.gflops / first);
    }
    let path = PathBuf::from("target/figures/ch08-matmul.svg");
    plot(&rungs, "The matrix multiply, [256, 768]·[768, 3072]", &path)?;
    println!("\nWrote the chart to {}.\n", path.display());
    Ok(())
}

fn bf16() -> Result<()> {
    let tok = Tokenizer::gpt2()?;
    let ids = gpt2::data::load_tokens(&gpt2::data::default_text_path(), &tok)?;
    let (train, val) = gpt2::data::split(&ids, 0.1);
    println!("Training the `shakespeare` model for 200 short steps (chapter 6's exercise)...");
    let (_, model) = chapter06::short_run::short_run(train, &val[..8192], 200, 200)?;
    let c = compare(&model, &val[..2049])?;
    println!(
        "\nThe next token, {} times, through the KV cache, with f32 and bf16 weights:",
        c.predictions
    );
    println!(
        "  validation loss        {:.5} (f32)   {:.5} (bf16)",
        c.loss_f32, c.loss_bf16
    );
    println!(
        "  largest logit change   {:.4}, where the logits span up to {:.1}",
        c.max_logit_diff, c.logit_range
    );
    println!(
        "  same most likely token {:.1}% of the time",
        100.0 * c.same_argmax
    );
    let prompt = tok.encode(PROMPT);
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    let (_, _, same) = continuations(&model, &prompt, 40, &greedy)?;
    println!("\nAfter {PROMPT:?}, 40 tokens:");
    println!("  greedy: the same {same} tokens with f32 and bf16 weights");
    let (full, half, same) = continuations(&model, &prompt, 40, &Sampling::default())?;
    println!("  sampled at T = 1 with the same seed: the same first {same} tokens, then");
    println!("     f32: {:?}", tok.decode(&full)?);
    println!("    bf16: {:?}", tok.decode(&half)?);
    Ok(())
}
