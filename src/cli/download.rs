//! `gpt2 download` (with the `hub` feature): the published GPT-2 weights, from the hub.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gpt2::checkpoint::{CONFIG_FILE, WEIGHTS_FILE};

/// Download published GPT-2 weights from the Hugging Face hub into a checkpoint directory
///
/// NAME is gpt2, gpt2-medium, gpt2-large or gpt2-xl (OpenAI's models, under
/// openai-community/), or any hub repository id holding a GPT-2 model.safetensors.
#[derive(Args)]
pub struct DownloadArgs {
    /// The model to fetch
    #[arg(value_name = "NAME", default_value = "gpt2")]
    name: String,

    /// Where to put config.json and model.safetensors [default: models/NAME]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: DownloadArgs) -> Result<()> {
    let repo_id = match args.name.as_str() {
        "gpt2" | "gpt2-medium" | "gpt2-large" | "gpt2-xl" => {
            format!("openai-community/{}", args.name)
        }
        other => other.to_string(),
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("models").join(args.name.replace('/', "--")));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_progress(true)
        .build()
        .context("cannot reach the Hugging Face hub")?;
    let repo = api.model(repo_id.clone());
    for file in [CONFIG_FILE, WEIGHTS_FILE] {
        let cached = repo
            .get(file)
            .with_context(|| format!("cannot download {file} of {repo_id}"))?;
        std::fs::copy(&cached, out.join(file))
            .with_context(|| format!("cannot copy {file} into {}", out.display()))?;
    }
    let model = gpt2::GPT::load(&out)?;
    eprintln!(
        "{repo_id}: {} parameters, saved in {}",
        gpt2::numfmt::group_digits(model.config.param_count().total() as u64),
        out.display()
    );
    Ok(())
}
