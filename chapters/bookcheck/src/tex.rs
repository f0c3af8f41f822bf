//! TeX as written, back in a translated page.
//!
//! The gettext preprocessor parses each page as Markdown and writes it out again. Markdown
//! reads `\,` as an escaped comma and writes `_` as `\_`, so formulas come out of a translated
//! page changed (`a_{ij}\, v_j` becomes `a\_{ij}, v_j`) and KaTeX would draw them wrong. Each
//! formula still determines its original, though: [`restore`] finds it in the English page.

use std::collections::HashMap;

/// A formula with Markdown's escapes and all spacing taken out: the same for the formula as
/// written and as the gettext round trip writes it.
fn key(formula: &str) -> String {
    let mut out = String::new();
    let mut chars = formula.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            continue;
        }
        if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The byte ranges of the formulas (`$…$` and `$$…$$`, delimiters included) in a page,
/// skipping fenced code blocks and inline code.
pub fn formulas(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    let mut fence: Option<&str> = None;
    while i < bytes.len() {
        if line_start {
            let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            let trimmed = text[i..line_end].trim_start();
            let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
            match (fence, marker) {
                (None, Some(m)) => fence = Some(m),
                (Some(f), Some(m)) if f == m => fence = None,
                _ => {}
            }
            if fence.is_some() || marker.is_some() {
                i = line_end + 1;
                continue;
            }
        }
        line_start = false;
        match bytes[i] {
            b'\n' => line_start = true,
            b'\\' => i += 1,
            b'`' => {
                let run = bytes[i..].iter().take_while(|&&b| b == b'`').count();
                let ticks = &text[i..i + run];
                if let Some(close) = text[i + run..].find(ticks) {
                    i += run + close + run;
                    continue;
                }
                i += run - 1;
            }
            b'$' => {
                let delim = if text[i..].starts_with("$$") {
                    "$$"
                } else {
                    "$"
                };
                let from = i + delim.len();
                if let Some(close) = find_unescaped(&text[from..], delim) {
                    let end = from + close + delim.len();
                    spans.push((i, end));
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    spans
}

fn find_unescaped(text: &str, delim: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(n) = text[from..].find(delim) {
        let at = from + n;
        if at > 0 && text.as_bytes()[at - 1] == b'\\' {
            from = at + 1;
            continue;
        }
        return Some(at);
    }
    None
}

/// `page` with every formula replaced by the formula as written in `source` (the English
/// page). Err names a formula of `page` that `source` does not have.
pub fn restore(page: &str, source: &str) -> Result<String, String> {
    let written: HashMap<String, &str> = formulas(source)
        .into_iter()
        .map(|(a, b)| (key(&source[a..b]), &source[a..b]))
        .collect();
    let mut out = String::with_capacity(page.len());
    let mut last = 0;
    for (a, b) in formulas(page) {
        let formula = &page[a..b];
        let original = written
            .get(&key(formula))
            .ok_or_else(|| format!("the formula {formula} is not in the English page"))?;
        out.push_str(&page[last..a]);
        out.push_str(original);
        last = b;
    }
    out.push_str(&page[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_comes_back_as_written_after_the_markdown_round_trip() {
        let source =
            "Weights:\n\n$$\ny_i = \\sum_{j \\le i} a_{ij}\\, v_j \\;\\; [T, d]\n$$\n\nand $x_i$.";
        let translated =
            "가중치: $$ y_i = \\sum\\_{j \\le i} a\\_{ij}, v_j ;; \\[T, d\\] $$ 그리고 $x_i$.";
        let restored = restore(translated, source).unwrap();
        assert_eq!(
            restored,
            "가중치: $$\ny_i = \\sum_{j \\le i} a_{ij}\\, v_j \\;\\; [T, d]\n$$ 그리고 $x_i$."
        );
    }

    #[test]
    fn code_is_not_a_formula() {
        let text = "`$x$` and\n```text\n$y$\n```\nbut $z$ and \\$5";
        let found: Vec<&str> = formulas(text).iter().map(|&(a, b)| &text[a..b]).collect();
        assert_eq!(found, ["$z$"]);
    }

    #[test]
    fn a_changed_formula_is_an_error() {
        assert!(restore("$x + 1$", "$x + 2$").is_err());
    }
}
