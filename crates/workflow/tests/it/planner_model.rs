//! The planner's performance models: contention and step cost fits.

use autoresearch_workflow::builtin_planner::model::{LatencyPoint, Scalability, StepCost};

fn point(concurrency: f64, task_ms: f64) -> LatencyPoint {
    LatencyPoint {
        concurrency,
        task_ms,
    }
}

#[test]
fn flat_latency_means_no_contention_and_linear_sizing() {
    let fit = Scalability::fit(&[point(1.0, 10.0), point(8.0, 10.4)]).unwrap();
    assert_eq!(fit.kappa, 0.0);
    assert_eq!(fit.peak(), None);
    // 1.5 items/ms at 10 ms each: 15 in flight.
    assert_eq!(fit.concurrency_for(1.5, 64), 15);
    assert_eq!(fit.concurrency_for(1.5, 8), 8, "the limit holds");
}

#[test]
fn rising_latency_caps_concurrency_at_the_throughput_peak() {
    // Latency tripled from 1 to 9 in flight: κ = 2/72, peak √36 = 6.
    let fit = Scalability::fit(&[point(1.0, 10.0), point(9.0, 30.0)]).unwrap();
    assert!((fit.kappa - 2.0 / 72.0).abs() < 1e-12);
    assert!((fit.peak().unwrap() - 6.0).abs() < 1e-9);
    assert!((fit.latency_ms(9.0) - 30.0).abs() < 1e-9);
    assert_eq!(fit.concurrency_for(100.0, 64), 6, "never past the peak");
    assert_eq!(fit.concurrency_for(0.25, 64), 3);
}

#[test]
fn the_anchor_need_not_be_one() {
    let truth = Scalability {
        single_ms: 5.0,
        kappa: 0.01,
    };
    let fit = Scalability::fit(&[
        point(4.0, truth.latency_ms(4.0)),
        point(16.0, truth.latency_ms(16.0)),
    ])
    .unwrap();
    assert!((fit.kappa - 0.01).abs() < 1e-9, "{fit:?}");
    assert!((fit.single_ms - 5.0).abs() < 1e-9);
}

#[test]
fn no_usable_point_means_no_fit() {
    assert_eq!(Scalability::fit(&[]), None);
    assert_eq!(
        Scalability::fit(&[point(0.0, 3.0), point(2.0, f64::NAN)]),
        None
    );
}

#[test]
fn step_cost_separates_the_fixed_part() {
    let cost = StepCost::fit(&[(8.0, 38.4), (16.0, 44.8), (16.0, 44.8)]).unwrap();
    assert!((cost.per_sample_ms - 0.8).abs() < 1e-9);
    assert!((cost.fixed_ms - 32.0).abs() < 1e-9);
    assert!((cost.per_sample_at(64.0) - 1.3).abs() < 1e-9);
    assert_eq!(
        StepCost::fit(&[(8.0, 38.4), (8.0, 39.0)]),
        None,
        "one batch size"
    );
}

#[test]
fn a_rise_steeper_than_any_kappa_puts_the_peak_at_the_lowest_point() {
    // From 2 to 4 in flight the latency grew 7×; κ → ∞ would give only 6×.
    let fit = Scalability::fit(&[point(2.0, 10.0), point(4.0, 70.0)]).unwrap();
    assert!((fit.peak().unwrap() - 2.0).abs() < 1e-9, "{fit:?}");
    assert_eq!(fit.concurrency_for(100.0, 64), 2);
}
