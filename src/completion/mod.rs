//! Completion: the local provider today; the inline engine (context, shaping, cache, post-processing)
//! builds on it.

pub mod cache;
pub mod debounce;
pub mod inline;
pub mod local;
pub mod postprocess;
pub mod stats;
