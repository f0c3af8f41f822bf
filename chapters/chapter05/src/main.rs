//! `cargo run --release -p chapter05 -- [--model DIR] [--prompt TEXT]`: a GPT-2 (a checkpoint,
//! or a random `shakespeare`-sized one), its parameters tensor by tensor, and its five most
//! likely next tokens after a prompt; then draws the model's shapes (`target/figures/ch05-model.svg`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use chapter03::attention::Parameters;
use chapter05::gpt::GPT;
use clap::Parser;
use gpt2::numfmt::group_digits;
use gpt2::{GPTConfig, Tokenizer};
use ndarray::{Array2, Axis, s};

#[derive(Parser)]
#[command(about = "Chapter 5: a whole GPT-2 and its next-token predictions")]
struct Args {
    /// A checkpoint directory [default: a randomly initialised `shakespeare` model]
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// The text whose next token is predicted
    #[arg(
        long,
        default_value = "ROMEO:\nI dreamt a dream to-night.\n\nMERCUTIO:\nAnd so did"
    )]
    prompt: String,

    /// `gpt2`, or the tokenizer file the model was trained with
    #[arg(long, value_name = "gpt2|FILE", default_value = "gpt2")]
    tokenizer: String,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let mut model = match &args.model {
        Some(dir) => GPT::load(dir)?,
        None => GPT::new(GPTConfig::preset("shakespeare")?, 1337),
    };
    let what = match &args.model {
        Some(dir) => format!("the checkpoint {}", dir.display()),
        None => "a randomly initialised `shakespeare` model (seed 1337)".to_string(),
    };
    println!("== {what} ==\n");
    print!("{}", model.config.param_count().table());
    let counted: usize = model.parameters().iter().map(|(_, p)| p.len()).sum();
    println!(
        "\nCounted by visiting every tensor: {}.",
        group_digits(counted as u64)
    );

    let tok = Tokenizer::from_spec(&args.tokenizer)?;
    let mut ids = tok.encode(&args.prompt);
    if ids.is_empty() {
        bail!("the prompt is empty");
    }
    let block = model.config.block_size;
    if ids.len() > block {
        ids.drain(..ids.len() - block); // keep the last block_size tokens
    }
    let x = Array2::from_shape_vec((1, ids.len()), ids.clone())?;
    let (logits, _) = model.forward(&x);
    // The model's own distribution: softmax of the last position's logits, most likely first.
    let last = logits.slice(s![0, ids.len() - 1, ..]);
    let exp = last.mapv(|l| ((l - last.fold(f32::MIN, |m, &x| m.max(x))) as f64).exp());
    let total = exp.sum_axis(Axis(0)).into_scalar();
    let mut probs: Vec<(u32, f64)> = exp
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32, e / total))
        .collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    println!("\n== The next token after {:?} ==\n", args.prompt);
    println!("{:>4} {:>8} {:>12}  token", "rank", "id", "probability");
    for (rank, &(id, p)) in probs.iter().take(5).enumerate() {
        let text = String::from_utf8_lossy(tok.token_bytes(id)?).into_owned();
        println!("{:>4} {:>8} {:>12.6}  {:?}", rank + 1, id, p, text);
    }
    println!(
        "\nA uniform guess would give each of the {} tokens {:.6}.",
        group_digits(model.config.vocab_size as u64),
        1.0 / model.config.vocab_size as f64
    );
    let path = PathBuf::from("target/figures/ch05-model.svg");
    chapter05::diagram::model_shapes(&path)?;
    println!("\nWrote the diagram of the model to {}.", path.display());
    Ok(())
}
