//! The run and the figure shown in the book are what the exercise binary produces today (up to
//! the last digits, which may differ from one CPU to another).

#[test]
fn book_shows_the_real_output_and_curves() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter06"), &[], dir.path());
    // Losses to within 0.02: the library's run sums in an order that depends on the CPU.
    bookcheck::assert_book_copy_approx(&printed, "runs/ch06.txt", 0.0, 0.02);
    let figure = dir.path().join("target/figures/ch06-overfitting.svg");
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::copy(
            &figure,
            bookcheck::root().join("book/figures/ch06-overfitting.svg"),
        )
        .unwrap();
    }
}

/// The section "The run": its table, its figure and its sample are made from the JSON lines the
/// default `gpt2 train --json` printed, which the book keeps.
#[test]
fn the_default_runs_table_figure_and_sample_come_from_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = bookcheck::root().join(chapter06::run_log::SAVED);
    let log = log.to_str().unwrap();
    let table = bookcheck::run(
        env!("CARGO_BIN_EXE_chapter06"),
        &["--table", log],
        dir.path(),
    );
    bookcheck::assert_book_copy(table.as_bytes(), "runs/ch06-train-table.md");
    for name in ["ch06-loss.svg", "ch06-schedule.svg"] {
        let figure = std::fs::read(dir.path().join("target/figures").join(name)).unwrap();
        bookcheck::assert_book_copy(&figure, &format!("figures/{name}"));
    }
    let sample = bookcheck::run(
        env!("CARGO_BIN_EXE_chapter06"),
        &["--sample", log],
        dir.path(),
    );
    bookcheck::assert_book_copy(sample.as_bytes(), "runs/ch06-train-sample.txt");
    // The log is a whole run of the defaults: 1,000 steps, a validation every 200.
    let run = chapter06::run_log::RunLog::read(std::path::Path::new(log)).unwrap();
    assert_eq!(run.steps.len(), 1000);
    let validated: Vec<usize> = run.val.iter().map(|v| v.0).collect();
    assert_eq!(validated, [199, 399, 599, 799, 999]);
}
