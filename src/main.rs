//! The `gpt2` command: inspect, train, evaluate and sample GPT-2 models on the CPU.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;

// glibc's malloc gives the backward pass's freed temporaries back to the kernel, which clears
// them again at their next use in the next step; mimalloc keeps them for reuse.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gpt2",
    version,
    about = "GPT-2 from scratch on the CPU: inspect, train, evaluate and sample models",
    long_about = "GPT-2 from scratch on the CPU.\n\n\
        A Rust implementation of OpenAI's GPT-2, written to be read alongside the book \
        `GPT-2 from Scratch in Rust`. Each subcommand below has its own --help.\n\n\
        A text file is tokenized once; its ids are cached in GPT2_CACHE_DIR when it is set, \
        otherwise in the platform's cache folder (~/.cache/gpt2/tokens on Linux), never beside \
        the file.\n\n\
        With --precision bf16, the products run on AMX where the CPU has it (Intel Xeon, \
        Sapphire Rapids and later), else on AVX512-BF16; GPT2_NO_AMX=1 keeps AVX512-BF16."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Train(Box<cli::train::TrainArgs>),
    Generate(cli::generate::GenerateArgs),
    Info(cli::info::InfoArgs),
    Eval(cli::eval::EvalArgs),
    Bench(cli::bench::BenchArgs),
    #[cfg(feature = "hub")]
    Download(cli::download::DownloadArgs),
    Tokenize(cli::tokenize::TokenizeArgs),
    TrainTokenizer(cli::train_tokenizer::TrainTokenizerArgs),
}

fn main() -> ExitCode {
    // A negative value is a value: `--steps -1` is then refused as not a count, rather than read
    // as an unknown flag.
    let command = Cli::command().mut_subcommands(|s| {
        s.mut_args(|a| {
            let takes_value = a.get_action().takes_values();
            a.allow_negative_numbers(takes_value)
        })
    });
    let cli = match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Train(args) => cli::train::run(*args),
        Command::Generate(args) => cli::generate::run(args),
        Command::Info(args) => cli::info::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Bench(args) => cli::bench::run(args),
        #[cfg(feature = "hub")]
        Command::Download(args) => cli::download::run(args),
        Command::Tokenize(args) => cli::tokenize::run(args),
        Command::TrainTokenizer(args) => cli::train_tokenizer::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Help and the version as clap prints them; a mistake on the command line as one line, like
/// every other error, with the number parsers' words made plain, and exit status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ");
    let plain = [
        ("invalid digit found in string", "expected a whole number"),
        ("number too large to fit in target type", "too large"),
        (
            "cannot parse integer from empty string",
            "expected a whole number",
        ),
        ("invalid float literal", "expected a number"),
    ]
    .iter()
    .fold(first.to_string(), |s, (from, to)| s.replace(from, to));
    // What clap puts on the lines below, said in the same line.
    use clap::error::{ContextKind, ContextValue};
    let mut more = String::new();
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue) {
        more = format!(": one of {}", values.join(", "));
    }
    for kind in [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand] {
        let suggested = match e.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(s)) => s.clone(),
            _ => Vec::new(),
        };
        if !suggested.is_empty() {
            let quoted: Vec<String> = suggested.iter().map(|s| format!("'{s}'")).collect();
            more = format!("{more}; did you mean {}?", quoted.join(" or "));
        }
    }
    eprintln!("error: {plain}{more} (see --help)");
    ExitCode::from(2)
}
