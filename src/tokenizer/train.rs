//! Learning BPE merges from text: count every adjacent pair of tokens inside the pre-tokens,
//! merge the most frequent pair into a new token, and repeat until the vocabulary is full.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Tokenizer, TokenizerError, pretokenize};

/// Smallest vocabulary: the 256 byte tokens and `<|endoftext|>`.
pub const MIN_VOCAB: usize = 257;

type Pair = (u32, u32);

// ANCHOR: train
/// Learns a tokenizer with `vocab_size` ids (256 bytes, the merges, and `<|endoftext|>`) from
/// `text`, with GPT-2's pre-tokenization. Ties go to the pair with the smaller ids, so training
/// is deterministic. Stops early if every pre-token has become a single token.
pub fn train(text: &str, vocab_size: usize) -> Result<Tokenizer, TokenizerError> {
    if vocab_size < MIN_VOCAB {
        return Err(TokenizerError::Train(format!(
            "the vocabulary size must be at least {MIN_VOCAB} (256 bytes and <|endoftext|>), got {vocab_size}"
        )));
    }
    // Each distinct pre-token once, with how often it occurs.
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for piece in pretokenize::split(text) {
        *counts.entry(piece).or_default() += 1;
    }
    let mut words: Vec<(Vec<u32>, i64)> = counts
        .into_iter()
        .map(|(w, n)| (w.bytes().map(u32::from).collect(), n as i64))
        .collect();
    words.sort_unstable(); // a fixed order, whatever the hash map's

    let mut pair_count: FxHashMap<Pair, i64> = FxHashMap::default();
    let mut pair_words: FxHashMap<Pair, Vec<usize>> = FxHashMap::default();
    for (w, (ids, n)) in words.iter().enumerate() {
        for p in ids.windows(2) {
            *pair_count.entry((p[0], p[1])).or_default() += n;
            pair_words.entry((p[0], p[1])).or_default().push(w);
        }
    }
    // The most frequent pair on top; entries whose count has changed since are skipped.
    let mut heap: BinaryHeap<(i64, Reverse<Pair>)> =
        pair_count.iter().map(|(&p, &c)| (c, Reverse(p))).collect();

    let mut merges: Vec<Pair> = Vec::new();
    while merges.len() < vocab_size - MIN_VOCAB {
        let Some((count, Reverse(pair))) = heap.pop() else {
            break;
        };
        if pair_count.get(&pair) != Some(&count) || count <= 0 {
            continue;
        }
        let new_id = 256 + merges.len() as u32;
        merges.push(pair);
        let mut touched: FxHashSet<Pair> = FxHashSet::default();
        let mut at = pair_words.remove(&pair).unwrap_or_default();
        at.sort_unstable();
        at.dedup();
        for w in at {
            let (ids, n) = &mut words[w];
            if !ids.windows(2).any(|p| (p[0], p[1]) == pair) {
                continue;
            }
            for p in ids.windows(2) {
                *pair_count.entry((p[0], p[1])).or_default() -= *n;
                touched.insert((p[0], p[1]));
            }
            *ids = merge(ids, pair, new_id);
            for p in ids.windows(2) {
                *pair_count.entry((p[0], p[1])).or_default() += *n;
                touched.insert((p[0], p[1]));
                pair_words.entry((p[0], p[1])).or_default().push(w);
            }
        }
        for p in touched {
            heap.push((pair_count[&p], Reverse(p)));
        }
    }
    Ok(Tokenizer::from_merges(merges))
}

/// Replaces every occurrence of `pair` in `ids`, left to right, with `new_id`.
fn merge(ids: &[u32], pair: Pair, new_id: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    let mut i = 0;
    while i < ids.len() {
        if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
            out.push(new_id);
            i += 2;
        } else {
            out.push(ids[i]);
            i += 1;
        }
    }
    out
}
// ANCHOR_END: train

impl Tokenizer {
    /// A tokenizer whose ids 0..=255 are the bytes and whose id 256 + k is `merges[k]`.
    /// Each merge may only use ids made before it.
    pub fn from_merges(merges: Vec<(u32, u32)>) -> Tokenizer {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for &(a, b) in &merges {
            let joined = [tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat();
            tokens.push(joined);
        }
        let mut tok = Tokenizer::from_tokens(tokens, merges, "bpe");
        tok.name = format!("bpe-{:08x}", tok.fingerprint() as u32);
        tok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_most_frequent_pairs_first() {
        let tok = train("aaab aaab aaab ab", 260).unwrap();
        // Pre-tokens "aaab", " aaab" twice, " ab": aa occurs 6 times, ab 4, " a" 3.
        assert_eq!(tok.merges()[0], (b'a' as u32, b'a' as u32));
        assert_eq!(tok.vocab_size(), 260);
        let text = "aaab ab";
        assert_eq!(tok.decode(&tok.encode(text)).unwrap(), text);
        assert!(tok.encode(text).len() < text.len());
    }

    #[test]
    fn too_small_a_vocabulary_is_refused() {
        assert!(
            train("abc", 100)
                .unwrap_err()
                .to_string()
                .contains("at least 257")
        );
    }

    #[test]
    fn stops_when_everything_is_merged() {
        let tok = train("ab ab", 1000).unwrap();
        assert!(tok.vocab_size() < 1000);
        assert_eq!(tok.encode("ab ab").len(), 2);
    }
}
