//! The claims chapter 1 makes, checked.

use std::path::PathBuf;

use chapter01::exercises::{Interpolated, adamw_state_bytes, untied_param_count};
use chapter01::{Bigram, GPT2_VOCAB, gpt2_tokens, train_val_split};
use gpt2::{GPTConfig, PRESETS};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn chapter_text() -> String {
    bookcheck::page("ch01-overview.md")
}

#[test]
fn parameter_counts_match_openais_checkpoints() {
    let expected = [
        ("gpt2", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ];
    for (name, count) in expected {
        let config = GPTConfig::preset(name).unwrap();
        assert_eq!(config.param_count().total(), count, "{name}");
    }
}

#[test]
fn breakdown_adds_up() {
    for p in PRESETS {
        let n = p.config.param_count();
        let c = p.config.n_embd;
        assert_eq!(n.block.total(), 12 * c * c + 13 * c, "{}", p.name);
        assert_eq!(
            n.total(),
            n.wte + n.wpe + n.n_layer * n.block.total() + n.ln_f
        );
    }
}

#[test]
fn training_step_flops() {
    let gpt2 = GPTConfig::preset("gpt2").unwrap();
    let gflop = gpt2.train_flops_per_step(4, 64) / 1e9;
    assert!((gflop - 191.56).abs() < 0.01, "{gflop}");
    assert!(chapter_text().contains("191.6 billion"));
}

#[test]
fn config_round_trips_through_a_config_json_file() {
    let dir = tempfile::tempdir().unwrap();
    for p in PRESETS {
        let path = dir.path().join(format!("{}.json", p.name));
        std::fs::write(&path, p.config.to_hf_json()).unwrap();
        assert_eq!(GPTConfig::load_hf(&path).unwrap(), p.config, "{}", p.name);
    }
}

#[test]
fn reads_a_config_written_by_transformers() {
    let config = GPTConfig::load_hf(&repo("tests/fixtures/tiny/config.json")).unwrap();
    let expected = GPTConfig {
        block_size: 32,
        vocab_size: 512,
        n_layer: 2,
        n_head: 4,
        n_embd: 32,
        layer_norm_eps: 1e-5,
    };
    assert_eq!(config, expected);
}

#[test]
fn bad_configs_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("{", "not a valid GPT-2 config.json"),
        (
            r#"{"n_positions": 8, "vocab_size": 10, "n_layer": 1, "n_head": 3, "n_embd": 8}"#,
            "divisible",
        ),
        (
            r#"{"n_positions": 8, "vocab_size": 10, "n_layer": 0, "n_head": 1, "n_embd": 8}"#,
            "n_layer must be positive",
        ),
        (
            r#"{"n_positions": 8, "vocab_size": 10, "n_head": 1, "n_embd": 8}"#,
            "missing field `n_layer`",
        ),
        (
            r#"{"n_positions": 8, "vocab_size": 10, "n_layer": 1, "n_head": 1, "n_embd": 8, "activation_function": "relu"}"#,
            "activation_function",
        ),
        (
            r#"{"n_positions": 8, "vocab_size": 10, "n_layer": 1, "n_head": 1, "n_embd": 8, "model_type": "llama"}"#,
            "model_type",
        ),
    ];
    for (json, message) in cases {
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let err = GPTConfig::load_hf(&path).unwrap_err().to_string();
        assert!(err.contains(message), "{json}: {err}");
    }
    let missing = GPTConfig::load_hf(&dir.path().join("absent.json")).unwrap_err();
    assert!(missing.to_string().contains("absent.json"), "{missing}");
}

fn shakespeare() -> Vec<u32> {
    gpt2_tokens(&gpt2::data::default_text_path()).unwrap()
}

#[test]
fn bigram_beats_a_uniform_guess_and_the_book_states_its_loss() {
    let tokens = shakespeare();
    assert_eq!(tokens.len(), 338_025);
    let (train, val) = train_val_split(&tokens);
    let model = Bigram::fit(train, GPT2_VOCAB, 0.001);
    let val_loss = model.loss(val);
    assert!(val_loss < (GPT2_VOCAB as f64).ln());
    let stated = format!("baseline is {val_loss:.3} nats per token");
    assert!(
        chapter_text().contains(&stated),
        "the chapter should say: {stated}"
    );
}

#[test]
fn exercise_untied_head() {
    let gpt2 = GPTConfig::preset("gpt2").unwrap();
    let total = untied_param_count(&gpt2);
    assert_eq!(total, 163_037_184);
    // wte and the separate head; then wpe as well.
    let vocab = 2 * gpt2.vocab_size * gpt2.n_embd;
    let share = |n: usize| 100.0 * n as f64 / total as f64;
    let stated = format!(
        "of which {:.0}% are the two vocabulary matrices (`wte` and the head), {:.0}% with the position embeddings `wpe`",
        share(vocab),
        share(vocab + gpt2.block_size * gpt2.n_embd)
    );
    let text = chapter_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains(&stated), "the chapter should say: {stated}");
}

#[test]
fn exercise_adamw_memory() {
    let gpt2 = GPTConfig::preset("gpt2").unwrap();
    assert_eq!(adamw_state_bytes(&gpt2), 1_991_036_928);
}

#[test]
fn interpolation_beats_add_alpha() {
    let tokens = shakespeare();
    let (train, val) = train_val_split(&tokens);
    let add_alpha = Bigram::fit(train, GPT2_VOCAB, 0.001).loss(val);
    let interpolated = Interpolated::fit(train, GPT2_VOCAB, 0.7).loss(val);
    println!("add-alpha {add_alpha:.3}, interpolated {interpolated:.3}");
    assert!(
        interpolated < add_alpha - 0.5,
        "{interpolated} vs {add_alpha}"
    );
    let stated = format!("falls to {interpolated:.3} nats per token");
    assert!(
        chapter_text().contains(&stated),
        "the chapter should say: {stated}"
    );
}

/// Chapter 1 says the parameter formula gives GPT-3's 175 billion from its shape.
#[test]
fn the_formula_gives_gpt3s_size() {
    let gpt3 = gpt2::GPTConfig {
        block_size: 2048,
        vocab_size: 50257,
        n_layer: 96,
        n_head: 96,
        n_embd: 12288,
        layer_norm_eps: 1e-5,
    };
    let total = gpt3.param_count().total() as f64;
    assert!((total / 175e9 - 1.0).abs() < 0.01, "{total}");
}
