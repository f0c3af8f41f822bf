//! The default `gpt2 train` run in f32 and in bf16 from three seeds (scripts/bf16_runs.sh): the
//! logs are whole, the table and the figure in the book are made from them, and what chapter 8
//! concludes from them holds.

use chapter08::seeds::{SEEDS, TARGET, last_val, read, time_to};

fn pairs() -> Vec<chapter08::seeds::Pair> {
    read(&bookcheck::root().join("book/runs/ch08-seeds")).unwrap()
}

#[test]
fn every_run_is_whole_and_the_book_shows_their_table() {
    let pairs = pairs();
    assert_eq!(pairs.len(), SEEDS.len());
    for p in &pairs {
        for log in [&p.f32, &p.bf16] {
            assert_eq!(log.steps.len(), 1000, "seed {}", p.seed);
            assert_eq!(log.val.len(), 10, "seed {}", p.seed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["seeds"], dir.path());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch08-seeds.txt");
}

#[test]
fn seeds_spread_the_final_loss_as_much_as_bf16_moves_it_and_bf16_is_faster() {
    let pairs = pairs();
    let spread = |v: Vec<f32>| {
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        hi - lo
    };
    let f32_last: Vec<f32> = pairs.iter().map(|p| last_val(&p.f32)).collect();
    let bf16_last: Vec<f32> = pairs.iter().map(|p| last_val(&p.bf16)).collect();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let gap = mean(&bf16_last) - mean(&f32_last);
    // Chapter 8: the means differ by less than the spread of either precision's three seeds.
    assert!(
        gap.abs() < spread(f32_last.clone()),
        "gap {gap}, f32 {f32_last:?}"
    );
    assert!(
        gap.abs() < spread(bf16_last.clone()),
        "gap {gap}, bf16 {bf16_last:?}"
    );
    // ... and with the same seed, bf16 ended within 0.01 of f32 twice in three.
    let close = f32_last
        .iter()
        .zip(&bf16_last)
        .filter(|(a, b)| (*a - *b).abs() < 0.01)
        .count();
    assert_eq!(close, 2);
    // Every bf16 run is at least 1.3 times as fast as the f32 run of its seed.
    for p in &pairs {
        let ratio = p.bf16.median_tokens_per_s() / p.f32.median_tokens_per_s();
        assert!(ratio >= 1.3, "seed {}: {ratio}", p.seed);
    }
    // No run reached a validation loss of 4.94 within 3 minutes.
    for p in &pairs {
        for log in [&p.f32, &p.bf16] {
            assert!(time_to(log, TARGET).is_none_or(|(_, s)| s > 180.0));
        }
    }
}

#[test]
fn the_figure_of_both_runs_is_drawn_from_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["curves"], dir.path());
    let figure = std::fs::read(dir.path().join("target/figures/ch08-bf16-loss.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch08-bf16-loss.svg");
}
