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
