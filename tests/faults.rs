//! What a training run survives: signals, a second trainer on its folder, a new run into it,
//! changed data, damaged checkpoint files, random input. Each ends in a whole checkpoint or a
//! one-line error, never a panic or a mixed run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gpt2::checkpoint::read_safetensors;
use gpt2::rng::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_gpt2");

fn gpt2_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the gpt2 binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One line on stderr starting with `error:`, a non-zero exit, no panic.
fn assert_clean_error(o: &Output, mentions: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a failure");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error:"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(mentions), "expected `{mentions}` in: {err}");
}

/// A small text of its own for each test, so that tests can change it.
fn text(dir: &Path, chars: usize) -> PathBuf {
    let all = std::fs::read_to_string(gpt2::data::default_text_path()).unwrap();
    let path = dir.join("text.txt");
    std::fs::write(&path, &all[..chars]).unwrap();
    path
}

/// A tiny run's flags: nano model, small batches, on `data`, into `out`.
fn tiny_run<'a>(data: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--preset",
        "nano",
        "--batch",
        "2",
        "--seq",
        "16",
        "--steps",
        steps,
        "--eval-every",
        "2",
        "--sample-tokens",
        "0",
        "--data",
        data,
        "--out",
        out,
    ]
}

/// The tensors of a run's current checkpoint: the model's and the optimizer's.
fn weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    let folder = gpt2::checkpoint::resolve(run);
    let mut all = Vec::new();
    for file in ["model.safetensors", "optimizer.safetensors"] {
        for (name, t) in read_safetensors(&folder.join(file)).unwrap() {
            all.push((format!("{file}:{name}"), t.iter().copied().collect()));
        }
    }
    all
}

fn current(run: &Path) -> String {
    std::fs::read_to_string(run.join("latest")).unwrap()
}

#[cfg(unix)]
#[test]
fn a_signal_saves_the_step_and_a_resume_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let whole = gpt2_in(d, &tiny_run(data, "whole", "6"), &[]);
    assert!(whole.status.success(), "{}", stderr(&whole));

    // SIGINT (2), SIGTERM (15), SIGHUP (1), each raised after step 2 (the third).
    for (signal, code, name) in [
        ("2", 130, "SIGINT"),
        ("15", 143, "SIGTERM"),
        ("1", 129, "SIGHUP"),
    ] {
        let out = format!("cut{signal}");
        let raise = format!("2:{signal}");
        let o = gpt2_in(
            d,
            &tiny_run(data, &out, "6"),
            &[("GPT2_TEST_RAISE", &raise)],
        );
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("stopped by {name}")) && err.contains("saved step 3"),
            "{err}"
        );
        assert_eq!(current(&d.join(&out)).trim(), "step-000003");
        let o = gpt2_in(d, &["train", "--resume", &out, "--sample-tokens", "0"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(weights(&d.join(&out)), weights(&d.join("whole")), "{name}");
        // The log went on from step 3: every step once after the resume marker.
        let log = std::fs::read_to_string(d.join(&out).join("log.jsonl")).unwrap();
        assert!(log.contains("{\"resumed_at\":3}"), "{log}");
    }
}

/// A step can be long (many micro-batches): a first signal says at once that the run will save
/// when the step ends; a second ends the process then and there, and the checkpoint on disk is
/// the last one saved, whole, with the log ending at its step.
#[cfg(unix)]
#[test]
fn a_second_signal_stops_a_long_step_at_once_keeping_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let mut args = tiny_run(data, "run", "1000");
    args.extend(["--json", "--grad-accum", "600", "--checkpoint-every", "1"]);
    let mut run = Command::new(BIN)
        .args(&args)
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(run.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(run.stderr.take().unwrap()).lines();
    // Step 0's line, then its checkpoint: the run is inside step 1, which takes seconds.
    let first = out.next().unwrap().unwrap();
    assert!(first.contains("\"step\":0"), "{first}");
    let saved = d.join("run").join("checkpoints").join("step-000001");
    while !(saved.exists() && current(&d.join("run")).trim() == "step-000001") {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = run.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let notice = err
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("SIGINT"))
        .expect("a notice on the first signal");
    assert!(
        notice.contains("saving at the end of this step") && notice.contains("send it again"),
        "{notice}"
    );
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(
        out.map(|l| l.unwrap()).all(|l| !l.contains("\"step\":1")),
        "step 1 ended"
    );
    assert_eq!(current(&d.join("run")).trim(), "step-000001");
    let o = gpt2_in(d, &["info", "--model", "run/checkpoints/step-000001"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn a_second_trainer_on_a_folder_in_use_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let mut args = tiny_run(data, "run", "100000");
    args.extend(["--json", "--checkpoint-every", "0"]);
    let mut first = Command::new(BIN)
        .args(&args)
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its first step's line: it holds the folder.
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    // Keep reading, so that its output never meets a closed pipe.
    let reader = std::thread::spawn(move || lines.count());
    let pid = first.id().to_string();
    let before: Vec<String> = listing(&d.join("run"));
    for second in [
        tiny_run(data, "run", "3"),
        vec!["train", "--resume", "run"],
        {
            let mut a = tiny_run(data, "run", "3");
            a.push("--overwrite");
            a
        },
    ] {
        let o = gpt2_in(d, &second, &[]);
        assert_clean_error(&o, &format!("run is in use by process {pid}"));
    }
    assert_eq!(
        listing(&d.join("run")),
        before,
        "the second trainers touched the folder"
    );
    // The first stops on SIGTERM with a whole checkpoint, which resumes.
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = first.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(143));
    let at: usize = current(&d.join("run"))
        .trim()
        .trim_start_matches("step-")
        .parse()
        .unwrap();
    let more = (at + 1).to_string();
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", &more], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The names in a folder and under it (no `.lock` contents, no sizes).
fn listing(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        names.push(path.display().to_string());
        if path.is_dir() {
            names.extend(listing(&path));
        }
    }
    names.sort();
    names
}

#[test]
fn a_new_run_into_a_run_folder_is_refused_and_overwrite_replaces_it_only_when_saved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    assert!(
        gpt2_in(d, &tiny_run(data, "run", "2"), &[])
            .status
            .success()
    );
    let (before, log) = (weights(&d.join("run")), read(&d.join("run/log.jsonl")));

    let o = gpt2_in(d, &tiny_run(data, "run", "2"), &[]);
    assert_clean_error(&o, "run already holds a run");
    assert!(stderr(&o).contains("--resume run") && stderr(&o).contains("--overwrite"));
    assert_eq!(weights(&d.join("run")), before);
    assert_eq!(read(&d.join("run/log.jsonl")), log);

    // A replacement that fails before its first checkpoint leaves the old run as it was.
    let mut diverging = tiny_run(data, "run", "2");
    diverging.extend([
        "--overwrite",
        "--lr",
        "1e30",
        "--grad-clip",
        "0",
        "--seed",
        "5",
    ]);
    let o = gpt2_in(d, &diverging, &[]);
    assert!(!o.status.success());
    assert_eq!(weights(&d.join("run")), before);
    assert_eq!(read(&d.join("run/log.jsonl")), log);

    // One that saves replaces it: other weights, and a log of its own steps only.
    let mut again = tiny_run(data, "run", "2");
    again.extend(["--overwrite", "--seed", "9"]);
    let o = gpt2_in(d, &again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(weights(&d.join("run")), before);
    let log = read(&d.join("run/log.jsonl"));
    assert_eq!(
        log.lines().filter(|l| l.contains("\"loss\"")).count(),
        2,
        "{log}"
    );
    let kept = std::fs::read_dir(d.join("run/checkpoints"))
        .unwrap()
        .count();
    assert_eq!(kept, 1, "the old run's checkpoint is gone");

    // A folder holding a model (Hugging Face's layout) is replaced whole too: the new run's
    // checkpoint is what loads from it, not the model left at its top.
    let model = d.join("model");
    std::fs::create_dir(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(Path::new(TINY).join(f), model.join(f)).unwrap();
    }
    assert_clean_error(
        &gpt2_in(d, &tiny_run(data, "model", "2"), &[]),
        "--overwrite",
    );
    let mut over = tiny_run(data, "model", "2");
    over.push("--overwrite");
    let o = gpt2_in(d, &over, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["config.json", "model.safetensors"] {
        assert!(!model.join(f).exists(), "{f} of the old model is left");
    }
    let o = gpt2_in(d, &["info", "--model", "model"], &[]);
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(shown.contains("n_embd 64"), "{shown}");
}

/// A process killed while writing a line of the log leaves it without its end: the resumed run
/// drops that piece, and every line of the log is whole JSON again.
#[test]
fn a_log_line_cut_off_is_dropped_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let o = gpt2_in(d, &tiny_run(data, "run", "2"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = d.join("run/log.jsonl");
    let whole = read(&path);
    let cut = whole.len() - 10;
    std::fs::write(&path, &whole[..cut]).unwrap();
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "3"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = read(&path);
    assert!(log.ends_with('\n'), "{log}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    assert!(log.contains("\"step\":2"), "{log}");
}

/// The loss curve cannot be drawn (a folder in its place): the checkpoint is saved first, and
/// the error says what the system said, once.
#[test]
fn a_loss_curve_that_cannot_be_drawn_stops_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    std::fs::create_dir_all(d.join("run/loss.svg")).unwrap();
    let o = gpt2_in(d, &tiny_run(data.to_str().unwrap(), "run", "2"), &[]);
    let err = stderr(&o);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("error: cannot draw run/loss.svg: Is a directory"),
        "{err}"
    );
    assert!(!err.contains("backend"), "{err}");
    assert_eq!(current(&d.join("run")).trim(), "step-000002");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn checkpoints_keep_the_newest_n() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let mut args = tiny_run(data.to_str().unwrap(), "run", "5");
    args.extend(["--checkpoint-every", "1", "--keep", "2"]);
    assert!(gpt2_in(d, &args, &[]).status.success());
    let mut names: Vec<String> = std::fs::read_dir(d.join("run/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["step-000004", "step-000005"]);
    assert_eq!(current(&d.join("run")).trim(), "step-000005");
}

#[test]
fn resume_on_changed_shortened_and_moved_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data_s = data.to_str().unwrap();
    // Given relative, kept absolute: a resume from another folder finds it.
    assert!(
        gpt2_in(d, &tiny_run("text.txt", "run", "2"), &[])
            .status
            .success()
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let o = gpt2_in(
        elsewhere.path(),
        &["train", "--resume", run_s, "--steps", "3"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Changed: refused, naming the way on; then continued deliberately with --data.
    let all = std::fs::read_to_string(gpt2::data::default_text_path()).unwrap();
    std::fs::write(&data, &all[20_000..40_000]).unwrap();
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "4"], &[]);
    assert_clean_error(&o, "has changed since");
    assert!(stderr(&o).contains("--data"), "{}", stderr(&o));
    let o = gpt2_in(
        d,
        &["train", "--resume", "run", "--steps", "4", "--data", data_s],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read(&run.join("log.jsonl")).contains("\"loader\":\"restarted\""));

    // Shortened to less than a batch: a clear error, no panic, at any length.
    for chars in [0, 1, 30, 200] {
        std::fs::write(&data, &all[..chars]).unwrap();
        let o = gpt2_in(
            d,
            &["train", "--resume", "run", "--steps", "5", "--data", data_s],
            &[],
        );
        if !o.status.success() {
            assert_clean_error(&o, "");
            let err = stderr(&o);
            assert!(
                err.contains("text.txt") || err.contains("training split"),
                "{err}"
            );
        }
    }
    // Moved away: the error names the file.
    std::fs::remove_file(&data).unwrap();
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "6"], &[]);
    assert_clean_error(&o, "text.txt");
}

#[test]
fn a_damaged_checkpoint_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    assert!(
        gpt2_in(d, &tiny_run(data.to_str().unwrap(), "run", "2"), &[])
            .status
            .success()
    );
    let folder = gpt2::checkpoint::resolve(&d.join("run"));
    let mut rng = Rng::new(3);
    for file in [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "trainer.json",
    ] {
        let path = folder.join(file);
        let original = std::fs::read(&path).unwrap();
        // Bytes in the header and anywhere in the file, each changed to another value.
        for case in 0..6 {
            let at = if case < 2 {
                rng.below(original.len().min(64) as u64) as usize
            } else {
                rng.below(original.len() as u64) as usize
            };
            let mut bytes = original.clone();
            bytes[at] = bytes[at].wrapping_add(1 + rng.below(255) as u8);
            std::fs::write(&path, &bytes).unwrap();
            let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "3"], &[]);
            assert_clean_error(&o, file);
        }
        std::fs::write(&path, &original).unwrap();
    }
    // Restored, the checkpoint resumes.
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "3"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny");

/// A success, or one clean error line: never a panic.
fn assert_no_panic(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{what}: {err}");
    if !o.status.success() {
        assert!(err.starts_with("error:"), "{what}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
    }
}

#[test]
fn random_bytes_ids_and_lengths_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = Rng::new(11);
    let file = d.join("random.bin");
    let f = file.to_str().unwrap();
    for case in 0..10 {
        let n = [0, 1, 2, 17, 300, 5000][case % 6] + rng.below(50) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let o = gpt2_in(d, &["tokenize", "--file", f, "--json"], &[]);
        assert_no_panic(&o, "tokenize");
        let seq = (1 + rng.below(40)).to_string();
        let batch = (1 + rng.below(5)).to_string();
        let o = gpt2_in(
            d,
            &[
                "eval", "--model", TINY, "--data", f, "--seq", &seq, "--batch", &batch,
            ],
            &[],
        );
        assert_no_panic(&o, "eval");
        // A prompt of random characters (ids anywhere in GPT-2's vocabulary, most outside the
        // tiny model's 512), and a random number of new tokens.
        let prompt: String = (0..rng.below(30))
            .map(|_| char::from_u32(1 + rng.below(0x3000) as u32).unwrap_or('x'))
            .collect();
        let new = rng.below(40).to_string();
        let o = gpt2_in(
            d,
            &[
                "generate",
                "--model",
                TINY,
                "--prompt",
                &prompt,
                "--max-new-tokens",
                &new,
                "--temperature",
                "0",
            ],
            &[],
        );
        assert_no_panic(&o, "generate");
    }
}

fn checkpoint_names(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_resume_keeps_the_saved_keep_and_refuses_a_checkpoint_folder_and_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let mut args = tiny_run(data.to_str().unwrap(), "run", "3");
    args.extend(["--checkpoint-every", "1", "--keep", "2"]);
    assert!(gpt2_in(d, &args, &[]).status.success());

    // --keep 2 was saved with the run: a resume without it still keeps two.
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "5"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        checkpoint_names(&d.join("run")),
        ["step-000004", "step-000005"]
    );

    // One checkpoint is not a run folder: nothing is written inside it.
    let step = d.join("run/checkpoints/step-000005");
    let before = listing(&step);
    let o = gpt2_in(
        d,
        &["train", "--resume", step.to_str().unwrap(), "--steps", "6"],
        &[],
    );
    assert_clean_error(&o, "is one checkpoint of the run in");
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    assert_eq!(listing(&step), before);

    // A finished run given no more steps says so, and changes nothing.
    let weights_before = weights(&d.join("run"));
    let log_before = std::fs::read(d.join("run/log.jsonl")).unwrap();
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "4"], &[]);
    assert_clean_error(&o, "at step 5 of 4 already");
    assert_eq!(weights(&d.join("run")), weights_before);
    assert_eq!(std::fs::read(d.join("run/log.jsonl")).unwrap(), log_before);
    assert_eq!(
        checkpoint_names(&d.join("run")),
        ["step-000004", "step-000005"]
    );
}

#[test]
fn a_folder_whose_run_saved_nothing_says_so_and_overwrite_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let mut diverging = tiny_run(data, "rx", "2");
    diverging.extend(["--lr", "1e30", "--grad-clip", "0", "--seed", "5"]);
    assert!(!gpt2_in(d, &diverging, &[]).status.success());
    assert!(d.join("rx/log.jsonl").exists());

    let o = gpt2_in(d, &tiny_run(data, "rx", "2"), &[]);
    assert_clean_error(&o, "rx holds a run that saved no checkpoint");
    let o = gpt2_in(d, &["train", "--resume", "rx"], &[]);
    assert_clean_error(&o, "rx holds no checkpoint to continue from");
    assert!(
        stderr(&o).contains("--out rx --overwrite"),
        "{}",
        stderr(&o)
    );

    let mut again = tiny_run(data, "rx", "2");
    again.push("--overwrite");
    let o = gpt2_in(d, &again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(current(&d.join("rx")).trim(), "step-000002");
}

#[test]
fn a_run_with_its_own_tokenizer_resumes_from_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let o = gpt2_in(
        d,
        &[
            "train-tokenizer",
            "--data",
            "text.txt",
            "--vocab-size",
            "300",
            "--out",
            "tok.txt",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut args = tiny_run(data.to_str().unwrap(), "run", "2");
    args.extend(["--tokenizer", "tok.txt"]);
    assert!(gpt2_in(d, &args, &[]).status.success());
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let o = gpt2_in(
        &d.join("elsewhere"),
        &["train", "--resume", "../run", "--steps", "3"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // generate and eval take the run's tokenizer, not GPT-2's, unless told otherwise: the
    // prompt's ids fit this model of 300 ids.
    for args in [
        vec![
            "generate",
            "--model",
            "run",
            "--prompt",
            "ROMEO:",
            "--max-new-tokens",
            "2",
        ],
        vec![
            "eval", "--model", "run", "--data", "text.txt", "--seq", "16",
        ],
    ] {
        let o = gpt2_in(d, &args, &[]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = gpt2_in(
        d,
        &[
            "generate",
            "--model",
            "run",
            "--prompt",
            "ROMEO:",
            "--tokenizer",
            "gpt2",
        ],
        &[],
    );
    assert_clean_error(&o, "outside the model's vocabulary of 300");

    // The tokenizer file rewritten, from other text: the run's ids would now mean other words.
    // Resuming, generating and scoring refuse; --tokenizer takes another one deliberately.
    std::fs::write(
        d.join("other.txt"),
        "abababab cdcdcdcd efefefef ".repeat(200),
    )
    .unwrap();
    let o = gpt2_in(
        d,
        &[
            "train-tokenizer",
            "--data",
            "other.txt",
            "--vocab-size",
            "300",
            "--out",
            "tok.txt",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gpt2_in(d, &["train", "--resume", "run", "--steps", "4"], &[]);
    assert_clean_error(&o, "this tokenizer has changed since run saved");
    for args in [
        vec!["generate", "--model", "run", "--prompt", "ROMEO:"],
        vec![
            "eval", "--model", "run", "--data", "text.txt", "--seq", "16",
        ],
    ] {
        let o = gpt2_in(d, &args, &[]);
        assert_clean_error(&o, "tok.txt has changed since run was trained with it");
    }
    let o = gpt2_in(
        d,
        &[
            "generate",
            "--model",
            "run",
            "--prompt",
            "ab",
            "--tokenizer",
            "tok.txt",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn weights_that_are_not_finite_are_refused_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(format!("{TINY}/config.json"), model.join("config.json")).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
        read_safetensors(Path::new(&format!("{TINY}/model.safetensors")))
            .unwrap()
            .into_iter()
            .map(|(name, t)| (name, t.shape().to_vec(), t.iter().copied().collect()))
            .collect();
    let (name, _, values) = tensors
        .iter_mut()
        .find(|t| t.0.ends_with("h.0.mlp.c_fc.weight"))
        .unwrap();
    values[7] = f32::NAN;
    let name = name.clone();
    gpt2::checkpoint::write_safetensors(&model.join("model.safetensors"), &tensors).unwrap();
    std::fs::write(d.join("ids.txt"), "1 2 3 4 5").unwrap();
    let o = gpt2_in(
        d,
        &["eval", "--model", "model", "--ids", "ids.txt", "--seq", "4"],
        &[],
    );
    assert_clean_error(&o, &format!("tensor `{name}` holds NaN at index 7"));
}

#[test]
fn sizes_beyond_any_memory_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let mut args = tiny_run(data, "run", "2");
    args.extend(["--n-embd", "10000000"]);
    assert_clean_error(
        &gpt2_in(d, &args, &[]),
        "parameters is more than this program builds",
    );
    let mut args = tiny_run(data, "run", "2");
    let at = args.iter().position(|&a| a == "--batch").unwrap();
    args[at + 1] = "100000000";
    // On Linux the machine's memory is known; elsewhere the run may start and fail later.
    if cfg!(target_os = "linux") {
        assert_clean_error(
            &gpt2_in(d, &args, &[]),
            "GB of memory, more than this machine's",
        );
    }
    let config = d.join("config.json");
    let text = std::fs::read_to_string(format!("{TINY}/config.json")).unwrap();
    let huge = text.replace("\"n_embd\": 32", "\"n_embd\": 100000000000");
    assert_ne!(huge, text, "the fixture's config names n_embd 32");
    std::fs::write(&config, huge).unwrap();
    let o = gpt2_in(d, &["info", "--config", "config.json"], &[]);
    assert_clean_error(&o, "config.json: a model of");
}

#[test]
fn a_file_as_the_run_folder_and_the_run_folder_by_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);
    let data = data.to_str().unwrap();
    let o = gpt2_in(d, &tiny_run(data, "text.txt", "2"), &[]);
    assert_clean_error(&o, "text.txt is a file, not a folder");
    assert!(
        gpt2_in(d, &tiny_run(data, "run", "2"), &[])
            .status
            .success()
    );
    // --out naming the --resume folder another way is the same folder.
    let o = gpt2_in(
        d,
        &[
            "train", "--resume", "run", "--out", "./run/", "--steps", "3",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn standard_output_that_fails_stops_the_run_saved_and_names_itself() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // Not Linux.
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = text(d, 20_000);

    // A full disk behind stdout: an error that says stdout, the step saved.
    let mut args = tiny_run(data.to_str().unwrap(), "run", "40");
    args.push("--json");
    let o = Command::new(BIN)
        .args(&args)
        .current_dir(d)
        .stdout(full.try_clone().unwrap())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("cannot write to standard output (No space left on device"),
        "{err}"
    );
    assert!(err.contains("continue with --resume run"), "{err}");
    assert!(!checkpoint_names(&d.join("run")).is_empty());
    let o = gpt2_in(d, &["train", "--resume", "run"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checkpoint_names(&d.join("run")), ["step-000040"]);

    // A reader that goes away (`| head -1`): stopped and saved, as SIGPIPE would stop it.
    let mut args = tiny_run(data.to_str().unwrap(), "piped", "100000");
    args.push("--json");
    let mut child = Command::new(BIN)
        .args(&args)
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"step\":0"), "{first}");
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.contains("Broken pipe"), "{err}");
    assert!(!checkpoint_names(&d.join("piped")).is_empty(), "{err}");

    // Any other command: one line naming stdout.
    let o = Command::new(BIN).arg("info").stdout(full).output().unwrap();
    assert_clean_error(&o, "cannot write to standard output");
}
