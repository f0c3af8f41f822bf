//! The default `gpt2 train` run in bfloat16 ends no worse than 0.03 above the f32 run: both
//! logs are kept in book/runs, and chapter 8 states their last validation losses.

use chapter06::run_log::RunLog;

#[test]
fn the_bf16_run_ends_at_most_0_03_above_the_f32_run_and_the_book_says_so() {
    let read = |file: &str| RunLog::read(&bookcheck::root().join("book/runs").join(file)).unwrap();
    let (f32_run, bf16_run) = (read("ch06-train.jsonl"), read("ch08-train-bf16.jsonl"));
    assert_eq!(f32_run.steps.len(), 1000);
    assert_eq!(bf16_run.steps.len(), 1000);
    let last = |r: &RunLog| r.val.last().unwrap().1;
    let (a, b) = (last(&f32_run), last(&bf16_run));
    assert!(b <= a + 0.03, "f32 {a}, bf16 {b}");
    let page = bookcheck::page("ch08-optimization.md");
    for said in [format!("{b:.3}"), format!("{a:.3}")] {
        assert!(page.contains(&said), "chapter 8 does not say {said}");
    }
}

#[test]
fn the_figure_of_both_runs_is_drawn_from_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["curves"], dir.path());
    let figure = std::fs::read(dir.path().join("target/figures/ch08-bf16-loss.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch08-bf16-loss.svg");
}
