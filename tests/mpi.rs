//! Data-parallel training over MPI, end to end: `mpirun -np 2 gpt2 train` against one process.
//!
//! The tests need a build with `--features mpi` (`cargo test --features mpi --test mpi`) and an
//! `mpirun` on the PATH; without either, each one says that it was skipped and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gpt2::GPT;
use gpt2::layers::Params;

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if !cfg!(feature = "mpi") {
        return Some("gpt2 was built without --features mpi");
    }
    if Command::new("mpirun").arg("--version").output().is_err() {
        return Some("no mpirun on the PATH");
    }
    None
}

macro_rules! needs_mpi {
    ($name:expr) => {
        if let Some(why) = skip_reason() {
            // Straight to stderr, past the test harness's capture, so that the run shows it.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped {}: {why}", $name);
            return;
        }
    };
}

/// Runs `cmd` to its end, or fails the test if it takes longer than `limit` (a hang).
fn run(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} still ran after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// `mpirun` and its options for this machine, before the programs it starts.
fn launcher() -> Command {
    let open_mpi = Command::new("mpirun")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI"))
        .unwrap_or(false);
    let mut cmd = Command::new("mpirun");
    if open_mpi {
        // More ranks than cores is fine for a test; CI runs as root.
        cmd.arg("--oversubscribe")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    cmd
}

/// `mpirun` with `ranks` processes of `gpt2`, on this machine.
fn mpirun(ranks: usize) -> Command {
    let mut cmd = launcher();
    cmd.args(["-np", &ranks.to_string(), env!("CARGO_BIN_EXE_gpt2")]);
    cmd
}

/// A nano model's run: 2 sequences of 32 tokens per micro-batch, on a short text.
fn train_args(data: &Path, out: &Path, steps: usize) -> Vec<String> {
    let args = [
        "train",
        "--preset",
        "nano",
        "--batch",
        "2",
        "--seq",
        "32",
        "--eval-every",
        "0",
        "--check-every",
        "5",
        "--sample-tokens",
        "0",
        "--json",
        "--data",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--steps",
        &steps.to_string(),
    ];
    args.iter().map(|a| a.to_string()).collect()
}

fn text(dir: &Path) -> PathBuf {
    let all = std::fs::read_to_string(gpt2::data::default_text_path()).unwrap();
    let path = dir.join("text.txt");
    std::fs::write(&path, &all[..40_000]).unwrap();
    path
}

/// The training losses of `--json` output, by step.
fn losses(out: &Output) -> Vec<f64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["loss"].as_f64())
        .collect()
}

fn weights(dir: &Path) -> Vec<f32> {
    let mut model = GPT::load(dir).expect("a checkpoint");
    let mut all = Vec::new();
    model.visit("", &mut |_, _, value, _| all.extend_from_slice(value));
    all
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn two_ranks_train_as_one_process_with_twice_the_accumulation() {
    needs_mpi!("two_ranks_train_as_one_process_with_twice_the_accumulation");
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));

    let mut single = Command::new(env!("CARGO_BIN_EXE_gpt2"));
    single
        .args(train_args(&data, &one, 10))
        .args(["--grad-accum", "2"]);
    let single = run(single, LIMIT);
    assert_ok(&single, "one process");

    let mut pair = mpirun(2);
    pair.args(train_args(&data, &two, 10));
    let pair = run(pair, LIMIT);
    assert_ok(&pair, "mpirun -np 2");

    let (a, b) = (losses(&single), losses(&pair));
    assert_eq!(a.len(), 10, "one loss per step");
    assert_eq!(b.len(), 10, "rank 0 alone prints: one loss per step");
    for (step, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * a.abs(),
            "step {step}: {a} with one process, {b} with two ranks"
        );
    }
    let d = max_difference(&weights(&one), &weights(&two));
    assert!(d <= 1e-5, "weights after 10 steps differ by {d}");
}

#[test]
fn a_signal_to_one_rank_stops_every_rank_at_one_checkpoint_that_resumes_on_one_process() {
    needs_mpi!("a_signal_to_one_rank_stops_every_rank_at_one_checkpoint");
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let (whole, cut) = (dir.path().join("whole"), dir.path().join("cut"));

    let mut pair = mpirun(2);
    // Rank 1 alone receives SIGTERM after step 3 (the ranks inherit mpirun's environment).
    pair.env("GPT2_TEST_RAISE", "3:15:1")
        .args(train_args(&data, &cut, 10));
    let stopped = run(pair, LIMIT);
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(!stopped.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM: saved step 4"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("latest")).unwrap().trim(),
        "step-000004"
    );
    assert_eq!(
        std::fs::read_dir(cut.join("checkpoints")).unwrap().count(),
        1
    );

    // The run's step of 2 micro-batches goes on in one process, as --grad-accum 2.
    let mut resume = Command::new(env!("CARGO_BIN_EXE_gpt2"));
    resume.args([
        "train",
        "--resume",
        &cut.display().to_string(),
        "--sample-tokens",
        "0",
    ]);
    assert_ok(&run(resume, LIMIT), "the resume on one process");
    let mut single = Command::new(env!("CARGO_BIN_EXE_gpt2"));
    single
        .args(train_args(&data, &whole, 10))
        .args(["--grad-accum", "2"]);
    assert_ok(&run(single, LIMIT), "one process");
    let d = max_difference(&weights(&whole), &weights(&cut));
    assert!(d <= 1e-5, "the resumed weights differ by {d}");
}

#[test]
fn a_resume_on_ranks_that_cannot_share_the_step_is_refused_with_the_numbers() {
    needs_mpi!("a_resume_on_ranks_that_cannot_share_the_step_is_refused_with_the_numbers");
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let out = dir.path().join("run");
    let mut single = Command::new(env!("CARGO_BIN_EXE_gpt2"));
    single
        .args(train_args(&data, &out, 2))
        .args(["--grad-accum", "3"]);
    assert_ok(&run(single, LIMIT), "one process");
    let saved = std::fs::read(out.join("checkpoints/step-000002/model.safetensors")).unwrap();

    let mut pair = mpirun(2);
    pair.args([
        "train",
        "--resume",
        &out.display().to_string(),
        "--steps",
        "4",
    ]);
    let refused = run(pair, LIMIT);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("error: the run's step is 3 micro-batches of 2 sequences (--grad-accum 3 on each of 1 rank), which 2 ranks cannot share evenly"),
        "{stderr}"
    );
    let after = std::fs::read(out.join("checkpoints/step-000002/model.safetensors")).unwrap();
    assert_eq!(saved, after, "the refused resume changed the checkpoint");
}

#[test]
fn an_error_on_one_rank_ends_every_rank_with_its_message() {
    needs_mpi!("an_error_on_one_rank_ends_every_rank_with_its_message");
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    text(&here);
    // Rank 1 starts in a folder without the text: a relative --data names no file there.
    let args = train_args(Path::new("text.txt"), &dir.path().join("run"), 3);
    // MPMD syntax: `mpirun A : B` starts rank 0 as A and rank 1 as B.
    let mut split = launcher();
    for (i, wdir) in [&here, &there].iter().enumerate() {
        if i > 0 {
            split.arg(":");
        }
        split
            .args(["-np", "1", "-wdir", &wdir.display().to_string()])
            .arg(env!("CARGO_BIN_EXE_gpt2"))
            .args(&args);
    }
    let failed = run(split, LIMIT);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    let line = format!(
        "error: rank 1: cannot read {}",
        there.join("text.txt").display()
    );
    assert!(stderr.contains(&line), "{stderr}");
}
