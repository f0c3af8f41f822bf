//! `gpt2 generate`: continue a prompt, streaming the text as it is produced.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use gpt2::generate::{Sampling, generate};
use gpt2::rng::Rng;
use gpt2::tokenizer::Utf8Stream;
use gpt2::{GPT, Tokenizer};
use serde_json::json;

/// Generate text: continue a prompt with a trained model
///
/// Plain output streams the generated text to stdout as it is produced (characters split
/// across tokens come out whole); everything else goes to stderr. The model reads at most its
/// block size of tokens: a longer context keeps its last block-size tokens. Generation stops
/// after --max-new-tokens, or at <|endoftext|>.
#[derive(Args)]
pub struct GenerateArgs {
    /// A checkpoint directory [default: runs/shakespeare, which `gpt2 train` writes]
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// The text to continue
    #[arg(long, default_value = "\n")]
    prompt: String,

    /// The prompt as token ids instead of text, separated by spaces or commas
    #[arg(long, value_name = "IDS", conflicts_with_all = ["prompt", "interactive"])]
    prompt_ids: Option<String>,

    /// How many tokens to generate at most
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_new_tokens: usize,

    /// Divide the logits by T: below 1 is more conservative, above 1 more adventurous; 0 = greedy
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = super::finite_f32,
        value_name = "T",
        default_value_t = 0.8
    )]
    temperature: f32,

    /// Sample among the K most likely tokens only (0 = all)
    #[arg(long, value_name = "K", default_value_t = 40)]
    top_k: usize,

    /// Sample among the most likely tokens that together reach probability P (1 = all)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = super::finite_f32,
        value_name = "P",
        default_value_t = 1.0
    )]
    top_p: f32,

    /// Seed of the sampling: the same seed gives the same text
    #[arg(long, default_value_t = 1337)]
    seed: u64,

    /// How many samples to draw for the prompt
    #[arg(long, value_name = "N", default_value_t = 1)]
    num_samples: usize,

    /// `gpt2`, or the tokenizer file the model was trained with [default: the one the run
    /// that saved the model names, else gpt2]
    #[arg(long, value_name = "gpt2|FILE")]
    tokenizer: Option<String>,

    /// Print {"prompt_ids": [...], "samples": [{"ids": [...], "text": ".."}]} on stdout
    #[arg(long, conflicts_with = "interactive")]
    json: bool,

    /// Read prompts from standard input, one per line, keeping the model loaded
    #[arg(long, conflicts_with_all = ["prompt", "num_samples"])]
    interactive: bool,

    /// The matrix multiplies' precision for the prompt's first pass: f32, or bf16 with f32 sums
    /// (needs AVX512-BF16). Each new token after it is a one-row product, for which --weights
    /// decides instead
    #[arg(long, value_enum, default_value = "f32")]
    precision: super::PrecisionArg,

    /// The weights' format: f32; bf16, about twice as fast on large models (the prompt's
    /// products in bf16 too where the CPU has AVX512-BF16, else in f32); int8 or int4, in blocks
    /// of 32 with a scale each, for the prompt and every new token, faster again at a small cost
    /// in accuracy (measure it on your text with `gpt2 eval --weights`)
    #[arg(long, value_enum, default_value = "f32")]
    weights: super::WeightsArg,

    /// The same as --weights bf16
    #[arg(long, conflicts_with = "weights")]
    bf16: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    super::set_precision(args.precision)?;
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => {
            let dir = PathBuf::from(super::train::DEFAULT_OUT);
            let found = gpt2::checkpoint::resolve(&dir);
            if !found.join(gpt2::checkpoint::CONFIG_FILE).exists() {
                bail!(
                    "no --model given and no checkpoint in {}: train one with `gpt2 train`, or pass --model DIR",
                    dir.display()
                );
            }
            eprintln!(
                "using the checkpoint in {} (written by `gpt2 train`)",
                dir.display()
            );
            dir
        }
    };
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        bail!("--temperature must be 0 or more, not {}", args.temperature);
    }
    if args.num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], not {}", args.top_p);
    }
    let weights = if args.bf16 {
        super::WeightsArg::Bf16
    } else {
        args.weights
    };
    let model = GPT::load_for_inference(&dir, weights.into())?;
    let (spec, tok) = super::model_tokenizer(args.tokenizer.as_deref(), &dir)?;
    super::check_vocab(model.config.vocab_size, &tok, &spec);
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
    };
    let mut rng = Rng::new(args.seed);
    if args.interactive {
        let stdin = std::io::stdin();
        eprint!("> ");
        for line in stdin.lock().lines() {
            let line = line.context("cannot read standard input")?;
            if line.is_empty() {
                continue;
            }
            // A prompt the model cannot read is said, and the next line is read.
            let ids = tok.encode(&line);
            match check_prompt(&ids, model.config.vocab_size) {
                Ok(()) => stream_ids(&model, &tok, &ids, &args, &sampling, &mut rng)?,
                Err(e) => eprint!("error: {}", super::error_line(&e)),
            }
            eprint!("\n> ");
        }
        eprintln!();
        return Ok(());
    }
    let given_ids = match &args.prompt_ids {
        Some(ids) => {
            let ids = super::parse_ids(ids, "--prompt-ids")?;
            let vocab = model.config.vocab_size;
            if ids.is_empty() {
                bail!("--prompt-ids holds no token id");
            }
            if let Some(id) = ids.iter().find(|&&id| id as usize >= vocab) {
                bail!(
                    "--prompt-ids holds token id {id}, outside the model's vocabulary of {vocab}"
                );
            }
            Some(ids)
        }
        None => None,
    };
    if args.json {
        let prompt_ids = given_ids.unwrap_or_else(|| tok.encode(&args.prompt));
        let mut samples = Vec::new();
        for _ in 0..args.num_samples {
            let ids = run_one(
                &model,
                &tok,
                &prompt_ids,
                &args,
                &sampling,
                &mut rng,
                |_| {},
            )?;
            // As the plain mode prints them: an id the tokenizer lacks adds no bytes.
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|&id| tok.token_bytes(id).unwrap_or_default().iter().copied())
                .collect();
            samples.push(json!({"ids": ids, "text": String::from_utf8_lossy(&bytes)}));
        }
        let value = json!({"prompt_ids": prompt_ids, "samples": samples});
        writeln!(super::stdout(), "{value}")?;
        return Ok(());
    }
    for k in 0..args.num_samples {
        if args.num_samples > 1 {
            eprintln!("--- sample {} ---", k + 1);
        }
        match &given_ids {
            Some(ids) => stream_ids(&model, &tok, ids, &args, &sampling, &mut rng)?,
            None => stream(&model, &tok, &args.prompt, &args, &sampling, &mut rng)?,
        }
        writeln!(super::stdout())?;
    }
    Ok(())
}

/// Generates for one prompt, printing the prompt and then each complete character as it comes.
fn stream(
    model: &GPT,
    tok: &Tokenizer,
    prompt: &str,
    args: &GenerateArgs,
    s: &Sampling,
    rng: &mut Rng,
) -> Result<()> {
    stream_ids(model, tok, &tok.encode(prompt), args, s, rng)
}

/// `stream`, for a prompt given as ids.
fn stream_ids(
    model: &GPT,
    tok: &Tokenizer,
    prompt_ids: &[u32],
    args: &GenerateArgs,
    s: &Sampling,
    rng: &mut Rng,
) -> Result<()> {
    // Checked before the prompt is printed: an error leaves standard output empty.
    check_prompt(prompt_ids, model.config.vocab_size)?;
    let mut out = super::stdout();
    let mut utf8 = Utf8Stream::new();
    for &id in prompt_ids {
        write!(
            out,
            "{}",
            utf8.push(tok.token_bytes(id).unwrap_or_default())
        )?;
    }
    out.flush()?;
    let mut failed = None;
    run_one(model, tok, prompt_ids, args, s, rng, |id| {
        if failed.is_some() {
            return;
        }
        let bytes = tok.token_bytes(id).unwrap_or_default();
        let text = utf8.push(bytes);
        if let Err(e) = write!(out, "{text}").and_then(|_| out.flush()) {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    write!(out, "{}", utf8.finish())?;
    out.flush()?;
    Ok(())
}

/// A prompt the model can continue: not empty, every id inside its vocabulary.
fn check_prompt(prompt_ids: &[u32], vocab: usize) -> Result<()> {
    if prompt_ids.is_empty() {
        bail!("the prompt is empty: give some text to continue with --prompt");
    }
    if let Some(id) = prompt_ids.iter().find(|&&id| id as usize >= vocab) {
        bail!(
            "the prompt encodes to token id {id}, outside the model's vocabulary of {vocab}: give the model's tokenizer with --tokenizer FILE"
        );
    }
    Ok(())
}

fn run_one(
    model: &GPT,
    tok: &Tokenizer,
    prompt_ids: &[u32],
    args: &GenerateArgs,
    s: &Sampling,
    rng: &mut Rng,
    on_token: impl FnMut(u32) + Send,
) -> Result<Vec<u32>> {
    check_prompt(prompt_ids, model.config.vocab_size)?;
    let stop = (tok.eot() as usize) < model.config.vocab_size;
    Ok(generate(
        model,
        prompt_ids,
        args.max_new_tokens,
        s,
        stop.then_some(tok.eot()),
        rng,
        on_token,
    )?)
}
