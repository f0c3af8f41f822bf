//! GPT-2's pre-tokenization: the text is cut into pieces before any merge, so that a token never
//! spans a word and the space before it, a letter and a digit, or a word and punctuation.
//!
//! GPT-2 states the rule as one regular expression:
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! We follow it by hand, alternative by alternative, which is several times faster than a
//! backtracking regex engine and makes each rule visible.

use std::sync::OnceLock;

/// The four kinds of character the pattern distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    /// `\p{L}`: a letter, in any script.
    Letter,
    /// `\p{N}`: a digit or other number character.
    Number,
    /// `\s`: Unicode white space.
    Space,
    /// Everything else: punctuation, symbols, emoji, marks, control characters.
    Other,
}

/// Unicode ranges of `\p{L}`, `\p{N}` and `\s`, sorted by start.
struct Tables {
    ascii: [CharClass; 128],
    ranges: Vec<(u32, u32, CharClass)>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The same Unicode tables a regex engine would use for the pattern above.
        let mut ranges = Vec::new();
        for (pattern, class) in [
            (r"\p{L}", CharClass::Letter),
            (r"\p{N}", CharClass::Number),
            (r"\s", CharClass::Space),
        ] {
            let hir = regex_syntax::Parser::new()
                .parse(pattern)
                .expect("a valid Unicode class");
            let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(set)) =
                hir.kind()
            else {
                unreachable!("{pattern} parses to a Unicode class")
            };
            ranges.extend(
                set.ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32, class)),
            );
        }
        ranges.sort_unstable_by_key(|r| r.0);
        let mut ascii = [CharClass::Other; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            *slot = lookup(&ranges, c as u32);
        }
        Tables { ascii, ranges }
    })
}

fn lookup(ranges: &[(u32, u32, CharClass)], c: u32) -> CharClass {
    let i = ranges.partition_point(|r| r.0 <= c);
    match i.checked_sub(1).map(|i| ranges[i]) {
        Some((_, end, class)) if c <= end => class,
        _ => CharClass::Other,
    }
}

/// The class of one character.
pub fn class_of(c: char) -> CharClass {
    let t = tables();
    if c.is_ascii() {
        t.ascii[c as usize]
    } else {
        lookup(&t.ranges, c as u32)
    }
}

// ANCHOR: split
/// Cuts `text` into GPT-2's pre-tokens. Concatenated, the pieces give back `text`.
pub fn split(text: &str) -> Pieces<'_> {
    Pieces { text, pos: 0 }
}

/// The iterator returned by [`split`].
pub struct Pieces<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = &self.text[self.pos..];
        let first = rest.chars().next()?;
        let len = piece_len(rest, first);
        self.pos += len;
        Some(&rest[..len])
    }
}

/// Byte length of the piece at the start of `rest`, trying the pattern's alternatives in order.
fn piece_len(rest: &str, first: char) -> usize {
    // 's 't 're 've 'm 'll 'd
    if first == '\'' {
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            if rest[1..].starts_with(suffix) {
                return 1 + suffix.len();
            }
        }
    }
    // An optional single space (U+0020 only) joins the run that follows it.
    let (skip, head) = match first {
        ' ' => match rest[1..].chars().next() {
            Some(c) if class_of(c) != CharClass::Space => (1, c),
            _ => (0, first),
        },
        _ => (0, first),
    };
    match class_of(head) {
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a run of one class.
        class @ (CharClass::Letter | CharClass::Number | CharClass::Other) => {
            skip + run_len(&rest[skip..], |c| class_of(c) == class)
        }
        // `\s+(?!\S)`: a run of white space, but leave its last character to the word after it.
        // `\s+`: if that leaves nothing, the single white-space character alone.
        CharClass::Space => {
            let run = run_len(rest, |c| class_of(c) == CharClass::Space);
            if run == rest.len() {
                return run;
            }
            let last = rest[..run].chars().next_back().map_or(0, char::len_utf8);
            if run > last { run - last } else { run }
        }
    }
}

/// Byte length of the longest prefix of `s` whose characters all satisfy `keep`.
fn run_len(s: &str, keep: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .find(|&(_, c)| !keep(c))
        .map_or(s.len(), |(i, _)| i)
}
// ANCHOR_END: split

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Vec<&str> {
        split(s).collect()
    }

    #[test]
    fn the_rules_one_by_one() {
        assert_eq!(pieces("Hello, world!"), ["Hello", ",", " world", "!"]);
        assert_eq!(pieces("I'll don't"), ["I", "'ll", " don", "'t"]);
        assert_eq!(pieces("abc123 456"), ["abc", "123", " 456"]);
        assert_eq!(pieces("a  b"), ["a", " ", " b"]);
        assert_eq!(pieces("a \n\nb"), ["a", " \n", "\n", "b"]);
        assert_eq!(pieces("end   "), ["end", "   "]);
        assert_eq!(pieces(" !?"), [" !?"]);
        assert_eq!(pieces("x\ty"), ["x", "\t", "y"]);
        assert_eq!(pieces("'x"), ["'", "x"]);
        assert_eq!(pieces("안녕 세계"), ["안녕", " 세계"]);
    }

    #[test]
    fn classes() {
        assert_eq!(class_of('é'), CharClass::Letter);
        assert_eq!(class_of('²'), CharClass::Number);
        assert_eq!(class_of('\u{3000}'), CharClass::Space);
        assert_eq!(class_of('\u{301}'), CharClass::Other); // a combining mark is not a letter
        assert_eq!(class_of('😀'), CharClass::Other);
    }
}
