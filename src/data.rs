//! From a text file to batches of token ids: read and check the text, tokenize it once into a
//! cached token file, split it into training and validation tokens, and cut batches.
//!
//! # The token cache file
//!
//! `gpt2::data::load_tokens` stores the ids of `FILE` in a cache file of its own, in a cache
//! directory (never beside `FILE`, which may be read-only or shared: see [`cache_dir`]), and
//! reuses them while the text and the tokenizer are unchanged. All numbers are little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `GPT2TOKS` |
//! | 8 | 4 | format version, 2 |
//! | 12 | 8 | the tokenizer's fingerprint |
//! | 20 | 8 | the size of the source text in bytes |
//! | 28 | 8 | the FNV-1a 64 hash of the source text |
//! | 36 | 8 | the number of ids, N |
//! | 44 | 8 | the FNV-1a 64 hash of the ids' 2N bytes |
//! | 52 | 2N | the ids, one `u16` each |

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::hash::fnv64;
use crate::rng::Rng;
use crate::tokenizer::Tokenizer;

/// The bundled default dataset: tiny Shakespeare (1,115,394 bytes, 40,000 lines).
pub fn default_text_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/tinyshakespeare.txt"
    ))
}

#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is empty")]
    Empty { path: String },
    #[error("{path} is not UTF-8 text: invalid byte at offset {offset}")]
    NotUtf8 { path: String, offset: usize },
    #[error("{what} has {tokens} tokens, fewer than {needs}")]
    TooShort {
        what: String,
        tokens: usize,
        /// What the loader needs, and why: "one batch needs (33 = batch 4 x sequence 8 + 1)".
        needs: String,
    },
    #[error("batch size and sequence length must be positive (got batch {b}, sequence {t})")]
    ZeroBatch { b: usize, t: usize },
}

const MAGIC: &[u8; 8] = b"GPT2TOKS";
const VERSION: u32 = 2;
const HEADER: usize = 52;

/// Reads a text file, refusing an empty file and naming the offset of the first byte that is
/// not UTF-8.
pub fn read_text(path: &Path) -> Result<String, DataError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: shown.clone(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(DataError::Empty { path: shown });
    }
    String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
        path: shown,
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The folder of the token caches: `GPT2_CACHE_DIR` when it is set, otherwise the platform's
/// cache folder (`~/.cache/gpt2/tokens` on Linux), or none, and then nothing is cached.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GPT2_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let dirs = directories::ProjectDirs::from("", "", "gpt2")?;
    Some(dirs.cache_dir().join("tokens"))
}

/// Where the token cache of `source` lives in `dir`: a file named after it, and after a hash of
/// its absolute path, so that two files of one name do not share a cache.
pub fn cache_path(dir: &Path, source: &Path) -> PathBuf {
    let full = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    let name = source.file_name().unwrap_or_default().to_string_lossy();
    let id = fnv64(full.as_os_str().as_encoded_bytes());
    dir.join(format!("{name}-{id:016x}.tokens"))
}

// ANCHOR: load_tokens
/// The ids of a text file, from its cache in `cache` (a folder) when the text and tokenizer match
/// it; otherwise the text is tokenized and the cache (re)written. A cache that cannot be written
/// is skipped; with no folder, nothing is cached.
pub fn load_tokens_cached(
    path: &Path,
    tok: &Tokenizer,
    cache: Option<&Path>,
) -> Result<Vec<u32>, DataError> {
    let text = read_text(path)?;
    let key = CacheKey {
        tokenizer: tok.fingerprint(),
        size: text.len() as u64,
        hash: fnv64(text.as_bytes()),
    };
    let cache = cache.map(|dir| cache_path(dir, path));
    if let Some(ids) = cache
        .as_ref()
        .and_then(|c| std::fs::read(c).ok())
        .and_then(|b| read_cache(&b, &key))
    {
        return Ok(ids);
    }
    let ids = tok.encode(&text);
    if let (Some(cache), Some(bytes)) = (cache, write_cache(&ids, &key)) {
        let written = cache.parent().map(std::fs::create_dir_all);
        if matches!(written, Some(Ok(()))) {
            let _ = crate::fsutil::write_atomic(&cache, &bytes);
        }
    }
    Ok(ids)
}
// ANCHOR_END: load_tokens

/// [`load_tokens_cached`] with the cache in [`cache_dir`].
pub fn load_tokens(path: &Path, tok: &Tokenizer) -> Result<Vec<u32>, DataError> {
    load_tokens_cached(path, tok, cache_dir().as_deref())
}

/// What a cache must match to be reused.
struct CacheKey {
    tokenizer: u64,
    size: u64,
    hash: u64,
}

fn write_cache(ids: &[u32], key: &CacheKey) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER + 2 * ids.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&key.tokenizer.to_le_bytes());
    out.extend_from_slice(&key.size.to_le_bytes());
    out.extend_from_slice(&key.hash.to_le_bytes());
    out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for &id in ids {
        // A vocabulary above 65,536 ids does not fit the format: no cache.
        out.extend_from_slice(&u16::try_from(id).ok()?.to_le_bytes());
    }
    let ids_hash = fnv64(&out[HEADER..]);
    out[44..HEADER].copy_from_slice(&ids_hash.to_le_bytes());
    Some(out)
}

fn read_cache(bytes: &[u8], key: &CacheKey) -> Option<Vec<u32>> {
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let version = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    let fresh = bytes.get(..8)? == MAGIC
        && version == VERSION
        && u64_at(12)? == key.tokenizer
        && u64_at(20)? == key.size
        && u64_at(28)? == key.hash;
    let n = usize::try_from(u64_at(36)?).ok()?;
    // A cache whose ids were changed on disk (or cut short) is not trusted: it is rebuilt.
    if !fresh || bytes.len() != HEADER.checked_add(n.checked_mul(2)?)? {
        return None;
    }
    if u64_at(44)? != fnv64(&bytes[HEADER..]) {
        return None;
    }
    Some(
        bytes[HEADER..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect(),
    )
}

/// The first `1 - val_fraction` of the tokens for training, the rest for validation.
pub fn split(tokens: &[u32], val_fraction: f64) -> (&[u32], &[u32]) {
    let val = (tokens.len() as f64 * val_fraction.clamp(0.0, 1.0)).round() as usize;
    tokens.split_at(tokens.len() - val)
}

/// B sequences of T inputs `x` and their next-token targets `y`, row-major [B, T].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub b: usize,
    pub t: usize,
    /// x: [B, T]
    pub x: Vec<u32>,
    /// y: [B, T], y[i][j] is the token after x[i][j]
    pub y: Vec<u32>,
}

/// How batches are cut from the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderMode {
    /// Consecutive windows from the start, wrapping around (DataLoaderLite of Karpathy's build-nanogpt).
    Sequential,
    /// B windows at random offsets, from a seeded generator.
    Random,
}

/// Where a loader is, so that a resumed run continues with the same batches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoaderState {
    Sequential { pos: usize },
    Random { rng: [u64; 4] },
}

/// Cuts batches of shape [B, T] from a token sequence.
pub struct Loader {
    tokens: Vec<u32>,
    b: usize,
    t: usize,
    pos: usize,
    rng: Option<Rng>,
}

impl Loader {
    /// A loader over `tokens`; `what` names them in errors (e.g. "the training split of F").
    pub fn new(
        tokens: Vec<u32>,
        b: usize,
        t: usize,
        mode: LoaderMode,
        seed: u64,
        what: &str,
    ) -> Result<Loader, DataError> {
        if b == 0 || t == 0 {
            return Err(DataError::ZeroBatch { b, t });
        }
        // One sequential batch reads b·t + 1 tokens in a row; random windows need one of t + 1.
        let (needed, needs) = match mode {
            LoaderMode::Sequential => (
                b * t + 1,
                format!(
                    "one batch needs ({} = batch {b} x sequence {t} + 1)",
                    b * t + 1
                ),
            ),
            LoaderMode::Random => (
                t + 1,
                format!("one sequence needs ({} = sequence {t} + 1)", t + 1),
            ),
        };
        if tokens.len() < needed {
            return Err(DataError::TooShort {
                what: what.to_string(),
                tokens: tokens.len(),
                needs,
            });
        }
        let rng = (mode == LoaderMode::Random).then(|| Rng::new(seed));
        Ok(Loader {
            tokens,
            b,
            t,
            pos: 0,
            rng,
        })
    }

    // ANCHOR: next_batch
    /// The next batch.
    pub fn next_batch(&mut self) -> Batch {
        let (b, t) = (self.b, self.t);
        let (mut x, mut y) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
        match &mut self.rng {
            // Take tokens[pos .. pos + B*T + 1]: x is its first B*T, y its last B*T.
            None => {
                let window = &self.tokens[self.pos..self.pos + b * t + 1];
                x.extend_from_slice(&window[..b * t]);
                y.extend_from_slice(&window[1..]);
                self.pos += b * t;
                if self.pos + b * t + 1 > self.tokens.len() {
                    self.pos = 0;
                }
            }
            // B independent windows of T + 1 tokens.
            Some(rng) => {
                for _ in 0..b {
                    let start = rng.below((self.tokens.len() - t) as u64) as usize;
                    let window = &self.tokens[start..start + t + 1];
                    x.extend_from_slice(&window[..t]);
                    y.extend_from_slice(&window[1..]);
                }
            }
        }
        Batch { b, t, x, y }
    }
    // ANCHOR_END: next_batch

    pub fn state(&self) -> LoaderState {
        match &self.rng {
            None => LoaderState::Sequential { pos: self.pos },
            Some(rng) => LoaderState::Random { rng: rng.state() },
        }
    }

    /// Continues from a state taken with [`Loader::state`] on a loader of the same shape.
    pub fn restore(&mut self, state: &LoaderState) {
        match state {
            // A position past the last whole window (shorter data) starts again at the top.
            LoaderState::Sequential { pos } => {
                let fits = pos + self.b * self.t < self.tokens.len();
                self.pos = if fits { *pos } else { 0 };
            }
            LoaderState::Random { rng } => self.rng = Some(Rng::from_state(*rng)),
        }
    }

    /// Starts again from the first window, or with a random generator seeded anew.
    pub fn restart(&mut self, seed: u64) {
        self.pos = 0;
        if self.rng.is_some() {
            self.rng = Some(Rng::new(seed));
        }
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_follows_dataloader_lite() {
        let tokens: Vec<u32> = (0..20).collect();
        let mut l = Loader::new(tokens, 2, 3, LoaderMode::Sequential, 0, "t").unwrap();
        let first = l.next_batch();
        assert_eq!(first.x, [0, 1, 2, 3, 4, 5]);
        assert_eq!(first.y, [1, 2, 3, 4, 5, 6]);
        assert_eq!(l.next_batch().x, [6, 7, 8, 9, 10, 11]);
        assert_eq!(l.next_batch().y, [13, 14, 15, 16, 17, 18]);
        // pos 18: 18 + 7 > 20 tokens, so the fourth batch starts over.
        assert_eq!(l.next_batch().x, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn random_windows_are_consecutive_and_seeded() {
        let tokens: Vec<u32> = (0..100).collect();
        let mut a = Loader::new(tokens.clone(), 4, 8, LoaderMode::Random, 7, "t").unwrap();
        let mut b = Loader::new(tokens, 4, 8, LoaderMode::Random, 7, "t").unwrap();
        for _ in 0..10 {
            let batch = a.next_batch();
            assert_eq!(batch, b.next_batch());
            for (x, y) in batch.x.iter().zip(&batch.y) {
                assert_eq!(x + 1, *y);
            }
        }
    }

    #[test]
    fn too_short_is_explained() {
        let err = Loader::new(vec![1, 2, 3], 2, 2, LoaderMode::Sequential, 0, "the data")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "the data has 3 tokens, fewer than one batch needs (5 = batch 2 x sequence 2 + 1)"
        );
    }

    #[test]
    fn split_keeps_the_order() {
        let tokens: Vec<u32> = (0..10).collect();
        let (train, val) = split(&tokens, 0.1);
        assert_eq!((train.len(), val), (9, &[9][..]));
        assert_eq!(split(&tokens, 0.0).1.len(), 0);
    }

    #[test]
    fn cache_round_trip_and_invalidation() {
        let key = CacheKey {
            tokenizer: 1,
            size: 2,
            hash: 3,
        };
        let bytes = write_cache(&[5, 50256, 0], &key).unwrap();
        assert_eq!(read_cache(&bytes, &key), Some(vec![5, 50256, 0]));
        let other = CacheKey { hash: 4, ..key };
        assert_eq!(read_cache(&bytes, &other), None);
        assert_eq!(read_cache(&bytes[..bytes.len() - 1], &key), None);
        let mut changed = bytes.clone();
        changed[HEADER] ^= 1;
        assert_eq!(read_cache(&changed, &key), None, "a changed id is noticed");
        assert!(write_cache(&[70_000], &key).is_none());
    }
}
