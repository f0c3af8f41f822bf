//! The file format of a trained tokenizer: plain text, one merge per line.
//!
//! ```text
//! gpt2-rs bpe 1
//! pattern gpt2
//! merges 3
//! 104 101
//! 256 108
//! 32 116
//! ```
//!
//! - line 1: the format's name and version;
//! - line 2: the pre-tokenization rule (`gpt2`, the only one: GPT-2's pattern);
//! - line 3: the number of merges N that follow;
//! - then N lines `a b`: merge k (counting from 0) makes token 256 + k from tokens a and b,
//!   which must already exist (ids 0..=255 are the bytes 0..=255).
//!
//! The vocabulary is 256 + N + 1 ids; the last one, 256 + N, is `<|endoftext|>`.

use std::path::Path;

use super::{Tokenizer, TokenizerError};

const MAGIC: &str = "gpt2-rs bpe 1";

/// Does the file at `path` begin as a tokenizer file does? (False if it cannot be read.)
pub fn is_tokenizer_file(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head == MAGIC.as_bytes())
}

impl Tokenizer {
    /// The text of a tokenizer file for this tokenizer's merges.
    pub fn to_file_text(&self) -> String {
        let mut out = format!("{MAGIC}\npattern gpt2\nmerges {}\n", self.merges.len());
        for (a, b) in &self.merges {
            out.push_str(&format!("{a} {b}\n"));
        }
        out
    }

    /// Writes the tokenizer file atomically: to a temporary file beside `path`, then renamed.
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        crate::fsutil::write_atomic(path, self.to_file_text().as_bytes()).map_err(|source| {
            TokenizerError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// `gpt2` for GPT-2's own tokenizer, otherwise the path of a tokenizer file.
    pub fn from_spec(spec: &str) -> Result<Tokenizer, TokenizerError> {
        match spec {
            "gpt2" => Tokenizer::gpt2(),
            path => Tokenizer::load(Path::new(path)),
        }
    }

    /// Reads a tokenizer file written by [`Tokenizer::save`].
    pub fn load(path: &Path) -> Result<Tokenizer, TokenizerError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
            path: shown.clone(),
            source,
        })?;
        Tokenizer::parse_file_text(&text, &shown)
    }

    /// Parses the text of a tokenizer file; `path` only names it in errors.
    pub fn parse_file_text(text: &str, path: &str) -> Result<Tokenizer, TokenizerError> {
        let fail = |line: usize, message: String| TokenizerError::Format {
            path: path.to_string(),
            line,
            message,
        };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(fail(
                1,
                format!("not a tokenizer file (expected `{MAGIC}`)"),
            ));
        }
        match lines.next() {
            Some("pattern gpt2") => {}
            other => {
                return Err(fail(
                    2,
                    format!("expected `pattern gpt2`, found `{}`", other.unwrap_or("")),
                ));
            }
        }
        let n: usize = lines
            .next()
            .and_then(|l| l.strip_prefix("merges "))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| fail(3, "expected `merges N`".to_string()))?;
        // A merge takes at least four bytes of the file: a count larger than that is an error
        // below, not an allocation.
        let mut merges = Vec::with_capacity(n.min(text.len() / 4));
        for k in 0..n {
            let line_no = 4 + k;
            let line = lines
                .next()
                .ok_or_else(|| fail(line_no, format!("the file ends after {k} of {n} merges")))?;
            let ids: Vec<u32> = line
                .split_whitespace()
                .map(|x| x.parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| fail(line_no, format!("expected two token ids, found `{line}`")))?;
            let made = 256 + k as u32;
            match ids[..] {
                [a, b] if a < made && b < made => merges.push((a, b)),
                [_, _] => {
                    return Err(fail(
                        line_no,
                        format!("merge {k} may only use ids below {made}, found `{line}`"),
                    ));
                }
                _ => {
                    return Err(fail(
                        line_no,
                        format!("expected two token ids, found `{line}`"),
                    ));
                }
            }
        }
        if let Some((i, extra)) = lines.enumerate().find(|(_, l)| !l.trim().is_empty()) {
            return Err(fail(
                4 + n + i,
                format!("unexpected text after the merges: `{extra}`"),
            ));
        }
        Ok(Tokenizer::from_merges(merges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let tok = crate::tokenizer::train::train("hello hello help", 262).unwrap();
        let again = Tokenizer::parse_file_text(&tok.to_file_text(), "t").unwrap();
        assert_eq!(again.merges(), tok.merges());
        assert_eq!(again.fingerprint(), tok.fingerprint());
    }

    #[test]
    fn errors_name_the_line() {
        let bad = "gpt2-rs bpe 1\npattern gpt2\nmerges 2\n104 101\n999 1\n";
        let err = Tokenizer::parse_file_text(bad, "tok.bpe")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("tok.bpe, line 5:"), "{err}");
        let short = "gpt2-rs bpe 1\npattern gpt2\nmerges 2\n104 101\n";
        assert!(
            Tokenizer::parse_file_text(short, "t")
                .unwrap_err()
                .to_string()
                .contains("ends after 1 of 2")
        );
        assert!(Tokenizer::parse_file_text("hello", "t").is_err());
    }

    #[test]
    fn a_count_of_merges_past_the_files_end_is_an_error_not_an_allocation() {
        let huge = "gpt2-rs bpe 1\npattern gpt2\nmerges 99999999999999\n104 101\n";
        let err = Tokenizer::parse_file_text(huge, "tok.bpe")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "tok.bpe, line 5: the file ends after 1 of 99999999999999 merges"
        );
    }
}
