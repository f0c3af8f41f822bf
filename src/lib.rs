//! GPT-2 from scratch, on the CPU: the model, its tokenizer, training and generation.
//!
//! The modules follow the chapters of the book that explains them:
//! `config` (chapter 1: the shape of the model and what it costs), `tokenizer` and `data`
//! (chapter 2: from text to batches of token ids), `kernels`, `layers` and `attention`
//! (chapter 3: the matrix multiply, the building blocks, causal self-attention), `block`
//! (chapter 4: the Transformer block).

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod amx;
pub mod attention;
pub mod bench;
pub mod block;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod dist;
pub mod dropout;
pub mod eval;
pub mod fsutil;
pub mod generate;
pub mod gradcheck;
pub mod hash;
pub mod kernels;
pub mod layers;
pub mod matmul_bf16;
pub mod model;
pub mod numfmt;
pub mod optim;
pub mod plot;
pub mod quant;
pub mod rng;
pub mod run;
pub mod tokenizer;
pub mod train;

pub use config::{ConfigError, GPTConfig, PRESETS};
pub use model::GPT;
pub use tokenizer::Tokenizer;
