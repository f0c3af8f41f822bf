//! The run and the diagram shown in the book are what the exercise binary produces today.

#[test]
fn book_shows_the_real_output() {
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter05"), &[], &bookcheck::root());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch05.txt");
    let figure = std::fs::read(bookcheck::root().join("target/figures/ch05-model.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch05-model.svg");
}
