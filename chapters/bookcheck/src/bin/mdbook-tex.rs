//! mdBook preprocessor: puts back the formulas of a translated page as the English page
//! writes them (see `bookcheck::tex`). Runs after `gettext`, before `links` and `katex`.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("supports") {
        return; // any renderer: the pages are Markdown for all of them
    }
    if let Err(e) = run() {
        eprintln!("error: mdbook-tex: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading the book from mdbook: {e}"))?;
    let (context, mut book): (Value, Value) =
        serde_json::from_str(&input).map_err(|e| format!("the book from mdbook: {e}"))?;
    let root = context["root"].as_str().ok_or("the context has no root")?;
    let src = context["config"]["book"]["src"].as_str().unwrap_or("src");
    let english = context["config"]["book"]["language"].as_str() == Some("en");
    if !english {
        visit(&mut book, &Path::new(root).join(src))?;
    }
    serde_json::to_writer(std::io::stdout(), &book).map_err(|e| format!("writing the book: {e}"))
}

/// Every chapter anywhere in the book's JSON: an object with `content` and `source_path`.
fn visit(value: &mut Value, src: &Path) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(content)), Some(Value::String(path))) =
                (map.get("content"), map.get("source_path"))
            {
                let file = src.join(path);
                let source = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let restored = bookcheck::tex::restore(content, &source)
                    .map_err(|e| format!("{path}: {e}"))?;
                map.insert("content".into(), Value::String(restored));
            }
            map.values_mut().try_for_each(|v| visit(v, src))
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| visit(v, src)),
        _ => Ok(()),
    }
}
