//! Our encoder against tiktoken-rs on tiny Shakespeare, one thread each.
//! `cargo bench -p chapter02`; throughput is reported in bytes of text per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gpt2::Tokenizer;

fn encode(c: &mut Criterion) {
    let text = std::fs::read_to_string(gpt2::data::default_text_path()).expect("bundled data");
    let ours = Tokenizer::gpt2().expect("GPT-2 ranks");
    let theirs = tiktoken_rs::r50k_base().expect("GPT-2 ranks");
    assert_eq!(ours.encode(&text), theirs.encode_ordinary(&text));

    let mut group = c.benchmark_group("encode tiny Shakespeare");
    group.throughput(Throughput::BytesDecimal(text.len() as u64));
    group.sample_size(20);
    group.bench_function("gpt2 (ours)", |b| b.iter(|| ours.encode(&text)));
    group.bench_function("tiktoken-rs", |b| b.iter(|| theirs.encode_ordinary(&text)));
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
