//! `gpt2 eval`: how well a model predicts a text.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use gpt2::GPT;
use gpt2::eval::evaluate;
use serde_json::json;

/// Score a text file: mean cross-entropy per token and perplexity
///
/// Encodes the file, cuts the ids into consecutive, non-overlapping windows of T inputs, each
/// with its T next-token targets, and averages the model's cross-entropy over every target.
/// Only whole windows are scored.
#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint directory (config.json and model.safetensors)
    #[arg(long, value_name = "DIR")]
    model: PathBuf,

    /// The text to score [default: the bundled tiny Shakespeare]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Token ids to score instead of a text, separated by spaces or newlines (as
    /// `gpt2 tokenize` prints them)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "tokenizer"])]
    ids: Option<PathBuf>,

    /// Window length T [default: the model's block size]
    #[arg(long, value_name = "T")]
    seq: Option<usize>,

    /// Windows per forward pass [default: as many as hold 1,024 tokens, at least one]. A pass
    /// holds attention's [B, heads, T, T] and the logits, [B, T, vocab]: scoring with GPT-2 124M
    /// at T = 1,024 peaks at 0.9 GiB one window at a time, at 2.8 GiB seven at a time
    #[arg(long, value_name = "B")]
    batch: Option<usize>,

    /// `gpt2`, or the tokenizer file the model was trained with [default: the one the run
    /// that saved the model names, else gpt2]
    #[arg(long, value_name = "gpt2|FILE")]
    tokenizer: Option<String>,

    /// The matrix multiplies' precision: f32, or bf16 with f32 sums (needs AVX512-BF16; on AMX
    /// where the CPU has it)
    #[arg(long, value_enum, default_value = "f32")]
    precision: super::PrecisionArg,

    /// The weights' format, to measure what a smaller one costs: f32; bf16 (every weight
    /// matrix rounded, as `gpt2 generate --weights bf16` rounds them); int8 or int4 (blocks of
    /// 32 with a scale each, the activations rounded to int8 per block, as in generation)
    #[arg(long, value_enum, default_value = "f32")]
    weights: super::WeightsArg,

    /// Print {"loss": .., "perplexity": .., "tokens": ..} on stdout
    #[arg(long)]
    json: bool,
}

/// Tokens per forward pass when `--batch` is not given: eight windows of 128, one of 1,024.
const EVAL_TOKENS: usize = 1024;

/// Windows of `t` tokens per forward pass when `--batch` is not given.
fn default_batch(t: usize) -> usize {
    (EVAL_TOKENS / t.max(1)).max(1)
}

pub fn run(args: EvalArgs) -> Result<()> {
    super::set_precision(args.precision)?;
    let mut model = match args.weights {
        // bfloat16 copies serve several rows only with AVX512-BF16, rounding x as well: round the
        // matrices themselves, so that the loss measures the weights' rounding on any CPU.
        super::WeightsArg::Bf16 => {
            let mut model = GPT::load_for_inference(&args.model, gpt2::quant::Weights::F32)?;
            model.round_matrices_to_bf16();
            model
        }
        w => GPT::load_for_inference(&args.model, w.into())?,
    };
    let block = model.config.block_size;
    let t = args.seq.unwrap_or(block);
    if t == 0 || t > block {
        bail!("--seq {t} is outside the model's context (1..={block})");
    }
    let batch = args.batch.unwrap_or_else(|| default_batch(t));
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    let (data, ids) = match &args.ids {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            (
                file.clone(),
                super::parse_ids(&text, &file.display().to_string())?,
            )
        }
        None => {
            let data = args.data.unwrap_or_else(gpt2::data::default_text_path);
            let (_, tok) = super::model_tokenizer(args.tokenizer.as_deref(), &args.model)?;
            let ids = gpt2::data::load_tokens(&data, &tok)?;
            (data, ids)
        }
    };
    let vocab = model.config.vocab_size;
    if let Some(id) = ids.iter().find(|&&id| id as usize >= vocab) {
        if args.ids.is_some() {
            bail!(
                "{} holds token id {id}, outside the model's vocabulary of {vocab}",
                data.display()
            );
        }
        bail!(
            "{} encodes to token id {id}, outside the model's vocabulary of {vocab}: \
             give the tokenizer the model was trained with (--tokenizer FILE)",
            data.display()
        );
    }
    if ids.len() < t + 1 {
        bail!(
            "{} has {} tokens, fewer than one window of {t} inputs and its targets",
            data.display(),
            ids.len()
        );
    }
    let bar = super::progress_bar("scoring", ((ids.len() - 1) / t) as u64, "windows");
    let score = evaluate(&mut model, &ids, t, batch, |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let mut out = super::stdout();
    if args.json {
        let value =
            json!({"loss": score.loss, "perplexity": score.perplexity, "tokens": score.tokens});
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "loss {:.4} nats per token, perplexity {:.2}, over {} tokens ({} of {t})",
            score.loss,
            score.perplexity,
            score.tokens,
            gpt2::numfmt::count(score.tokens / t, "window")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_per_pass_by_default_hold_1024_tokens_and_at_least_one_window() {
        assert_eq!(default_batch(128), 8);
        assert_eq!(default_batch(100), 10);
        assert_eq!(default_batch(1024), 1);
        assert_eq!(default_batch(2048), 1);
        assert_eq!(default_batch(1), 1024);
    }
}
