//! Each kernel of a training step or a generated token, the naive version against the one the
//! library uses. `cargo bench -p chapter08`

use chapter08::exercises::one_thread_pool;
use chapter08::naive::{
    layernorm_rows, logsumexp_libm, matmul_blocked, matmul_ijk, matmul_ikj, matmul_tiled,
};
use criterion::{Criterion, criterion_group, criterion_main};
use gpt2::kernels::{matmul, max_and_exp_sum};
use gpt2::layers::{LayerNorm, Params, gelu, gelu_forward};
use gpt2::matmul_bf16::PackedB;
use gpt2::optim::{AdamW, AdamWConfig};
use gpt2::{GPT, GPTConfig};
use ndarray::{Array1, Array2};
use std::hint::black_box;

fn data(rows: usize, cols: usize, seed: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17 + seed) % 97) as f32 / 48.5 - 1.0
    })
}

fn matrix_multiply(c: &mut Criterion) {
    let (m, k, n) = (64, 768, 768);
    let (a, b) = (data(m, k, 1), data(k, n, 2));
    let (a_s, b_s) = (a.as_slice().unwrap(), b.as_slice().unwrap());
    let mut out = Array2::zeros((m, n));
    let mut g = c.benchmark_group("matmul [64, 768]·[768, 768]");
    g.sample_size(10);
    g.bench_function("ijk loops", |bch| {
        bch.iter(|| matmul_ijk(a_s, b_s, out.as_slice_mut().unwrap(), m, k, n))
    });
    g.bench_function("ikj loops", |bch| {
        bch.iter(|| matmul_ikj(a_s, b_s, out.as_slice_mut().unwrap(), m, k, n))
    });
    g.bench_function("ikj blocked", |bch| {
        bch.iter(|| matmul_blocked(a_s, b_s, out.as_slice_mut().unwrap(), m, k, n))
    });
    g.bench_function("register tiles", |bch| {
        bch.iter(|| matmul_tiled(a_s, b_s, out.as_slice_mut().unwrap(), m, k, n))
    });
    g.bench_function("ndarray dot", |bch| {
        bch.iter(|| ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut out))
    });
    let pool = one_thread_pool();
    g.bench_function("gemm, 1 thread", |bch| {
        bch.iter(|| pool.install(|| matmul(a.view(), b.view(), out.view_mut(), false)))
    });
    g.bench_function("gemm, all threads", |bch| {
        bch.iter(|| matmul(a.view(), b.view(), out.view_mut(), false))
    });
    g.finish();
}

fn matrix_vector(c: &mut Criterion) {
    // Twelve layers' worth of c_fc, 113 MB: more than the caches hold, as in a whole model.
    let (k, n) = (768, 3072);
    let x = data(1, k, 3);
    let ws: Vec<Array2<f32>> = (0..12).map(|l| data(k, n, 4 + l)).collect();
    let halves: Vec<PackedB> = ws.iter().map(|w| PackedB::new(w.view())).collect();
    let mut y = Array2::zeros((1, n));
    let mut g = c.benchmark_group("one row through 12 x [768, 3072]");
    g.sample_size(20);
    g.bench_function("ndarray dot", |b| {
        b.iter(|| ws.iter().map(|w| x.dot(w)[[0, 0]]).sum::<f32>())
    });
    g.bench_function("matmul, row-split", |b| {
        b.iter(|| {
            for w in &ws {
                matmul(x.view(), w.view(), y.view_mut(), false);
            }
        })
    });
    g.bench_function("bf16, pairs of rows", |b| {
        b.iter(|| {
            let (x, y) = (x.as_slice().unwrap(), y.as_slice_mut().unwrap());
            for h in &halves {
                h.matvec(x, y, false);
            }
        })
    });
    g.finish();
}

fn exponentials(c: &mut Criterion) {
    let logits = data(1, 50257, 5).into_raw_vec_and_offset().0;
    let mut g = c.benchmark_group("log-sum-exp of 50257 logits");
    g.bench_function("f32::exp", |b| {
        b.iter(|| logsumexp_libm(black_box(&logits)))
    });
    g.bench_function("fast_exp, vectorized", |b| {
        b.iter(|| {
            let (max, sum) = max_and_exp_sum(black_box(&logits));
            max + sum.ln()
        })
    });
    g.finish();
}

fn gelu_and_layernorm(c: &mut Criterion) {
    let x = data(256, 3072, 6);
    let mut y = Array2::zeros(x.raw_dim());
    let mut g = c.benchmark_group("GELU of [256, 3072]");
    g.bench_function("f32::tanh, one by one", |b| {
        b.iter(|| y.zip_mut_with(&x, |y, &x| *y = gelu(x)))
    });
    g.bench_function("fast_tanh, vectorized, threads", |b| {
        b.iter(|| gelu_forward(x.view(), y.view_mut()))
    });
    g.finish();

    let x = data(256, 768, 7);
    let ln = LayerNorm::new(768, 1e-5);
    let mut y = Array2::zeros(x.raw_dim());
    let (mut mean, mut rstd) = (Array1::zeros(256), Array1::zeros(256));
    let mut g = c.benchmark_group("LayerNorm of [256, 768]");
    g.bench_function("rows one after another", |b| {
        b.iter(|| layernorm_rows(x.view(), y.view_mut(), 1e-5))
    });
    g.bench_function("rows across threads", |b| {
        b.iter(|| ln.forward(x.view(), y.view_mut(), mean.view_mut(), rstd.view_mut()))
    });
    g.finish();
}

fn optimizer(c: &mut Criterion) {
    let mut model = GPT::new(GPTConfig::preset("shakespeare").unwrap(), 0);
    model.visit("", &mut |_, _, _, g| g.fill(1e-3));
    let mut adamw = AdamW::new(&mut model, AdamWConfig::default());
    let mut g = c.benchmark_group("AdamW step, 7.2M parameters");
    g.sample_size(20);
    let pool = one_thread_pool();
    g.bench_function("1 thread", |b| {
        b.iter(|| pool.install(|| adamw.step(&mut model, 1e-4)))
    });
    g.bench_function("all threads", |b| b.iter(|| adamw.step(&mut model, 1e-4)));
    g.finish();
}

criterion_group!(
    benches,
    matrix_multiply,
    matrix_vector,
    exponentials,
    gelu_and_layernorm,
    optimizer
);
criterion_main!(benches);
