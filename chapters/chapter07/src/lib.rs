//! Chapter 7: generation. The readable sampler and KV cache (`generate`); the next-token
//! distribution under different sampling settings, drawn as bar charts; the chapter's
//! exercises.

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod diagram;
pub mod distribution;
pub mod exercises;
pub mod generate;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch07-generation.md")]
mod chapter_text {}
