//! Chapter 8: optimization. The naive kernels the library's replaced, the matrix multiply's
//! ladder from the definition to the library's kernel, and what bf16 weights cost.

pub mod ddp;
pub mod exercises;
pub mod ladder;
pub mod naive;
pub mod orders;
pub mod precision;
pub mod quant;
pub mod seeds;
pub mod side_by_side;
pub mod versions;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch08-optimization.md")]
mod chapter_text {}
