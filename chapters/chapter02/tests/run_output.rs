//! The run and the figure shown in the book are what the exercise binary produces today.

#[test]
fn book_shows_the_real_output_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter02"), &[], dir.path());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch02.txt");
    let figure = std::fs::read(dir.path().join("target/figures/ch02-compression.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch02-compression.svg");
}
