//! The claims chapter 2 makes about the trainer, the naive encoder, the data pipeline and the
//! exercises.

use std::sync::OnceLock;

use chapter02::exercises::{decode_one_by_one, longest_tokens, most_fragmented};
use chapter02::experiments::{bytes_per_token, split_text};
use chapter02::naive::encode_by_merges;
use gpt2::Tokenizer;
use gpt2::data::{DataError, Loader, LoaderMode, cache_path, load_tokens_cached, read_text};
use gpt2::tokenizer::{pretokenize, train::train};

fn gpt2() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::gpt2().unwrap())
}

fn shakespeare() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| read_text(&gpt2::data::default_text_path()).unwrap())
}

fn chapter() -> String {
    bookcheck::page("ch02-tokenization.md")
}

#[test]
fn hello_world_is_four_tokens() {
    assert_eq!(gpt2().encode("Hello, world!"), [15496, 11, 995, 0]);
    assert_eq!(gpt2().eot(), 50256);
}

#[test]
fn naive_merges_and_ranked_merges_agree() {
    let (train_text, val_text) = split_text(shakespeare(), 0.9);
    let tok = train(train_text, 1024).unwrap();
    let mut pieces = 0;
    for piece in pretokenize::split(val_text) {
        assert_eq!(
            encode_by_merges(piece.as_bytes(), tok.merges()),
            tok.encode(piece),
            "{piece:?}"
        );
        pieces += 1;
    }
    assert!(pieces > 30_000);
}

#[test]
fn first_merges_on_shakespeare() {
    let (train_text, _) = split_text(shakespeare(), 0.9);
    let tok = train(train_text, 267).unwrap();
    let first: Vec<String> = tok
        .merges()
        .iter()
        .map(|&(a, b)| {
            let s = [tok.token_bytes(a).unwrap(), tok.token_bytes(b).unwrap()].concat();
            String::from_utf8(s).unwrap()
        })
        .collect();
    assert_eq!(
        first,
        [" t", "he", " a", "ou", " s", " m", "in", " w", "re", "ha"]
    );
}

#[test]
fn compression_grows_with_the_vocabulary() {
    let (train_text, val_text) = split_text(shakespeare(), 0.9);
    let mut last = 0.0;
    for size in [512, 1024, 2048, 4096, 8192] {
        let ratio = bytes_per_token(&train(train_text, size).unwrap(), val_text);
        assert!(ratio > last, "{size}: {ratio} <= {last}");
        last = ratio;
    }
    // With 8,192 tokens learned from Shakespeare we compress Shakespeare better than GPT-2.
    assert!(last > bytes_per_token(gpt2(), val_text));
}

#[test]
fn a_trained_tokenizer_survives_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shakespeare.bpe");
    let tok = train(shakespeare(), 600).unwrap();
    tok.save(&path).unwrap();
    let loaded = Tokenizer::load(&path).unwrap();
    assert_eq!(loaded.encode(shakespeare()), tok.encode(shakespeare()));
    assert_eq!(loaded.name(), tok.name());
    assert_eq!(loaded.vocab_size(), 600);
}

#[test]
fn the_token_cache_is_reused_and_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "To be, or not to be: that is the question.").unwrap();
    let caches = tempfile::tempdir().unwrap();
    let load_tokens =
        |path: &std::path::Path, tok| load_tokens_cached(path, tok, Some(caches.path()));
    let ids = load_tokens(&text, gpt2()).unwrap();
    assert_eq!(
        ids,
        gpt2().encode("To be, or not to be: that is the question.")
    );
    // The cache is in its own folder, not beside the text.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let cache = cache_path(caches.path(), &text);
    let written = std::fs::read(&cache).unwrap();
    assert_eq!(&written[..8], b"GPT2TOKS");
    assert_eq!(written.len(), 52 + 2 * ids.len());

    // A cache that matches is read, not recomputed: doctor one id, and the hash of the ids
    // with it, and see it come back.
    let mut doctored = written.clone();
    doctored[52] = 0x2a;
    doctored[53] = 0;
    let hash = gpt2::hash::fnv64(&doctored[52..]);
    doctored[44..52].copy_from_slice(&hash.to_le_bytes());
    std::fs::write(&cache, &doctored).unwrap();
    assert_eq!(load_tokens(&text, gpt2()).unwrap()[0], 42);
    // An id changed without its hash is noticed: the cache is rebuilt from the text.
    doctored[52] = 0x2b;
    std::fs::write(&cache, &doctored).unwrap();
    assert_eq!(load_tokens(&text, gpt2()).unwrap(), ids);

    // Another text, or another tokenizer, and the cache is rebuilt.
    std::fs::write(&text, "To be, or not to be: that is the question!").unwrap();
    assert_eq!(load_tokens(&text, gpt2()).unwrap().last(), Some(&0));
    let small = train(shakespeare(), 300).unwrap();
    let theirs = load_tokens(&text, &small).unwrap();
    assert_eq!(
        theirs,
        small.encode("To be, or not to be: that is the question!")
    );
}

#[test]
fn bad_data_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(read_text(&empty), Err(DataError::Empty { .. })));

    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    let err = read_text(&latin1).unwrap_err().to_string();
    assert!(
        err.ends_with("latin1.txt is not UTF-8 text: invalid byte at offset 3"),
        "{err}"
    );

    let missing = read_text(&dir.path().join("missing.txt"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.txt"), "{missing}");

    let err = Loader::new(vec![1; 10], 4, 8, LoaderMode::Sequential, 0, "tiny.txt")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "tiny.txt has 10 tokens, fewer than one batch needs (33 = batch 4 x sequence 8 + 1)"
    );
}

#[test]
fn shakespeare_batches() {
    let ids = gpt2().encode(shakespeare());
    let (train_ids, val_ids) = gpt2::data::split(&ids, 0.1);
    assert_eq!((train_ids.len(), val_ids.len()), (304_222, 33_803));
    let mut loader =
        Loader::new(train_ids.to_vec(), 4, 32, LoaderMode::Sequential, 0, "t").unwrap();
    let batch = loader.next_batch();
    assert_eq!(&batch.x[..], &train_ids[..128]);
    assert_eq!(&batch.y[..], &train_ids[1..129]);
    assert_eq!(gpt2().decode(&batch.x[..3]).unwrap(), "First Citizen:");
}

#[test]
fn exercise_longest_token() {
    let longest = longest_tokens(gpt2(), 3);
    assert_eq!(longest[0], (35496, 128));
    assert!(chapter().contains("128 bytes"));
    let text = |id: u32| String::from_utf8_lossy(gpt2().token_bytes(id).unwrap()).into_owned();
    assert_eq!(text(35496), "ÃÂ".repeat(32));
    // The next seven: five of 64 bytes, one of them the same run at half the length, and the
    // rest lines of `=`, `-`, `.` and `_` (two with a space before).
    let next = &longest_tokens(gpt2(), 8)[1..];
    assert_eq!(next.iter().filter(|&&(_, len)| len == 64).count(), 5);
    assert!(next.iter().all(|&(_, len)| len >= 64));
    assert!(longest_tokens(gpt2(), 9)[8].1 < 64);
    let (mojibake, lines): (Vec<_>, Vec<_>) = next
        .iter()
        .copied()
        .partition(|&(id, _)| text(id).contains('Ã'));
    assert_eq!(mojibake, [(23090, 64)]);
    assert_eq!(text(23090), "ÃÂ".repeat(16));
    for (id, _) in lines {
        let line = text(id);
        let c = line.trim_start().chars().next().unwrap();
        assert!(
            "=-._".contains(c) && line.trim_start().chars().all(|x| x == c),
            "{line:?}"
        );
    }
}

#[test]
fn exercise_streaming() {
    let ids = gpt2().encode("안녕 👋");
    let printed = decode_one_by_one(gpt2(), &ids);
    assert_eq!(printed.len(), ids.len());
    assert_eq!(printed.concat(), "안녕 👋");
    assert!(printed.iter().all(|p| !p.contains('\u{FFFD}')));
    assert_eq!(printed, ["", "", "안", "", "", "녕", " ", "👋"]);
}

#[test]
fn exercise_most_fragmented() {
    let words = most_fragmented(gpt2(), shakespeare(), 2);
    assert_eq!(
        words,
        [
            (" BOLINGBROKE".to_string(), 6),
            ("WESTMORELAND".to_string(), 6)
        ]
    );
}

/// The figure's trace ends where the tokenizer does: for every pre-token of a sentence (and the
/// one the figure draws), its last step's parts are the tokens `encode` gives, and each step
/// merges exactly one pair into the token it names.
#[test]
fn merge_steps_end_in_the_tokens_of_encode() {
    use chapter02::merges::merge_steps;
    let text = " tokenization: ROMEO's unbelievably tokenizable words, 안녕하세요 👋";
    for piece in pretokenize::split(text) {
        let steps = merge_steps(gpt2(), piece.as_bytes()).unwrap();
        let last = steps.last().unwrap();
        assert_eq!(last.merged, None, "{piece:?}");
        assert_eq!(last.ranks, gpt2().encode(piece), "{piece:?}");
        for pair in steps.windows(2) {
            assert_eq!(pair[1].parts.len() + 1, pair[0].parts.len(), "{piece:?}");
            let (_, rank) = pair[0].merged.unwrap();
            assert!(pair[1].ranks.contains(&rank), "{piece:?}");
        }
    }
    let steps = merge_steps(gpt2(), b" tokenization").unwrap();
    assert_eq!(steps.last().unwrap().ranks, [11241, 1634]);
}
