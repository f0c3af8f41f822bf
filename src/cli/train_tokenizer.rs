//! `gpt2 train-tokenizer`: learn BPE merges from a text file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use gpt2::tokenizer::train::train;

/// Learn a byte-level BPE tokenizer from a text file
///
/// Uses GPT-2's pre-tokenization and learns merges until the vocabulary (256 bytes, the merges
/// and <|endoftext|>) has --vocab-size ids, or every pre-token of the text is one token (a small
/// text runs out of pairs to merge first). The file it writes can be given to
/// `gpt2 tokenize --tokenizer FILE`.
#[derive(Args)]
pub struct TrainTokenizerArgs {
    /// The text to learn from [default: the bundled tiny Shakespeare]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Size of the vocabulary to learn, at least 257
    #[arg(long, value_name = "N", default_value_t = 1024)]
    vocab_size: usize,

    /// Where to write the tokenizer (an existing tokenizer file there is replaced; any other
    /// file is left alone, with an error)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: TrainTokenizerArgs) -> Result<()> {
    let data = args.data.unwrap_or_else(gpt2::data::default_text_path);
    // A tokenizer file may be replaced by a new one; any other file is someone's data.
    if args.out.exists() && !gpt2::tokenizer::file::is_tokenizer_file(&args.out) {
        bail!(
            "{} exists and is not a tokenizer file: remove it first, or give --out another path",
            args.out.display()
        );
    }
    let text = gpt2::data::read_text(&data)?;
    let start = Instant::now();
    let tok = train(&text, args.vocab_size)?;
    let seconds = start.elapsed().as_secs_f64();
    tok.save(&args.out)?;
    let n = tok.encode(&text).len();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "learned {} merges in {seconds:.1} s: vocabulary {}, {:.2} bytes per token on {}; wrote {}",
        tok.merges().len(),
        tok.vocab_size(),
        text.len() as f64 / n as f64,
        data.display(),
        args.out.display()
    )?;
    Ok(())
}
