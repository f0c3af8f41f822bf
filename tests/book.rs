//! The book's mechanics: every file and anchor it includes exists, every code fence says its
//! language, and every chapter crate compiles its chapter's markdown as doctests.
//! (mdBook renders a missing anchor as an empty listing and still succeeds; this test does not.)

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("book"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// The targets of the include links in `text`: (path, optional selector after the first ':').
fn include_links(text: &str) -> Vec<(String, Option<String>)> {
    const OPEN: &str = "{{#";
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let end = after
            .find("}}")
            .expect("an include link is not closed with }}");
        let body = after[..end].trim();
        rest = &after[end..];
        let Some(target) = body
            .strip_prefix("include ")
            .or_else(|| body.strip_prefix("rustdoc_include "))
        else {
            continue;
        };
        let target = target.trim();
        match target.split_once(':') {
            Some((path, sel)) => links.push((path.to_string(), Some(sel.to_string()))),
            None => links.push((target.to_string(), None)),
        }
    }
    links
}

fn check_selector(file: &Path, text: &str, selector: &str) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let numbers: Vec<&str> = selector.split(':').collect();
    if numbers
        .iter()
        .all(|n| n.is_empty() || n.parse::<usize>().is_ok())
    {
        let last = numbers
            .iter()
            .filter_map(|n| n.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        return if last <= lines.len() {
            Ok(())
        } else {
            Err(format!(
                "{} has {} lines, not {last}",
                file.display(),
                lines.len()
            ))
        };
    }
    let begin = format!("ANCHOR: {selector}");
    let end = format!("ANCHOR_END: {selector}");
    let b = lines.iter().position(|l| l.trim_end().ends_with(&begin));
    let e = lines.iter().position(|l| l.trim_end().ends_with(&end));
    match (b, e) {
        (Some(b), Some(e)) if e > b + 1 => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "anchor `{selector}` in {} is empty",
            file.display()
        )),
        _ => Err(format!("{} has no anchor `{selector}`", file.display())),
    }
}

#[test]
fn every_included_file_and_anchor_exists() {
    let mut problems = Vec::new();
    let mut count = 0;
    for md in markdown_files() {
        let text = fs::read_to_string(&md).unwrap();
        for (path, selector) in include_links(&text) {
            count += 1;
            let file = md.parent().unwrap().join(&path);
            let Ok(source) = fs::read_to_string(&file) else {
                problems.push(format!("{}: includes missing file {path}", md.display()));
                continue;
            };
            if let Some(sel) = selector
                && let Err(e) = check_selector(&file, &source, &sel)
            {
                problems.push(format!("{}: {e}", md.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken includes:\n{}",
        problems.join("\n")
    );
    assert!(count > 0, "the book includes no code at all");
}

#[test]
fn the_checker_catches_what_mdbook_lets_through() {
    let source = "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n";
    let file = Path::new("x.rs");
    assert!(check_selector(file, source, "here").is_ok());
    assert!(check_selector(file, source, "typo").is_err());
    assert!(check_selector(file, source, "2:3").is_ok());
    assert!(check_selector(file, source, "2:30").is_err());
    let links = include_links("a {{#include ../src/x.rs:here}} b {{#include runs/y.txt}}");
    assert_eq!(
        links,
        vec![
            ("../src/x.rs".to_string(), Some("here".to_string())),
            ("runs/y.txt".to_string(), None)
        ]
    );
}

#[test]
fn every_code_fence_names_its_language() {
    // rustdoc and mdbook test treat a bare fence as Rust and try to compile it.
    let mut problems = Vec::new();
    for md in markdown_files() {
        let text = fs::read_to_string(&md).unwrap();
        let mut open = false;
        for (i, line) in text.lines().enumerate() {
            let Some(info) = line.trim_start().strip_prefix("```") else {
                continue;
            };
            if !open && info.trim().is_empty() {
                problems.push(format!(
                    "{}:{}: a code fence without a language",
                    md.display(),
                    i + 1
                ));
            }
            open = !open;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_chapter_crate_doctests_its_chapter() {
    let mut chapters = 0;
    for md in markdown_files() {
        let name = md.file_name().unwrap().to_string_lossy().to_string();
        let Some(number) = name.strip_prefix("ch").and_then(|n| n.get(..2)) else {
            continue;
        };
        chapters += 1;
        let lib = root().join(format!("chapters/chapter{number}/src/lib.rs"));
        let source = fs::read_to_string(&lib)
            .unwrap_or_else(|_| panic!("{name} has no chapter crate at {}", lib.display()));
        assert!(
            source.contains(&format!("book/{name}\")")),
            "{} does not compile {name} as doctests",
            lib.display()
        );
    }
    assert!(chapters >= 1);
}

/// Chapters 3 to 7 teach from the readable GPT-2: their listings come from the chapter crates,
/// none is shown twice, and the code of those crates stays plain (no threads, no `gemm`, no
/// `unsafe`, none of the library's fast kernels).
#[test]
fn chapters_3_to_7_show_the_readable_model_once() {
    let mut seen = std::collections::BTreeMap::new();
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for (path, anchor) in include_links(&text) {
            if path.starts_with("runs/") {
                continue;
            }
            let key = format!("{path}:{}", anchor.unwrap_or_default());
            if let Some(first) = seen.insert(key.clone(), name.clone()) {
                panic!("{key} is shown in {first} and again in {name}");
            }
            let teaching = ["ch03", "ch04", "ch05", "ch06", "ch07"]
                .iter()
                .any(|c| name.starts_with(c));
            // Chapter 5 shows how `gpt2 eval` scores a text, and chapter 6 how `gpt2 train`
            // runs and resumes: the command's own code, where the chapter runs the command.
            let command = ["src/eval.rs", "src/run.rs", "tests/training.rs"]
                .iter()
                .any(|f| path.ends_with(f));
            assert!(
                !teaching || path.starts_with("../chapters/") || command,
                "{name} shows library code: {path}"
            );
        }
    }
    for chapter in [
        "chapter03",
        "chapter04",
        "chapter05",
        "chapter06",
        "chapter07",
    ] {
        let dir = root().join("chapters").join(chapter).join("src");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = fs::read_to_string(&path).unwrap();
            for word in ["rayon", "gemm", "unsafe", "par_", "gpt2::kernels"] {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
}

/// Every `"prompt_ids"` list a page shows is what GPT-2's tokenizer makes of the `--prompt` on
/// the command line just above it: ids typed by hand drift from the text they claim to encode.
#[test]
fn prompt_ids_in_examples_are_the_prompts_tokens() {
    let tok = gpt2::Tokenizer::gpt2().unwrap();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(start) = line.find("\"prompt_ids\":[") else {
                continue;
            };
            let list = &line[start + "\"prompt_ids\":[".len()..];
            let ids: Vec<u32> = list[..list.find(']').unwrap()]
                .split(',')
                .map(|id| id.trim().parse().unwrap())
                .collect();
            let command = lines[..i]
                .iter()
                .rev()
                .find(|l| l.contains("--prompt \""))
                .unwrap_or_else(|| panic!("{}: no --prompt above line {}", file.display(), i + 1));
            let prompt = command.split("--prompt \"").nth(1).unwrap();
            let prompt = &prompt[..prompt.find('"').unwrap()];
            assert_eq!(
                ids,
                tok.encode(prompt),
                "{}:{}: {prompt:?}",
                file.display(),
                i + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no example to check");
}

// The translations (po/<language>.po, see CONTRIBUTING.md).

fn catalogues() -> Vec<(PathBuf, Vec<bookcheck::po::Entry>)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(root().join("po")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "po") {
            let text = fs::read_to_string(&path).unwrap();
            let entries =
                bookcheck::po::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push((path, entries));
        }
    }
    assert!(!found.is_empty(), "no catalogue in po/");
    found
}

/// mdbook-gettext shows the English text for a missing, empty or fuzzy translation: a page
/// would silently switch language in mid-paragraph.
#[test]
fn every_message_is_translated_and_none_is_fuzzy() {
    for (path, entries) in catalogues() {
        let mut problems = Vec::new();
        for e in entries.iter().skip(1) {
            let what = e.msgid.chars().take(60).collect::<String>();
            if e.obsolete {
                problems.push(format!(
                    "obsolete entry (run msgmerge --no-obsolete): {what:?}"
                ));
            } else if e.msgstr.trim().is_empty() {
                problems.push(format!("line {}: untranslated: {what:?}", e.line));
            } else if e.flags.iter().any(|f| f == "fuzzy") {
                problems.push(format!("line {}: fuzzy: {what:?}", e.line));
            }
        }
        assert!(
            problems.is_empty(),
            "{}: {} incomplete message(s):\n{}",
            path.display(),
            problems.len(),
            problems.join("\n")
        );
    }
}

/// A translation changes the words, never the program's: inline code, include links,
/// formulas, link targets and HTML tags come through message by message, and so does every
/// number (a translation may write a number word in digits: "sum to one", "합이 1").
#[test]
fn translations_keep_code_formulas_links_and_numbers() {
    for (path, entries) in catalogues() {
        let mut problems = Vec::new();
        for e in entries.iter().skip(1).filter(|e| !e.msgstr.is_empty()) {
            let (mut en, mut tr) = (
                bookcheck::po::kept(&e.msgid),
                bookcheck::po::kept(&e.msgstr),
            );
            // Emphasis may move into <em> tags (see bookcheck::po::kept).
            en.remove("emphasis tag");
            tr.remove("emphasis tag");
            let mut numbers = en.remove("number").unwrap_or_default();
            for n in tr.remove("number").unwrap_or_default() {
                if let Some(i) = numbers.iter().position(|m| *m == n) {
                    numbers.remove(i);
                }
            }
            if !numbers.is_empty() {
                problems.push(format!(
                    "line {}: the numbers {numbers:?} are missing",
                    e.line
                ));
            }
            for kind in en
                .keys()
                .chain(tr.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let (a, b) = (en.get(kind), tr.get(kind));
                if a != b {
                    problems.push(format!(
                        "line {}: the {kind}s differ: {:?} in English, {:?} translated",
                        e.line,
                        a.cloned().unwrap_or_default(),
                        b.cloned().unwrap_or_default()
                    ));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            path.display(),
            problems.join("\n")
        );
    }
}

/// The include links of the translated pages name files and anchors that exist.
#[test]
fn every_translated_include_resolves() {
    let mut count = 0;
    for (path, entries) in catalogues() {
        for e in &entries {
            for (file, selector) in include_links(&e.msgstr) {
                count += 1;
                let file = root().join("book").join(&file);
                let source = fs::read_to_string(&file).unwrap_or_else(|_| {
                    panic!(
                        "{} line {}: includes missing {}",
                        path.display(),
                        e.line,
                        file.display()
                    )
                });
                if let Some(sel) = selector {
                    check_selector(&file, &source, &sel)
                        .unwrap_or_else(|m| panic!("{} line {}: {m}", path.display(), e.line));
                }
            }
        }
    }
    assert!(count > 0, "no translated page includes anything");
}

/// The catalogues hold exactly the messages of today's English pages: a changed paragraph
/// needs its translation updated in the same change. Needs mdbook and mdbook-xgettext (the
/// book's tools, which `.ci/run` installs); without them the test says so and passes, unless
/// `REQUIRE_BOOK_TOOLS` is set.
#[test]
fn catalogues_hold_the_messages_of_the_english_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("mdbook")
        .args(["build", "-d"])
        .arg(dir.path())
        .current_dir(root())
        .env(
            "MDBOOK_OUTPUT",
            r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#,
        )
        .env("MDBOOK_BUILD__USE_DEFAULT_PREPROCESSORS", "false")
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if !ok {
        let why = match &out {
            Err(e) => format!("cannot run mdbook: {e}"),
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert!(
            std::env::var_os("REQUIRE_BOOK_TOOLS").is_none(),
            "extracting the catalogue failed: {why}"
        );
        // Past the harness's capture, so that a skipped check is seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("skipped: needs mdbook and mdbook-xgettext ({why})\n").as_bytes(),
        );
        return;
    }
    let pot = fs::read_to_string(dir.path().join("messages.pot")).unwrap();
    let english: std::collections::BTreeSet<String> = bookcheck::po::parse(&pot)
        .unwrap()
        .into_iter()
        .skip(1)
        .map(|e| e.msgid)
        .collect();
    for (path, entries) in catalogues() {
        let translated: std::collections::BTreeSet<String> = entries
            .into_iter()
            .skip(1)
            .filter(|e| !e.obsolete)
            .map(|e| e.msgid)
            .collect();
        let missing: Vec<_> = english.difference(&translated).collect();
        let stale: Vec<_> = translated.difference(&english).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{} is out of step with the English pages (CONTRIBUTING.md says how to refresh it): \
             {} new message(s) {:?}, {} message(s) no longer in the pages {:?}",
            path.display(),
            missing.len(),
            missing.iter().take(3).collect::<Vec<_>>(),
            stale.len(),
            stale.iter().take(3).collect::<Vec<_>>()
        );
    }
}
