//! BPE the way it is usually first explained: a list of merges applied in the order they were
//! learned, each one rewriting the whole sequence. Correct, and slow.

// ANCHOR: naive
/// Encodes the bytes of one pre-token by applying the merges in order: merge k turns every
/// adjacent pair `merges[k]` into token 256 + k.
pub fn encode_by_merges(piece: &[u8], merges: &[(u32, u32)]) -> Vec<u32> {
    let mut ids: Vec<u32> = piece.iter().map(|&b| b as u32).collect();
    for (k, &(a, b)) in merges.iter().enumerate() {
        let mut out = Vec::with_capacity(ids.len());
        let mut i = 0;
        while i < ids.len() {
            if i + 1 < ids.len() && ids[i] == a && ids[i + 1] == b {
                out.push(256 + k as u32);
                i += 2;
            } else {
                out.push(ids[i]);
                i += 1;
            }
        }
        ids = out;
    }
    ids
}
// ANCHOR_END: naive
