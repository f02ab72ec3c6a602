//! Code actions routed to Claude: what to offer, the prompts, and turning answers into edits.

pub mod cli;
pub mod diff;
pub mod extract;
