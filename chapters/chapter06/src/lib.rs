//! Chapter 6: training. The readable AdamW, clipping, schedule and loop (`train`); a short run
//! that shows a loss curve, and the same run on a sliver of the text, which overfits; the
//! chapter's exercises.

pub mod exercises;
pub mod reference;
pub mod run_log;
pub mod short_run;
pub mod train;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch06-training.md")]
mod chapter_text {}
