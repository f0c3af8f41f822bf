//! The run and the heat map shown in the book are what the exercise binary produces today.

#[test]
fn book_shows_the_real_output_and_heat_map() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter03"), &[], dir.path());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch03.txt");
    let figure = std::fs::read(dir.path().join("target/figures/ch03-attention.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch03-attention.svg");
    for name in ["ch03-heads.svg", "ch03-mask.svg"] {
        let figure = std::fs::read(dir.path().join("target/figures").join(name)).unwrap();
        bookcheck::assert_book_copy(&figure, &format!("figures/{name}"));
    }
}
