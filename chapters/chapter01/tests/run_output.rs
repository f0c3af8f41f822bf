//! The run shown in the book is what the exercise binary prints today.
//! After a deliberate change, refresh the book's copy with `UPDATE_RUNS=1 cargo test -p chapter01`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn book_shows_the_real_output() {
    let out = Command::new(env!("CARGO_BIN_EXE_chapter01"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let saved = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/runs/ch01.txt");
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::write(&saved, &printed).unwrap();
    }
    let shown = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(
        shown, printed,
        "book/runs/ch01.txt is out of date (UPDATE_RUNS=1 refreshes it)"
    );
}
