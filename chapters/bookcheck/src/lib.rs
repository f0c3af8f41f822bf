//! Test helpers shared by the chapter crates: what the book shows (a run's output, a figure)
//! is what the code produces today.
//!
//! Set `UPDATE_RUNS=1` when running the tests to refresh the book's copies after a deliberate
//! change, then review the difference.

pub mod po;
pub mod tex;

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
/// CPU to another (a different matrix-multiply kernel, or another number of threads, sums in a
/// different order). The words must be equal, and so must every whole number (a count, an id, a
/// step); a number with a decimal point may differ by `abs` plus `rel` times its own size. A
/// line that starts with `measured:` holds timings: its words must be equal, its numbers are not
/// compared.
pub fn assert_book_copy_approx(produced: &str, saved: &str, rel: f64, abs: f64) {
    compare_lines(produced, saved, &|line, x, y| {
        line.starts_with("measured:") || within(x, y, rel, abs)
    });
}

/// Like [`assert_book_copy`] for a run whose every number is a timing, measured and not
/// reproducible: its words and its lines must be equal, its numbers are not compared.
pub fn assert_book_copy_words(produced: &str, saved: &str) {
    compare_lines(produced, saved, &|_, _, _| true);
}

/// Two printed numbers agree: whole numbers exactly, others to within abs + rel·|x|.
fn within(x: &str, y: &str, rel: f64, abs: f64) -> bool {
    let whole = |w: &str| !w.contains(['.', 'e', 'E']);
    let (a, b) = (number(x).unwrap(), number(y).unwrap());
    if whole(x) && whole(y) {
        return a == b;
    }
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// A word read as a number, without a trailing unit or punctuation (`6.2x`, `12%`, `3,`).
fn number(w: &str) -> Option<f64> {
    w.trim_end_matches(['s', ',', '%', 'x']).parse::<f64>().ok()
}

/// Compares `produced` with the book's copy line by line and word by word; `numbers_agree(line,
/// saved_word, produced_word)` decides for two words that are both numbers.
fn compare_lines(produced: &str, saved: &str, numbers_agree: &dyn Fn(&str, &str, &str) -> bool) {
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
    let (old, new): (Vec<&str>, Vec<&str>) = (shown.lines().collect(), produced.lines().collect());
    if old.len() != new.len() {
        stale(format!("{} lines there, {} now", old.len(), new.len()));
    }
    for (a, b) in old.iter().zip(&new) {
        let (wa, wb): (Vec<&str>, Vec<&str>) = (
            a.split_whitespace().collect(),
            b.split_whitespace().collect(),
        );
        let same = wa.len() == wb.len()
            && wa
                .iter()
                .zip(&wb)
                .all(|(x, y)| match (number(x), number(y)) {
                    (Some(_), Some(_)) => numbers_agree(a, x, y),
                    _ => x == y,
                });
        if !same {
            stale(format!("`{a}` there, `{b}` now"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn each_number_has_its_own_tolerance() {
        // A loss of 6.168 may move by the stated 0.02, not by a share of a larger number.
        assert!(within("6.168", "6.150", 0.0, 0.02));
        assert!(!within("6.168", "6.100", 0.0, 0.02));
        // Whole numbers (steps, counts, ids) are exact.
        assert!(!within("200", "201", 0.5, 10.0));
        assert!(within("-0.000", "0.000", 0.0, 0.0));
        // A relative tolerance scales with the number itself.
        assert!(within("169365.250", "170000.1", 0.01, 0.0));
        assert!(!within("0.992", "1.100", 0.01, 0.002));
    }
}
