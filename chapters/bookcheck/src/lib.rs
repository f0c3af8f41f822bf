//! Test helpers shared by the chapter crates: what the book shows (a run's output, a figure)
//! is what the code produces today.
//!
//! Set `UPDATE_RUNS=1` when running the tests to refresh the book's copies after a deliberate
//! change, then review the difference.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (where `book/` lives).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of a page of the book, e.g. `page("ch01-overview.md")`.
pub fn page(name: &str) -> String {
    let path = root().join("book").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `binary` with `args` in `dir` and returns its standard output; panics on failure.
pub fn run(binary: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    assert!(
        out.status.success(),
        "{binary} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Asserts that `produced` equals the book's copy at `book/<saved>` (refreshing it first when
/// `UPDATE_RUNS` is set).
pub fn assert_book_copy(produced: &[u8], saved: &str) {
    let path = root().join("book").join(saved);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::write(&path, produced).unwrap();
    }
    let shown = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        shown == produced,
        "book/{saved} is out of date: run the tests with UPDATE_RUNS=1 to refresh it"
    );
}
