//! GPT-2's byte-level BPE tokenizer, from scratch: pre-tokenization, rank-ordered merges,
//! decoding, and a trainer that learns merges from any text.
//!
//! Text becomes ids in two steps: [`pretokenize::split`] cuts it into pieces (words with their
//! leading space, numbers, punctuation, white space), and [`bpe::encode_piece`] turns each
//! piece's UTF-8 bytes into tokens by merging adjacent pairs in the order they were learned.

pub mod bpe;
pub mod file;
pub mod pretokenize;
pub mod train;
pub mod utf8;

use thiserror::Error;

pub use bpe::Ranks;
pub use utf8::Utf8Stream;

/// The text of GPT-2's one special token, which separates documents.
pub const ENDOFTEXT: &str = "<|endoftext|>";

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("cannot load GPT-2's BPE ranks: {0}")]
    Ranks(String),
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    UnknownId { id: u32, vocab: usize },
    #[error("cannot read tokenizer file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the tokenizer to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
    #[error("cannot train a tokenizer: {0}")]
    Train(String),
}

/// A byte-level BPE tokenizer: GPT-2's own, or one trained with [`train::train`].
#[derive(Clone)]
pub struct Tokenizer {
    ranks: Ranks,
    /// id -> bytes; the special token's entry holds its text.
    tokens: Vec<Vec<u8>>,
    /// The id of `<|endoftext|>`: the last id.
    eot: u32,
    /// merges[k] = (left, right) made token 256 + k; empty for GPT-2, whose byte tokens are not
    /// ids 0..=255 and whose merges are implied by the ranks.
    merges: Vec<(u32, u32)>,
    name: String,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({}, vocab {})", self.name, self.vocab_size())
    }
}

// ANCHOR: gpt2
impl Tokenizer {
    /// GPT-2's tokenizer: 50,257 tokens, with the ranks of tiktoken's bundled `r50k_base`.
    pub fn gpt2() -> Result<Tokenizer, TokenizerError> {
        let reference =
            tiktoken_rs::r50k_base().map_err(|e| TokenizerError::Ranks(e.to_string()))?;
        // Every id below 50,256 decodes to the bytes of its token: that is the rank table.
        let tokens: Vec<Vec<u8>> = (0..50_256u32)
            .map(|id| reference.decode_bytes(&[id]))
            .collect::<Result<_, _>>()
            .map_err(|e| TokenizerError::Ranks(e.to_string()))?;
        Ok(Tokenizer::from_tokens(tokens, Vec::new(), "gpt2"))
    }
}
// ANCHOR_END: gpt2

impl Tokenizer {
    /// Builds a tokenizer from its ordinary tokens (id = rank); `<|endoftext|>` gets the next id.
    fn from_tokens(mut tokens: Vec<Vec<u8>>, merges: Vec<(u32, u32)>, name: &str) -> Tokenizer {
        let ranks: Ranks = tokens
            .iter()
            .enumerate()
            .map(|(id, bytes)| (bytes.clone(), id as u32))
            .collect();
        let eot = tokens.len() as u32;
        tokens.push(ENDOFTEXT.as_bytes().to_vec());
        Tokenizer {
            ranks,
            tokens,
            eot,
            merges,
            name: name.to_string(),
        }
    }

    /// Number of ids, `<|endoftext|>` included.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of `<|endoftext|>` (50,256 for GPT-2).
    pub fn eot(&self) -> u32 {
        self.eot
    }

    /// "gpt2", or "bpe-" and a hash for a trained tokenizer.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The merges of a trained tokenizer, in the order they were learned.
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    /// A 64-bit fingerprint of the vocabulary: two tokenizers with the same one encode alike.
    pub fn fingerprint(&self) -> u64 {
        let mut h = crate::hash::Fnv64::new();
        for t in &self.tokens {
            h.write(&(t.len() as u64).to_le_bytes());
            h.write(t);
        }
        h.finish()
    }

    // ANCHOR: encode
    /// Encodes `text` as ordinary text: `<|endoftext|>` inside it is just characters.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        for piece in pretokenize::split(text) {
            bpe::encode_piece(&self.ranks, piece.as_bytes(), &mut ids);
        }
        ids
    }
    // ANCHOR_END: encode

    /// Encodes `text`, turning each literal `<|endoftext|>` into the special token.
    pub fn encode_with_special(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for (i, part) in text.split(ENDOFTEXT).enumerate() {
            if i > 0 {
                ids.push(self.eot);
            }
            ids.extend(self.encode(part));
        }
        ids
    }

    /// The bytes of one token.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.tokens
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or(TokenizerError::UnknownId {
                id,
                vocab: self.tokens.len(),
            })
    }

    /// The bytes `ids` stand for. Any id sequence decodes; the bytes need not be valid UTF-8.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(out)
    }

    /// The text `ids` stand for; bytes that are not valid UTF-8 (for instance a character cut
    /// in half at the end) become U+FFFD. Use [`Utf8Stream`] to print text as it is generated.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world() {
        let tok = Tokenizer::gpt2().unwrap();
        assert_eq!(tok.encode("Hello, world!"), [15496, 11, 995, 0]);
        assert_eq!(tok.decode(&[15496, 11, 995, 0]).unwrap(), "Hello, world!");
        assert_eq!(tok.vocab_size(), 50257);
        assert_eq!(tok.encode_with_special("a<|endoftext|>b"), [64, 50256, 65]);
        assert_ne!(tok.encode("<|endoftext|>"), [50256]);
    }

    #[test]
    fn a_cut_character_does_not_panic() {
        let tok = Tokenizer::gpt2().unwrap();
        let ids = tok.encode("😀");
        assert!(ids.len() > 1);
        assert_eq!(tok.decode(&ids[..1]).unwrap(), "\u{FFFD}");
        assert!(tok.decode(&[60_000]).is_err());
    }
}
