//! What an experiment costs: its wall time, predicted from the best's. A job runs a
//! fixed number of steps, so a larger batch makes every step, and the run, longer: on a
//! job of 30 minutes, batch ×4 is a two-hour experiment. The planner drops what would
//! not finish inside the job timeout or the time left in the run, says the cost of
//! anything well above the best's, and among refinements (moves no measurement asks
//! for) tries the cheap ones first.

use super::balance::step_cost;
use super::{Config, Proposals, int_value};
use crate::knobs::KnobRole;

/// A candidate whose predicted wall time is this many times the best's says so in its
/// hypothesis.
pub(super) const NOTABLE: f64 = 1.5;

/// How many times the best's wall time `config` is predicted to take: its step against
/// the best's at the batch each sets. A data-bound step is the loader's time for the
/// batch, which grows with it; a compute-bound one follows the fitted step cost.
pub(super) fn relative(p: &Proposals<'_>, config: &Config) -> f64 {
    let Some(knob) = p.view.knobs.iter().find(|k| k.role == KnobRole::BatchSize) else {
        return 1.0;
    };
    let (Some(from), Some(to)) = (int_value(knob, &p.base), int_value(knob, config)) else {
        return 1.0;
    };
    if from <= 0 || to <= 0 || from == to {
        return 1.0;
    }
    let linear = to as f64 / from as f64;
    if p.data_bound {
        return linear;
    }
    step_cost(p)
        .map(|c| c.step_ms(to as f64) / c.step_ms(from as f64).max(1e-9))
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(linear)
}

/// The best run's loop time, seconds (steps × mean steady step): what [`relative`]
/// scales.
pub(super) fn best_loop_s(p: &Proposals<'_>) -> Option<f64> {
    let best = p.view.best_summary?;
    let steps = &best.steady_steps_ms;
    if steps.is_empty() || best.steps == 0 {
        return None;
    }
    let mean = steps.iter().sum::<f64>() / steps.len() as f64;
    Some(best.steps as f64 * mean / 1000.0)
}

/// Whether an experiment predicted at `ratio` × the best fits in the time an
/// experiment may take.
pub(super) fn fits(p: &Proposals<'_>, ratio: f64) -> bool {
    match (p.view.time_limit_s, best_loop_s(p)) {
        (Some(limit), Some(loop_s)) => loop_s * ratio <= limit,
        _ => true,
    }
}
