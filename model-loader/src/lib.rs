//! The inference engine, as `no_std + alloc` code: the same crate runs inside
//! the kernel (on memory-mapped weights) and on the host (tests, `cargo xtask
//! generate`, benchmarks).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod agent;
pub mod chat;
pub mod conversation;
pub mod cpu;
pub mod ggml;
pub mod gguf;
pub mod hparams;
pub mod kv;
pub mod model;
pub mod pack;
#[cfg(feature = "std")]
pub mod pack_file;
pub mod parallel;
pub mod quant;
pub mod rng;
pub mod sampler;
pub mod session;
pub mod support;
pub mod tiny;
pub mod tokenizer;
