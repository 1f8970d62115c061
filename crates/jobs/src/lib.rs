//! The platform layer: build an image from a checkout, launch a job, poll it, cancel it
//! and fetch its logs — on the local machine, on Slurm, or through user command templates.
//!
//! Job names are idempotency keys: a resumed engine finds a job it launched before
//! instead of launching it twice. Every external command has a timeout, captured output
//! and process-group cleanup.
//!
//! **What it must not know:** SPDL, metrics, agents or experiments.
//!
//! Main types (to come): `Platform`, `JobRequest`, `JobStatus`, `CommandTemplate`.
//!
//! Status: an empty shell; the platform layer is specified and not yet built.
