//! `gpt2 info`: the shape of a model, its parameters tensor by tensor, and its training cost.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use gpt2::numfmt::short;
use gpt2::{GPTConfig, PRESETS};
use serde_json::json;

/// Show a model configuration: its shape, parameters by tensor, and training FLOPs
///
/// Without --preset, --config or --model, lists every preset with its parameter count.
#[derive(Args)]
pub struct InfoArgs {
    /// A named configuration: gpt2, gpt2-medium, gpt2-large, gpt2-xl, shakespeare, nano
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    preset: Option<String>,

    /// A Hugging Face config.json (as written by `save_pretrained`)
    #[arg(long, value_name = "FILE", conflicts_with = "model")]
    config: Option<PathBuf>,

    /// A checkpoint directory: its config, and a check that its weights load
    #[arg(long, value_name = "DIR", conflicts_with = "preset")]
    model: Option<PathBuf>,

    /// Context length for the FLOPs estimate [default: the block size]
    #[arg(long, value_name = "T")]
    seq: Option<usize>,

    /// Print JSON on stdout instead of tables
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let config = match (&args.preset, &args.config, &args.model) {
        (Some(name), _, _) => GPTConfig::preset(name)?,
        (None, Some(path), _) => GPTConfig::load_hf(path)?,
        (None, None, Some(dir)) => gpt2::GPT::load(dir)?.config,
        (None, None, None) => return list_presets(args.json),
    };
    let t = args.seq.unwrap_or(config.block_size);
    if t == 0 || t > config.block_size {
        anyhow::bail!(
            "--seq {t} is outside the model's context (1..={})",
            config.block_size
        );
    }
    let mut out = super::stdout();
    let params = config.param_count();
    let flops = config.train_flops_per_token(t);
    if args.json {
        let p = &params;
        let value = json!({
            "config": config,
            "params": {
                "total": p.total(), "wte": p.wte, "wpe": p.wpe, "blocks": p.blocks(), "ln_f": p.ln_f,
                "per_block": {
                    "ln_1": p.block.ln_1, "attn.c_attn": p.block.attn_c_attn,
                    "attn.c_proj": p.block.attn_c_proj, "ln_2": p.block.ln_2,
                    "mlp.c_fc": p.block.mlp_c_fc, "mlp.c_proj": p.block.mlp_c_proj,
                },
            },
            "seq": t,
            "train_flops_per_token": flops,
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let c = &config;
    writeln!(
        out,
        "block_size {}  vocab_size {}  n_layer {}  n_head {}  n_embd {}  head_dim {}  layer_norm_eps {:e}",
        c.block_size,
        c.vocab_size,
        c.n_layer,
        c.n_head,
        c.n_embd,
        c.head_dim(),
        c.layer_norm_eps
    )?;
    writeln!(out, "\nparameters ({})", short(params.total() as u64))?;
    write!(out, "{}", params.table())?;
    writeln!(
        out,
        "\ntraining cost at T = {t}: {:.3} GFLOP per token (6 per matmul weight + attention)",
        flops / 1e9
    )?;
    Ok(())
}

fn list_presets(json: bool) -> Result<()> {
    let mut out = super::stdout();
    if json {
        let list: Vec<_> = PRESETS
            .iter()
            .map(|p| json!({"name": p.name, "about": p.about, "config": p.config, "params": p.config.param_count().total()}))
            .collect();
        writeln!(out, "{}", serde_json::Value::from(list))?;
        return Ok(());
    }
    write!(out, "{}", gpt2::config::presets_table())?;
    writeln!(out, "\nDetails of one: gpt2 info --preset NAME")?;
    Ok(())
}
