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

/// `gpt2` for GPT-2's own tokenizer, otherwise the path of a trained tokenizer file.
pub fn load_tokenizer(spec: &str) -> anyhow::Result<gpt2::Tokenizer> {
    Ok(gpt2::Tokenizer::from_spec(spec)?)
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
