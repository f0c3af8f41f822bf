//! The training loop: batches in, gradients, clipping, an AdamW update, and the state a run
//! needs to stop and resume exactly where it was.

use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checkpoint::{CheckpointError, SafetensorsFile};
use crate::data::{DataError, Loader, LoaderMode, LoaderState};
use crate::dist::World;
use crate::dropout::DropoutRates;
use crate::eval::evaluate;
use crate::layers::Params;
use crate::model::{GPT, ModelError};
use crate::optim::{AdamW, AdamWConfig, Schedule, scale_grads};
use crate::rng::Rng;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {message}")]
    State { path: String, message: String },
    #[error("{0}")]
    Config(String),
}

/// Everything that decides how a run trains. Saved with each checkpoint, so that a resumed run
/// continues with the same settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Sequences per micro-batch (B) and tokens per sequence (T).
    pub batch: usize,
    pub seq: usize,
    /// Micro-batches whose gradients are averaged into one update, on each rank.
    pub grad_accum: usize,
    /// Processes training together (MPI ranks); each step averages `ranks × grad_accum`
    /// micro-batches.
    #[serde(default = "one")]
    pub ranks: usize,
    /// Updates in the whole run.
    pub steps: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup: usize,
    /// "cosine" (warm-up, then cosine decay to min_lr) or "constant".
    pub schedule: String,
    pub weight_decay: f32,
    /// Largest global gradient norm; 0 = no clipping.
    pub grad_clip: f32,
    /// Dropout's probability at GPT-2's three places while training (0 = none).
    #[serde(default)]
    pub dropout: f32,
    /// "sequential" or "random".
    pub loader: String,
    pub val_fraction: f64,
    /// Measure the validation loss every this many steps (0 = only at the end).
    pub eval_every: usize,
    /// Save a checkpoint every this many steps (0 = only at the end).
    pub checkpoint_every: usize,
    /// How many checkpoints the run folder keeps, the newest.
    #[serde(default = "one")]
    pub keep: usize,
    pub seed: u64,
    /// The text trained on, and the tokenizer (`gpt2` or a tokenizer file), so that a resumed
    /// run reads the same tokens.
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub tokenizer: String,
}

fn one() -> usize {
    1
}

impl Default for TrainConfig {
    /// The defaults of `gpt2 train`.
    fn default() -> Self {
        TrainConfig {
            batch: 8,
            seq: 128,
            grad_accum: 1,
            ranks: 1,
            steps: 1000,
            lr: 3e-3,
            min_lr: 3e-4,
            warmup: 200,
            schedule: "cosine".into(),
            weight_decay: 0.1,
            grad_clip: 1.0,
            dropout: 0.0,
            loader: "random".into(),
            val_fraction: 0.1,
            eval_every: 200,
            checkpoint_every: 500,
            keep: 1,
            seed: 1337,
            data: String::new(),
            tokenizer: "gpt2".into(),
        }
    }
}

impl TrainConfig {
    pub fn schedule(&self) -> Schedule {
        match self.schedule.as_str() {
            "constant" => Schedule::Constant { lr: self.lr },
            _ => Schedule::Cosine {
                lr: self.lr,
                min_lr: self.min_lr,
                warmup: self.warmup,
                total: self.steps,
            },
        }
    }

    /// Micro-batches in one step, all ranks together.
    pub fn micro_batches(&self) -> usize {
        self.grad_accum * self.ranks
    }

    pub fn loader_mode(&self) -> LoaderMode {
        match self.loader.as_str() {
            "sequential" => LoaderMode::Sequential,
            _ => LoaderMode::Random,
        }
    }

    /// Bytes a run of `model` with these settings needs at the least: f32 weights, gradients
    /// and AdamW's two moments, and one micro-batch's logits and their gradient. Activations and
    /// buffers come on top. Counted in floating point, so that absurd sizes do not overflow.
    pub fn memory_floor(&self, model: &crate::GPTConfig) -> f64 {
        let params = model.param_count().total() as f64;
        let t = self.seq.min(model.block_size) as f64;
        let logits = self.batch as f64 * t * model.vocab_size as f64;
        4.0 * (4.0 * params + 2.0 * logits)
    }

    /// Refuses settings that cannot train.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        for (flag, n) in [
            ("--batch", self.batch),
            ("--seq", self.seq),
            ("--grad-accum", self.grad_accum),
            ("--keep", self.keep),
        ] {
            if n == 0 {
                return bad(format!("{flag} must be at least 1"));
            }
        }
        let step_tokens = (self.grad_accum.checked_mul(self.ranks))
            .and_then(|k| k.checked_mul(self.batch))
            .and_then(|n| n.checked_mul(self.seq));
        if step_tokens.is_none() {
            return bad(format!(
                "--grad-accum {} × --batch {} × --seq {} is too many tokens for one step: the count passes {}",
                self.grad_accum,
                self.batch,
                self.seq,
                usize::MAX
            ));
        }
        if self.steps == 0 {
            return bad(
                "--steps must be at least 1: a run of no steps would save nothing new".into(),
            );
        }
        if !matches!(self.schedule.as_str(), "cosine" | "constant") {
            return bad(format!(
                "--schedule must be cosine or constant, not `{}`",
                self.schedule
            ));
        }
        if !matches!(self.loader.as_str(), "sequential" | "random") {
            return bad(format!(
                "--loader must be sequential or random, not `{}`",
                self.loader
            ));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!(
                "--val-fraction must be in [0, 1), not {}",
                self.val_fraction
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr must be a positive number, not {}", self.lr));
        }
        for (flag, x) in [
            ("--min-lr", self.min_lr),
            ("--weight-decay", self.weight_decay),
            ("--grad-clip", self.grad_clip),
        ] {
            if !(x >= 0.0 && x.is_finite()) {
                return bad(format!("{flag} must be a number of at least 0, not {x}"));
            }
        }
        if self.schedule == "cosine" && self.min_lr > self.lr {
            return bad(format!(
                "--min-lr ({}) is above --lr ({}): the cosine schedule decays from --lr down to --min-lr",
                self.min_lr, self.lr
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout must be in [0, 1), not {}", self.dropout));
        }
        Ok(())
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The step's number, from 0.
    pub step: usize,
    /// The loss computed before this step's update (averaged over its micro-batches).
    pub loss: f32,
    pub lr: f32,
    /// The global gradient norm before clipping.
    pub grad_norm: f32,
    /// Tokens the step trained on (all ranks together).
    pub tokens: usize,
    /// Seconds this rank spent summing the gradients with the other ranks (0 alone).
    pub all_reduce_s: f64,
}

/// A model, its optimizer, and the data it trains on.
pub struct Trainer {
    pub model: GPT,
    pub opt: AdamW,
    pub config: TrainConfig,
    /// Updates done so far.
    pub step: usize,
    /// Names this run in each file of its checkpoints, so that files of different runs or
    /// steps are never mixed.
    pub run_id: String,
    /// What the training text was, to notice if it changes before a resume.
    pub data: Option<DataFingerprint>,
    /// The tokenizer's fingerprint (hex), to notice if its file changes: the same ids would
    /// then stand for other text.
    pub tokenizer: Option<String>,
    /// The processes this one trains with ([`World::solo`] alone).
    pub world: World,
    /// Seconds the last step spent in the all-reduce.
    all_reduce_s: f64,
    train: Loader,
    val: Vec<u32>,
}

const STATE_FILE: &str = "trainer.json";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// What `trainer.json` holds, beside the model and the optimizer's moments.
#[derive(Serialize, Deserialize)]
struct State {
    step: usize,
    #[serde(default)]
    run_id: String,
    adam_t: u64,
    loader: LoaderState,
    config: TrainConfig,
    #[serde(default)]
    data: Option<DataFingerprint>,
    #[serde(default)]
    tokenizer: Option<String>,
}

/// A text's tokens, in brief: their number and a hash of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub tokens: usize,
    pub hash: String,
}

/// A saved run's settings, and what it trained on and with, where it recorded them.
pub struct SavedRun {
    pub config: TrainConfig,
    pub data: Option<DataFingerprint>,
    /// The tokenizer's fingerprint ([`tokenizer_fingerprint`]).
    pub tokenizer: Option<String>,
}

/// A tokenizer's fingerprint as runs record it.
pub fn tokenizer_fingerprint(tok: &crate::Tokenizer) -> String {
    format!("{:016x}", tok.fingerprint())
}

impl DataFingerprint {
    pub fn of(ids: &[u32]) -> DataFingerprint {
        let mut h = crate::hash::Fnv64::new();
        for id in ids {
            h.write(&id.to_le_bytes());
        }
        DataFingerprint {
            tokens: ids.len(),
            hash: format!("{:016x}", h.finish()),
        }
    }
}

/// A new run's name: the time and the process, hashed.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = crate::hash::Fnv64::new();
    h.write(&now.to_le_bytes());
    h.write(&std::process::id().to_le_bytes());
    format!("{:016x}", h.finish())
}

/// The metadata keys that tie a checkpoint's tensor files to its trainer.json.
const RUN_ID_KEY: &str = "gpt2.run_id";
const STEP_KEY: &str = "gpt2.step";

impl Trainer {
    /// A run that starts at step 0.
    pub fn new(
        mut model: GPT,
        train: Vec<u32>,
        val: Vec<u32>,
        config: TrainConfig,
    ) -> Result<Trainer, TrainError> {
        config.validate()?;
        if config.seq > model.config.block_size {
            return Err(TrainError::Config(format!(
                "--seq {} is longer than the model's context of {}",
                config.seq, model.config.block_size
            )));
        }
        let loader = Loader::new(
            train,
            config.batch,
            config.seq,
            config.loader_mode(),
            config.seed,
            "the training split",
        )?;
        let opt = AdamW::new(
            &mut model,
            AdamWConfig {
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
        );
        Ok(Trainer {
            model,
            opt,
            config,
            step: 0,
            run_id: new_run_id(),
            data: None,
            tokenizer: None,
            world: World::solo(),
            all_reduce_s: 0.0,
            train: loader,
            val,
        })
    }

    // ANCHOR: step
    /// One update: the gradient of `grad_accum` micro-batches, averaged, clipped, and applied.
    pub fn step(&mut self) -> Result<StepStats, TrainError> {
        let lr = self.config.schedule().lr(self.step);
        let loss = self.accumulate_gradient()?;
        // Clipping happens inside the update: one pass over the gradients instead of two.
        let grad_norm = self
            .opt
            .step_clipped(&mut self.model, lr, self.config.grad_clip);
        self.step += 1;
        Ok(StepStats {
            step: self.step - 1,
            loss,
            lr,
            grad_norm,
            tokens: self.config.micro_batches() * self.config.batch * self.config.seq,
            all_reduce_s: self.all_reduce_s,
        })
    }

    /// Sets every parameter's gradient to that of the mean loss over the next `grad_accum`
    /// micro-batches (of every rank), and returns that loss.
    pub fn accumulate_gradient(&mut self) -> Result<f32, TrainError> {
        let (b, t) = (self.config.batch, self.config.seq);
        let (rank, ranks) = (self.world.rank(), self.world.size());
        // The step's micro-batches, all ranks together: rank r takes r, r + N, r + 2N, …, so
        // N ranks train on what one process with N times the accumulation would.
        let k = self.config.micro_batches();
        self.model.zero_grad();
        let mut loss = 0.0;
        let rates = DropoutRates::all(self.config.dropout);
        for micro in 0..k {
            // Every rank reads every batch, so that the loaders stay equal.
            let batch = self.train.next_batch();
            if micro % ranks != rank {
                continue;
            }
            let x = Array2::from_shape_vec((b, t), batch.x).expect("[B, T]");
            let y = Array2::from_shape_vec((b, t), batch.y).expect("[B, T]");
            loss += if rates.is_off() {
                self.model.forward_train(x.view(), y.view())?
            } else {
                // Masks from the seed, the step and the micro-batch: a resumed run draws the
                // ones an uninterrupted run would have drawn.
                let stream = (self.step * k + micro) as u64;
                let mix = stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = Rng::new(self.config.seed.rotate_left(32) ^ mix);
                let (x, y) = (x.view(), y.view());
                self.model.forward_train_dropout(x, y, rates, &mut rng)?
            } / k as f32;
            self.model.backward()?;
        }
        if k > 1 {
            // Each backward pass added the gradient of its own micro-batch's mean loss.
            scale_grads(&mut self.model, 1.0 / k as f32);
        }
        if ranks > 1 {
            // Each rank holds its share of the mean; the sums are the whole step's.
            let start = std::time::Instant::now();
            self.world.sum_gradients(&mut self.model);
            loss = self.world.sum_one(loss);
            self.all_reduce_s = start.elapsed().as_secs_f64();
        }
        Ok(loss)
    }
    // ANCHOR_END: step

    /// Tokens in the validation split.
    pub fn val_tokens(&self) -> usize {
        self.val.len()
    }

    /// Tokens in the training split.
    pub fn train_tokens(&self) -> usize {
        self.train.tokens().len()
    }

    /// The mean loss over the whole validation split, in windows of T; None without one.
    pub fn val_loss(&mut self) -> Result<Option<f32>, TrainError> {
        let t = self.config.seq;
        if self.val.len() < t + 1 {
            return Ok(None);
        }
        let score = evaluate(&mut self.model, &self.val, t, self.config.batch, |_, _| {})?;
        Ok(Some(score.loss as f32))
    }

    /// Saves the model (loadable by `GPT::load` and by transformers), the optimizer's moments
    /// and the trainer's state into `dir`, each file written atomically.
    pub fn save(&mut self, dir: &Path) -> Result<(), TrainError> {
        let stamp = [
            (RUN_ID_KEY, self.run_id.clone()),
            (STEP_KEY, self.step.to_string()),
        ];
        self.model.save_with(dir, &stamp)?;
        // Borrowed, not copied: the moments are twice the model's size.
        let moments: Vec<(String, Vec<usize>, &[f32])> = self
            .opt
            .moments()
            .flat_map(|(name, m, v)| {
                [
                    (format!("m.{name}"), vec![m.len()], m),
                    (format!("v.{name}"), vec![v.len()], v),
                ]
            })
            .collect();
        crate::checkpoint::write_safetensors_with(&dir.join(OPTIMIZER_FILE), &moments, &stamp)?;
        let state = State {
            step: self.step,
            run_id: self.run_id.clone(),
            adam_t: self.opt.t,
            loader: self.train.state(),
            config: self.config.clone(),
            data: self.data.clone(),
            tokenizer: self.tokenizer.clone(),
        };
        let json = serde_json::to_string_pretty(&state).expect("state serialises") + "\n";
        let path = dir.join(STATE_FILE);
        crate::fsutil::write_atomic(&path, json.as_bytes()).map_err(|source| {
            CheckpointError::Write {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(())
    }

    /// What the run saved in `dir` records beside its tensors, from one read of trainer.json.
    pub fn saved(dir: &Path) -> Result<SavedRun, TrainError> {
        let state = read_state(&crate::checkpoint::resolve(dir))?;
        Ok(SavedRun {
            config: state.config,
            data: state.data,
            tokenizer: state.tokenizer,
        })
    }

    /// Trains as one of `world`'s ranks from now on. The step keeps its micro-batches: a run
    /// saved by N ranks of K micro-batches each goes on with N·K / M on M ranks, and refuses
    /// when M does not divide N·K.
    pub fn join(&mut self, world: World) -> Result<(), TrainError> {
        let (total, n) = (self.config.micro_batches(), world.size());
        if !total.is_multiple_of(n) {
            return Err(TrainError::Config(format!(
                "the run's step is {total} micro-batches of {} sequences (--grad-accum {} on each of {} {}), which {n} ranks cannot share evenly: use a number of ranks that divides {total}",
                self.config.batch,
                self.config.grad_accum,
                self.config.ranks,
                if self.config.ranks == 1 {
                    "rank"
                } else {
                    "ranks"
                }
            )));
        }
        self.config.grad_accum = total / n;
        self.config.ranks = n;
        self.world = world;
        Ok(())
    }

    /// For a run continued on other data: the loader starts again from its beginning.
    pub fn restart_loader(&mut self) {
        self.train.restart(self.config.seed ^ self.step as u64);
    }

    /// Continues the run saved in `dir`, on the same training and validation tokens.
    pub fn resume(dir: &Path, train: Vec<u32>, val: Vec<u32>) -> Result<Trainer, TrainError> {
        let dir = &crate::checkpoint::resolve(dir);
        let state = read_state(dir)?;
        // Each tensor file says which run and step wrote it; all must be trainer.json's.
        for file in [crate::checkpoint::WEIGHTS_FILE, OPTIMIZER_FILE] {
            let path = dir.join(file);
            let meta = crate::checkpoint::safetensors_metadata(&path)?;
            let (run, step) = (meta.get(RUN_ID_KEY), meta.get(STEP_KEY));
            let Some((run, step)) = run.zip(step) else {
                continue; // written before checkpoints were stamped
            };
            if *run != state.run_id || *step != state.step.to_string() {
                return Err(TrainError::State {
                    path: path.display().to_string(),
                    message: format!(
                        "is step {step} of run {run}, but {STATE_FILE} is step {} of run {}: the files do not belong together",
                        state.step, state.run_id
                    ),
                });
            }
        }
        let model = GPT::load(dir)?;
        let mut trainer = Trainer::new(model, train, val, state.config)?;
        // Each moment straight from the file into its place, never a second copy of them all.
        let mut moments = SafetensorsFile::open(&dir.join(OPTIMIZER_FILE))?;
        for (name, m, v) in trainer.opt.moments_mut() {
            moments.read_into(&format!("m.{name}"), m)?;
            moments.read_into(&format!("v.{name}"), v)?;
        }
        trainer.opt.t = state.adam_t;
        trainer.step = state.step;
        trainer.run_id = state.run_id;
        trainer.data = state.data;
        trainer.tokenizer = state.tokenizer;
        trainer.train.restore(&state.loader);
        Ok(trainer)
    }
}

fn read_state(dir: &Path) -> Result<State, TrainError> {
    let path = dir.join(STATE_FILE);
    let fail = |message: String| TrainError::State {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(format!(
            "cannot read it ({e}); is this a training checkpoint?"
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
}
