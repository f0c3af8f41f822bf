//! One module per subcommand; each has an `Args` struct (its flags and help) and `run`.

pub mod bench;
#[cfg(feature = "hub")]
pub mod download;
pub mod eval;
pub mod generate;
pub mod info;
pub mod tokenize;
pub mod train;
pub mod train_tokenizer;

/// A reader that closed our stdout early (`gpt2 ... | head`) is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Standard output, whose write errors say that they are standard output's (a full disk
/// behind `> file` otherwise reads as a failure of whatever the command was doing).
pub fn stdout() -> impl std::io::Write + Send {
    NamedStdout(std::io::stdout())
}

struct NamedStdout(std::io::Stdout);

impl NamedStdout {
    fn named(e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("cannot write to standard output: {e}"))
    }
}

impl std::io::Write for NamedStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(Self::named)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(Self::named)
    }
}

/// The error and its causes on one line, each cause once. The library's errors name their cause
/// in their own message ("cannot read F: No such file ..."), and also return it as their source;
/// a cause whose text the line already holds is not repeated.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `gpt2` for GPT-2's own tokenizer, otherwise the path of a trained tokenizer file.
pub fn load_tokenizer(spec: &str) -> anyhow::Result<gpt2::Tokenizer> {
    Ok(gpt2::Tokenizer::from_spec(spec)?)
}

/// The tokenizer for the model in `model`: the one given, else the one the `gpt2 train` run
/// that saved it trained with, else GPT-2's. Returns it with its name.
pub fn model_tokenizer(
    given: Option<&str>,
    model: &std::path::Path,
) -> anyhow::Result<(String, gpt2::Tokenizer)> {
    use anyhow::Context;
    if let Some(spec) = given {
        return Ok((spec.to_string(), load_tokenizer(spec)?));
    }
    let saved = gpt2::train::Trainer::saved(model);
    match saved.map(|s| (s.config.tokenizer, s.tokenizer)) {
        Ok((spec, then)) if !spec.is_empty() && spec != "gpt2" => {
            let tok = load_tokenizer(&spec).with_context(|| {
                format!(
                    "{} was trained with tokenizer {spec} (give --tokenizer to use another)",
                    model.display()
                )
            })?;
            // The file may have been rewritten since: its ids would then mean other text.
            let now = gpt2::train::tokenizer_fingerprint(&tok);
            if let Some(then) = then
                && then != now
            {
                anyhow::bail!(
                    "{spec} has changed since {} was trained with it (fingerprint then {then}, now {now}): put back the file it trained with, or give --tokenizer to use another deliberately",
                    model.display()
                );
            }
            Ok((spec, tok))
        }
        _ => Ok(("gpt2".into(), load_tokenizer("gpt2")?)),
    }
}

/// Warns when the model has many more ids than the tokenizer (those it lacks would print as
/// nothing): the tokenizer is then not the one the model was trained with. A model may have
/// a few more, padded for speed.
pub fn check_vocab(model: usize, tok: &gpt2::Tokenizer, spec: &str) {
    let n = tok.vocab_size();
    if model > n.next_multiple_of(64) {
        eprintln!(
            "warning: the model has {model} token ids, the tokenizer {spec} only {n}, so the ids it lacks print as nothing: give the tokenizer the model was trained with (--tokenizer gpt2|FILE)"
        );
    }
}

/// Token ids written as text, separated by spaces, newlines or commas (as `gpt2 tokenize`
/// prints them); `what` names the source in errors.
pub fn parse_ids(text: &str, what: &str) -> anyhow::Result<Vec<u32>> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.parse::<u32>()
                .map_err(|_| anyhow::anyhow!("{what}: `{w}` is not a token id"))
        })
        .collect()
}

/// `--precision`: the matrix multiplies in f32, or in bfloat16 with f32 sums (PyTorch's
/// autocast); LayerNorm, softmax, GELU, the loss and AdamW stay f32 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    F32,
    Bf16,
}

/// A flag's number as an f32, refusing what one cannot hold: Rust reads "1e40" as infinity,
/// which the checks after parsing would report as "inf", not as what was typed.
pub fn finite_f32(text: &str) -> Result<f32, String> {
    finite(text, f32::MAX)
}

/// [`finite_f32`] for a flag read as an f64 ("1e400").
pub fn finite_f64(text: &str) -> Result<f64, String> {
    finite(text, f64::MAX)
}

fn finite<F>(text: &str, max: F) -> Result<F, String>
where
    F: std::str::FromStr + Into<f64> + Copy + std::fmt::LowerExp,
{
    let x: F = text.parse().map_err(|_| "expected a number".to_string())?;
    let word = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if x.into().is_finite() {
        Ok(x)
    } else if word.starts_with("inf") || word.starts_with("nan") {
        Err("expected a finite number".to_string())
    } else {
        Err(format!(
            "too large for a {}-bit float (at most {max:e})",
            8 * std::mem::size_of::<F>()
        ))
    }
}

/// This machine's memory in bytes, where the system says (Linux's /proc/meminfo; a few lines
/// rather than a crate for one number).
fn total_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Refuses, before allocating anything, work that needs more than all of this machine's
/// memory (`bytes`, a lower bound of what `what` needs), rather than failing on an allocation.
pub fn check_memory(bytes: f64, what: &str) -> anyhow::Result<()> {
    let gb = |b: f64| b / 1e9;
    match total_memory() {
        Some(total) if bytes > total => anyhow::bail!(
            "{what} needs at least {:.1} GB of memory, more than this machine's {:.1} GB: choose a smaller model, --batch or --seq",
            gb(bytes),
            gb(total)
        ),
        _ => Ok(()),
    }
}

/// Applies `--precision` to the process, or explains why it cannot be had here.
pub fn set_precision(p: PrecisionArg) -> anyhow::Result<()> {
    use gpt2::kernels::{Precision, set_precision};
    let wanted = match p {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::Bf16 => Precision::Bf16,
    };
    if !set_precision(wanted) {
        anyhow::bail!(
            "--precision bf16 needs a CPU with AVX512-BF16 (Intel Sapphire Rapids, AMD Zen 4 or later); use --precision f32"
        );
    }
    Ok(())
}

/// `--weights`: the format the weight matrices compute in. bf16 covers generating (one-row
/// products, and a prompt's rows where the CPU has AVX512-BF16); int8 and int4, in blocks of 32
/// with a scale each, cover every product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightsArg {
    F32,
    Bf16,
    Int8,
    Int4,
}

impl From<WeightsArg> for gpt2::quant::Weights {
    fn from(w: WeightsArg) -> Self {
        use gpt2::quant::Weights;
        match w {
            WeightsArg::F32 => Weights::F32,
            WeightsArg::Bf16 => Weights::Bf16,
            WeightsArg::Int8 => Weights::Int8,
            WeightsArg::Int4 => Weights::Int4,
        }
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(what: &str, total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let template =
        format!("{what} {{bar:40}} {{pos}}/{{len}} {unit} [{{elapsed_precise}} < {{eta_precise}}]");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
