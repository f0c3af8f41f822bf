//! Chapter 3: causal self-attention. The readable GPT-2 starts here (`attention`: the linear
//! layer and attention, forward and backward, in plain ndarray); attention written with loops,
//! one head at a time, as the definition reads (`naive`); hand-built heads whose weights are
//! easy to read; finite-difference checks; the chapter's exercises.

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod attention;
pub mod diagrams;
pub mod dropout;
pub mod exercises;
pub mod gradcheck;
pub mod heads;
pub mod naive;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch03-attention.md")]
mod chapter_text {}
