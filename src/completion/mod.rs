//! Completion: the local provider today; the inline engine (context, shaping, cache, post-processing)
//! builds on it.

pub mod local;
