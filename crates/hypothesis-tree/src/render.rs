//! `hypothesis_tree.svg` and `hypothesis_tree.png`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::TreeError;
use crate::layout::{Layout, layout};
use crate::node::{HypothesisNode, NodeStatus};
use crate::tree::HypothesisTree;

/// Box width in SVG units.
pub const BOX_W: f64 = 150.0;
/// Box height.
pub const BOX_H: f64 = 38.0;
/// Horizontal distance between neighbouring box centres.
pub const UNIT_X: f64 = 170.0;
/// Vertical distance between rows.
pub const ROW_H: f64 = 80.0;
/// Margin around the drawing.
pub const MARGIN: f64 = 30.0;
/// Room for the title.
pub const TITLE_H: f64 = 40.0;
/// The PNG's largest side, pixels.
pub const PNG_MAX_SIDE: f64 = 6000.0;
/// The PNG's largest area, pixels.
pub const PNG_MAX_PIXELS: f64 = 16_000_000.0;
/// Below this scale the PNG labels only the best path and the most recent nodes.
const DETAIL_SCALE: f64 = 0.55;
/// How many recent nodes keep their label in a reduced PNG.
const RECENT_LABELS: usize = 20;

/// Fill colours (the seed's scheme).
pub mod colours {
    use plotters::style::RGBColor;
    /// Completed and kept as an improvement.
    pub const IMPROVED: RGBColor = RGBColor(46, 125, 50);
    /// Completed without improvement.
    pub const COMPLETED: RGBColor = RGBColor(158, 158, 158);
    /// Failed.
    pub const FAILED: RGBColor = RGBColor(198, 40, 40);
    /// Preparing, running or analysing.
    pub const RUNNING: RGBColor = RGBColor(21, 101, 192);
    /// Queued (white with a dashed outline).
    pub const QUEUED: RGBColor = RGBColor(255, 255, 255);
    /// The best node's outline and the path to it.
    pub const BEST: RGBColor = RGBColor(255, 179, 0);
    /// Edges and outlines.
    pub const INK: RGBColor = RGBColor(60, 60, 60);
}

static FONT: std::sync::Once = std::sync::Once::new();

/// Registers the embedded DejaVu Sans as plotters' sans-serif (no system fonts needed).
pub fn register_font() {
    FONT.call_once(|| {
        // The embedded font is valid; a failure would only lose the text.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Where each node goes, in SVG units.
#[derive(Debug, Clone)]
pub struct TreeDrawing {
    /// Node ids in layout order.
    pub ids: Vec<String>,
    /// Box centres.
    pub centres: Vec<(f64, f64)>,
    /// Parent index of each node.
    pub parents: Vec<Option<usize>>,
    /// Canvas size.
    pub size: (f64, f64),
    /// The raw layout.
    pub layout: Layout,
}

/// Lays the tree out in SVG units.
pub fn plan(tree: &HypothesisTree) -> TreeDrawing {
    let ids: Vec<String> = tree.nodes().map(|n| n.node_id.clone()).collect();
    let position: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut children = vec![Vec::new(); ids.len()];
    let mut parents = vec![None; ids.len()];
    let mut roots = Vec::new();
    for (i, node) in tree.nodes().enumerate() {
        match node.parent_id.as_deref().and_then(|p| position.get(p)) {
            Some(&p) => {
                children[p].push(i);
                parents[i] = Some(p);
            }
            None => roots.push(i),
        }
    }
    let layout = layout(&children, &roots);
    let centres = layout
        .placed
        .iter()
        .map(|p| {
            (
                MARGIN + BOX_W / 2.0 + p.x * UNIT_X,
                MARGIN + TITLE_H + BOX_H / 2.0 + p.depth as f64 * ROW_H,
            )
        })
        .collect();
    let width = 2.0 * MARGIN + BOX_W + (layout.width - 1.0).max(0.0) * UNIT_X;
    let height = 2.0 * MARGIN + TITLE_H + BOX_H + (layout.depth.max(1) - 1) as f64 * ROW_H;
    TreeDrawing {
        ids,
        centres,
        parents,
        size: (width.max(400.0), height),
        layout,
    }
}

fn fill_of(node: &HypothesisNode) -> RGBColor {
    match node.status {
        NodeStatus::Completed if node.improved => colours::IMPROVED,
        NodeStatus::Completed => colours::COMPLETED,
        NodeStatus::Failed => colours::FAILED,
        NodeStatus::Queued => colours::QUEUED,
        _ => colours::RUNNING,
    }
}

/// The box's two lines: `#order name`, then the key figure or the state.
pub fn label_of(node: &HypothesisNode) -> (String, String) {
    let first = match node.launch_order {
        Some(order) => format!("#{order} {}", node.name),
        None => node.name.clone(),
    };
    let second = match (node.status, &node.failure) {
        (NodeStatus::Failed, Some(f)) => serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        (NodeStatus::Completed, _) => match (node.metrics.step_ms, node.metrics.throughput) {
            (Some(ms), Some(t)) => format!("{ms:.1} ms · {t:.0}/s"),
            (Some(ms), None) => format!("{ms:.1} ms"),
            _ => "completed".to_owned(),
        },
        (status, _) => status.to_string(),
    };
    (first, second)
}

fn fit(text: &str, font_px: f64, width: f64) -> String {
    let max_chars = ((width / (font_px * 0.58)).floor() as usize).max(3);
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max_chars - 1).collect();
        format!("{cut}…")
    }
}

/// What each box says on its first line instead of the node's name: the change in
/// words (`read conc. 1→4`), by node id, as the owner of the specs writes it. Nodes not
/// in it show their name.
pub type BoxLabels = BTreeMap<String, String>;

/// The box's first line: `#order` and the change in words, or the name.
fn first_line(node: &HypothesisNode, labels: &BoxLabels) -> String {
    match labels.get(&node.node_id) {
        Some(words) => match node.launch_order {
            Some(order) => format!("#{order} {words}"),
            None => words.clone(),
        },
        None => label_of(node).0,
    }
}

// Long on purpose: one pass that draws the title, the edges and every box in order
// (boxes over edges), sharing the scale and the label rules.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    tree: &HypothesisTree,
    drawing: &TreeDrawing,
    best: Option<&str>,
    labels: &BoxLabels,
    scale: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let s = |v: f64| (v * scale).round() as i32;
    let best_path: HashSet<String> = best
        .map(|b| {
            tree.path_to(b)
                .into_iter()
                .map(|n| n.node_id.clone())
                .collect()
        })
        .unwrap_or_default();
    let detailed = scale >= DETAIL_SCALE;
    let mut recent: Vec<(u64, &str)> = tree
        .nodes()
        .filter_map(|n| n.launch_order.map(|o| (o, n.node_id.as_str())))
        .collect();
    recent.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    let recent: HashSet<&str> = recent
        .into_iter()
        .take(RECENT_LABELS)
        .map(|(_, id)| id)
        .collect();
    let counts = tree.counts_by_status();
    let kept = tree.nodes().filter(|n| n.improved).count();
    let title = format!(
        "{} experiments · {} completed · {} failed · {} kept",
        tree.len(),
        counts.get(&NodeStatus::Completed).unwrap_or(&0),
        counts.get(&NodeStatus::Failed).unwrap_or(&0),
        kept
    );
    let title_px = (18.0 * scale).max(10.0);
    area.draw(&Text::new(
        title,
        (s(MARGIN), s(MARGIN * 0.6)),
        ("sans-serif", title_px).into_font().color(&colours::INK),
    ))?;
    // Edges first, so boxes sit on top.
    for (i, parent) in drawing.parents.iter().enumerate() {
        let Some(p) = parent else { continue };
        let (px, py) = drawing.centres[*p];
        let (cx, cy) = drawing.centres[i];
        let on_path = best_path.contains(&drawing.ids[i]) && best_path.contains(&drawing.ids[*p]);
        let style = if on_path {
            colours::BEST.stroke_width(((3.0 * scale).round() as u32).max(2))
        } else {
            colours::INK.mix(0.5).stroke_width(1)
        };
        let mid = (py + cy) / 2.0;
        area.draw(&PathElement::new(
            vec![
                (s(px), s(py + BOX_H / 2.0)),
                (s(px), s(mid)),
                (s(cx), s(mid)),
                (s(cx), s(cy - BOX_H / 2.0)),
            ],
            style,
        ))?;
    }
    let font_px = 12.0 * scale;
    for (i, id) in drawing.ids.iter().enumerate() {
        let Some(node) = tree.get(id) else { continue };
        let (cx, cy) = drawing.centres[i];
        let (x0, y0, x1, y1) = (
            s(cx - BOX_W / 2.0),
            s(cy - BOX_H / 2.0),
            s(cx + BOX_W / 2.0),
            s(cy + BOX_H / 2.0),
        );
        let fill = fill_of(node);
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled()))?;
        if node.status == NodeStatus::Queued {
            let dash = ((6.0 * scale).round() as i32).max(2);
            let mut segments = Vec::new();
            let mut x = x0;
            while x < x1 {
                segments.push(((x, y0), ((x + dash).min(x1), y0)));
                segments.push(((x, y1), ((x + dash).min(x1), y1)));
                x += 2 * dash;
            }
            let mut y = y0;
            while y < y1 {
                segments.push(((x0, y), (x0, (y + dash).min(y1))));
                segments.push(((x1, y), (x1, (y + dash).min(y1))));
                y += 2 * dash;
            }
            for (a, b) in segments {
                area.draw(&PathElement::new(vec![a, b], colours::INK.stroke_width(1)))?;
            }
        } else {
            area.draw(&Rectangle::new(
                [(x0, y0), (x1, y1)],
                colours::INK.mix(0.6).stroke_width(1),
            ))?;
        }
        if best == Some(id.as_str()) {
            let w = ((4.0 * scale).round() as u32).max(2);
            area.draw(&Rectangle::new(
                [(x0 - 2, y0 - 2), (x1 + 2, y1 + 2)],
                colours::BEST.stroke_width(w),
            ))?;
        }
        let labelled = detailed || best_path.contains(id) || recent.contains(id.as_str());
        if labelled && font_px >= 5.0 {
            let text_colour = if matches!(fill, colours::QUEUED | colours::COMPLETED) {
                BLACK
            } else {
                WHITE
            };
            let (_, second) = label_of(node);
            let first = first_line(node, labels);
            let style = ("sans-serif", font_px).into_font().color(&text_colour);
            area.draw(&Text::new(
                fit(&first, 12.0, BOX_W - 8.0),
                (x0 + s(4.0), y0 + s(5.0)),
                style.clone(),
            ))?;
            area.draw(&Text::new(
                fit(&second, 12.0, BOX_W - 8.0),
                (x0 + s(4.0), y0 + s(21.0)),
                style,
            ))?;
        }
    }
    Ok(())
}

/// The SVG of the tree (full size; viewers scale it). Each box carries a tooltip with
/// the node's id, its change in words and its hypothesis.
pub fn tree_svg(
    tree: &HypothesisTree,
    best: Option<&str>,
    labels: &BoxLabels,
) -> Result<String, TreeError> {
    register_font();
    let drawing = plan(tree);
    let mut svg = String::new();
    {
        let size = (drawing.size.0.ceil() as u32, drawing.size.1.ceil() as u32);
        let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&area, tree, &drawing, best, labels, 1.0).map_err(|err| TreeError::Draw {
            path: "hypothesis_tree.svg".into(),
            detail: err.to_string(),
        })?;
        area.present().map_err(|err| TreeError::Draw {
            path: "hypothesis_tree.svg".into(),
            detail: err.to_string(),
        })?;
    }
    Ok(with_tooltips(svg, tree, &drawing, labels))
}

/// Invisible boxes with `<title>`s over the drawn ones, before the closing tag: the
/// hover text of each node.
fn with_tooltips(
    mut svg: String,
    tree: &HypothesisTree,
    drawing: &TreeDrawing,
    labels: &BoxLabels,
) -> String {
    let Some(end) = svg.rfind("</svg>") else {
        return svg;
    };
    let mut overlay = String::from("<g class=\"tooltips\">\n");
    for (i, id) in drawing.ids.iter().enumerate() {
        let Some(node) = tree.get(id) else { continue };
        let (cx, cy) = drawing.centres[i];
        let mut text = node.node_id.clone();
        if let Some(words) = labels.get(id) {
            text.push_str(": ");
            text.push_str(words);
        }
        if let Some(hypothesis) = node.spec.get("hypothesis").and_then(|h| h.as_str())
            && !hypothesis.trim().is_empty()
        {
            text.push_str(" — ");
            text.push_str(hypothesis.trim());
        }
        overlay.push_str(&format!(
            "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{BOX_W:.0}\" height=\"{BOX_H:.0}\" fill=\"#fff\" fill-opacity=\"0\"><title>{}</title></rect>\n",
            cx - BOX_W / 2.0,
            cy - BOX_H / 2.0,
            xml_escape(&text)
        ));
    }
    overlay.push_str("</g>\n");
    svg.insert_str(end, &overlay);
    svg
}

/// Text safe inside an XML element.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The PNG's scale for a drawing of `size` SVG units.
pub fn png_scale(size: (f64, f64)) -> f64 {
    let by_side = PNG_MAX_SIDE / size.0.max(size.1);
    let by_area = (PNG_MAX_PIXELS / (size.0 * size.1)).sqrt();
    by_side.min(by_area).min(1.0)
}

/// Writes `hypothesis_tree.svg` and `hypothesis_tree.png` into `dir`; returns the PNG's
/// size in pixels.
pub fn write_tree_pictures(
    tree: &HypothesisTree,
    best: Option<&str>,
    labels: &BoxLabels,
    dir: &Path,
) -> Result<(u32, u32), TreeError> {
    register_font();
    let svg_path = dir.join("hypothesis_tree.svg");
    let svg = tree_svg(tree, best, labels)?;
    autoresearch_fs::write_atomic(&svg_path, svg.as_bytes()).map_err(|source| TreeError::Io {
        action: "write",
        path: svg_path.clone(),
        source,
    })?;
    let drawing = plan(tree);
    let scale = png_scale(drawing.size);
    let size = (
        ((drawing.size.0 * scale).ceil() as u32).max(1),
        ((drawing.size.1 * scale).ceil() as u32).max(1),
    );
    let png_path = dir.join("hypothesis_tree.png");
    let tmp = dir.join(".hypothesis_tree.tmp.png");
    let failed = |detail: String| TreeError::Draw {
        path: png_path.clone(),
        detail,
    };
    {
        let area = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw(&area, tree, &drawing, best, labels, scale).map_err(|err| failed(err.to_string()))?;
        area.present().map_err(|err| failed(err.to_string()))?;
    }
    std::fs::rename(&tmp, &png_path).map_err(|source| TreeError::Io {
        action: "write",
        path: png_path.clone(),
        source,
    })?;
    Ok(size)
}
