//! `progress.png`: experiments in launch order, one panel per measured figure.

use std::path::Path;

use plotters::prelude::*;

use crate::error::TreeError;
use crate::node::NodeStatus;
use crate::render::{colours, register_font};
use crate::tree::HypothesisTree;

/// One launched experiment as the progress chart sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressPoint {
    /// The node.
    pub node_id: String,
    /// A label to mark the point with (the owner of the specs knows which runs are
    /// seeds: `baseline`, `floor`, `MTP`); `None` for most.
    pub label: Option<String>,
    /// Launch order (x).
    pub order: u64,
    /// Steady median step time, ms.
    pub step_ms: Option<f64>,
    /// Samples per second.
    pub throughput: Option<f64>,
    /// SM utilisation, percent.
    pub sm_util_pct: Option<f64>,
    /// Job wall time, seconds.
    pub duration_s: Option<f64>,
    /// It failed.
    pub failed: bool,
    /// It became the new best.
    pub new_best: bool,
}

/// The launched experiments of `tree`, in launch order.
pub fn progress_points(tree: &HypothesisTree) -> Vec<ProgressPoint> {
    let mut points: Vec<ProgressPoint> = tree
        .nodes()
        .filter_map(|n| {
            n.launch_order.map(|order| ProgressPoint {
                node_id: n.node_id.clone(),
                label: None,
                order,
                step_ms: n.metrics.step_ms,
                throughput: n.metrics.throughput,
                sm_util_pct: n.metrics.sm_util_pct,
                duration_s: n.duration,
                failed: n.status == NodeStatus::Failed,
                new_best: n.improved,
            })
        })
        .collect();
    points.sort_by_key(|p| p.order);
    points
}

impl ProgressPoint {
    /// Samples per batch (all ranks), as the step time and throughput imply.
    fn samples_per_step(&self) -> Option<f64> {
        match (self.step_ms, self.throughput) {
            (Some(ms), Some(t)) if ms.is_finite() && t.is_finite() && t > 0.0 => {
                Some(ms * t / 1000.0)
            }
            _ => None,
        }
    }

    /// Time per sample, ms.
    fn per_sample_ms(&self) -> Option<f64> {
        self.throughput
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| 1000.0 / t)
    }
}

/// Whether the points' batch sizes differ (by more than rounding): then time per sample,
/// not per step, is what compares.
pub fn batch_sizes_differ(points: &[ProgressPoint]) -> bool {
    let sizes: Vec<f64> = points
        .iter()
        .filter_map(ProgressPoint::samples_per_step)
        .collect();
    let (lo, hi) = sizes
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
    sizes.len() >= 2 && hi > lo * 1.05
}

struct Panel {
    title: &'static str,
    value: fn(&ProgressPoint) -> Option<f64>,
    lower_is_better: bool,
}

/// The first panel when every run has the same batch size.
const STEP_PANEL: Panel = Panel {
    title: "steady step time (ms)",
    value: |p| p.step_ms,
    lower_is_better: true,
};

/// The first panel when batch sizes differ.
const SAMPLE_PANEL: Panel = Panel {
    title: "time per sample (ms), batch sizes differ",
    value: ProgressPoint::per_sample_ms,
    lower_is_better: true,
};

const PANELS: [Panel; 4] = [
    STEP_PANEL,
    Panel {
        title: "throughput (samples/s)",
        value: |p| p.throughput,
        lower_is_better: false,
    },
    Panel {
        title: "SM utilisation (%)",
        value: |p| p.sm_util_pct,
        lower_is_better: false,
    },
    Panel {
        title: "job duration (s)",
        value: |p| p.duration_s,
        lower_is_better: true,
    },
];

/// Draws `progress.png` (1200 px wide, 260 px per panel with data); `floor_ms` is the
/// headspace floor (per step) drawn dashed on the first panel. When batch sizes differ
/// the first panel is time per sample, and the floor is drawn per sample at the floor
/// run's batch (from its point, labelled `floor`) when it is known.
pub fn write_progress(
    points: &[ProgressPoint],
    floor_ms: Option<f64>,
    path: &Path,
) -> Result<(u32, u32), TreeError> {
    register_font();
    let failed = |detail: String| TreeError::Draw {
        path: path.to_owned(),
        detail,
    };
    // Non-finite figures (a division by a zero step) are left out, and so is a panel
    // with nothing else to show.
    let per_sample = batch_sizes_differ(points);
    let floor_line = if per_sample {
        let floor_batch = points
            .iter()
            .find(|p| p.label.as_deref() == Some("floor"))
            .and_then(ProgressPoint::samples_per_step);
        floor_ms.zip(floor_batch).map(|(ms, batch)| ms / batch)
    } else {
        floor_ms
    };
    let panels: Vec<&Panel> = std::iter::once(if per_sample {
        &SAMPLE_PANEL
    } else {
        &STEP_PANEL
    })
    .chain(PANELS[1..].iter())
    .filter(|p| {
        points
            .iter()
            .any(|pt| (p.value)(pt).is_some_and(f64::is_finite))
    })
    .collect();
    let size = (1200u32, 60 + 260 * panels.len().max(1) as u32);
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        let kept = points.iter().filter(|p| p.new_best).count();
        let title = format!("{} experiments, {} kept improvements", points.len(), kept);
        let (top, body) = root.split_vertically(50);
        top.draw(&Text::new(title, (20, 15), ("sans-serif", 22).into_font()))
            .map_err(|e| failed(e.to_string()))?;
        if panels.is_empty() {
            body.draw(&Text::new(
                "no measurements yet",
                (20, 40),
                ("sans-serif", 16).into_font(),
            ))
            .map_err(|e| failed(e.to_string()))?;
        }
        let areas = body.split_evenly((panels.len().max(1), 1));
        let max_x = points.iter().map(|p| p.order).max().unwrap_or(1) as f64 + 1.0;
        for (index, (panel, area)) in panels.iter().zip(areas.iter()).enumerate() {
            draw_panel(
                panel,
                area,
                points,
                if index == 0 { floor_line } else { None },
                max_x,
                index == 0,
            )
            .map_err(|e| failed(e.to_string()))?;
        }
        root.present().map_err(|e| failed(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| TreeError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })?;
    Ok(size)
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[ProgressPoint],
    floor: Option<f64>,
    max_x: f64,
    legend: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let values: Vec<f64> = points
        .iter()
        .filter_map(|p| (panel.value)(p))
        .chain(floor)
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(1e-6);
    let (y0, y1) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .caption(panel.title, ("sans-serif", 16))
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x, y0..y1)?;
    // No light mesh lines: plotters 0.3.7 can spin computing their key points.
    // Launch order is a count: whole-number ticks only, one per experiment up to 20.
    let ticks = (max_x as usize + 1).min(21);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(ticks)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .y_labels(5)
        .x_desc("launch order")
        .draw()?;
    chart
        .draw_series(points.iter().filter(|p| !p.new_best).filter_map(|p| {
            (panel.value)(p)
                .filter(|v| v.is_finite())
                .map(|v| Circle::new((p.order as f64, v), 4, colours::COMPLETED.filled()))
        }))?
        .label("completed")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, colours::COMPLETED.filled()));
    chart
        .draw_series(points.iter().filter(|p| p.new_best).filter_map(|p| {
            (panel.value)(p)
                .filter(|v| v.is_finite())
                .map(|v| Circle::new((p.order as f64, v), 5, colours::IMPROVED.filled()))
        }))?
        .label("new best")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, colours::IMPROVED.filled()));
    if points.iter().any(|p| p.failed) {
        chart
            .draw_series(points.iter().filter(|p| p.failed).map(|p| {
                Cross::new(
                    (p.order as f64, y0 + pad * 0.5),
                    5,
                    colours::FAILED.stroke_width(2),
                )
            }))?
            .label("failed")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, colours::FAILED.stroke_width(2)));
    }
    // The seeds, named above their points.
    chart.draw_series(points.iter().filter_map(|p| {
        let label = p.label.clone()?;
        let v = (panel.value)(p).filter(|v| v.is_finite())?;
        // Above the point, clear of its marker.
        Some(Text::new(
            label,
            (p.order as f64 + 0.08, v + pad * 0.9),
            ("sans-serif", 13).into_font(),
        ))
    }))?;
    // The running best: a staircase through the kept improvements.
    let mut best: Option<f64> = None;
    let mut line = Vec::new();
    for p in points {
        if p.new_best
            && let Some(v) = (panel.value)(p).filter(|v| v.is_finite())
        {
            let better = best.is_none_or(|b| if panel.lower_is_better { v < b } else { v > b });
            if better {
                if let Some(b) = best {
                    line.push((p.order as f64, b));
                }
                best = Some(v);
                line.push((p.order as f64, v));
            }
        }
    }
    if let Some(b) = best {
        line.push((max_x, b));
        chart
            .draw_series(LineSeries::new(line, colours::IMPROVED.stroke_width(2)))?
            .label("running best")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colours::IMPROVED.stroke_width(2))
            });
    }
    if let Some(floor) = floor {
        let step = max_x / 60.0;
        let mut x = 0.0;
        let mut dashes = Vec::new();
        while x < max_x {
            dashes.push(PathElement::new(
                vec![(x, floor), ((x + step * 0.6).min(max_x), floor)],
                colours::RUNNING.stroke_width(2),
            ));
            x += step;
        }
        chart
            .draw_series(dashes)?
            .label("compute-only floor")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 8, y)], colours::RUNNING.stroke_width(2))
            });
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}
