//! A training run on disk, and the loop that drives it.
//!
//! One run per folder, held by a lock for the life of the process. Checkpoints are whole
//! folders, `checkpoints/step-NNNNNN/`, each with a manifest of its files' hashes; the file
//! `latest` names the current one and is switched with one atomic rename, so config, model,
//! optimizer and trainer state always come from the same step, and the previous checkpoint stays
//! whole until the next one is complete. `log.jsonl` is only ever appended to. A stop signal
//! (Ctrl-C, SIGTERM, SIGHUP) ends the loop at the next step boundary with a checkpoint.
//!
//! ```text
//! runs/shakespeare/
//!   .lock                  the process that holds the run
//!   latest                 "step-001000"
//!   checkpoints/step-001000/{config.json, model.safetensors, optimizer.safetensors,
//!                            trainer.json, manifest.json}
//!   log.jsonl, loss.svg
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

use crate::checkpoint::{CHECKPOINTS_DIR, LATEST_FILE, is_plain_name};
use crate::train::{DataFingerprint, StepStats, TrainError, Trainer};

pub const LOG_FILE: &str = "log.jsonl";
pub const PLOT_FILE: &str = "loss.svg";
const LOCK_FILE: &str = ".lock";
const MANIFEST_FILE: &str = "manifest.json";
/// The files of a checkpoint, each hashed in its manifest.
const PARTS: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "optimizer.safetensors",
    "trainer.json",
];

#[derive(Debug, Error)]
pub enum RunError {
    #[error("{dir} is in use by process {pid}: one run per folder at a time")]
    InUse { dir: String, pid: String },
    #[error(
        "{dir} already holds a run: continue it with --resume {dir}, or start again with --overwrite (the old run is removed once the new one has saved its first checkpoint)"
    )]
    Exists { dir: String },
    #[error(
        "{dir} holds no checkpoint to continue from (no `latest` file and no trainer.json): start a run there with --out {dir}{hint}"
    )]
    NoCheckpoint { dir: String, hint: &'static str },
    #[error(
        "{dir} does not exist: --resume takes the folder of a run (start one with --out {dir})"
    )]
    Missing { dir: String },
    #[error(
        "{dir} holds a run that saved no checkpoint, or a model: replace it with --overwrite, or choose another --out"
    )]
    Unsaved { dir: String },
    #[error("{dir} is one checkpoint of the run in {run}: continue that run with --resume {run}")]
    IsCheckpoint { dir: String, run: String },
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("{path} is a file, not a folder: a run needs a folder of its own")]
    NotAFolder { path: String },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
    #[error("training diverged at step {step} (loss {loss}): try a lower --lr")]
    Diverged { step: usize, loss: f32 },
    #[error("cannot draw {path}: {message}")]
    Plot { path: String, message: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.display().to_string();
    move |source| RunError::Io { what, path, source }
}

/// A run folder, locked by this process until it is dropped.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    /// None on the ranks other than 0 of a data-parallel run, which never write to the folder.
    _lock: Option<File>,
}

impl RunDir {
    /// Creates `path` if needed and takes its lock; another live process holding it is an error
    /// that changes nothing.
    pub fn lock(path: &Path) -> Result<RunDir, RunError> {
        if path.exists() && !path.is_dir() {
            return Err(RunError::NotAFolder {
                path: path.display().to_string(),
            });
        }
        fs::create_dir_all(path).map_err(io("create", path))?;
        let lock_path = path.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(RunError::InUse {
                    dir: path.display().to_string(),
                    pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        file.set_len(0).map_err(io("write", &lock_path))?;
        writeln!(file, "{}", std::process::id()).map_err(io("write", &lock_path))?;
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: Some(file),
        })
    }

    /// The folder as the other ranks of a data-parallel run see it: read, never written, and
    /// not locked (rank 0 holds the lock).
    pub fn follow(path: &Path) -> RunDir {
        RunDir {
            path: path.to_path_buf(),
            _lock: None,
        }
    }

    /// Is this the rank that writes the folder?
    pub fn writes(&self) -> bool {
        self._lock.is_some()
    }

    /// Does the folder hold a run (of this layout or the older one of files side by side)?
    pub fn holds_run(path: &Path) -> bool {
        [
            LATEST_FILE,
            CHECKPOINTS_DIR,
            LOG_FILE,
            "trainer.json",
            "config.json",
        ]
        .iter()
        .any(|f| path.join(f).exists())
    }

    /// Does the folder hold a checkpoint to continue from?
    fn holds_checkpoint(path: &Path) -> bool {
        [LATEST_FILE, "trainer.json"]
            .iter()
            .any(|f| path.join(f).exists())
    }

    fn checkpoints(&self) -> PathBuf {
        self.path.join(CHECKPOINTS_DIR)
    }

    /// Points `latest` at checkpoint folder `name`, atomically.
    fn point_to(&self, name: &str) -> Result<(), RunError> {
        let latest = self.path.join(LATEST_FILE);
        crate::fsutil::write_atomic(&latest, format!("{name}\n").as_bytes())
            .map_err(io("write", &latest))
    }

    /// The current checkpoint's folder, checked against its manifest.
    pub fn current(&self) -> Result<PathBuf, RunError> {
        current_checkpoint(&self.path)
    }

    /// Saves `trainer` as the run's new current checkpoint, then keeps the newest `keep` of this
    /// run's checkpoints and removes everything else in `checkpoints/` (an overwritten run's,
    /// and temporary folders of saves that were cut short). Returns the checkpoint's folder.
    pub fn save(&self, trainer: &mut Trainer, keep: usize) -> Result<PathBuf, RunError> {
        let all = self.checkpoints();
        fs::create_dir_all(&all).map_err(io("create", &all))?;
        let name = format!("step-{:06}", trainer.step);
        let tmp_name = format!(".tmp-{name}-{}", std::process::id());
        let tmp = all.join(&tmp_name);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io("remove", &tmp))?;
        }
        let written = (|| {
            trainer.save(&tmp)?;
            let manifest = Manifest::of(&tmp, &trainer.run_id, trainer.step)?;
            let manifest_path = tmp.join(MANIFEST_FILE);
            let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises") + "\n";
            crate::fsutil::write_atomic(&manifest_path, text.as_bytes())
                .map_err(io("write", &manifest_path))
        })();
        if let Err(e) = written {
            // A save that failed (a full disk) leaves no half checkpoint behind it.
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // The new checkpoint is whole: make it current, then tidy, then give it its name.
        self.point_to(&tmp_name)?;
        self.prune(&trainer.run_id, trainer.step, keep, &tmp_name)?;
        let done = all.join(&name);
        fs::rename(&tmp, &done).map_err(io("rename", &tmp))?;
        self.point_to(&name)?;
        Ok(done)
    }

    /// Removes every entry of `checkpoints/` but `current` and the newest `keep - 1` earlier
    /// checkpoints of run `run_id`.
    fn prune(&self, run_id: &str, step: usize, keep: usize, current: &str) -> Result<(), RunError> {
        let all = self.checkpoints();
        let mut ours = Vec::new();
        let mut others = Vec::new();
        for entry in fs::read_dir(&all).map_err(io("read", &all))? {
            let entry = entry.map_err(io("read", &all))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == current {
                continue;
            }
            match Manifest::read(&entry.path()) {
                Ok(m) if m.run_id == run_id && m.step < step && !name.starts_with('.') => {
                    ours.push((m.step, entry.path()))
                }
                _ => others.push(entry.path()),
            }
        }
        ours.sort();
        let old = ours.len().saturating_sub(keep.saturating_sub(1));
        for path in others
            .into_iter()
            .chain(ours.into_iter().take(old).map(|o| o.1))
        {
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(io("remove", &path))?;
        }
        Ok(())
    }
}

/// A checkpoint of this layout (it has a manifest) is not a run folder: a run resumed there
/// would write its checkpoints inside another run's.
fn is_checkpoint(dir: &Path) -> Option<RunError> {
    if dir.join(LATEST_FILE).exists() || !dir.join(MANIFEST_FILE).exists() {
        return None;
    }
    let run = dir.parent().and_then(Path::parent).unwrap_or(dir);
    Some(RunError::IsCheckpoint {
        dir: dir.display().to_string(),
        run: run.display().to_string(),
    })
}

fn no_checkpoint(dir: &Path) -> RunError {
    if !dir.exists() {
        return RunError::Missing {
            dir: dir.display().to_string(),
        };
    }
    if !dir.is_dir() {
        return RunError::NotAFolder {
            path: dir.display().to_string(),
        };
    }
    RunError::NoCheckpoint {
        dir: dir.display().to_string(),
        hint: if RunDir::holds_run(dir) {
            " --overwrite"
        } else {
            ""
        },
    }
}

/// The checkpoint folder that `dir`'s `latest` names, checked against its manifest: every part
/// present, none changed since it was saved. A folder of the older layout (files side by side,
/// no manifest) is returned as it is.
pub fn current_checkpoint(dir: &Path) -> Result<PathBuf, RunError> {
    let latest = dir.join(LATEST_FILE);
    let name = match fs::read_to_string(&latest) {
        Ok(name) => name.trim().to_string(),
        Err(_) if let Some(e) = is_checkpoint(dir) => return Err(e),
        Err(_) if dir.join("trainer.json").exists() => return Ok(dir.to_path_buf()),
        Err(_) => return Err(no_checkpoint(dir)),
    };
    if !is_plain_name(&name) {
        return Err(RunError::Corrupt {
            path: latest.display().to_string(),
            message: format!("names {name:?}, not a checkpoint folder"),
        });
    }
    let folder = dir.join(CHECKPOINTS_DIR).join(&name);
    let manifest = Manifest::read(&folder)?;
    manifest.check(&folder)?;
    Ok(folder)
}

/// What a checkpoint folder holds: its run, its step, and a hash of each part.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    run_id: String,
    step: usize,
    files: BTreeMap<String, String>,
}

impl Manifest {
    fn of(folder: &Path, run_id: &str, step: usize) -> Result<Manifest, RunError> {
        let mut files = BTreeMap::new();
        for part in PARTS {
            files.insert(part.to_string(), hash_file(&folder.join(part))?);
        }
        Ok(Manifest {
            run_id: run_id.to_string(),
            step,
            files,
        })
    }

    fn read(folder: &Path) -> Result<Manifest, RunError> {
        let path = folder.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        serde_json::from_str(&text).map_err(|e| RunError::Corrupt {
            path: path.display().to_string(),
            message: format!("not a checkpoint manifest ({e})"),
        })
    }

    /// Every part is there and has the hash it was saved with.
    fn check(&self, folder: &Path) -> Result<(), RunError> {
        for part in PARTS {
            let path = folder.join(part);
            let Some(expected) = self.files.get(part) else {
                return Err(RunError::Corrupt {
                    path: folder.join(MANIFEST_FILE).display().to_string(),
                    message: format!("lists no {part}"),
                });
            };
            if hash_file(&path)? != *expected {
                return Err(RunError::Corrupt {
                    path: path.display().to_string(),
                    message: format!(
                        "has changed since step {} saved it (its hash is not the manifest's): this checkpoint cannot be trusted",
                        self.step
                    ),
                });
            }
        }
        Ok(())
    }
}

/// FNV-64 of a file's bytes, in hex.
fn hash_file(path: &Path) -> Result<String, RunError> {
    let file = File::open(path).map_err(io("read", path))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut h = crate::hash::Fnv64::new();
    loop {
        let buf = reader.fill_buf().map_err(io("read", path))?;
        if buf.is_empty() {
            break;
        }
        h.write(buf);
        let n = buf.len();
        reader.consume(n);
    }
    Ok(format!("{:016x}", h.finish()))
}

/// The run's JSON-lines log, and the curves read back from it.
pub struct Log {
    path: PathBuf,
    file: Option<File>,
    /// With --overwrite, the new run's lines wait here until its first checkpoint replaces the
    /// old run.
    pending: Option<Vec<String>>,
    pub train: Vec<(usize, f32)>,
    pub val: Vec<(usize, f32)>,
}

impl Log {
    /// Opens the log of `dir` to append. With `fresh`, lines are held back (the old log stays
    /// as it is) until `commit`. On a resume from step `step`, the lines of later steps (written
    /// after the checkpoint, then lost with the process) no longer count for the curves.
    fn open(dir: &Path, step: usize, fresh: bool) -> Result<Log, RunError> {
        let path = dir.join(LOG_FILE);
        let (mut train, mut val) = (Vec::new(), Vec::new());
        if !fresh && let Ok(f) = File::open(&path) {
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(io("read", &path))?;
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(from) = v["resumed_at"].as_u64() {
                    train.retain(|p: &(usize, f32)| p.0 < from as usize);
                    val.retain(|p: &(usize, f32)| p.0 < from as usize);
                }
                let Some(s) = v["step"].as_u64().map(|s| s as usize) else {
                    continue;
                };
                if let Some(l) = v["loss"].as_f64() {
                    train.push((s, l as f32));
                }
                if let Some(l) = v["val_loss"].as_f64() {
                    val.push((s, l as f32));
                }
            }
            train.retain(|p| p.0 < step);
            val.retain(|p| p.0 < step);
        }
        let mut log = Log {
            path,
            file: None,
            pending: fresh.then(Vec::new),
            train,
            val,
        };
        if !fresh {
            log.open_file()?;
        }
        Ok(log)
    }

    /// A log that writes nothing (the other ranks' of a data-parallel run).
    fn none(dir: &Path) -> Log {
        Log {
            path: dir.join(LOG_FILE),
            file: None,
            pending: None,
            train: Vec::new(),
            val: Vec::new(),
        }
    }

    fn open_file(&mut self) -> Result<(), RunError> {
        drop_partial_line(&self.path).map_err(io("mend", &self.path))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("open", &self.path))?;
        self.file = Some(file);
        Ok(())
    }

    fn write(&mut self, line: &Value) -> Result<(), RunError> {
        let text = line.to_string();
        if let Some(pending) = &mut self.pending {
            pending.push(text);
            return Ok(());
        }
        match self.file.as_mut() {
            Some(file) => writeln!(file, "{text}").map_err(io("write", &self.path)),
            None => Ok(()),
        }
    }

    /// Replaces the old run's log by the new run's lines held so far.
    fn commit(&mut self) -> Result<(), RunError> {
        if let Some(pending) = self.pending.take() {
            let text: String = pending.iter().map(|l| format!("{l}\n")).collect();
            crate::fsutil::write_atomic(&self.path, text.as_bytes())
                .map_err(io("write", &self.path))?;
            self.open_file()?;
        }
        Ok(())
    }
}

/// Cuts off a last line that has no end (a process killed while writing it), so that the next
/// line starts on its own: every line of a log is then whole JSON.
fn drop_partial_line(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut buf = vec![0u8; 4096];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let whole = start + i as u64 + 1;
            if whole < len {
                f.set_len(whole)?;
            }
            return Ok(());
        }
        end = start;
    }
    f.set_len(0)
}

/// What the loop tells whoever runs it (the `gpt2` command draws a progress bar).
pub trait Observer {
    /// Every line that goes into log.jsonl, as it goes.
    fn line(&mut self, _line: &Value) {}
    /// A step is done.
    fn step(&mut self, _stats: &StepStats, _tokens_per_s: f64) {}
    /// A validation is done.
    fn validated(&mut self, _step: usize, _train_loss: f32, _val_loss: f32) {}
    /// A checkpoint is saved.
    fn saved(&mut self, _step: usize, _folder: &Path) {}
}

/// Nothing to tell.
pub struct Quiet;
impl Observer for Quiet {}

/// How a run's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All steps done, and saved.
    Finished,
    /// A signal (its number) stopped it; the current step is saved.
    Stopped(i32),
}

/// The signal numbers a run stops on: SIGINT (Ctrl-C), SIGTERM (kill, systemd, Docker, Slurm)
/// and SIGHUP (a closed terminal).
#[cfg(unix)]
pub const STOP_SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];
#[cfg(not(unix))]
pub const STOP_SIGNALS: [i32; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

/// `path` from the root, so that a run can be resumed from any working directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The name of a signal number, for messages.
pub fn signal_name(signal: i32) -> String {
    match signal {
        s if s == signal_hook::consts::SIGINT => "SIGINT (Ctrl-C)".into(),
        s if s == signal_hook::consts::SIGTERM => "SIGTERM".into(),
        #[cfg(unix)]
        s if s == signal_hook::consts::SIGHUP => "SIGHUP".into(),
        s => format!("signal {s}"),
    }
}

/// A flag that the stop signals set to their number. Once registered, a first signal no longer
/// ends the process: the loop sees the flag at the end of the step, saves, and returns. A second
/// one ends it at once, with status 128 + its number, as an unhandled signal would: a step can
/// be long, and what is on disk is then the last checkpoint saved, whole.
pub fn stop_flag() -> Result<Arc<AtomicUsize>, RunError> {
    let flag = Arc::new(AtomicUsize::new(0));
    let signalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fail = |e| io("handle signals for", Path::new("this process"))(e);
    for signal in STOP_SIGNALS {
        // Registered in this order, the handlers run in it: the exit sees only earlier signals.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, signalled.clone())
            .map_err(fail)?;
        signal_hook::flag::register(signal, signalled.clone()).map_err(fail)?;
        signal_hook::flag::register_usize(signal, flag.clone(), signal as usize).map_err(fail)?;
    }
    Ok(flag)
}

/// A training run: its locked folder, its trainer, its log.
pub struct Run {
    pub dir: RunDir,
    pub trainer: Trainer,
    pub log: Log,
    /// Lines for the log once training starts (a resume refused before that writes none).
    opening: Vec<Value>,
    /// Set to a signal's number to stop at the next step.
    pub stop: Arc<AtomicUsize>,
    /// With several ranks, compare their weights every this many steps (0 = only at the start).
    pub check_every: usize,
}

impl Run {
    fn new(dir: RunDir, trainer: Trainer, log: Log) -> Run {
        let stop = Arc::new(AtomicUsize::new(0));
        Run {
            dir,
            trainer,
            log,
            opening: Vec::new(),
            stop,
            check_every: 100,
        }
    }

    /// A new run in `out`. A folder that already holds a run is refused unless `overwrite`; then
    /// the old run stays whole until this one's first checkpoint replaces it.
    pub fn create(out: &Path, trainer: Trainer, overwrite: bool) -> Result<Run, RunError> {
        let existed = out.exists();
        let dir = RunDir::lock(out)?;
        let replacing = existed && RunDir::holds_run(out);
        if replacing && !overwrite {
            let dir = out.display().to_string();
            return Err(if RunDir::holds_checkpoint(out) {
                RunError::Exists { dir }
            } else {
                RunError::Unsaved { dir }
            });
        }
        let log = Log::open(out, 0, true)?;
        let mut run = Run::new(dir, trainer, log);
        if !replacing {
            run.log.commit()?;
        }
        Ok(run)
    }

    /// Continues the run in `out` from its current checkpoint, on the text it trained on, or
    /// deliberately on `data` (then the loader starts again from its beginning, and the log
    /// says so). Text that changed since the run saved is an error that names both versions.
    pub fn resume(out: &Path, data: Option<&Path>) -> Result<Run, RunError> {
        if !out.is_dir() {
            return Err(no_checkpoint(out));
        }
        // Before the lock, which would leave a file in it.
        if let Some(e) = is_checkpoint(out) {
            return Err(e);
        }
        // A folder of no run at all is refused before the lock would leave a file in it; one
        // with a lock may be in use, which the lock tells.
        if !out.join(LOCK_FILE).exists() && !RunDir::holds_checkpoint(out) {
            return Err(no_checkpoint(out));
        }
        let dir = RunDir::lock(out)?;
        let (trainer, restart) = Run::load(&dir, data)?;
        let log = Log::open(out, trainer.step, false)?;
        let mut run = Run::new(dir, trainer, log);
        let step = run.trainer.step;
        run.opening.push(json!({"resumed_at": step}));
        run.opening.extend(restart);
        Ok(run)
    }

    /// A rank other than 0 of a data-parallel run: it trains `trainer` (built as rank 0 built
    /// its own) and never writes to `out`.
    pub fn follow(out: &Path, trainer: Trainer) -> Run {
        Run::new(RunDir::follow(out), trainer, Log::none(out))
    }

    /// A rank other than 0 continuing the run in `out`, once rank 0 holds it: the same trainer
    /// as rank 0's [`Run::resume`], read and never written.
    pub fn follow_resume(out: &Path, data: Option<&Path>) -> Result<Run, RunError> {
        let dir = RunDir::follow(out);
        let (trainer, _) = Run::load(&dir, data)?;
        Ok(Run::new(dir, trainer, Log::none(out)))
    }

    /// The trainer of the current checkpoint in `dir`, and the log line that says the loader
    /// started again if it trains on other text from now on.
    fn load(dir: &RunDir, data: Option<&Path>) -> Result<(Trainer, Option<Value>), RunError> {
        let out = &dir.path;
        let folder = dir.current()?;
        let record = Trainer::saved(&folder)?;
        let (mut config, saved) = (record.config, record.data);
        let given = data.map(absolute);
        if let Some(path) = &given {
            config.data = path.display().to_string();
        }
        let tok = crate::Tokenizer::from_spec(&config.tokenizer).map_err(TrainError::from)?;
        // Checked before the data: a changed tokenizer changes the ids of unchanged text.
        let tokenizer = crate::train::tokenizer_fingerprint(&tok);
        if let Some(then) = record.tokenizer
            && then != tokenizer
        {
            return Err(RunError::Corrupt {
                path: config.tokenizer.clone(),
                message: format!(
                    "this tokenizer has changed since {} saved (fingerprint then {then}, now {tokenizer}): the run's token ids would stand for other text; put back the file it trained with",
                    out.display()
                ),
            });
        }
        let ids =
            crate::data::load_tokens(Path::new(&config.data), &tok).map_err(TrainError::from)?;
        let now = DataFingerprint::of(&ids);
        let changed = saved.as_ref().is_some_and(|s| *s != now);
        if changed && given.is_none() {
            let s = saved.expect("changed implies saved");
            return Err(RunError::Corrupt {
                path: config.data.clone(),
                message: format!(
                    "has changed since {} saved (then {} tokens, hash {}; now {} tokens, hash {}): pass --data {} to continue on the new text deliberately",
                    out.display(),
                    s.tokens,
                    s.hash,
                    now.tokens,
                    now.hash,
                    config.data
                ),
            });
        }
        let (train, val) = crate::data::split(&ids, config.val_fraction);
        // Other text, given on purpose: the loader starts again.
        let restart = given.is_some() && saved.as_ref() != Some(&now);
        let mut trainer = Trainer::resume(&folder, train.to_vec(), val.to_vec())?;
        let mut line = None;
        if restart {
            trainer.restart_loader();
            let step = trainer.step;
            line = Some(
                json!({"step": step, "data": config.data, "tokens": now.tokens, "loader": "restarted"}),
            );
        }
        trainer.config.data = config.data.clone();
        trainer.data = Some(now);
        trainer.tokenizer = Some(tokenizer);
        Ok((trainer, line))
    }

    /// Saves a checkpoint now, and the loss curve beside it.
    pub fn save(&mut self) -> Result<PathBuf, RunError> {
        if !self.dir.writes() {
            return Ok(self.dir.path.clone());
        }
        let keep = self.trainer.config.keep;
        let folder = self.dir.save(&mut self.trainer, keep)?;
        self.log.commit()?;
        // A model or an older run kept at the top of a folder given to --overwrite goes once this
        // run has saved, as the old run's checkpoints do: loaders would read it before `latest`.
        for part in PARTS.iter().chain([&MANIFEST_FILE]) {
            let path = self.dir.path.join(part);
            if path.is_file() {
                fs::remove_file(&path).map_err(io("remove", &path))?;
            }
        }
        let plot = self.dir.path.join(PLOT_FILE);
        crate::plot::loss_curve(&self.log.train, &self.log.val, &plot).map_err(|e| {
            // plotters wraps the system's words in two prefixes of its own: keep the words.
            let text = e.to_string();
            RunError::Plot {
                path: plot.display().to_string(),
                message: text.rsplit(": ").next().unwrap_or(&text).to_string(),
            }
        })?;
        Ok(folder)
    }

    fn write(&mut self, line: Value, observer: &mut dyn Observer) -> Result<(), RunError> {
        observer.line(&line);
        self.log.write(&line)
    }

    // ANCHOR: loop
    /// Steps until the configured number of steps, validating and saving as configured, or
    /// until a stop signal (then saving first).
    pub fn train(&mut self, observer: &mut dyn Observer) -> Result<Outcome, RunError> {
        let start = Instant::now();
        let c = self.trainer.config.clone();
        let world = self.trainer.world.clone();
        // Several ranks must start from one model, and stay one.
        world.check_same_weights(&mut self.trainer.model, self.trainer.step)?;
        for line in std::mem::take(&mut self.opening) {
            self.log.write(&line)?;
        }
        while self.trainer.step < c.steps {
            // A signal that reaches any rank stops them all, at the same step.
            let signal = world.max(self.stop.load(Ordering::SeqCst) as u64);
            if signal != 0 {
                let folder = self.save()?;
                observer.saved(self.trainer.step, &folder);
                return Ok(Outcome::Stopped(signal as i32));
            }
            let tick = Instant::now();
            let s = self.trainer.step()?;
            if !s.loss.is_finite() {
                return Err(RunError::Diverged {
                    step: s.step,
                    loss: s.loss,
                });
            }
            let tokens_per_s = s.tokens as f64 / tick.elapsed().as_secs_f64();
            let elapsed_s = start.elapsed().as_secs_f64();
            let mut line = json!({"step": s.step, "loss": s.loss, "lr": s.lr, "grad_norm": s.grad_norm, "tokens_per_s": tokens_per_s, "elapsed_s": elapsed_s});
            if c.ranks > 1 {
                line["all_reduce_s"] = json!(s.all_reduce_s);
            }
            self.write(line, observer)?;
            self.log.train.push((s.step, s.loss));
            observer.step(&s, tokens_per_s);
            let step = self.trainer.step;
            let done = step == c.steps;
            if self.check_every > 0 && step.is_multiple_of(self.check_every) {
                world.check_same_weights(&mut self.trainer.model, step)?;
            }
            if ((c.eval_every > 0 && step.is_multiple_of(c.eval_every)) || done)
                && let Some(val) = self.trainer.val_loss()?
            {
                let elapsed_s = start.elapsed().as_secs_f64();
                let line = json!({"step": s.step, "val_loss": val, "elapsed_s": elapsed_s});
                self.write(line, observer)?;
                self.log.val.push((s.step, val));
                observer.validated(s.step, s.loss, val);
            }
            if (c.checkpoint_every > 0 && step.is_multiple_of(c.checkpoint_every)) || done {
                let folder = self.save()?;
                observer.saved(step, &folder);
            }
        }
        Ok(Outcome::Finished)
    }
    // ANCHOR_END: loop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GPTConfig;
    use crate::layers::Params;
    use crate::train::TrainConfig;

    /// A nano model's run on a small text written into `dir`.
    fn trainer(dir: &Path, steps: usize) -> Trainer {
        let all = std::fs::read_to_string(crate::data::default_text_path()).unwrap();
        let data = dir.join("text.txt");
        std::fs::write(&data, &all[..20_000]).unwrap();
        let config = TrainConfig {
            batch: 2,
            seq: 16,
            steps,
            eval_every: 2,
            data: data.display().to_string(),
            ..TrainConfig::default()
        };
        let tok = crate::Tokenizer::gpt2().unwrap();
        let ids = crate::data::load_tokens(&data, &tok).unwrap();
        let (train, val) = crate::data::split(&ids, config.val_fraction);
        let model = crate::GPT::new(GPTConfig::preset("nano").unwrap(), 1);
        let mut t = Trainer::new(model, train.to_vec(), val.to_vec(), config).unwrap();
        t.data = Some(DataFingerprint::of(&ids));
        t
    }

    fn weights(model: &mut crate::GPT) -> Vec<f32> {
        let mut all = Vec::new();
        model.visit("", &mut |_, _, value, _| all.extend_from_slice(value));
        all
    }

    /// Sets the stop flag after a given step, as a signal would.
    struct StopAfter(usize, Arc<AtomicUsize>);
    impl Observer for StopAfter {
        fn step(&mut self, s: &StepStats, _: f64) {
            if s.step == self.0 {
                self.1.store(15, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_stopped_run_saves_and_resumes_to_the_uninterrupted_weights() {
        let dir = tempfile::tempdir().unwrap();
        let mut whole =
            Run::create(&dir.path().join("whole"), trainer(dir.path(), 5), false).unwrap();
        assert_eq!(whole.train(&mut Quiet).unwrap(), Outcome::Finished);

        let out = dir.path().join("cut");
        let mut cut = Run::create(&out, trainer(dir.path(), 5), false).unwrap();
        let mut stop = StopAfter(1, cut.stop.clone());
        assert_eq!(cut.train(&mut stop).unwrap(), Outcome::Stopped(15));
        assert_eq!(cut.trainer.step, 2);
        drop(cut); // releases the folder's lock
        let mut resumed = Run::resume(&out, None).unwrap();
        assert_eq!(resumed.trainer.step, 2);
        assert_eq!(resumed.train(&mut Quiet).unwrap(), Outcome::Finished);
        assert_eq!(
            weights(&mut resumed.trainer.model),
            weights(&mut whole.trainer.model)
        );
    }

    #[test]
    fn a_locked_folder_is_refused_while_its_run_lives() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let first = Run::create(&out, trainer(dir.path(), 1), false).unwrap();
        let Err(err) = Run::create(&out, trainer(dir.path(), 1), true) else {
            panic!("a second run took a locked folder");
        };
        let pid = std::process::id().to_string();
        assert!(
            matches!(&err, RunError::InUse { pid: p, .. } if *p == pid),
            "{err}"
        );
        drop(first);
        Run::create(&out, trainer(dir.path(), 1), true).unwrap();
    }
}
