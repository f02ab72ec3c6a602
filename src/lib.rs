//! Switchboard: an AI completion language server. Inline completions go to Codex-class models, code
//! actions to Claude, and the `local` provider answers from the open buffers when no key is set.
//! See ARCHITECTURE.md for the code map.

pub mod actions;
pub mod cli;
pub mod completion;
pub mod config;
pub mod context;
pub mod documents;
pub mod engine;
pub mod files;
pub mod index;
pub mod mcp;
pub mod privacy;
pub mod providers;
pub mod server;
pub mod syntax;
pub mod threads;
pub mod upstream;
