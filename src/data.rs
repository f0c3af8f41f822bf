//! Where the text comes from.

use std::path::PathBuf;

/// The bundled default dataset: tiny Shakespeare (1,115,394 bytes, 40,000 lines).
pub fn default_text_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/tinyshakespeare.txt"
    ))
}
