//! The tree of experiments (baseline, headspace and subprocess roots; follow-ups as
//! children), its validated status transitions, its per-node files, and pictures that stay
//! readable at a thousand nodes.
//!
//! **What it must not know:** how experiments run, agents, or platforms.
//!
//! Main types (to come): `HypothesisNode`, `HypothesisTree`.
//!
//! Status: an empty shell; the tree is specified and not yet built.
