//! The `gpt2` command, end to end: help, output, and errors a user can act on.

use std::process::{Command, Output};

fn gpt2(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpt2"))
        .args(args)
        .output()
        .expect("the gpt2 binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure is one line on stderr starting with `error:`, and a non-zero exit: no panic.
fn assert_clean_error(o: &Output, mentions: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got: {}", stdout(o));
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(err.starts_with("error:"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(mentions), "expected `{mentions}` in: {err}");
}

#[test]
fn help_lists_the_subcommands() {
    let o = gpt2(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    assert!(help.contains("info"), "{help}");
    assert!(help.contains("parameters by tensor"), "{help}");
    let o = gpt2(&["info", "--help"]);
    assert!(stdout(&o).contains("--preset"));
}

#[test]
fn info_lists_presets() {
    let o = gpt2(&["info"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for (name, count) in [("gpt2 ", "124,439,808"), ("gpt2-xl", "1,557,611,200")] {
        assert!(out.contains(name) && out.contains(count), "{out}");
    }
}

#[test]
fn info_on_one_preset() {
    let o = gpt2(&["info", "--preset", "gpt2-medium"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("354,823,168"));

    let o = gpt2(&["info", "--preset", "gpt2", "--json", "--seq", "64"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["params"]["total"], 124_439_808);
    assert_eq!(v["config"]["n_embd"], 768);
    let flops = v["train_flops_per_token"].as_f64().unwrap() * 256.0 / 1e9;
    assert!((flops - 191.56).abs() < 0.01);
}

#[test]
fn info_reads_a_hugging_face_config() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny/config.json"
    );
    let o = gpt2(&["info", "--config", config]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("vocab_size 512"));
}

#[test]
fn bad_input_is_one_clear_line() {
    assert_clean_error(
        &gpt2(&["info", "--preset", "gpt3"]),
        "unknown preset `gpt3`",
    );
    assert_clean_error(
        &gpt2(&["info", "--config", "no/such/config.json"]),
        "no/such/config.json",
    );
    assert_clean_error(
        &gpt2(&["info", "--preset", "nano", "--seq", "65"]),
        "--seq 65",
    );
    let bad_flag = gpt2(&["info", "--presett", "gpt2"]);
    assert!(!bad_flag.status.success());
    assert!(stderr(&bad_flag).contains("--presett"));
}
