//! `cargo run --release -p chapter07`: a model trained for under a minute on Shakespeare, one prompt,
//! and the next-token distribution under different temperatures, top-k and top-p, as a table,
//! as bar charts, and as samples. `-- --timing` instead measures the time per generated token
//! with and without the KV cache, against the context length, and plots it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use chapter05::gpt::GPT;
use chapter07::distribution::{bar_charts, label, probabilities};
use chapter07::generate::{candidates, forward_cached, generate, new_cache};
use gpt2::generate::Sampling;
use gpt2::rng::Rng;
use gpt2::{GPTConfig, Tokenizer};

const PROMPT: &str = "ROMEO:\nI will";

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--timing") {
        return timing();
    }
    let tok = Tokenizer::gpt2()?;
    let ids = gpt2::data::load_tokens(&gpt2::data::default_text_path(), &tok)?;
    let (train, val) = gpt2::data::split(&ids, 0.1);
    println!(
        "Training the `shakespeare` model for 200 short steps (as chapter 6's binary does)..."
    );
    // The library trains it (chapter 6 compares the two loops); the readable model generates.
    let (curve, mut trained) =
        chapter06::short_run::library_short_run(train, &val[..8192], 200, 200, 0.0)?;
    let model = GPT::from_library(&mut trained);
    println!(
        "validation loss {:.3}\n",
        curve.val.last().map_or(f32::NAN, |v| v.1)
    );

    let prompt = tok.encode(PROMPT);
    let logits = forward_cached(&model, &prompt, &mut new_cache(&model));
    let logits = logits.row(prompt.len() - 1).to_vec();
    let top: Vec<u32> = candidates(ndarray::ArrayView1::from(&logits[..]), &Sampling::default())
        .iter()
        .take(8)
        .map(|c| c.0)
        .collect();
    let settings = [
        (
            "greedy",
            Sampling {
                temperature: 0.0,
                ..Sampling::default()
            },
        ),
        (
            "T = 0.5",
            Sampling {
                temperature: 0.5,
                ..Sampling::default()
            },
        ),
        ("T = 1", Sampling::default()),
        (
            "T = 1.5",
            Sampling {
                temperature: 1.5,
                ..Sampling::default()
            },
        ),
        (
            "top-k 3",
            Sampling {
                top_k: 3,
                ..Sampling::default()
            },
        ),
        (
            "top-p 0.5",
            Sampling {
                top_p: 0.5,
                ..Sampling::default()
            },
        ),
    ];
    println!("The next token after {PROMPT:?}: its probability under each setting\n");
    print!("{:>10}", "token");
    for (name, _) in &settings {
        print!(" {name:>9}");
    }
    println!();
    let columns: Vec<Vec<f64>> = settings
        .iter()
        .map(|(_, s)| probabilities(&logits, s, &top))
        .collect();
    for (row, &id) in top.iter().enumerate() {
        print!("{:>10}", format!("{:?}", label(&tok, id)));
        for col in &columns {
            print!(" {:>9.3}", col[row]);
        }
        println!();
    }
    let path = PathBuf::from("target/figures/ch07-distribution.svg");
    bar_charts(
        &tok,
        &logits,
        &top,
        &[settings[1], settings[2], settings[3], settings[5]],
        &path,
    )?;
    println!("\nWrote the bar charts to {}.", path.display());
    let diagram = PathBuf::from("target/figures/ch07-kv-cache.svg");
    chapter07::diagram::kv_cache(&diagram)?;
    println!("Wrote the diagram of the cache to {}.\n", diagram.display());

    for (name, s) in [settings[0], settings[1], settings[3], settings[5]] {
        let new = generate(&model, &prompt, 24, &s, Some(tok.eot()), &mut Rng::new(1));
        println!("{name:>9}: {:?}", format!("{PROMPT}{}", tok.decode(&new)?));
    }
    Ok(())
}

/// Time per generated token, with and without the cache, as the context grows.
fn timing() -> Result<()> {
    let mut config = GPTConfig::preset("gpt2")?;
    config.n_layer = 4; // GPT-2's width and vocabulary, four of its blocks: seconds, not minutes
    // The library (chapter 8) generates here: the readable loops would take minutes at 1,024.
    let mut model = gpt2::GPT::new(config, 1);
    let s = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    println!("Milliseconds per new token (width 768, 4 blocks, vocabulary 50,257), the last 16");
    println!("tokens of each context, after a prompt of the rest; with the cache, the prompt's");
    println!("first pass is timed alone and taken away:\n");
    println!(
        "{:>8} {:>12} {:>12} {:>7}",
        "context", "with cache", "without", "ratio"
    );
    // The fastest of three runs: the cached times are small differences of larger ones.
    let best = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(best)
    };
    let mut points = Vec::new();
    for context in [32, 64, 128, 256, 512, 1024] {
        let prompt: Vec<u32> = (0..context as u32 - 16).map(|i| i * 7 % 50000).collect();
        let cached_run = |new: usize| {
            best(&mut || {
                gpt2::generate::generate(&model, &prompt, new, &s, None, &mut Rng::new(0), |_| {})?;
                Ok(())
            })
        };
        let cached = (cached_run(16)? - cached_run(0)?) / 16.0;
        let t = Instant::now();
        gpt2::generate::generate_uncached(&mut model, &prompt, 16, &s, &mut Rng::new(0))?;
        let uncached = t.elapsed().as_secs_f64() * 1e3 / 16.0;
        println!(
            "{context:>8} {cached:>12.1} {uncached:>12.1} {:>7.1}",
            uncached / cached
        );
        points.push((context, cached, uncached));
    }
    chapter07::distribution::plot_timing(&points, &PathBuf::from("target/figures/ch07-cache.svg"))?;
    println!("\nWrote the plot to target/figures/ch07-cache.svg.");
    Ok(())
}
