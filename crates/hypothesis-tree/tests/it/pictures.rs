//! The pictures: SVG and text snapshots, PNG sizes and colours.

use autoresearch_hypothesis_tree::render::{colours, plan, png_scale};
use autoresearch_hypothesis_tree::{
    progress_points, render_ascii, tree_svg, write_progress, write_tree_pictures,
};

use crate::support::{big, sample};

fn has_colour(image: &image::RgbImage, colour: plotters::style::RGBColor) -> bool {
    image
        .pixels()
        .any(|p| p.0 == [colour.0, colour.1, colour.2])
}

#[test]
fn a_small_tree_as_text_and_svg() {
    let (tree, best) = sample();
    insta::assert_snapshot!("sample_ascii", render_ascii(&tree, Some(&best)));
    insta::assert_snapshot!(
        "sample_svg",
        tree_svg(&tree, Some(&best), &Default::default()).unwrap()
    );
}

#[test]
fn the_png_has_the_expected_size_and_every_colour_class() {
    let (tree, best) = sample();
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = write_tree_pictures(&tree, Some(&best), &Default::default(), dir.path()).unwrap();
    let image = image::open(dir.path().join("hypothesis_tree.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(image.dimensions(), (w, h));
    let drawing = plan(&tree);
    assert_eq!(
        w,
        drawing.size.0.ceil() as u32,
        "a small tree is drawn at full size"
    );
    for colour in [
        colours::IMPROVED,
        colours::COMPLETED,
        colours::FAILED,
        colours::RUNNING,
        colours::QUEUED,
        colours::BEST,
    ] {
        assert!(has_colour(&image, colour), "no pixel of {colour:?}");
    }
    assert!(dir.path().join("hypothesis_tree.svg").exists());
}

#[test]
fn a_thousand_nodes_fit_the_pixel_cap() {
    let (tree, best) = big(1000, 11, true);
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = write_tree_pictures(&tree, Some(&best), &Default::default(), dir.path()).unwrap();
    assert!(
        w <= 6000 && h <= 6000 && (w as u64 * h as u64) <= 16_000_000,
        "{w}×{h}"
    );
    assert!(png_scale(plan(&tree).size) < 1.0);
    let image = image::open(dir.path().join("hypothesis_tree.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(image.dimensions(), (w, h));
    assert!(has_colour(&image, colours::FAILED) && has_colour(&image, colours::BEST));
    let svg = std::fs::read_to_string(dir.path().join("hypothesis_tree.svg")).unwrap();
    assert!(svg.matches("<rect").count() >= 1000);
}

#[test]
fn progress_has_a_panel_per_figure_with_data() {
    let (tree, _) = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("progress.png");
    let points = progress_points(&tree);
    assert_eq!(points.len(), 7);
    let (w, h) = write_progress(&points, Some(35.4), &path).unwrap();
    assert_eq!(
        (w, h),
        (1200, 60 + 3 * 260),
        "step time, throughput and duration; no SM data"
    );
    let image = image::open(&path).unwrap().to_rgb8();
    assert!(
        has_colour(&image, colours::IMPROVED)
            && has_colour(&image, colours::FAILED)
            && has_colour(&image, colours::RUNNING)
    );
    // Non-finite figures are left out instead of breaking the axes.
    let mut broken = points.clone();
    broken[0].throughput = Some(f64::INFINITY);
    broken[1].step_ms = Some(f64::NAN);
    write_progress(&broken, None, &path).unwrap();
    // No data at all still draws a titled picture.
    let (_, h) = write_progress(&[], None, &path).unwrap();
    assert_eq!(h, 320);
}

/// Batch sizes that differ switch the first panel to time per sample; labelled seeds and
/// a run without failures still draw (the legend lists only what is drawn).
#[test]
fn progress_compares_per_sample_when_batch_sizes_differ() {
    let (tree, _) = sample();
    let mut points = progress_points(&tree);
    // Same batch everywhere: 16 samples a step.
    for p in &mut points {
        p.failed = false;
        if let Some(ms) = p.step_ms {
            p.throughput = Some(16.0 * 1000.0 / ms);
        }
    }
    assert!(!autoresearch_hypothesis_tree::batch_sizes_differ(&points));
    // One run at batch 64.
    let last = points.iter().rposition(|p| p.step_ms.is_some()).unwrap();
    points[last].throughput = points[last].step_ms.map(|ms| 64.0 * 1000.0 / ms);
    assert!(autoresearch_hypothesis_tree::batch_sizes_differ(&points));
    points[0].label = Some("baseline".to_owned());
    points[1].label = Some("floor".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("progress.png");
    let (w, h) = write_progress(&points, Some(35.4), &path).unwrap();
    let image = image::open(&path).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (w, h));
    assert!(has_colour(&image, colours::IMPROVED) && has_colour(&image, colours::RUNNING));
    assert!(
        !has_colour(&image, colours::FAILED),
        "no failures, no failure marks"
    );
}

/// With words for a box, its first line says what changed, and the SVG's tooltip holds
/// the full name with the words (escaped).
#[test]
fn boxes_say_the_change_and_the_svg_names_each_node_in_a_tooltip() {
    let (tree, best) = sample();
    let first = tree.nodes().next().unwrap().node_id.clone();
    let labels: autoresearch_hypothesis_tree::BoxLabels =
        [(first.clone(), "read conc. 1→4 <&>".to_owned())].into();
    let svg = tree_svg(&tree, Some(&best), &labels).unwrap();
    assert!(svg.contains("read conc. 1→4 &lt;&amp;"), "the box's words");
    assert!(
        svg.contains(&format!("<title>{first}: read conc. 1→4 &lt;&amp;&gt;")),
        "the tooltip"
    );
    assert_eq!(svg.matches("<title>").count(), tree.len());
}
