//! Chapter 4: the Transformer block. The readable GPT-2's LayerNorm, GELU, MLP and block
//! (`block`, on chapter 3's attention); blocks arranged without LayerNorm and with it after the
//! residual addition (the original Transformer's "post-LN"), to compare with GPT-2's pre-LN;
//! statistics of the residual stream; the chapter's exercises.

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod block;
pub mod diagram;
pub mod exercises;
pub mod variants;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch04-block.md")]
mod chapter_text {}
