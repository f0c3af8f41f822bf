//! The translation catalogues (`po/<language>.po`): a reader for the subset of the gettext
//! format that mdbook-xgettext and msgmerge write, and what a translation must keep.

use std::collections::BTreeMap;

/// One message of a catalogue.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entry {
    pub msgid: String,
    pub msgstr: String,
    /// Flags from `#,` lines, such as `fuzzy`.
    pub flags: Vec<String>,
    /// The `#:` references: the pages the message comes from.
    pub references: Vec<String>,
    /// An obsolete entry (`#~`), kept by msgmerge for a message the pages no longer have.
    pub obsolete: bool,
    /// Line of the entry's `msgid` in the file.
    pub line: usize,
}

/// Parses a catalogue. The header (empty msgid) is returned as the first entry.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut cur: Option<Entry> = None;
    let mut field = "";
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.is_empty() {
            entries.extend(cur.take());
            continue;
        }
        let e = cur.get_or_insert_with(Entry::default);
        if let Some(rest) = line.strip_prefix("#~") {
            e.obsolete = true;
            let rest = rest.trim_start();
            if let Some(s) = rest.strip_prefix("msgid ") {
                e.msgid = unquote(s).map_err(|m| format!("line {}: {m}", n + 1))?;
            }
        } else if let Some(flags) = line.strip_prefix("#,") {
            e.flags
                .extend(flags.split(',').map(|f| f.trim().to_string()));
        } else if let Some(refs) = line.strip_prefix("#:") {
            e.references
                .extend(refs.split_whitespace().map(str::to_string));
        } else if line.starts_with('#') {
        } else if let Some(s) = line.strip_prefix("msgid ") {
            field = "msgid";
            e.line = n + 1;
            e.msgid = unquote(s).map_err(|m| format!("line {}: {m}", n + 1))?;
        } else if let Some(s) = line.strip_prefix("msgstr ") {
            field = "msgstr";
            e.msgstr = unquote(s).map_err(|m| format!("line {}: {m}", n + 1))?;
        } else if line.starts_with('"') {
            let s = unquote(line).map_err(|m| format!("line {}: {m}", n + 1))?;
            match field {
                "msgid" => e.msgid.push_str(&s),
                "msgstr" => e.msgstr.push_str(&s),
                _ => return Err(format!("line {}: a string outside a message", n + 1)),
            }
        } else {
            return Err(format!("line {}: cannot read {line:?}", n + 1));
        }
    }
    entries.extend(cur);
    Ok(entries)
}

fn unquote(s: &str) -> Result<String, String> {
    let body = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("{s:?} is not a quoted string"))?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('"') => '"',
            Some('\\') => '\\',
            other => return Err(format!("unknown escape \\{other:?} in {s:?}")),
        });
    }
    Ok(out)
}

/// What a translation must carry over unchanged from its message, by kind: inline code,
/// mdBook's `{{#…}}` links, formulas, link targets, HTML tags and numbers. Each list sorted.
pub fn kept(text: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut kept: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut rest = String::new();
    // Inline code first: whatever is inside backticks is the program's.
    let mut s = text;
    while let Some(start) = s.find('`') {
        let run = s[start..].chars().take_while(|&c| c == '`').count();
        let ticks = &s[start..start + run];
        match s[start + run..].find(ticks) {
            Some(len) => {
                let end = start + run + len + run;
                kept.entry("code")
                    .or_default()
                    .push(s[start..end].to_string());
                rest.push_str(&s[..start]);
                rest.push(' ');
                s = &s[end..];
            }
            None => {
                rest.push_str(&s[..start + run]);
                s = &s[start + run..];
            }
        }
    }
    rest.push_str(s);
    let mut text = rest;
    for (kind, pattern) in [
        ("mdbook link", r"\{\{#.*?\}\}"),
        ("formula", r"(?s)\$\$.+?\$\$|\$[^$]+?\$"),
        ("link target", r"\]\([^)\s]+\)"),
        // Emphasis may be written <em>…</em> in a translation: gettext writes `*word*` back
        // as `_word_`, which Markdown does not close before a following letter (a Korean
        // particle: `_열_을`).
        ("emphasis tag", r"</?(?:em|strong)>"),
        ("html tag", r"<[a-zA-Z/][^>]*>"),
        ("number", r"\d+(?:[.,]\d+)*"),
    ] {
        let re = regex::Regex::new(pattern).unwrap();
        let found: Vec<String> = re
            .find_iter(&text)
            .map(|m| m.as_str().to_string())
            .collect();
        if !found.is_empty() {
            kept.entry(kind).or_default().extend(found);
        }
        text = re.replace_all(&text, " ").into_owned();
    }
    for list in kept.values_mut() {
        list.sort();
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_flags_and_continued_strings() {
        let po = "msgid \"\"\nmsgstr \"Language: ko\\n\"\n\n#: book/a.md\n#, fuzzy\nmsgid \"\"\n\"a \\\"b\\\"\\n\"\n\"c\"\nmsgstr \"가\"\n\n#~ msgid \"old\"\n#~ msgstr \"옛\"\n";
        let e = parse(po).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].msgid, "a \"b\"\nc");
        assert_eq!(e[1].msgstr, "가");
        assert_eq!(e[1].flags, ["fuzzy"]);
        assert_eq!(e[1].references, ["book/a.md"]);
        assert!(e[2].obsolete && e[2].msgid == "old");
    }

    #[test]
    fn a_dropped_formula_code_span_or_number_changes_what_is_kept() {
        let en = "The `c_attn` layer costs $4T^2C$: 3.2 GFLOP ([see](ch03.md)).";
        let ko = "`c_attn` 층의 비용은 $4T^2C$: 3.2 GFLOP입니다([참고](ch03.md)).";
        assert_eq!(kept(en), kept(ko));
        assert_ne!(
            kept(en),
            kept("`c_attn` 층의 비용은 $4T^2 C$: 3.2 GFLOP입니다([참고](ch03.md)).")
        );
        assert_ne!(
            kept(en),
            kept("`c_attn` 층의 비용은 $4T^2C$: 3.3 GFLOP입니다([참고](ch03.md)).")
        );
        assert_ne!(
            kept(en),
            kept("c_attn 층의 비용은 $4T^2C$: 3.2 GFLOP입니다([참고](ch03.md)).")
        );
        assert_ne!(
            kept(en),
            kept("`c_attn` 층의 비용은 $4T^2C$: 3.2 GFLOP입니다([참고](ch04.md)).")
        );
    }
}
