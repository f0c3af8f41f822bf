//! The run and the figures shown in the book are what the exercise binary produces today.

#[test]
fn book_shows_the_real_output_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter02"), &[], dir.path());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch02.txt");
    for name in ["ch02-compression.svg", "ch02-merges.svg"] {
        let figure = std::fs::read(dir.path().join("target/figures").join(name)).unwrap();
        bookcheck::assert_book_copy(&figure, &format!("figures/{name}"));
    }
}
