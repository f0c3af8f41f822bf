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
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
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
