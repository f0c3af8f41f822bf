//! The run shown in the book is what the exercise binary prints today.

#[test]
fn book_shows_the_real_output() {
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter05"), &[], &bookcheck::root());
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch05.txt");
}
