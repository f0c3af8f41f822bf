//! `gpt2 train`: train a GPT-2 on a text file, with progress, checkpoints, a log, a loss curve
//! and a sample at the end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use gpt2::dist::World;
use gpt2::generate::{Sampling, generate};
use gpt2::rng::Rng;
use gpt2::run::{Observer, Outcome, Run, RunError};
use gpt2::train::{DataFingerprint, StepStats, TrainConfig, Trainer};
use gpt2::{GPT, GPTConfig, Tokenizer};
use serde_json::json;

/// Where `gpt2 train` writes its checkpoint unless told otherwise.
pub const DEFAULT_OUT: &str = "runs/shakespeare";

/// Train a GPT-2 on a text file (by default a small one on tiny Shakespeare)
///
/// With no arguments, trains the `shakespeare` preset (4 layers of width 128, 7.2M parameters)
/// on the bundled tiny Shakespeare for 1,000 steps of 8 sequences of 128 tokens, keeping the
/// last 10% of the text for validation.
///
/// The run folder (--out) holds whole checkpoints, checkpoints/step-NNNNNN (config.json and
/// model.safetensors, loadable by `gpt2 eval`, `gpt2 generate` and Hugging Face transformers;
/// the optimizer state and trainer.json for --resume), a file `latest` naming the current one,
/// a JSON-lines log (log.jsonl, only ever appended to) and the loss curve (loss.svg). A folder
/// that holds a run is refused unless --resume or --overwrite; one run at a time per folder.
/// Ctrl-C, SIGTERM and SIGHUP save a checkpoint at the end of the step before stopping; a second
/// one stops at once, keeping the last checkpoint saved.
///
/// Several processes train one model when started by MPI (a build with `--features mpi`):
/// `mpirun -np N gpt2 train …`. Each rank takes its share of every step's micro-batches, the
/// ranks average their gradients, and rank 0 alone writes the run folder; the data order equals
/// one process with N times --grad-accum, and --resume works on another N that divides the
/// step's micro-batches.
#[derive(Args)]
pub struct TrainArgs {
    /// The text to train on [default: the bundled tiny Shakespeare]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// The model's shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, shakespeare, nano
    #[arg(long, value_name = "NAME", conflicts_with = "init")]
    preset: Option<String>,

    /// Override the preset's number of blocks
    #[arg(long, value_name = "N", conflicts_with = "init")]
    n_layer: Option<usize>,

    /// Override the preset's number of attention heads
    #[arg(long, value_name = "N", conflicts_with = "init")]
    n_head: Option<usize>,

    /// Override the preset's width
    #[arg(long, value_name = "C", conflicts_with = "init")]
    n_embd: Option<usize>,

    /// Override the preset's context length
    #[arg(long, value_name = "T", conflicts_with = "init")]
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

    /// Micro-batches accumulated into each step, on each rank [default: 1]
    #[arg(long, value_name = "K")]
    grad_accum: Option<usize>,

    /// Peak learning rate [default: 0.003]
    #[arg(long, allow_negative_numbers = true, value_parser = super::finite_f32)]
    lr: Option<f32>,

    /// Learning rate at the end of the cosine decay [default: lr / 10]
    #[arg(long, allow_negative_numbers = true, value_parser = super::finite_f32)]
    min_lr: Option<f32>,

    /// Warm-up steps [default: 200]
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,

    /// cosine (warm-up, then cosine decay to --min-lr) or constant [default: cosine]
    #[arg(long, value_name = "cosine|constant")]
    schedule: Option<String>,

    /// Decoupled weight decay, for matrices and embeddings [default: 0.1]
    #[arg(long, allow_negative_numbers = true, value_parser = super::finite_f32)]
    weight_decay: Option<f32>,

    /// Largest global gradient norm, 0 = no clipping [default: 1.0]
    #[arg(long, allow_negative_numbers = true, value_parser = super::finite_f32)]
    grad_clip: Option<f32>,

    /// Dropout probability while training, at GPT-2's three places (embeddings, attention
    /// weights, residual branches); 0 = none [default: 0]
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = super::finite_f32,
        value_name = "P"
    )]
    dropout: Option<f32>,

    /// The matrix multiplies' precision: f32, or bf16 with f32 sums, master weights and optimizer
    /// (mixed precision; needs AVX512-BF16, and runs on AMX where the CPU has it). In bf16 the
    /// optimizer also keeps each weight matrix rounded to bf16 for the next step's products (2
    /// bytes more per number). Checkpoints stay f32
    #[arg(long, value_enum, default_value = "f32")]
    precision: super::PrecisionArg,

    /// random (windows at random offsets) or sequential [default: random]
    #[arg(long, value_name = "random|sequential")]
    loader: Option<String>,

    /// Share of the text, at its end, kept for validation; 0 = train on everything [default: 0.1]
    #[arg(
        long,
        allow_negative_numbers = true,
        value_parser = super::finite_f64,
        value_name = "F"
    )]
    val_fraction: Option<f64>,

    /// Measure the validation loss every N steps, and at the end; 0 = only at the end
    /// [default: 200]
    #[arg(long, value_name = "N")]
    eval_every: Option<usize>,

    /// Save a checkpoint every N steps, and at the end; 0 = only at the end [default: 500]
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<usize>,

    /// Seed of the initialisation and of the random loader [default: 1337]
    #[arg(long)]
    seed: Option<u64>,

    /// Where to write the checkpoint, log and plot [default: runs/shakespeare, or the --resume directory]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Continue the run saved in DIR, with its settings; --steps may extend it, --data continues
    /// it on other text (the loader starts again), and --keep, --eval-every and
    /// --checkpoint-every change what it saves and measures from now on
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,

    /// Replace the run already in --out (it is removed once the new run has saved its first
    /// checkpoint)
    #[arg(long)]
    overwrite: bool,

    /// How many checkpoints the run folder keeps, the newest; saved with the run, so that
    /// --resume keeps as many unless given again [default: 1]
    #[arg(long, value_name = "N")]
    keep: Option<usize>,

    /// With several MPI ranks: check that they hold the same weights every N steps (0 = only at
    /// the start)
    #[arg(long, value_name = "N", default_value_t = 100)]
    check_every: usize,

    /// Tokens of sample text printed at the end (0 = none)
    #[arg(long, value_name = "N", default_value_t = 200)]
    sample_tokens: usize,

    /// Print one JSON object per step on stdout (progress goes to stderr); if stdout closes
    /// or fills, the run saves at the next step and stops
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
            ranks: 1,
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
            keep: self.keep.unwrap_or(d.keep),
            seed: self.seed.unwrap_or(d.seed),
            data: data.display().to_string(),
            // A tokenizer file by its absolute path, so that a run resumes from any folder.
            tokenizer: match &self.tokenizer {
                Some(t) if t != "gpt2" => gpt2::run::absolute(Path::new(t)).display().to_string(),
                Some(t) => t.clone(),
                None => d.tokenizer,
            },
        }
    }

    /// Flags that would change a run's settings, which --resume takes from the checkpoint.
    fn settings_given(&self) -> Vec<&'static str> {
        let given = [
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
        flags_given(&given)
    }
}

/// The names of the flags marked as given.
fn flags_given(flags: &[(&'static str, bool)]) -> Vec<&'static str> {
    flags.iter().filter(|g| g.1).map(|g| g.0).collect()
}

/// The training and validation tokens of a run.
fn tokens(config: &TrainConfig) -> Result<(Tokenizer, Vec<u32>, Vec<u32>, DataFingerprint)> {
    let tok = super::load_tokenizer(&config.tokenizer)?;
    let ids = gpt2::data::load_tokens(Path::new(&config.data), &tok)?;
    let fingerprint = DataFingerprint::of(&ids);
    let (train, val) = gpt2::data::split(&ids, config.val_fraction);
    Ok((tok, train.to_vec(), val.to_vec(), fingerprint))
}

fn new_model(args: &TrainArgs, vocab: usize, run: &TrainConfig) -> Result<GPT> {
    let fits = |config: &GPTConfig| {
        super::check_memory(
            run.memory_floor(config),
            "training (weights, gradients, AdamW's moments and one micro-batch's logits)",
        )
    };
    if let Some(dir) = &args.init {
        let model = GPT::load(dir)?;
        fits(&model.config)?;
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
    fits(&config)?;
    Ok(GPT::new(
        config,
        args.seed.unwrap_or(TrainConfig::default().seed),
    ))
}

pub fn run(args: TrainArgs) -> Result<()> {
    let world = World::from_env()?;
    if world.size() == 1 {
        return match train(args, world)? {
            Some(code) => std::process::exit(code),
            None => Ok(()),
        };
    }
    share_cores(&world);
    let rank = world.rank();
    let result = train(args, world.clone());
    match result {
        Ok(code) => {
            drop(world); // the last handle: MPI ends here, before the process does
            if let Some(code) = code {
                std::process::exit(code);
            }
            Ok(())
        }
        Err(e) => {
            if is_shared(&e) && rank != 0 {
                // Every rank met this error at once; rank 0 says it and ends the run.
                world.barrier();
            } else {
                let who = if rank == 0 {
                    String::new()
                } else {
                    format!("rank {rank}: ")
                };
                // One write, so that mpirun does not interleave it with another rank's output.
                let line = format!("error: {who}{}\n", super::error_line(&e));
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            // One rank's error ends them all, rather than leaving the others waiting for it.
            world.abort(1)
        }
    }
}

/// Errors that every rank meets at the same step (they agree on the loss and the weights).
fn is_shared(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<RunError>(),
        Some(RunError::Diverged { .. } | RunError::Dist(_))
    )
}

/// The ranks on one machine share its cores (unless RAYON_NUM_THREADS says otherwise).
fn share_cores(world: &World) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / gpt2::dist::local_ranks(world)).max(1);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// Trains as one rank of `world`; returns the exit code when a signal stopped the run.
fn train(args: TrainArgs, world: World) -> Result<Option<i32>> {
    super::set_precision(args.precision)?;
    let leader = world.is_leader();
    if !leader {
        // Rank 0 takes the folder first; an error there ends the run before anyone reads it.
        world.barrier();
    }
    let mut run = match &args.resume {
        Some(dir) => {
            let given = args.settings_given();
            if !given.is_empty() {
                bail!(
                    "--resume continues with the saved settings; remove {}",
                    given.join(", ")
                );
            }
            let same = |o: &PathBuf| o == dir || o.canonicalize().ok() == dir.canonicalize().ok();
            let elsewhere = args.out.as_ref().is_some_and(|o| !same(o));
            let given = flags_given(&[("--out", elsewhere), ("--overwrite", args.overwrite)]);
            if !given.is_empty() {
                bail!(
                    "--resume continues in its own folder; remove {}",
                    given.join(" and ")
                );
            }
            let data = args.data.as_deref();
            let mut run = if leader {
                Run::resume(dir, data)?
            } else {
                Run::follow_resume(dir, data)?
            };
            run.trainer.join(world.clone())?;
            let c = &mut run.trainer.config;
            c.steps = args.steps.unwrap_or(c.steps);
            c.keep = args.keep.unwrap_or(c.keep);
            c.eval_every = args.eval_every.unwrap_or(c.eval_every);
            c.checkpoint_every = args.checkpoint_every.unwrap_or(c.checkpoint_every);
            c.validate()?;
            if run.trainer.step >= c.steps {
                bail!(
                    "the run in {} is at step {} of {} already: give --steps more than {} to train it further",
                    dir.display(),
                    run.trainer.step,
                    c.steps,
                    run.trainer.step
                );
            }
            run
        }
        None => {
            let data = args
                .data
                .clone()
                .unwrap_or_else(gpt2::data::default_text_path);
            let mut config = args.config(&gpt2::run::absolute(&data));
            config.ranks = world.size();
            config.validate()?;
            // A constant rate has no warm-up and no minimum: such flags would be ignored.
            if config.schedule == "constant" {
                let ignored = flags_given(&[
                    ("--warmup", args.warmup.is_some()),
                    ("--min-lr", args.min_lr.is_some()),
                ]);
                if !ignored.is_empty() {
                    bail!(
                        "--schedule constant keeps --lr from the first step to the last: remove {}",
                        ignored.join(" and ")
                    );
                }
            }
            let (tok, train, val, fingerprint) = tokens(&config)?;
            let model = new_model(&args, tok.vocab_size(), &config)?;
            if args.seq.is_none() {
                config.seq = config.seq.min(model.config.block_size);
            }
            let mut trainer = Trainer::new(model, train, val, config)?;
            trainer.data = Some(fingerprint);
            trainer.tokenizer = Some(gpt2::train::tokenizer_fingerprint(&tok));
            trainer.join(world.clone())?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
            if leader {
                Run::create(&out, trainer, args.overwrite)?
            } else {
                Run::follow(&out, trainer)
            }
        }
    };
    if leader {
        world.barrier();
    }
    run.check_every = args.check_every;
    run.stop = gpt2::run::stop_flag()?;
    let tok = super::load_tokenizer(&run.trainer.config.tokenizer)?;
    let out = run.dir.path.clone();

    let c = run.trainer.config.clone();
    let m = run.trainer.model.config;
    let ranks = if c.ranks > 1 {
        format!(" on {} ranks", c.ranks)
    } else {
        String::new()
    };
    let say = |line: String| {
        if leader {
            eprintln!("{line}");
        }
    };
    say(format!(
        "training {} parameters ({} layers, {} heads, width {}, context {}) on {} ({} training tokens), {} of {} tokens{ranks}",
        gpt2::numfmt::group_digits(m.param_count().total() as u64),
        m.n_layer,
        m.n_head,
        m.n_embd,
        m.block_size,
        c.data,
        gpt2::numfmt::group_digits(run.trainer.train_tokens() as u64),
        gpt2::numfmt::count(c.steps, "step"),
        c.micro_batches() * c.batch * c.seq
    ));
    if c.val_fraction > 0.0 && run.trainer.val_tokens() < c.seq + 1 {
        say(format!(
            "warning: the validation split has {} tokens, fewer than one window of --seq {} plus 1: no validation loss will be measured (raise --val-fraction or use more text)",
            run.trainer.val_tokens(),
            c.seq
        ));
    }
    let bar = if leader {
        super::progress_bar("training", c.steps as u64, "steps")
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_position(run.trainer.step as u64);
    let start = Instant::now();
    let mut progress = Progress {
        bar: &bar,
        json: args.json && leader,
        last_val: None,
        last_train: None,
        raise_at: test_signal(world.rank()),
        leader,
        stop: run.stop.clone(),
        unwritten: None,
    };
    // The loop sees a signal only between steps, which may be long: say at once what happens.
    if leader {
        let (stop, bar) = (run.stop.clone(), bar.clone());
        std::thread::spawn(move || {
            loop {
                match stop.load(std::sync::atomic::Ordering::SeqCst) as i32 {
                    0 => std::thread::sleep(std::time::Duration::from_millis(100)),
                    STDOUT_CLOSED => return,
                    signal => {
                        bar.suspend(|| {
                            eprintln!(
                                "{}: saving at the end of this step, then stopping (send it again to stop at once, keeping the last checkpoint saved)",
                                gpt2::run::signal_name(signal)
                            )
                        });
                        return;
                    }
                }
            }
        });
    }
    let outcome = run.train(&mut progress)?;
    bar.finish_and_clear();
    if let Some(e) = progress.unwritten {
        // The run stopped, saved, at the step after the line it could not print.
        let saved = match outcome {
            Outcome::Stopped(_) => format!(
                "stopped at step {}, saved to {}; continue with --resume {}",
                run.trainer.step,
                out.display(),
                out.display()
            ),
            Outcome::Finished => format!("the run finished, saved to {}", out.display()),
        };
        let broken = e.kind() == std::io::ErrorKind::BrokenPipe;
        say(format!("cannot write to standard output ({e}): {saved}"));
        return Ok(Some(if broken { 128 + STDOUT_CLOSED } else { 1 }));
    }
    if let Outcome::Stopped(signal) = outcome {
        say(format!(
            "stopped by {}: saved step {} to {}; continue with --resume {}",
            gpt2::run::signal_name(signal),
            run.trainer.step,
            out.display(),
            out.display()
        ));
        return Ok(Some(128 + signal));
    }
    if !leader {
        return Ok(None);
    }
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    eprintln!(
        "done: {} in {minutes:.1} min; last training loss {}, validation loss {}; saved to {}",
        gpt2::numfmt::count(run.trainer.step, "step"),
        progress
            .last_train
            .map_or("-".into(), |l| format!("{l:.3}")),
        progress.last_val.map_or("-".into(), |l| format!("{l:.3}")),
        out.display()
    );
    if args.sample_tokens > 0 {
        let prompt = tok.encode("\n");
        let sampling = Sampling {
            temperature: 0.8,
            top_k: 40,
            top_p: 1.0,
        };
        let mut rng = Rng::new(run.trainer.config.seed);
        let ids = generate(
            &run.trainer.model,
            &prompt,
            args.sample_tokens,
            &sampling,
            None,
            &mut rng,
            |_| {},
        )?;
        let text = tok.decode(&ids)?;
        let mut stdout = super::stdout();
        if args.json {
            writeln!(stdout, "{}", json!({"sample": text}))?;
        } else {
            eprintln!("a sample (temperature 0.8, top-k 40):");
            writeln!(stdout, "{text}")?;
        }
    }
    Ok(None)
}

/// The progress bar, and with --json every log line on stdout.
struct Progress<'a> {
    bar: &'a indicatif::ProgressBar,
    json: bool,
    last_train: Option<f32>,
    last_val: Option<f32>,
    /// For the tests: raise this signal after this step, as `kill` would.
    raise_at: Option<(usize, i32)>,
    /// Rank 0 reports; the other ranks keep quiet.
    leader: bool,
    /// The run's stop flag: a line that cannot be printed stops the run, as SIGPIPE would.
    stop: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Why a line could not be printed on standard output.
    unwritten: Option<std::io::Error>,
}

/// The stop flag's value when standard output fails: SIGPIPE's number, which ends a program
/// whose reader went away.
#[cfg(unix)]
const STDOUT_CLOSED: i32 = signal_hook::consts::SIGPIPE;
#[cfg(not(unix))]
const STDOUT_CLOSED: i32 = 13;

impl Observer for Progress<'_> {
    fn line(&mut self, line: &serde_json::Value) {
        if !self.json || self.unwritten.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            self.stop
                .store(STDOUT_CLOSED as usize, std::sync::atomic::Ordering::SeqCst);
            self.unwritten = Some(e);
        }
    }

    fn step(&mut self, s: &StepStats, tokens_per_s: f64) {
        self.last_train = Some(s.loss);
        self.bar.set_position(s.step as u64 + 1);
        self.bar
            .set_message(format!("loss {:.3}, {tokens_per_s:.0} tokens/s", s.loss));
        if let Some((step, signal)) = self.raise_at
            && step == s.step
        {
            let _ = signal_hook::low_level::raise(signal);
        }
    }

    fn validated(&mut self, step: usize, train: f32, val: f32) {
        self.last_val = Some(val);
        if !self.leader {
            return;
        }
        let report = format!("step {step:>5}: train loss {train:.3}, validation loss {val:.3}");
        if self.bar.is_hidden() {
            eprintln!("{report}");
        } else {
            self.bar.println(report);
        }
    }
}

/// `GPT2_TEST_RAISE=STEP:SIGNAL[:RANK]` (numbers) makes the run (only rank RANK, if given)
/// signal itself after STEP, so that the tests stop a run at a known step exactly as `kill`
/// would.
fn test_signal(rank: usize) -> Option<(usize, i32)> {
    let spec = std::env::var("GPT2_TEST_RAISE").ok()?;
    let mut parts = spec.split(':');
    let step = parts.next()?.parse().ok()?;
    let signal = parts.next()?.parse().ok()?;
    match parts.next() {
        Some(r) if r.parse::<usize>().ok()? != rank => None,
        _ => Some((step, signal)),
    }
}
