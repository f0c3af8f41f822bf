//! Chapter 5: the whole GPT-2. The readable model (`gpt`: embeddings, chapter 4's blocks, the
//! tied LM head, cross-entropy, the backward pass, checkpoints through the library's loader);
//! the fixtures of the reference model; the diagram of the model's shapes; the chapter's
//! exercises.

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod diagram;
pub mod exercises;
pub mod gpt;
pub mod gradcheck;
pub mod reference;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch05-model.md")]
mod chapter_text {}
