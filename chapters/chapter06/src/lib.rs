//! Chapter 6: training. The chapter's experiments and exercises.

pub mod exercises;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch06-training.md")]
mod chapter_text {}
