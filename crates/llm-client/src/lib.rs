//! Coding agents and LLM APIs: one stateless call with a timeout, retries with backoff,
//! a shared cost budget, JSON answers validated against a Rust type, and every prompt
//! and answer logged with secrets redacted.
//!
//! **What it must not know:** prompts, schemas or what the answers mean — those belong
//! to the workflow.
//!
//! Main types (to come): `Agent`, `AgentCall`, `AgentReply`, `CostBudget`.
//!
//! Status: an empty shell; the agent layer is specified and not yet built.
