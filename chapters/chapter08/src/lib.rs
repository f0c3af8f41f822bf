//! Chapter 8: optimization. The chapter's exercise: how the matrix multiply scales with threads.

pub mod exercises;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch08-optimization.md")]
mod chapter_text {}
