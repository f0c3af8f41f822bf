//! `cargo run --release -p chapter06`: short training runs of the same model, one on all of
//! tiny Shakespeare's training text and one on its first 2,048 tokens, then that one again with
//! dropout, with their loss curves.
//!
//! `cargo run --release -p chapter06 -- --table FILE` (or `--sample FILE`) reads the JSON lines
//! of a `gpt2 train --json` run and prints the table (or the sample) of the section "The run",
//! and draws its loss curve into target/figures/ch06-loss.svg, its learning rate and gradient
//! norm into target/figures/ch06-schedule.svg.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use std::time::Instant;

use chapter06::run_log::RunLog;
use chapter06::short_run::{library_short_run, plot, short_run};
use gpt2::Tokenizer;
use plotters::style::RGBColor;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => short_runs(),
        [flag, file] if flag == "--table" || flag == "--sample" => {
            let log = RunLog::read(Path::new(file))?;
            if flag == "--table" {
                print!("{}", log.table());
                let path = PathBuf::from("target/figures/ch06-loss.svg");
                std::fs::create_dir_all("target/figures")?;
                log.plot(&path)?;
                // The run kept `gpt2 train`'s default clipping threshold.
                let clip = gpt2::train::TrainConfig::default().grad_clip;
                log.plot_schedule(&PathBuf::from("target/figures/ch06-schedule.svg"), clip)?;
            } else {
                let sample = log.sample.context("the run printed no sample")?;
                println!("{sample}");
            }
            Ok(())
        }
        _ => bail!("usage: chapter06 [--table FILE | --sample FILE]"),
    }
}

fn short_runs() -> Result<()> {
    let tok = Tokenizer::gpt2()?;
    let ids = gpt2::data::load_tokens(&gpt2::data::default_text_path(), &tok)?;
    let (train, val) = gpt2::data::split(&ids, 0.1);
    // A fixed slice of the validation text keeps each measurement quick.
    let val = &val[..8192];
    let (steps, every) = (200, 25);
    println!(
        "Three runs of {steps} steps, 4 sequences of 64 tokens each, validation on 8,192 unseen tokens.\n"
    );
    let start = Instant::now();
    let (all, _) = short_run(train, val, steps, every)?;
    let readable_s = start.elapsed().as_secs_f64();
    let (sliver, _) = short_run(&train[..2048], val, steps, every)?;
    // The same run on the library (chapter 8), for its time.
    let start = Instant::now();
    let (fast, _) = library_short_run(train, val, steps, every, 0.0)?;
    let library_s = start.elapsed().as_secs_f64();
    // The sliver again, with dropout (on the library's trainer, which drops what the readable
    // model drops: tests/dropout.rs).
    let p = 0.2;
    let (dropped, _) = library_short_run(&train[..2048], val, steps, every, p)?;

    println!(
        "{:>5} | {:>22} | {:>22} | {:>22}",
        "",
        "all 304,222 tokens",
        "first 2,048 tokens",
        format!("first 2,048, dropout {p}")
    );
    println!(
        "{:>5} | {:>10} {:>11} | {:>10} {:>11} | {:>10} {:>11}",
        "step", "train", "validation", "train", "validation", "train", "validation"
    );
    let mean_train = |c: &chapter06::short_run::Curve, s: usize| {
        // The mean training loss of the `every` steps before s (the batch-to-batch noise is large).
        let w: Vec<f32> = c
            .train
            .iter()
            .filter(|p| p.0 < s && p.0 + every >= s)
            .map(|p| p.1)
            .collect();
        if w.is_empty() {
            f32::NAN
        } else {
            w.iter().sum::<f32>() / w.len() as f32
        }
    };
    for (i, &(s, v)) in all.val.iter().enumerate() {
        let (ta, tb, tc) = (
            mean_train(&all, s),
            mean_train(&sliver, s),
            mean_train(&dropped, s),
        );
        let fmt = |x: f32| {
            if x.is_nan() {
                "-".to_string()
            } else {
                format!("{x:.3}")
            }
        };
        println!(
            "{s:>5} | {:>10} {:>11.3} | {:>10} {:>11.3} | {:>10} {:>11.3}",
            fmt(ta),
            v,
            fmt(tb),
            sliver.val[i].1,
            fmt(tc),
            dropped.val[i].1
        );
    }
    let last = |c: &chapter06::short_run::Curve| c.val.last().map_or(f32::NAN, |v| v.1);
    println!(
        "\nThe library's trainer (chapter 8) on all the tokens ends at validation loss {:.3}.",
        last(&fast)
    );
    println!(
        "measured: the readable run took {readable_s:.0} s, the library's {library_s:.1} s, {:.1} times less.",
        readable_s / library_s
    );
    let path = PathBuf::from("target/figures/ch06-overfitting.svg");
    plot(
        &[
            ("all of the training text", &all, RGBColor(30, 90, 200)),
            ("its first 2,048 tokens", &sliver, RGBColor(210, 60, 40)),
            ("the same, dropout 0.2", &dropped, RGBColor(40, 150, 70)),
        ],
        &path,
    )?;
    println!("\nWrote the curves to {}.", path.display());
    Ok(())
}
