//! The run and the diagrams shown in the book are what the exercise binary produces today (up to the last digits:
//! without LayerNorm, rounding differences between CPUs grow with depth).

#[test]
fn book_shows_the_real_output() {
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter04"), &[], &bookcheck::root());
    bookcheck::assert_book_copy_approx(&printed, "runs/ch04.txt", 1e-3, 2e-3);
    for name in ["ch04-block.svg", "ch04-mlp.svg"] {
        let figure = std::fs::read(bookcheck::root().join("target/figures").join(name)).unwrap();
        bookcheck::assert_book_copy(&figure, &format!("figures/{name}"));
    }
}
