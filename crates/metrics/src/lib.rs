//! Every number the tool reports, computed by code from raw evidence: the probe's
//! `[autoresearch] {json}` lines, SPDL's pipeline stats lines and system samples.
//!
//! **What it must not know:** how jobs are launched, agents, or the experiment tree.
//!
//! Main types (to come): the probe-line and stats-line parsers and `MetricsSummary`.
//!
//! Status: an empty shell; the measuring side is specified and not yet built.
