//! Integration tests of the agent layer: real clients against a loopback server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod claude_code;
mod edits;
mod json_answers;
mod openai;
mod support;
