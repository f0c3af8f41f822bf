//! Byte-pair encoding of one pre-token: start from its bytes and keep merging the adjacent pair
//! that forms the lowest-ranked token, until no adjacent pair forms a token.

use rustc_hash::FxHashMap;

/// Token bytes -> rank. A token's rank is its id; lower ranks were learned earlier.
pub type Ranks = FxHashMap<Vec<u8>, u32>;

// ANCHOR: merge
/// Encodes `piece` (at least one byte) and appends its token ids to `out`.
/// Every single byte must be a token, as in any byte-level BPE.
pub fn encode_piece(ranks: &Ranks, piece: &[u8], out: &mut Vec<u32>) {
    // Most pieces of ordinary text are tokens already.
    if let Some(&id) = ranks.get(piece) {
        out.push(id);
        return;
    }
    // Each merge below looks at every pair: n² for n bytes, hours for a "word" of megabytes.
    if piece.len() > LONG_PIECE {
        return encode_long_piece(ranks, piece, out);
    }
    // starts[i]..starts[i + 1] is part i; pair[i] is the rank of parts i and i + 1 merged.
    let mut starts: Vec<usize> = (0..=piece.len()).collect();
    let rank_of = |starts: &[usize], i: usize| -> u32 {
        match starts.get(i + 2) {
            Some(&end) => ranks
                .get(&piece[starts[i]..end])
                .copied()
                .unwrap_or(u32::MAX),
            None => u32::MAX,
        }
    };
    let mut pair: Vec<u32> = (0..piece.len() - 1).map(|i| rank_of(&starts, i)).collect();
    // The leftmost pair with the lowest rank merges first, until no pair forms a token.
    while let Some((i, _)) = pair
        .iter()
        .enumerate()
        .filter(|&(_, &r)| r != u32::MAX)
        .min_by_key(|&(_, &r)| r)
    {
        starts.remove(i + 1);
        pair.remove(i);
        if i < pair.len() {
            pair[i] = rank_of(&starts, i);
        }
        if i > 0 {
            pair[i - 1] = rank_of(&starts, i - 1);
        }
    }
    out.extend(starts.windows(2).map(|w| ranks[&piece[w[0]..w[1]]]));
}
// ANCHOR_END: merge

/// Pieces longer than this many bytes are merged by [`encode_long_piece`].
pub const LONG_PIECE: usize = 512;

/// [`encode_piece`] for long pieces: the same merges in the same order (the lowest rank first,
/// the leftmost of equal ranks), each found with a heap rather than a scan of every pair, so a
/// piece of n bytes takes n log n steps rather than n².
pub fn encode_long_piece(ranks: &Ranks, piece: &[u8], out: &mut Vec<u32>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = piece.len();
    // Part i (named by its first byte) covers i..next[i]; `prev` links back (n: none); a part's
    // version changes when it grows, so that the heap's older entries for it are skipped.
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { n } else { i - 1 }).collect();
    let mut version = vec![0u32; n];
    let rank = |i: usize, next: &[usize]| -> Option<u32> {
        let j = *next.get(i)?;
        (j < n).then(|| ranks.get(&piece[i..next[j]]).copied())?
    };
    let mut heap = BinaryHeap::new();
    for i in 0..n - 1 {
        if let Some(r) = rank(i, &next) {
            heap.push(Reverse((r, i, 0u32, i + 1, 0u32)));
        }
    }
    while let Some(Reverse((_, i, vi, j, vj))) = heap.pop() {
        if version[i] != vi || next[i] != j || version[j] != vj {
            continue;
        }
        // Part j joins part i.
        let k = next[j];
        next[i] = k;
        if k < n {
            prev[k] = i;
        }
        version[i] += 1;
        version[j] = u32::MAX; // gone: no entry names it with this version
        let p = prev[i];
        if p < n
            && let Some(r) = rank(p, &next)
        {
            heap.push(Reverse((r, p, version[p], i, version[i])));
        }
        if let Some(r) = rank(i, &next) {
            heap.push(Reverse((r, i, version[i], k, version[k])));
        }
    }
    let mut i = 0;
    while i < n {
        out.push(ranks[&piece[i..next[i]]]);
        i = next[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The heap's merges are the scan's, on pieces of every kind: the scan is the definition.
    #[test]
    fn long_pieces_merge_as_short_ones_do() {
        let tok = crate::Tokenizer::gpt2().unwrap();
        let ranks = &tok.ranks;
        let mut rng = Rng::new(7);
        let text = std::fs::read(crate::data::default_text_path()).unwrap();
        for len in [2, 3, 5, 17, 100, 600, 2000] {
            for _ in 0..20 {
                let start = (rng.next_u64() as usize) % (text.len() - len);
                let mut piece = text[start..start + len].to_vec();
                if rng.next_u64().is_multiple_of(2) {
                    // Long runs of few letters, as in base64 or a line of dashes.
                    piece = piece.iter().map(|b| b"ab-="[(*b % 4) as usize]).collect();
                }
                let (mut long, mut scan) = (Vec::new(), Vec::new());
                encode_long_piece(ranks, &piece, &mut long);
                scan_merges(ranks, &piece, &mut scan);
                assert_eq!(long, scan, "{:?}", String::from_utf8_lossy(&piece));
            }
        }
        // A "word" of a million bytes takes a moment, not hours.
        let mut out = Vec::new();
        encode_piece(ranks, &vec![b'a'; 1 << 20], &mut out);
        assert_eq!(tok.decode(&out).unwrap().len(), 1 << 20);
    }

    /// `encode_piece`'s scan, whatever the length.
    fn scan_merges(ranks: &Ranks, piece: &[u8], out: &mut Vec<u32>) {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| {
                    ranks
                        .get(&[&parts[i][..], &parts[i + 1][..]].concat())
                        .map(|&r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        out.extend(parts.iter().map(|p| ranks[p]));
    }
}
