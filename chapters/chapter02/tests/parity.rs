//! Our tokenizer and tiktoken-rs agree on every id: on the whole of tiny Shakespeare, on a
//! corpus of hard cases, and on any string proptest can think of.

use std::sync::OnceLock;

use gpt2::Tokenizer;
use proptest::prelude::*;
use tiktoken_rs::CoreBPE;

fn ours() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::gpt2().unwrap())
}

fn theirs() -> &'static CoreBPE {
    static T: OnceLock<CoreBPE> = OnceLock::new();
    T.get_or_init(|| tiktoken_rs::r50k_base().unwrap())
}

fn assert_same(text: &str) {
    let ids = ours().encode(text);
    assert_eq!(
        ids,
        theirs().encode_ordinary(text),
        "ids differ for {text:?}"
    );
    assert_eq!(
        ours().decode_bytes(&ids).unwrap(),
        text.as_bytes(),
        "{text:?}"
    );
}

#[test]
fn whole_of_tiny_shakespeare() {
    let text = std::fs::read_to_string(gpt2::data::default_text_path()).unwrap();
    let ids = ours().encode(&text);
    assert_eq!(ids.len(), 338_025);
    assert_eq!(ids, theirs().encode_ordinary(&text));
    assert_eq!(ours().decode(&ids).unwrap(), text);
}

/// Text that exercises every rule of the pre-tokenizer and every kind of byte sequence.
pub const HARD_CASES: &[&str] = &[
    "Hello, world!",
    "안녕하세요, 세계! 한국어 문장은 여러 바이트로 인코딩됩니다.",
    "Emoji: 😀👍🏽👨‍👩‍👧‍👦 🇰🇷 and ❤️",
    "Combining marks: e\u{301} n\u{303} a\u{30a}\u{301} Z\u{335}\u{321}a\u{336}l\u{337}g\u{338}o",
    "Digits 0 12 345 6789 1234567890123 3.14159 1,000,000 ²³ ٣٤٥ Ⅻ",
    "fn main() {\n    let x: Vec<u32> = (0..10).collect();\n\tprintln!(\"{x:?}\");\n}\n",
    "tabs\tand\t\ttabs\t\t\t end",
    "runs of spaces:  two   three    four     five",
    "newlines\n\n\nthree\r\nwindows\n \n  \nmixed   \n",
    "contractions: I'm you're he's we've they'll I'd don't 'tis O'Brien 'S 'T",
    "ALL CAPS 'LL 'VE and mixed 'Re",
    "   leading and trailing   ",
    "\u{a0}non-breaking\u{a0}space\u{2003}em\u{3000}ideographic",
    "<|endoftext|> is just text here",
    "Ünïcödé façade naïve coöperate Straße İstanbul",
    "中文字符和日本語の文字とカタカナ",
    "Ελληνικά Русский עברית العربية हिन्दी ไทย",
    "punctuation!!! ??? ... --- *** ### $$$ %%% &&& @@@",
    "\u{0}\u{1}\u{7f}\u{80}\u{ffff}\u{10ffff}",
    " ",
    "",
    "'",
    "a'",
    "''''",
    "x\u{200d}y\u{feff}z",
];

#[test]
fn hard_cases() {
    for text in HARD_CASES {
        assert_same(text);
    }
    assert_same(&HARD_CASES.concat());
    assert_same(&HARD_CASES.join("\n"));
}

/// Strings built from the pieces the rules care about, so that edge cases meet often.
fn tricky() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("\t".to_string()),
        Just("\u{a0}".to_string()),
        Just("'".to_string()),
        Just("'s".to_string()),
        Just("'ll".to_string()),
        "[a-zA-Z]{1,4}",
        "[0-9]{1,4}",
        "[!-/:-@]{1,3}",
        "\\PC{1,3}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(atom, 0..24).prop_map(|v| v.concat())
}

// ANCHOR: proptest
proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_gives_the_same_ids(s in any::<String>()) {
        let ids = ours().encode(&s);
        prop_assert_eq!(&ids, &theirs().encode_ordinary(&s));
        prop_assert_eq!(ours().decode(&ids).unwrap(), s);
    }

    #[test]
    fn tricky_strings_give_the_same_ids(s in tricky()) {
        let ids = ours().encode(&s);
        prop_assert_eq!(&ids, &theirs().encode_ordinary(&s));
        prop_assert_eq!(ours().decode(&ids).unwrap(), s);
    }
}
// ANCHOR_END: proptest
