//! Layout invariants over random trees of up to 2,000 nodes.

use autoresearch_hypothesis_tree::layout;
use autoresearch_hypothesis_tree::render::{BOX_H, BOX_W, plan};
use proptest::prelude::*;

fn forest(parents: &[Option<usize>]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut children = vec![Vec::new(); parents.len()];
    let mut roots = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }
    (children, roots)
}

fn parents_strategy() -> impl Strategy<Value = Vec<Option<usize>>> {
    (1usize..2000, any::<u64>(), 0u8..3).prop_map(|(n, seed, shape)| {
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        (0..n)
            .map(|i| {
                if i == 0 || next() % 50 == 0 {
                    None
                } else {
                    Some(match shape {
                        0 => (next() % i as u64) as usize,                  // random
                        1 => i - 1 - (next() % (i as u64).min(3)) as usize, // deep
                        _ => (next() % (i as u64).min(5)) as usize,         // wide
                    })
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn boxes_never_overlap_and_parents_are_centred_above_their_children(parents in parents_strategy()) {
        let (children, roots) = forest(&parents);
        let result = layout(&children, &roots);
        let placed = &result.placed;
        let mut rows: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
        for p in placed {
            rows.entry(p.depth).or_default().push(p.x);
            prop_assert!(p.x >= -1e-9 && p.x <= result.width - 1.0 + 1e-9, "x {} outside width {}", p.x, result.width);
        }
        for xs in rows.values_mut() {
            xs.sort_by(f64::total_cmp);
            for pair in xs.windows(2) {
                prop_assert!(pair[1] - pair[0] >= 1.0 - 1e-9, "boxes overlap: {:?}", pair);
            }
        }
        for (v, kids) in children.iter().enumerate() {
            for c in kids {
                prop_assert_eq!(placed[*c].depth, placed[v].depth + 1);
            }
            if let (Some(first), Some(last)) = (kids.first(), kids.last()) {
                let centre = (placed[*first].x + placed[*last].x) / 2.0;
                prop_assert!((placed[v].x - centre).abs() < 1e-9, "node {} at {} not over {}", v, placed[v].x, centre);
            }
        }
    }
}

#[test]
fn the_drawing_fits_its_canvas() {
    for (n, wide) in [(10, true), (1000, true), (1000, false)] {
        let (tree, _) = crate::support::big(n, 3, wide);
        let drawing = plan(&tree);
        for (x, y) in &drawing.centres {
            assert!(x - BOX_W / 2.0 >= 0.0 && x + BOX_W / 2.0 <= drawing.size.0 + 1e-9);
            assert!(y - BOX_H / 2.0 >= 0.0 && y + BOX_H / 2.0 <= drawing.size.1 + 1e-9);
        }
    }
}

#[test]
fn subtrees_interleave_where_their_contours_allow() {
    // Root 0; child 1 ends, three levels down, in a fan of 10 leaves; child 2 fans out
    // at once. One column per leaf would need 20 columns; the contours let the two fans
    // share columns because they sit on different rows (only the chain's node beside
    // the upper fan keeps them apart: 15.5 columns).
    let mut parents: Vec<Option<usize>> = vec![None, Some(0), Some(0), Some(1), Some(3)];
    parents.extend(std::iter::repeat_n(Some(4), 10));
    parents.extend(std::iter::repeat_n(Some(2), 10));
    let (children, roots) = forest(&parents);
    let result = layout(&children, &roots);
    assert!(result.width <= 16.0, "width {}", result.width);
}
