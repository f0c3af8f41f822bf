//! `gpt2 tokenize`: text in, token ids out.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

/// Turn text into GPT-2 token ids
///
/// Prints the ids separated by spaces. With --json, prints
/// {"ids": [...], "tokens": [...], "bytes": N}, where tokens are the pieces of text the ids
/// stand for (a token that holds part of a character shows U+FFFD) and bytes the length of the
/// text in UTF-8.
#[derive(Args)]
pub struct TokenizeArgs {
    /// The text to encode; `-` reads standard input
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    text: Option<String>,

    /// Encode the contents of a UTF-8 text file instead
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// `gpt2`, or a tokenizer file written by `gpt2 train-tokenizer`
    #[arg(long, value_name = "gpt2|FILE", default_value = "gpt2")]
    tokenizer: String,

    /// Encode `<|endoftext|>` in the text as the special token (by default it is plain text)
    #[arg(long)]
    special: bool,

    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: TokenizeArgs) -> Result<()> {
    let text = match (args.text.as_deref(), &args.file) {
        (Some("-"), _) => read_stdin()?,
        (Some(text), _) => text.to_string(),
        (None, Some(path)) => gpt2::data::read_text(path)?,
        (None, None) => {
            bail!("nothing to encode: give TEXT, --file FILE, or - to read standard input")
        }
    };
    let tok = super::load_tokenizer(&args.tokenizer)?;
    let ids = if args.special {
        tok.encode_with_special(&text)
    } else {
        tok.encode(&text)
    };
    let mut out = super::stdout();
    if args.json {
        let tokens = ids
            .iter()
            .map(|&id| Ok(String::from_utf8_lossy(tok.token_bytes(id)?).into_owned()))
            .collect::<Result<Vec<_>>>()?;
        let value = json!({"ids": ids, "tokens": tokens, "bytes": text.len()});
        writeln!(out, "{value}")?;
    } else {
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "{}", line.join(" "))?;
    }
    Ok(())
}

fn read_stdin() -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "standard input is not UTF-8 text: invalid byte at offset {}",
            e.utf8_error().valid_up_to()
        )
    })
}
