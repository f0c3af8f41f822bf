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

/// Like [`assert_book_copy`] for output whose numbers may move in their last digits from one
/// CPU to another (a different matrix-multiply kernel sums in a different order): the words
/// must be equal, and each number equal to within `abs` plus `rel` times the largest number on
/// its line. A line that starts with `measured:` holds timings: its words must be equal, its
/// numbers are not compared.
pub fn assert_book_copy_approx(produced: &str, saved: &str, rel: f64, abs: f64) {
    let path = root().join("book").join(saved);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::write(&path, produced).unwrap();
    }
    let shown =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stale = |why: String| -> ! {
        panic!(
            "book/{saved} is out of date ({why}): run the tests with UPDATE_RUNS=1 to refresh it"
        )
    };
    let number = |w: &str| w.trim_end_matches(['s', ',', '%']).parse::<f64>().ok();
    let (old, new): (Vec<&str>, Vec<&str>) = (shown.lines().collect(), produced.lines().collect());
    if old.len() != new.len() {
        stale(format!("{} lines there, {} now", old.len(), new.len()));
    }
    for (a, b) in old.iter().zip(&new) {
        let (wa, wb): (Vec<&str>, Vec<&str>) = (
            a.split_whitespace().collect(),
            b.split_whitespace().collect(),
        );
        let scale = wa
            .iter()
            .chain(&wb)
            .filter_map(|w| number(w))
            .fold(0.0f64, |m, x| m.max(x.abs()));
        let same = wa.len() == wb.len()
            && wa
                .iter()
                .zip(&wb)
                .all(|(x, y)| match (number(x), number(y)) {
                    (Some(_), Some(_)) if a.starts_with("measured:") => true,
                    (Some(x), Some(y)) => (x - y).abs() <= abs + rel * scale,
                    _ => x == y,
                });
        if !same {
            stale(format!("`{a}` there, `{b}` now"));
        }
    }
}
