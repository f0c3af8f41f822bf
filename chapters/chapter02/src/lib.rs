//! Chapter 2: tokenization. The naive versions of BPE worth comparing against the library's,
//! the experiments of the chapter, and rank-ordered merging traced step by step.

pub mod exercises;
pub mod experiments;
pub mod merges;
pub mod naive;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch02-tokenization.md")]
mod chapter_text {}
