//! GPT-2 from scratch, on the CPU: the model, its tokenizer, training and generation.
//!
//! The modules follow the chapters of the book that explains them:
//! `config` (chapter 1: the shape of the model and what it costs).

pub mod config;
pub mod data;
pub mod numfmt;
pub mod rng;

pub use config::{ConfigError, GPTConfig, PRESETS};
