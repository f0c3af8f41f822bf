//! Solutions to the exercises at the end of chapter 2.

use gpt2::Tokenizer;
use gpt2::tokenizer::{Utf8Stream, pretokenize};
use rustc_hash::FxHashMap;

// ANCHOR: longest
/// Exercise 1: the `n` longest tokens of a vocabulary, in bytes, longest first (ties by id).
pub fn longest_tokens(tok: &Tokenizer, n: usize) -> Vec<(u32, usize)> {
    let mut all: Vec<(u32, usize)> = (0..tok.eot())
        .map(|id| (id, tok.token_bytes(id).map_or(0, <[u8]>::len)))
        .collect();
    all.sort_by_key(|&(id, len)| (std::cmp::Reverse(len), id));
    all.truncate(n);
    all
}
// ANCHOR_END: longest

// ANCHOR: stream
/// Exercise 2: decode one token at a time, as a generator would, and return what can be printed
/// after each token. A character split across tokens comes out whole, with the last of them.
pub fn decode_one_by_one(tok: &Tokenizer, ids: &[u32]) -> Vec<String> {
    let mut stream = Utf8Stream::new();
    let mut printed: Vec<String> = ids
        .iter()
        .map(|&id| stream.push(tok.token_bytes(id).unwrap_or_default()))
        .collect();
    if let Some(last) = printed.last_mut() {
        last.push_str(&stream.finish());
    }
    printed
}
// ANCHOR_END: stream

// ANCHOR: fragmented
/// Exercise 3: the words (pre-tokens) of `text` that need the most tokens, with their count
/// of tokens, most fragmented first (ties in alphabetical order).
pub fn most_fragmented(tok: &Tokenizer, text: &str, n: usize) -> Vec<(String, usize)> {
    let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
    for piece in pretokenize::split(text) {
        seen.entry(piece).or_insert_with(|| tok.encode(piece).len());
    }
    let mut words: Vec<(String, usize)> =
        seen.into_iter().map(|(w, k)| (w.to_string(), k)).collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.truncate(n);
    words
}
// ANCHOR_END: fragmented
