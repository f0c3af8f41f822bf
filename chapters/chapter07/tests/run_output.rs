//! The run and the bar charts shown in the book are what the exercise binary produces today (up
//! to the last digits, which may differ from one CPU to another).

#[test]
fn book_shows_the_real_output_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter07"), &[], dir.path());
    // The model comes from the library's trainer, whose sums depend on the CPU: losses and
    // probabilities to within 0.02; the sampled text, word for word.
    bookcheck::assert_book_copy_approx(&printed, "runs/ch07.txt", 0.0, 0.02);
    let diagram = std::fs::read(dir.path().join("target/figures/ch07-kv-cache.svg")).unwrap();
    bookcheck::assert_book_copy(&diagram, "figures/ch07-kv-cache.svg");
    let figure = dir.path().join("target/figures/ch07-distribution.svg");
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::copy(
            &figure,
            bookcheck::root().join("book/figures/ch07-distribution.svg"),
        )
        .unwrap();
    }
}

#[test]
fn book_shows_the_cache_timing() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter07"), &["--timing"], dir.path());
    // Words equal, numbers free: every number of this run is a timing, measured, not reproduced.
    bookcheck::assert_book_copy_words(&printed, "runs/ch07-timing.txt");
    let figure = dir.path().join("target/figures/ch07-cache.svg");
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::copy(
            &figure,
            bookcheck::root().join("book/figures/ch07-cache.svg"),
        )
        .unwrap();
    }
}
