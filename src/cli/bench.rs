//! `gpt2 bench`: how fast this machine trains and generates, and how much memory it takes.

use std::io::Write;

use anyhow::{Result, bail};
use clap::Args;
use gpt2::GPTConfig;
use gpt2::quant::Weights;

/// The prompt whose first pass `gpt2 bench` times, in tokens (llama-bench's pp64).
const PROMPT: usize = 64;
use serde_json::json;

/// Measure training and generation speed, and peak memory, on random weights
///
/// Times training steps (forward, backward, clipping and AdamW; the median of --steps after a
/// warm-up) of a model of --preset on random tokens, then the matrix multiply at the shapes of
/// its largest layers (the MLP's c_fc and the LM head), then greedy generation with the KV cache
/// (f32 and bf16 weights) and without, and a 64-token prompt's first pass followed by new tokens
/// with f32, bf16, int8 and int4 weights. Nothing is read or written.
#[derive(Args)]
pub struct BenchArgs {
    /// The model's shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, shakespeare, nano
    #[arg(long, value_name = "NAME", default_value = "shakespeare")]
    preset: String,

    /// Sequences per training step
    #[arg(long, value_name = "B", default_value_t = 8)]
    batch: usize,

    /// Tokens per sequence [default: 128, or the block size if smaller]
    #[arg(long, value_name = "T")]
    seq: Option<usize>,

    /// Timed training steps (0 = skip training)
    #[arg(long, value_name = "N", default_value_t = 5)]
    steps: usize,

    /// Tokens to generate (0 = skip generation)
    #[arg(long, value_name = "N", default_value_t = 64)]
    generate: usize,

    /// The matrix multiplies' precision: f32, or bf16 with f32 sums (needs AVX512-BF16; on AMX
    /// where the CPU has it)
    #[arg(long, value_enum, default_value = "f32")]
    precision: super::PrecisionArg,

    /// Time only the matrix multiply, in f32 and in bf16, at the products of one training step
    /// (forward, dx and dW of the MLP and of the LM head, with B·T rows), then stop. bf16 is
    /// timed twice: from f32 operands, as a step multiplies, and from operands packed beforehand
    #[arg(long)]
    matmul: bool,

    /// Print one JSON object on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let config = GPTConfig::preset(&args.preset)?;
    let t = args.seq.unwrap_or(config.block_size.min(128));
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if t == 0 || t > config.block_size {
        bail!(
            "--seq must be within 1..={} (the context of {}), not {t}",
            config.block_size,
            args.preset
        );
    }
    let run = gpt2::train::TrainConfig {
        batch: args.batch,
        seq: t,
        ..Default::default()
    };
    super::check_memory(
        run.memory_floor(&config),
        "the benchmark (weights, gradients, AdamW's moments and one batch's logits)",
    )?;
    if args.matmul {
        return products(&args, config, args.batch * t);
    }
    super::set_precision(args.precision)?;
    let threads = rayon::current_num_threads();
    let precision = format!("{:?}", args.precision).to_lowercase();
    let mut report = json!({"preset": args.preset, "batch": args.batch, "seq": t, "threads": threads, "precision": precision});
    if args.precision == super::PrecisionArg::Bf16 {
        report["bf16_instructions"] = json!(gpt2::matmul_bf16::instructions());
    }
    let mut err = std::io::stderr().lock();
    if args.steps > 0 {
        writeln!(
            err,
            "timing {} training steps of {} x {t} tokens...",
            args.steps, args.batch
        )?;
        let s = gpt2::bench::train_step(config, args.batch, t, args.steps)?;
        report["train"] = json!({
            "seconds_per_step": s.seconds, "forward_s": s.forward, "backward_s": s.backward,
            "optimizer_s": s.optimizer, "tokens_per_s": s.tokens_per_s, "gflops": s.gflops,
        });
    }
    let (n, c, v) = (args.batch * t, config.n_embd, config.vocab_size);
    let (lm_head, mlp) = (
        gpt2::bench::matmul_gflops(n, c, v, 3),
        gpt2::bench::matmul_gflops(n, c, 4 * c, 5),
    );
    report["matmul_gflops"] = json!({"lm_head": lm_head, "mlp_c_fc": mlp});
    if let Some(g) = report["train"]["gflops"].as_f64() {
        // The step's achieved rate, as a share of the best the multiply reaches here.
        report["train"]["fraction_of_matmul_peak"] = json!(g / lm_head.max(mlp));
    }
    if args.generate > 0 {
        use gpt2::bench::{Decoding, generation};
        let mut model = gpt2::GPT::new(config, 0);
        writeln!(err, "generating {} tokens...", args.generate)?;
        report["generate_tokens_per_s"] =
            json!(generation(&mut model, args.generate, Decoding::Cached)?);
        let uncached = args.generate.min(32);
        writeln!(err, "generating {uncached} tokens without the cache...")?;
        report["generate_uncached_tokens_per_s"] =
            json!(generation(&mut model, uncached, Decoding::Uncached)?);
        writeln!(
            err,
            "generating {} tokens with bf16 weights...",
            args.generate
        )?;
        report["generate_bf16_tokens_per_s"] =
            json!(generation(&mut model, args.generate, Decoding::CachedBf16)?);
        for w in [Weights::F32, Weights::Bf16, Weights::Int8, Weights::Int4] {
            writeln!(
                err,
                "a prompt of {PROMPT} tokens, then {} new ones, with {} weights...",
                args.generate,
                w.name()
            )?;
            let d = gpt2::bench::decode(&mut model, w, PROMPT, args.generate)?;
            report["decode"][w.name()] = json!({
                "prefill_tokens_per_s": d.prefill_tokens_per_s,
                "decode_tokens_per_s": d.decode_tokens_per_s,
                "weight_bytes": d.weight_bytes,
            });
        }
    }
    report["peak_memory_bytes"] = json!(gpt2::bench::peak_memory());
    let mut out = super::stdout();
    if args.json {
        writeln!(out, "{report}")?;
        return Ok(());
    }
    let mixed = match gpt2::matmul_bf16::instructions() {
        Some(on) if args.precision == super::PrecisionArg::Bf16 => {
            format!(", matrix multiplies in bf16 ({on})")
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{} ({} parameters), {threads} threads{mixed}",
        args.preset,
        gpt2::numfmt::group_digits(config.param_count().total() as u64)
    )?;
    if let Some(tr) = report.get("train") {
        writeln!(
            out,
            "training, B = {}, T = {t}: {:.3} s per step (forward {:.3}, backward {:.3}, optimizer {:.3}), {:.0} tokens/s, {:.0} GFLOP/s, {:.0}% of the multiply's peak",
            args.batch,
            tr["seconds_per_step"].as_f64().unwrap_or(0.0),
            tr["forward_s"].as_f64().unwrap_or(0.0),
            tr["backward_s"].as_f64().unwrap_or(0.0),
            tr["optimizer_s"].as_f64().unwrap_or(0.0),
            tr["tokens_per_s"].as_f64().unwrap_or(0.0),
            tr["gflops"].as_f64().unwrap_or(0.0),
            100.0 * tr["fraction_of_matmul_peak"].as_f64().unwrap_or(0.0)
        )?;
    }
    let mm = &report["matmul_gflops"];
    writeln!(
        out,
        "matrix multiply: LM head [{n}, {c}]·[{c}, {v}] {:.0} GFLOP/s, MLP [{n}, {c}]·[{c}, {}] {:.0} GFLOP/s",
        mm["lm_head"].as_f64().unwrap_or(0.0),
        4 * c,
        mm["mlp_c_fc"].as_f64().unwrap_or(0.0)
    )?;
    if let Some(g) = report["generate_tokens_per_s"].as_f64() {
        let u = report["generate_uncached_tokens_per_s"]
            .as_f64()
            .unwrap_or(0.0);
        let b = report["generate_bf16_tokens_per_s"].as_f64().unwrap_or(0.0);
        writeln!(
            out,
            "generation, batch 1: {g:.1} tokens/s with the KV cache ({b:.1} with bf16 weights), {u:.1} without"
        )?;
        let prompt = PROMPT.min(config.block_size / 2);
        writeln!(
            out,
            "weights: MB read per token, a {prompt}-token prompt's tokens/s, then new tokens/s"
        )?;
        for w in [Weights::F32, Weights::Bf16, Weights::Int8, Weights::Int4] {
            let d = &report["decode"][w.name()];
            writeln!(
                out,
                "  {:<5} {:>7.1} MB {:>9.1} {:>9.1}",
                w.name(),
                d["weight_bytes"].as_f64().unwrap_or(0.0) / 1e6,
                d["prefill_tokens_per_s"].as_f64().unwrap_or(0.0),
                d["decode_tokens_per_s"].as_f64().unwrap_or(0.0)
            )?;
        }
    }
    if let Some(m) = report["peak_memory_bytes"].as_u64() {
        writeln!(
            out,
            "peak resident memory: {:.2} GiB",
            m as f64 / (1u64 << 30) as f64
        )?;
    }
    Ok(())
}

/// `--matmul`: GFLOP/s of each product of a training step, f32 then bf16 (where the CPU has it),
/// from f32 operands as a step multiplies them and from operands packed in bf16 beforehand.
fn products(args: &BenchArgs, config: GPTConfig, rows: usize) -> Result<()> {
    use gpt2::kernels::{Precision, set_precision};
    let threads = rayon::current_num_threads();
    let mut err = std::io::stderr().lock();
    let mut table = Vec::new();
    for p in gpt2::bench::step_products(&config, rows) {
        let (m, k, n) = (p.m, p.k, p.n);
        writeln!(err, "timing {}...", p.name)?;
        // About 0.4 s of multiplies at 100 GFLOP/s per precision, and never fewer than 3.
        let reps = ((4e10 / (2.0 * (m * k * n) as f64)) as usize).clamp(3, 20);
        set_precision(Precision::F32);
        let f32 = gpt2::bench::product_gflops(&p, reps);
        let bf16 = set_precision(Precision::Bf16).then(|| gpt2::bench::product_gflops(&p, reps));
        let prepacked = gpt2::bench::product_gflops_prepacked(&p, reps);
        table.push(json!({"name": p.name, "m": m, "k": k, "n": n, "a_transposed": p.a_t, "b_transposed": p.b_t, "f32": f32, "bf16": bf16, "bf16_prepacked": prepacked}));
    }
    set_precision(Precision::F32);
    let mut out = super::stdout();
    if args.json {
        let report = json!({"preset": args.preset, "rows": rows, "threads": threads, "matmul_gflops": table});
        writeln!(out, "{report}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} products at {rows} rows, {threads} threads; the matrix multiply, GFLOP/s: in f32; in bf16 \
         from f32 operands (rounding and packing included); in bf16 from operands packed beforehand",
        args.preset
    )?;
    let rate = |g: &serde_json::Value| match g.as_f64() {
        Some(g) => format!("{g:6.0}"),
        None => format!("{:>6}", "-"),
    };
    for p in &table {
        let shape = format!("[{}, {}]·[{}, {}]", p["m"], p["k"], p["k"], p["n"]);
        writeln!(
            out,
            "{:<26} {shape:<26} f32 {}  bf16 from f32 {}  from bf16 {}",
            p["name"].as_str().unwrap_or(""),
            rate(&p["f32"]),
            rate(&p["bf16"]),
            rate(&p["bf16_prepacked"])
        )?;
    }
    Ok(())
}
