//! Time to generate one token with and without the KV cache, at several context lengths.
//! `cargo bench -p chapter07`

use criterion::{Criterion, criterion_group, criterion_main};
use gpt2::generate::{Sampling, pick};
use gpt2::rng::Rng;
use gpt2::{GPT, GPTConfig};
use ndarray::Array2;

fn per_token(c: &mut Criterion) {
    let mut config = GPTConfig::preset("gpt2").unwrap();
    config.n_layer = 4;
    let mut model = GPT::new(config, 1);
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    let mut group = c.benchmark_group("one token, width 768, 4 blocks");
    group.sample_size(10);
    for context in [64usize, 256, 1024] {
        let ids: Vec<u32> = (0..context as u32).map(|i| i * 7 % 50000).collect();
        let mut cache = model.new_cache();
        model
            .forward_cached(&ids[..context - 1], &mut cache)
            .unwrap();
        group.bench_function(format!("cached, context {context}"), |b| {
            b.iter(|| {
                let mut c = cache.clone();
                let logits = model.forward_cached(&ids[context - 1..], &mut c).unwrap();
                pick(logits.as_slice().unwrap(), &greedy, &mut Rng::new(0))
            })
        });
        let x = Array2::from_shape_vec((1, context), ids.clone()).unwrap();
        group.bench_function(format!("uncached, context {context}"), |b| {
            b.iter(|| model.forward(x.view(), None).unwrap().0.len())
        });
    }
    group.finish();
}

criterion_group!(benches, per_token);
criterion_main!(benches);
