//! Every number in the book's prose comes from somewhere a reader can check: a run the book
//! keeps (book/runs), the code, or — named one by one below — a published fact, a measurement
//! with the command that made it, or a derivation this test recomputes.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use gpt2::GPTConfig;
use regex::Regex;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why a number that no run or source file states may stand in the prose.
enum Why {
    /// Published elsewhere (a paper, a model card), with where.
    Fact(&'static str),
    /// A measurement, with the command that makes it again: exempt by name, not by a bound.
    Measured(&'static str),
    /// Follows from other numbers: the value, which the printed digits must round.
    Derived(f64),
}
use Why::*;

/// The numbers of the prose that need a reason, by page.
fn allowed() -> Vec<(&'static str, &'static str, Why)> {
    let shakespeare = GPTConfig::preset("shakespeare").unwrap();
    let gpt2 = GPTConfig::preset("gpt2").unwrap();
    let head = (shakespeare.vocab_size * shakespeare.n_embd) as f64;
    let head_share = 6.0 * head * 1024.0 / shakespeare.train_flops_per_step(8, 128);
    let gib = (1u64 << 30) as f64;
    let gpt2_params = gpt2.param_count().total() as f64;
    // Chapter 8's ratios of bytes and speeds between the weight formats: the medians of its
    // three bench rounds.
    let benches: Vec<serde_json::Value> = (1..=3)
        .map(|r| {
            let path = root().join(format!("book/runs/ch08-quant-bench-{r}.json"));
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
        })
        .collect();
    let kind = |k: &str, key: &str| {
        let mut v: Vec<f64> = benches
            .iter()
            .map(|b| b["decode"][k][key].as_f64().unwrap())
            .collect();
        v.sort_by(f64::total_cmp);
        v[1]
    };
    // One round's new tokens a second in a folder of book/runs (`ch08-quant-bench-N.json`).
    let round = |folder: &str, r: usize, k: &str| -> f64 {
        let path = root().join(format!("book/runs/{folder}/ch08-quant-bench-{r}.json"));
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        v["decode"][k]["decode_tokens_per_s"].as_f64().unwrap()
    };
    let bytes = |k: &str| kind(k, "weight_bytes") / kind("bf16", "weight_bytes");
    let speed = |k: &str| kind(k, "decode_tokens_per_s") / kind("bf16", "decode_tokens_per_s");
    // The last validation loss of a run's log in a folder of book/runs.
    let last_val_in = |folder: &str, file: &str| -> f64 {
        let text = fs::read_to_string(root().join("book/runs").join(folder).join(file)).unwrap();
        let mut vals = text.lines().filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["val_loss"].as_f64()
        });
        vals.next_back().unwrap()
    };
    let seeds = |p: &str| -> Vec<f64> {
        [1337, 1, 2]
            .iter()
            .map(|s| last_val_in("ch08-seeds", &format!("{p}-{s}.jsonl")))
            .collect()
    };
    let (f32, bf16, short) = (seeds("f32"), seeds("bf16"), seeds("bf16-warmup100"));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    vec![
        (
            "ch08-optimization.md",
            "73.0",
            Derived(round("zen5", 1, "f32")),
        ),
        (
            "ch08-optimization.md",
            "76.7",
            Derived(round("zen5", 2, "f32")),
        ),
        ("ch08-optimization.md", "0.56", Derived(bytes("int8"))),
        ("ch08-optimization.md", "0.31", Derived(bytes("int4"))),
        ("ch08-optimization.md", "1.6", Derived(speed("int8"))),
        ("ch08-optimization.md", "2.0", Derived(speed("int4"))),
        ("ch06-training.md", "2.6", Derived(3996.0 / 1563.0)),
        (
            "ch08-optimization.md",
            "0.6",
            Fact("the book's own target for GPT-2 124M's step, in seconds: not a measurement"),
        ),
        // book/runs/ch08-seeds: the gap between the precisions' mean final losses, and what
        // the short warm-up adds to bf16's.
        (
            "ch08-optimization.md",
            "0.021",
            Derived(mean(&bf16) - mean(&f32)),
        ),
        (
            "ch08-optimization.md",
            "0.071",
            Derived(mean(&short) - mean(&bf16)),
        ),
        // AMX's tdpbf16ps: a 16 × 16 tile of C, each number a sum over 32 bf16 products.
        ("ch08-optimization.md", "8,192", Derived(16.0 * 16.0 * 32.0)),
        // GPT-2 124M's logits at B = 4, T = 64, in millions of numbers.
        (
            "ch08-optimization.md",
            "12.9",
            Derived((4 * 64 * gpt2.vocab_size) as f64 / 1e6),
        ),
        // book/runs/xeon-amx: seed 1337's bf16 run on AMX, its last validation loss.
        (
            "ch08-optimization.md",
            "4.841",
            Derived(last_val_in("xeon-amx", "bf16-1337.jsonl")),
        ),
        // book/runs/zen5: seed 1337's bf16 run on Zen 5, its last validation loss.
        (
            "ch08-optimization.md",
            "4.855",
            Derived(last_val_in("zen5", "bf16-1337.jsonl")),
        ),
        (
            "ch01-overview.md",
            "2017",
            Fact("Vaswani et al., Attention Is All You Need"),
        ),
        ("ch01-overview.md", "2018", Fact("Radford et al., GPT-1")),
        ("ch01-overview.md", "2020", Fact("Brown et al., GPT-3")),
        (
            "ch01-overview.md",
            "7,000",
            Fact("the GPT-1 paper: BooksCorpus, over 7,000 books"),
        ),
        ("ch01-overview.md", "1.85", Derived(1_991_036_928.0 / gib)),
        (
            "ch01-overview.md",
            "5.090",
            Measured("exercise 3 of chapter 1: tests/exercises.rs"),
        ),
        (
            "ch01-overview.md",
            "0.77",
            Measured("exercise 3 of chapter 1: 5.859 − 5.090"),
        ),
        (
            "ch02-tokenization.md",
            "30,838",
            Measured("cargo test -p chapter02 --test exercises"),
        ),
        (
            "ch02-tokenization.md",
            "0100",
            Fact("U+0100, a Unicode code point"),
        ),
        (
            "ch02-tokenization.md",
            "0120",
            Fact("U+0120, a Unicode code point"),
        ),
        (
            "ch02-tokenization.md",
            "010",
            Fact("U+010A, a Unicode code point"),
        ),
        (
            "ch02-tokenization.md",
            "18.6",
            Measured("cargo bench -p chapter02"),
        ),
        (
            "ch02-tokenization.md",
            "60.1",
            Measured("cargo bench -p chapter02"),
        ),
        (
            "ch02-tokenization.md",
            "0.12",
            Fact("the version of tiktoken-rs"),
        ),
        (
            "ch02-tokenization.md",
            "74.9",
            Measured("cargo bench -p chapter02"),
        ),
        (
            "ch02-tokenization.md",
            "14.9",
            Measured("cargo bench -p chapter02"),
        ),
        ("ch02-tokenization.md", "1.95", Fact("the version of Rust")),
        (
            "ch02-tokenization.md",
            "8,000",
            Measured("cargo bench -p chapter02: the merges learned"),
        ),
        (
            "ch02-tokenization.md",
            "4,000",
            Fact("the property test's case count, tests in src/tokenizer"),
        ),
        (
            "ch03-attention.md",
            "3.2",
            Derived(4.0 * 1024.0 * 1024.0 * 768.0 / 1e9),
        ),
        (
            "ch03-attention.md",
            "4.8",
            Derived(8.0 * 1024.0 * 768.0 * 768.0 / 1e9),
        ),
        ("ch04-block.md", "32,768", Derived(2.0 * 64.0 * 256.0)),
        (
            "ch05-model.md",
            "6.304564",
            Measured("the fixture's loss: tests/fixtures/tiny/expected.json"),
        ),
        (
            "ch05-model.md",
            "10.848",
            Measured("cargo test -p chapter05 --test exercises"),
        ),
        ("ch07-generation.md", "38.6", Derived(50257.0 * 768.0 / 1e6)),
        (
            "ch07-generation.md",
            "1.2",
            Fact("Keskar et al., CTRL: the penalty 1.2"),
        ),
        ("ch08-optimization.md", "87.5", Derived(100.0 * head_share)),
        (
            "ch08-optimization.md",
            "32,768",
            Fact("the chunk size in src/optim.rs"),
        ),
        (
            "ch08-optimization.md",
            "40.7",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "0.84",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "0.43",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "10.9",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "0.29",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "7.6",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "5.6",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "24.9",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "4.6",
            Measured("cargo bench -p chapter08"),
        ),
        (
            "ch08-optimization.md",
            "3.49",
            Measured("gpt2 bench --preset gpt2 --batch 1 --seq 1024 --steps 2: peak memory"),
        ),
        (
            "ch08-optimization.md",
            "3.5",
            Derived(28.0 * gpt2_params / 1e9),
        ),
        (
            "ch08-optimization.md",
            "0.22",
            Measured("gpt2 bench --preset gpt2, before and after"),
        ),
        (
            "ch08-optimization.md",
            "0.16",
            Measured("gpt2 bench --preset gpt2, before and after"),
        ),
        ("ch08-optimization.md", "1.95", Fact("the version of Rust")),
        (
            "ch08-optimization.md",
            "2.83",
            Measured("scripts/pytorch_bench.py --preset gpt2 --batch 4 --seq 64"),
        ),
        (
            "ch08-optimization.md",
            "2.4",
            Measured("llm.c's train_gpt2 and /usr/bin/time -v"),
        ),
        (
            "ch08-optimization.md",
            "3.3",
            Measured("scripts/pytorch_bench.py --preset gpt2"),
        ),
    ]
    .into_iter()
    .chain(["0.381", "0.397", "0.372"].map(|step| {
        let runs = "gpt2 bench --preset gpt2 --batch 4 --seq 64 --precision bf16, without and \
                    with c's prefetch, three rounds in turn on a Zen 5 EPYC";
        ("ch08-optimization.md", step, Measured(runs))
    }))
    .collect()
}

/// Every number written in the files a reader can run or read: the runs the book keeps and the
/// sources, digits only ("1,000" and "1_000" as "1000").
fn stated_numbers() -> BTreeSet<String> {
    let number = Regex::new(r"\d[\d,_]*(?:\.\d+)?").unwrap();
    let mut found = BTreeSet::new();
    let mut files = Vec::new();
    for dir in ["book/runs", "src", "chapters", "scripts", "tests"] {
        collect(&root().join(dir), &mut files);
    }
    for file in files {
        // Not this file: the reasons below must not count as statements.
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        if file.ends_with("tests/book_numbers.rs") {
            continue;
        }
        for m in number.find_iter(&text) {
            found.insert(digits(m.as_str()));
        }
    }
    found
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| {
            ["rs", "txt", "md", "jsonl", "json", "py"].contains(&e.to_str().unwrap())
        }) {
            files.push(path);
        }
    }
}

fn digits(n: &str) -> String {
    n.trim_end_matches([',', '.']).replace([',', '_'], "")
}

/// The numbers of a page's prose: code, maths, includes, links and cross-references taken out.
fn prose_numbers(text: &str) -> Vec<String> {
    let mut prose = text.to_string();
    for pattern in [
        r"(?s)```.*?```",
        r"(?s)\$\$.*?\$\$",
        r"\$[^$\n]*\$",
        r"`[^`\n]*`",
        r"\{\{#[^}]*\}\}",
        r"\]\([^)]*\)",
        r"https?://\S+",
        r"(?i)\b(chapters?|listings?|exercises?|parts?|steps?|figures?|tables?) \d+(?:[-–]\d+)?(?:(?:,| and| to| or) \d+)*",
        r"(?m)^\s*\d+\. ",
    ] {
        prose = Regex::new(pattern).unwrap().replace_all(&prose, " ").into();
    }
    let number = Regex::new(r"(?:^|[^\w.])(\d[\d,]*(?:\.\d+)?)").unwrap();
    number
        .captures_iter(&prose)
        .map(|c| c[1].trim_end_matches([',', '.']).to_string())
        .collect()
}

#[test]
fn every_number_in_the_prose_is_in_a_run_the_code_or_the_list_of_reasons() {
    let stated = stated_numbers();
    let allowed = allowed();
    let mut unexplained = Vec::new();
    let mut used = BTreeSet::new();
    let mut pages: Vec<PathBuf> = fs::read_dir(root().join("book"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    for page in pages {
        let name = page.file_name().unwrap().to_str().unwrap().to_string();
        for n in prose_numbers(&fs::read_to_string(&page).unwrap()) {
            // A listed reason comes first: a run that happens to print the same digits for
            // something else does not make it redundant.
            match allowed.iter().position(|a| a.0 == name && a.1 == n) {
                Some(i) => {
                    used.insert(i);
                }
                None if stated.contains(&digits(&n)) => {}
                None => unexplained.push(format!("{name}: {n}")),
            }
        }
    }
    for (page, n, why) in &allowed {
        let reason = match why {
            Fact(source) => format!("fact: {source}"),
            Measured(command) => format!("measured: {command}"),
            Derived(value) => format!("derived: {value}"),
        };
        println!("{page}: {n} ({reason})");
    }
    assert!(
        unexplained.is_empty(),
        "numbers in the prose that no run, source or reason states: {unexplained:?}"
    );
    for (i, (page, n, _)) in allowed.iter().enumerate() {
        assert!(
            used.contains(&i),
            "{page}: {n} is listed but no longer in the prose"
        );
    }
}

#[test]
fn derived_numbers_are_what_their_derivation_gives() {
    for (page, printed, why) in allowed() {
        let Derived(value) = why else { continue };
        let decimals = printed.split('.').nth(1).map_or(0, str::len);
        let rounded = format!("{value:.decimals$}");
        let plain = digits(printed);
        assert_eq!(digits(&rounded), plain, "{page}: {printed} is not {value}");
    }
}

#[test]
fn the_scan_finds_a_number_that_nothing_states() {
    let page = "The model reaches 4.12345 after `cargo run` (chapter 6), see $x = 2.5$.";
    assert_eq!(prose_numbers(page), ["4.12345"]);
    assert!(!stated_numbers().contains("4.12345"));
}
