//! The run shown in the book is what the exercise binary prints today (up to the last digits:
//! without LayerNorm, rounding differences between CPUs grow with depth).

#[test]
fn book_shows_the_real_output() {
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter04"), &[], &bookcheck::root());
    bookcheck::assert_book_copy_approx(&printed, "runs/ch04.txt", 1e-3, 2e-3);
}
