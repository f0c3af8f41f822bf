//! `cargo run --release -p chapter08`: the size of the readable GPT-2 and of the library; each
//! part of a training step timed in its readable version and in the library's; the matrix
//! multiply from the definition's triple loop to the library's kernel on all threads, with a bar
//! chart, and with its matrices stored by rows or by columns; then what bf16 weights cost in
//! accuracy, on a model trained for a minute. `-- lines`, `-- versions`, `-- matmul`,
//! `-- threads`, `-- orders` or `-- bf16` runs one of them; `-- curves` draws the loss curves of
//! the default run in f32 and in bf16 from their logs in book/runs, and `-- seeds` tabulates
//! those runs from three seeds, and their final losses from eight more beside PyTorch's;
//! `-- side-by-side [FOLDER]` reads the training steps timed beside PyTorch's (from book/runs,
//! or its FOLDER of another processor's rounds); `-- ddp` the data-parallel runs and their cost
//! model; `-- quant [FOLDER]` generation with int8 and int4 weights beside llama.cpp's.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chapter08::ladder::{ladder, plot};
use chapter08::precision::{compare, continuations};
use chapter08::versions::{
    LIBRARY, READABLE, code_lines, exp_versions, parts, training_step, vocab_padding,
};
use gpt2::Tokenizer;
use gpt2::generate::Sampling;
use gpt2::quant::Weights;

const PROMPT: &str = "ROMEO:\nI will";

/// Rounds of `gpt2 bench` and `llama-bench` that scripts/quant_runs.sh runs in turn.
const ROUNDS: usize = 3;

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_default();
    let sections = [
        "lines",
        "versions",
        "matmul",
        "threads",
        "orders",
        "bf16",
        "curves",
        "seeds",
        "side-by-side",
        "ddp",
        "quant",
    ];
    if !which.is_empty() && !sections.contains(&which.as_str()) {
        bail!(
            "unknown section {which:?}: expected one of {}",
            sections.join(", ")
        );
    }
    let run = |name: &str| which.is_empty() || which == name;
    if run("lines") {
        lines();
    }
    if run("versions") {
        versions();
    }
    if run("matmul") {
        matmul()?;
    }
    if run("threads") {
        threads();
    }
    if run("orders") {
        orders();
    }
    if run("bf16") {
        bf16()?;
    }
    if which == "curves" {
        curves()?;
    }
    if which == "seeds" {
        seeds()?;
    }
    if which == "side-by-side" {
        let folder = std::env::args().nth(2).unwrap_or_default();
        side_by_side(&runs_dir().join(folder))?;
    }
    if which == "ddp" {
        ddp()?;
    }
    if which == "quant" {
        let folder = std::env::args().nth(2).unwrap_or_default();
        quant(&folder)?;
    }
    Ok(())
}

/// Smaller weights for generating: the speeds of `gpt2 bench --json` and `llama-bench`, and
/// the losses of `gpt2 eval --weights`, kept in book/runs by scripts/quant_runs.sh, or in its
/// `folder` for another processor (then the table alone, the figure being book/runs' own).
fn quant(folder: &str) -> Result<()> {
    use chapter08::quant::{plot, rows, table};
    let runs = runs_dir().join(folder);
    let rounds = 1..=ROUNDS;
    let benches: Vec<PathBuf> = rounds
        .clone()
        .map(|r| runs.join(format!("ch08-quant-bench-{r}.json")))
        .collect();
    let llamas: Vec<PathBuf> = rounds
        .map(|r| runs.join(format!("llamacpp-gpt2-{r}.txt")))
        .collect();
    let rows = rows(
        &benches.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &runs.join("ch08-quant-eval.jsonl"),
        &llamas.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    println!(
        "GPT-2 124M, batch 1, 2 threads, medians of {ROUNDS} rounds of ours and llama.cpp's in turn; \
         validation loss of the trained `shakespeare` model:\n"
    );
    print!("{}", table(&rows)?);
    if !folder.is_empty() {
        return Ok(());
    }
    let path = PathBuf::from("target/figures/ch08-quant.svg");
    plot(&rows, &path)?;
    println!("\nWrote the figure to {}.", path.display());
    Ok(())
}

/// Data parallelism: two MPI ranks against one process, from the logs scripts/ddp_runs.sh
/// keeps in book/runs, then the cost model of a ring all-reduce for GPT-2 124M on 1 to 64
/// machines, fed by the timing of `gpt2 bench` kept in book/runs/ch08-mixed-f32.txt.
fn ddp() -> Result<()> {
    use chapter08::ddp::{CostModel, Measured, measured_table, model_table, plot};
    let runs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/runs");
    let read = |name: &str, tokens: f64| Measured::read(&runs.join(name), tokens);
    let rows = [
        (
            "shakespeare, 16 × 128 tokens",
            read("ch08-ddp-shakespeare-1x2.jsonl", 2048.0)?,
            read("ch08-ddp-shakespeare-2x1.jsonl", 2048.0)?,
        ),
        (
            "GPT-2 124M, 8 × 64 tokens",
            read("ch08-ddp-gpt2-1x2.jsonl", 512.0)?,
            read("ch08-ddp-gpt2-2x1.jsonl", 512.0)?,
        ),
    ];
    println!("Measured here, one run after the other (book/runs/ch08-ddp-*.jsonl):\n");
    print!("{}", measured_table(&rows));

    // One rank's step at B = 4, T = 1,024, at the speed `gpt2 bench` measured at T = 64.
    let bench = std::fs::read_to_string(runs.join("ch08-mixed-f32.txt"))?;
    let phase = |name: &str| -> Result<f64> {
        let at = bench.find(&format!("{name} ")).map(|i| i + name.len() + 1);
        let text = at.map(|i| &bench[i..]).unwrap_or("");
        let number: String = text
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number
            .parse()
            .map_err(|_| anyhow::anyhow!("no {name} time in ch08-mixed-f32.txt"))
    };
    let (forward, backward, update) = (phase("forward")?, phase("backward")?, phase("optimizer")?);
    let config = gpt2::GPTConfig::preset("gpt2")?;
    let rate = config.train_flops_per_step(4, 64) / (forward + backward);
    let flops = config.train_flops_per_step(4, 1024);
    let compute = flops / rate;
    let mut sizes = Vec::new();
    gpt2::layers::Params::visit(&mut gpt2::GPT::new(config, 0), "", &mut |_, _, v, _| {
        sizes.push(v.len())
    });
    let buckets = gpt2::dist::buckets(&sizes, gpt2::dist::BUCKET).len();
    let model = CostModel {
        params: config.param_count().total() as f64,
        messages: buckets as f64,
        forward_s: compute * forward / (forward + backward),
        backward_s: compute * backward / (forward + backward),
        update_s: update,
        latency_s: 25e-6,
    };
    println!(
        "\nThe model: one rank's step of 4 × 1,024 tokens is {} GFLOP; at the {:.0} GFLOP/s of \
         `gpt2 bench` here that is {:.2} s forward, {:.2} s backward and {:.2} s of AdamW. \
         The gradient is {} numbers ({:.0} MB in f32) in {} tensors, summed in {buckets} buckets \
         of at most {} numbers, each message waiting {} µs.\n",
        gpt2::numfmt::group_digits((flops / 1e9).round() as u64),
        rate / 1e9,
        model.forward_s,
        model.backward_s,
        model.update_s,
        gpt2::numfmt::group_digits(model.params as u64),
        model.params * 4.0 / 1e6,
        sizes.len(),
        gpt2::numfmt::group_digits(gpt2::dist::BUCKET as u64),
        model.latency_s * 1e6
    );
    println!("Seconds per step, and N ranks' tokens per second over one rank's:\n");
    print!("{}", model_table(&model));
    let path = PathBuf::from("target/figures/ch08-ddp-model.svg");
    plot(&model, &path)?;
    println!("\nWrote the figure to {}.", path.display());
    Ok(())
}

/// The default run's loss curves in f32 and in bf16, on one chart: seed 1337's pair of
/// scripts/bf16_runs.sh.
fn curves() -> Result<()> {
    use chapter06::short_run::{Curve, plot};
    let pairs = chapter08::seeds::read(&runs_dir().join("ch08-seeds"))?;
    let curve = |log: &chapter06::run_log::RunLog| Curve {
        train: log.steps.iter().map(|s| (s.0, s.1)).collect(),
        val: log.val.iter().map(|v| (v.0, v.1)).collect(),
    };
    let (f32_run, bf16_run) = (curve(&pairs[0].f32), curve(&pairs[0].bf16));
    let path = PathBuf::from("target/figures/ch08-bf16-loss.svg");
    plot(
        &[
            ("f32", &f32_run, plotters::style::RGBColor(30, 90, 200)),
            (
                "bf16 multiplies",
                &bf16_run,
                plotters::style::RGBColor(210, 60, 40),
            ),
        ],
        &path,
    )?;
    println!("Wrote the curves to {}.", path.display());
    Ok(())
}

/// The default run from three seeds in f32 and in bf16: the table of their logs; then the
/// bf16 − f32 gap from more seeds, ours beside PyTorch's.
fn seeds() -> Result<()> {
    use chapter08::seeds::{GAP_SEEDS, gap_table, read, read_gaps, table};
    let dir = runs_dir().join("ch08-seeds");
    println!(
        "The default `gpt2 train` run (shakespeare preset, 1,000 steps of 8 x 128 tokens), \
validation every 100 steps, by seed:\n"
    );
    print!("{}", table(&read(&dir)?));
    println!(
        "\nThe gap between the precisions, from {} more seeds; beside it, the same recipe in PyTorch\n\
(transformers' GPT2LMHeadModel, fused AdamW, bf16 = autocast), which draws its own initial\n\
weights and batches from each seed. Final validation loss:\n",
        GAP_SEEDS.len()
    );
    print!("{}", gap_table(&read_gaps(&dir)?));
    Ok(())
}

/// Training steps beside PyTorch's, from the rounds scripts/side_by_side.sh keeps in `dir`.
fn side_by_side(dir: &std::path::Path) -> Result<()> {
    use chapter08::side_by_side::{parse, parse_products, products_table, table};
    for (file, title) in [
        (
            "side-by-side-shakespeare.txt",
            "shakespeare, B = 8, T = 128",
        ),
        ("side-by-side-gpt2.txt", "GPT-2 124M, B = 4, T = 64"),
    ] {
        let text = std::fs::read_to_string(dir.join(file))
            .with_context(|| format!("reading {}", dir.join(file).display()))?;
        let rounds = parse(&text).with_context(|| format!("reading {file}"))?;
        print!("{}", table(title, &rounds));
        println!();
    }
    let file = "side-by-side-matmul.txt";
    let text = std::fs::read_to_string(dir.join(file))
        .with_context(|| format!("reading {}", dir.join(file).display()))?;
    let rounds = parse_products(&text).with_context(|| format!("reading {file}"))?;
    let title = format!(
        "GPT-2 124M's products at B·T = 256, GFLOP/s: medians of {} rounds in turn (ours, \
         torch.matmul, ours / torch.matmul); bf16 from f32 includes our rounding and packing and \
         PyTorch's casts",
        rounds.len()
    );
    print!("{}", products_table(&title, &rounds));
    Ok(())
}

fn runs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/runs")
}

fn lines() {
    for (title, files) in [
        ("The readable GPT-2 (chapters 3 to 7)", &READABLE[..]),
        ("The library's modules for the same work", &LIBRARY[..]),
    ] {
        println!("{title}, lines of code (no blank lines, comments or tests):\n");
        let mut total = 0;
        for (path, source) in files {
            println!("  {path:<38} {:>5}", code_lines(source));
            total += code_lines(source);
        }
        println!("  {:<38} {total:>5}\n", "total");
    }
    let model: usize = READABLE[..5].iter().map(|(_, s)| code_lines(s)).sum();
    println!(
        "The readable model, forward, backward, AdamW and the loop (chapters 3 to 6): {model} lines.\n"
    );
}

fn versions() {
    println!("Each part of a training step, readable (chapters 3 to 7, one thread) and library:\n");
    println!(
        "{:<44} {:>10} {:>10} {:>9}",
        "part", "readable", "library", "speed-up"
    );
    let mut all = vec![training_step()];
    all.extend(parts());
    for v in &all {
        println!(
            "{:<44} {:>7.2} ms {:>7.2} ms {:>8.1}x",
            v.name,
            v.before * 1e3,
            v.after * 1e3,
            v.before / v.after
        );
    }
    println!("\nThe log-sum-exp of [256, 50257] logits, one thread, by exponential:\n");
    for (name, ms) in exp_versions() {
        println!("  {name:<34} {ms:>7.1} ms");
    }
    println!(
        "\nThe LM head's product for 256 positions, at GPT-2's vocabulary and padded to 50,304:\n"
    );
    for (c, v, ms) in vocab_padding() {
        println!("  C = {c:<4} V = {v:<6} {ms:>7.2} ms");
    }
    println!();
}

fn matmul() -> Result<()> {
    let (m, k, n) = (256, 768, 3072);
    println!("c = a·b with a: [{m}, {k}], b: [{k}, {n}] (GPT-2 small's c_fc at B·T = {m})\n");
    let rungs = ladder(m, k, n);
    let first = rungs[0].gflops;
    println!("{:<16} {:>9} {:>9}", "version", "GFLOP/s", "speed-up");
    for r in &rungs {
        println!("{:<16} {:>9.1} {:>9.0}", r.name, r.gflops, r.gflops / first);
    }
    let path = PathBuf::from("target/figures/ch08-matmul.svg");
    plot(&rungs, "The matrix multiply, [256, 768]·[768, 3072]", &path)?;
    println!("\nWrote the chart to {}.\n", path.display());
    Ok(())
}

/// Exercise 1: the multiply on one thread and on all, at c_fc's shape and at the LM head's.
fn threads() {
    use chapter08::exercises::one_thread_and_all;
    let all = rayon::current_num_threads();
    println!("The matrix multiply on 1 thread and on {all} (exercise 1), B·T = 256:\n");
    println!(
        "{:<33}{:>10}{:>10}{:>10}",
        "c = a·b",
        "1 thread",
        format!("{all} threads"),
        "ratio"
    );
    for (name, n) in [
        ("c_fc, [256, 768]·[768, 3072]", 3072),
        ("LM head, [256, 768]·[768, 50257]", 50257),
    ] {
        let [(_, one), (_, many)] = one_thread_and_all(256, 768, n);
        println!("{name:<33}{one:>10.1}{many:>10.1}{:>10.2}", many / one);
    }
    println!("(GFLOP/s)\n");
}

/// c_fc's dx = dy·Wᵀ with its matrices stored by rows or by columns, through gemm as they lie
/// and through the library's matmul.
fn orders() {
    use chapter08::orders::{gemm_orders, library_dx};
    let (m, k, n) = (256, 3072, 768);
    println!(
        "c = a·b with a: [{m}, {k}], b: [{k}, {n}] (c_fc's dx = dy·Wᵀ at B·T = {m}), gemm on all threads\n"
    );
    println!("{:<9}{:<9}{:<9}{:>8}", "a", "b", "c", "GFLOP/s");
    let order = |by_columns: bool| if by_columns { "columns" } else { "rows" };
    for o in gemm_orders(m, k, n) {
        let [a, b, c] = o.by_columns.map(order);
        println!("{a:<9}{b:<9}{c:<9}{:>8.0}", o.gflops);
    }
    println!(
        "\ngpt2::kernels::matmul, a by rows, b by columns, c by rows: {:.0} GFLOP/s\n",
        library_dx(m, k, n)
    );
}

fn bf16() -> Result<()> {
    let tok = Tokenizer::gpt2()?;
    let ids = gpt2::data::load_tokens(&gpt2::data::default_text_path(), &tok)?;
    let (train, val) = gpt2::data::split(&ids, 0.1);
    println!(
        "Training the `shakespeare` model for 200 short steps (as chapter 6's binary does)..."
    );
    let (_, model) = chapter06::short_run::library_short_run(train, &val[..8192], 200, 200, 0.0)?;
    let kinds = [Weights::Bf16, Weights::Int8, Weights::Int4];
    let mut rows = Vec::new();
    for w in kinds {
        rows.push(compare(&model, &val[..2049], w)?);
    }
    println!(
        "\nThe next token, {} times, through the KV cache, with f32 weights and smaller ones:",
        rows[0].predictions
    );
    println!("  weights  validation loss  change    largest logit change  same most likely token");
    println!("  f32      {:.5}", rows[0].loss_f32);
    for (w, c) in kinds.iter().zip(&rows) {
        println!(
            "  {:<5}    {:.5}          {:+.5}  {:.4}                {:.1}%",
            w.name(),
            c.loss_rounded,
            c.loss_rounded - c.loss_f32,
            c.max_logit_diff,
            100.0 * c.same_argmax
        );
    }
    println!("  (the logits span up to {:.1})", rows[0].logit_range);
    let prompt = tok.encode(PROMPT);
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    println!("\nAfter {PROMPT:?}, 40 tokens:");
    for w in kinds {
        let (full, other, same) = continuations(&model, &prompt, 40, &greedy, w)?;
        println!(
            "  greedy: the same {same} tokens with f32 and {} weights",
            w.name()
        );
        if same < full.len() {
            println!("     f32: {:?}", tok.decode(&full)?);
            println!("    {:>4}: {:?}", w.name(), tok.decode(&other)?);
        }
    }
    let (full, half, same) =
        continuations(&model, &prompt, 40, &Sampling::default(), Weights::Bf16)?;
    println!("  sampled at T = 1 with the same seed: the same first {same} tokens, then");
    println!("     f32: {:?}", tok.decode(&full)?);
    println!("    bf16: {:?}", tok.decode(&half)?);
    Ok(())
}
