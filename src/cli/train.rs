//! `gpt2 train`: train a GPT-2 on a text file, with progress, checkpoints, a log, a loss curve
//! and a sample at the end.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use gpt2::generate::{Sampling, generate_uncached};
use gpt2::rng::Rng;
use gpt2::train::{TrainConfig, Trainer};
use gpt2::{GPT, GPTConfig, Tokenizer};
use serde_json::json;

/// Where `gpt2 train` writes its checkpoint unless told otherwise.
pub const DEFAULT_OUT: &str = "runs/shakespeare";

/// Train a GPT-2 on a text file (by default a small one on tiny Shakespeare)
///
/// With no arguments, trains the `shakespeare` preset (4 layers of width 128, 7.2M parameters)
/// on the bundled tiny Shakespeare for 1,000 steps of 8 sequences of 128 tokens, keeping the
/// last 10% of the text for validation. Writes to --out a checkpoint (config.json and
/// model.safetensors, loadable by `gpt2 eval`, `gpt2 generate` and Hugging Face
/// transformers), the optimizer state for --resume, a JSON-lines log (log.jsonl) and the loss
/// curve (loss.svg). Ctrl-C saves a checkpoint before stopping.
#[derive(Args)]
pub struct TrainArgs {
    /// The text to train on [default: the bundled tiny Shakespeare]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// The model's shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, shakespeare, nano
    #[arg(long, value_name = "NAME", conflicts_with = "init")]
    preset: Option<String>,

    /// Override the preset's number of blocks
    #[arg(long, value_name = "N")]
    n_layer: Option<usize>,

    /// Override the preset's number of attention heads
    #[arg(long, value_name = "N")]
    n_head: Option<usize>,

    /// Override the preset's width
    #[arg(long, value_name = "C")]
    n_embd: Option<usize>,

    /// Override the preset's context length
    #[arg(long, value_name = "T")]
    block_size: Option<usize>,

    /// Start from the weights of a checkpoint directory instead of a random initialisation
    #[arg(long, value_name = "DIR")]
    init: Option<PathBuf>,

    /// `gpt2`, or a tokenizer file written by `gpt2 train-tokenizer`
    #[arg(long, value_name = "gpt2|FILE")]
    tokenizer: Option<String>,

    /// Number of optimizer steps [default: 1000]
    #[arg(long, value_name = "N")]
    steps: Option<usize>,

    /// Sequences per micro-batch [default: 8]
    #[arg(long, value_name = "B")]
    batch: Option<usize>,

    /// Tokens per sequence [default: 128, or the block size if smaller]
    #[arg(long, value_name = "T")]
    seq: Option<usize>,

    /// Micro-batches accumulated into each step [default: 1]
    #[arg(long, value_name = "K")]
    grad_accum: Option<usize>,

    /// Peak learning rate [default: 0.003]
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,

    /// Learning rate at the end of the cosine decay [default: lr / 10]
    #[arg(long, allow_negative_numbers = true)]
    min_lr: Option<f32>,

    /// Warm-up steps [default: 100]
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,

    /// cosine (warm-up, then cosine decay to --min-lr) or constant [default: cosine]
    #[arg(long, value_name = "cosine|constant")]
    schedule: Option<String>,

    /// Decoupled weight decay, for matrices and embeddings [default: 0.1]
    #[arg(long, allow_negative_numbers = true)]
    weight_decay: Option<f32>,

    /// Largest global gradient norm, 0 = no clipping [default: 1.0]
    #[arg(long, allow_negative_numbers = true)]
    grad_clip: Option<f32>,

    /// Dropout probability while training, at GPT-2's three places (embeddings, attention
    /// weights, residual branches); 0 = none [default: 0]
    #[arg(long, allow_negative_numbers = true, value_name = "P")]
    dropout: Option<f32>,

    /// random (windows at random offsets) or sequential [default: random]
    #[arg(long, value_name = "random|sequential")]
    loader: Option<String>,

    /// Share of the text, at its end, kept for validation; 0 = train on everything [default: 0.1]
    #[arg(long, allow_negative_numbers = true, value_name = "F")]
    val_fraction: Option<f64>,

    /// Measure the validation loss every N steps, and at the end [default: 200]
    #[arg(long, value_name = "N")]
    eval_every: Option<usize>,

    /// Save a checkpoint every N steps, and at the end [default: 500]
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<usize>,

    /// Seed of the initialisation and of the random loader [default: 1337]
    #[arg(long)]
    seed: Option<u64>,

    /// Where to write the checkpoint, log and plot [default: runs/shakespeare, or the --resume directory]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Continue the run saved in DIR, with its settings; --steps may extend it
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,

    /// Tokens of sample text printed at the end (0 = none)
    #[arg(long, value_name = "N", default_value_t = 200)]
    sample_tokens: usize,

    /// Print one JSON object per step on stdout (progress goes to stderr)
    #[arg(long)]
    json: bool,
}

impl TrainArgs {
    /// The settings of a new run: the defaults, overridden by the flags given.
    fn config(&self, data: &Path) -> TrainConfig {
        let d = TrainConfig::default();
        let lr = self.lr.unwrap_or(d.lr);
        TrainConfig {
            batch: self.batch.unwrap_or(d.batch),
            seq: self.seq.unwrap_or(d.seq),
            grad_accum: self.grad_accum.unwrap_or(d.grad_accum),
            steps: self.steps.unwrap_or(d.steps),
            lr,
            min_lr: self.min_lr.unwrap_or(lr / 10.0),
            warmup: self.warmup.unwrap_or(d.warmup),
            schedule: self.schedule.clone().unwrap_or(d.schedule),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            grad_clip: self.grad_clip.unwrap_or(d.grad_clip),
            dropout: self.dropout.unwrap_or(d.dropout),
            loader: self.loader.clone().unwrap_or(d.loader),
            val_fraction: self.val_fraction.unwrap_or(d.val_fraction),
            eval_every: self.eval_every.unwrap_or(d.eval_every),
            checkpoint_every: self.checkpoint_every.unwrap_or(d.checkpoint_every),
            seed: self.seed.unwrap_or(d.seed),
            data: data.display().to_string(),
            tokenizer: self.tokenizer.clone().unwrap_or(d.tokenizer),
        }
    }

    /// Flags that would change a run's settings, which --resume takes from the checkpoint.
    fn settings_given(&self) -> Vec<&'static str> {
        let given = [
            ("--data", self.data.is_some()),
            ("--preset", self.preset.is_some()),
            ("--n-layer", self.n_layer.is_some()),
            ("--n-head", self.n_head.is_some()),
            ("--n-embd", self.n_embd.is_some()),
            ("--block-size", self.block_size.is_some()),
            ("--init", self.init.is_some()),
            ("--tokenizer", self.tokenizer.is_some()),
            ("--batch", self.batch.is_some()),
            ("--seq", self.seq.is_some()),
            ("--grad-accum", self.grad_accum.is_some()),
            ("--lr", self.lr.is_some()),
            ("--min-lr", self.min_lr.is_some()),
            ("--warmup", self.warmup.is_some()),
            ("--schedule", self.schedule.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--grad-clip", self.grad_clip.is_some()),
            ("--dropout", self.dropout.is_some()),
            ("--loader", self.loader.is_some()),
            ("--val-fraction", self.val_fraction.is_some()),
            ("--seed", self.seed.is_some()),
        ];
        given.iter().filter(|g| g.1).map(|g| g.0).collect()
    }
}

/// The training and validation tokens of a run.
fn tokens(config: &TrainConfig) -> Result<(Tokenizer, Vec<u32>, Vec<u32>)> {
    let tok = super::load_tokenizer(&config.tokenizer)?;
    let ids = gpt2::data::load_tokens(Path::new(&config.data), &tok)?;
    let (train, val) = gpt2::data::split(&ids, config.val_fraction);
    Ok((tok, train.to_vec(), val.to_vec()))
}

fn new_model(args: &TrainArgs, vocab: usize) -> Result<GPT> {
    if let Some(dir) = &args.init {
        let model = GPT::load(dir)?;
        if model.config.vocab_size < vocab {
            bail!(
                "the model in {} has {} token ids, the tokenizer {vocab}",
                dir.display(),
                model.config.vocab_size
            );
        }
        return Ok(model);
    }
    let mut config = GPTConfig::preset(args.preset.as_deref().unwrap_or("shakespeare"))?;
    config.vocab_size = vocab;
    config.n_layer = args.n_layer.unwrap_or(config.n_layer);
    config.n_head = args.n_head.unwrap_or(config.n_head);
    config.n_embd = args.n_embd.unwrap_or(config.n_embd);
    config.block_size = args.block_size.unwrap_or(config.block_size);
    config.validate()?;
    Ok(GPT::new(
        config,
        args.seed.unwrap_or(TrainConfig::default().seed),
    ))
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (mut trainer, tok, out) = match &args.resume {
        Some(dir) => {
            let given = args.settings_given();
            if !given.is_empty() {
                bail!(
                    "--resume continues with the saved settings; remove {}",
                    given.join(", ")
                );
            }
            let mut config = Trainer::saved_config(dir)?;
            let (tok, train, val) = tokens(&config)?;
            let mut trainer = Trainer::resume(dir, train, val)?;
            if let Some(steps) = args.steps {
                config.steps = steps;
                trainer.config.steps = steps;
            }
            (
                trainer,
                tok,
                args.out.clone().unwrap_or_else(|| dir.clone()),
            )
        }
        None => {
            let data = args
                .data
                .clone()
                .unwrap_or_else(gpt2::data::default_text_path);
            let mut config = args.config(&data);
            config.validate()?;
            let (tok, train, val) = tokens(&config)?;
            let model = new_model(&args, tok.vocab_size())?;
            if args.seq.is_none() {
                config.seq = config.seq.min(model.config.block_size);
            }
            let trainer = Trainer::new(model, train, val, config)?;
            (
                trainer,
                tok,
                args.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT)),
            )
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    // A second Ctrl-C while saving is ignored: the save finishes first.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));

    let mut log = Log::open(&out.join("log.jsonl"), trainer.step)?;
    let c = trainer.config.clone();
    let m = trainer.model.config;
    eprintln!(
        "training {} parameters ({} layers, {} heads, width {}, context {}) on {} ({} training tokens), {} steps of {} tokens",
        gpt2::numfmt::group_digits(m.param_count().total() as u64),
        m.n_layer,
        m.n_head,
        m.n_embd,
        m.block_size,
        c.data,
        gpt2::numfmt::group_digits(trainer.train_tokens() as u64),
        c.steps,
        c.grad_accum * c.batch * c.seq
    );
    if trainer.val_tokens() < c.seq + 1 {
        eprintln!(
            "warning: the validation split has {} tokens, fewer than one window of --seq {} plus 1: no validation loss will be measured (raise --val-fraction or use more text)",
            trainer.val_tokens(),
            c.seq
        );
    }
    let bar = super::progress_bar("training", c.steps as u64, "steps");
    bar.set_position(trainer.step as u64);
    let start = Instant::now();
    let mut last_val = None;
    while trainer.step < c.steps {
        if interrupted.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            save(&mut trainer, &out, &log)?;
            eprintln!(
                "interrupted: saved step {} to {}; continue with --resume {}",
                trainer.step,
                out.display(),
                out.display()
            );
            std::process::exit(130);
        }
        let tick = Instant::now();
        let s = trainer.step()?;
        if !s.loss.is_finite() {
            bail!(
                "training diverged at step {} (loss {}): try a lower --lr",
                s.step,
                s.loss
            );
        }
        let tokens_per_s = s.tokens as f64 / tick.elapsed().as_secs_f64();
        let elapsed_s = start.elapsed().as_secs_f64();
        let line = json!({"step": s.step, "loss": s.loss, "lr": s.lr, "grad_norm": s.grad_norm, "tokens_per_s": tokens_per_s, "elapsed_s": elapsed_s});
        log.write(&line, args.json)?;
        log.train.push((s.step, s.loss));
        bar.set_position(trainer.step as u64);
        bar.set_message(format!("loss {:.3}, {:.0} tokens/s", s.loss, tokens_per_s));
        let done = trainer.step == c.steps;
        let evaluate = (c.eval_every > 0 && trainer.step % c.eval_every == 0) || done;
        if evaluate && let Some(val) = trainer.val_loss()? {
            let elapsed_s = start.elapsed().as_secs_f64();
            log.write(
                &json!({"step": s.step, "val_loss": val, "elapsed_s": elapsed_s}),
                args.json,
            )?;
            log.val.push((s.step, val));
            last_val = Some(val);
            let report = format!(
                "step {:>5}: train loss {:.3}, validation loss {val:.3}",
                s.step, s.loss
            );
            if bar.is_hidden() {
                eprintln!("{report}");
            } else {
                bar.println(report);
            }
        }
        if (c.checkpoint_every > 0 && trainer.step % c.checkpoint_every == 0) || done {
            save(&mut trainer, &out, &log)?;
        }
    }
    bar.finish_and_clear();
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    let final_train = log.train.last().map(|p| p.1);
    eprintln!(
        "done: {} steps in {minutes:.1} min; last training loss {}, validation loss {}; saved to {}",
        trainer.step,
        final_train.map_or("-".into(), |l| format!("{l:.3}")),
        last_val.map_or("-".into(), |l| format!("{l:.3}")),
        out.display()
    );
    if args.sample_tokens > 0 {
        let prompt = tok.encode("\n");
        let sampling = Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 1.0,
        };
        let mut rng = Rng::new(trainer.config.seed);
        let ids = generate_uncached(
            &mut trainer.model,
            &prompt,
            args.sample_tokens,
            &sampling,
            &mut rng,
        )?;
        let text = tok.decode(&ids)?;
        if args.json {
            println!("{}", json!({"sample": text}));
        } else {
            eprintln!("a sample (temperature 0.8, top-k 40):");
            println!("{text}");
        }
    }
    Ok(())
}

fn save(trainer: &mut Trainer, out: &Path, log: &Log) -> Result<()> {
    trainer.save(out)?;
    gpt2::plot::loss_curve(&log.train, &log.val, &out.join("loss.svg"))
        .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", out.join("loss.svg").display()))
}

/// The JSON-lines log of a run, and the curves read back from it.
struct Log {
    file: std::fs::File,
    train: Vec<(usize, f32)>,
    val: Vec<(usize, f32)>,
}

impl Log {
    /// Opens `path`, keeping the lines of steps before `step` (a resumed run rewrites the rest).
    fn open(path: &Path, step: usize) -> Result<Log> {
        let mut kept = String::new();
        let (mut train, mut val) = (Vec::new(), Vec::new());
        if step > 0
            && let Ok(f) = std::fs::File::open(path)
        {
            for line in std::io::BufReader::new(f).lines() {
                let line = line?;
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let Some(s) = v["step"].as_u64().map(|s| s as usize) else {
                    continue;
                };
                if s >= step {
                    continue;
                }
                if let Some(l) = v["loss"].as_f64() {
                    train.push((s, l as f32));
                }
                if let Some(l) = v["val_loss"].as_f64() {
                    val.push((s, l as f32));
                }
                kept.push_str(&line);
                kept.push('\n');
            }
        }
        std::fs::write(path, kept).with_context(|| format!("cannot write {}", path.display()))?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Log { file, train, val })
    }

    fn write(&mut self, line: &serde_json::Value, stdout: bool) -> Result<()> {
        writeln!(self.file, "{line}")?;
        if stdout {
            println!("{line}");
        }
        Ok(())
    }
}
