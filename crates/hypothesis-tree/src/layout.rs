//! A tidy tree layout: parents centred over their children, subtrees never overlap,
//! each subtree pushed as close to its left neighbour as its contour allows
//! (Reingold–Tilford style, computed bottom-up without recursion).

/// The position of one node, in layout units: `x` is the centre of its box (boxes are
/// one unit wide with at least one unit... see [`Layout::gap`]), `depth` its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Horizontal centre.
    pub x: f64,
    /// Row (roots are 0).
    pub depth: usize,
}

/// Positions of a forest, in the caller's node numbering.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One entry per node.
    pub placed: Vec<Placed>,
    /// Total width in units (`max x − min x + 1`).
    pub width: f64,
    /// Number of rows.
    pub depth: usize,
}

impl Layout {
    /// Minimum distance between the centres of two boxes on one row.
    pub const fn gap() -> f64 {
        1.0
    }
}

/// Lays out the forest given by `children` (indexed by node) and its `roots` (in order).
/// Every node must be reachable from exactly one root.
pub fn layout(children: &[Vec<usize>], roots: &[usize]) -> Layout {
    let n = children.len();
    // Post-order without recursion (deep chains must not overflow the stack).
    let mut post = Vec::with_capacity(n);
    let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|r| (*r, false)).collect();
    while let Some((v, expanded)) = stack.pop() {
        if expanded {
            post.push(v);
        } else {
            stack.push((v, true));
            for c in children[v].iter().rev() {
                stack.push((*c, false));
            }
        }
    }
    // For each node: children's offsets relative to it, and its subtree's contour
    // (leftmost and rightmost x per depth, relative to it).
    let mut offset = vec![0.0; n];
    let mut left: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut right: Vec<Vec<f64>> = vec![Vec::new(); n];
    let place = |kids: &[usize],
                 left: &mut Vec<Vec<f64>>,
                 right: &mut Vec<Vec<f64>>,
                 offset: &mut Vec<f64>|
     -> (Vec<f64>, Vec<f64>) {
        // Place subtrees left to right, each as far left as the contours allow.
        let mut acc_left: Vec<f64> = Vec::new();
        let mut acc_right: Vec<f64> = Vec::new();
        let mut positions = Vec::with_capacity(kids.len());
        for (k, c) in kids.iter().enumerate() {
            let (lc, rc) = (
                std::mem::take(&mut left[*c]),
                std::mem::take(&mut right[*c]),
            );
            let mut shift: f64 = 0.0;
            if k > 0 {
                shift = f64::NEG_INFINITY;
                for d in 0..lc.len().min(acc_right.len()) {
                    shift = shift.max(acc_right[d] - lc[d] + Layout::gap());
                }
                if shift == f64::NEG_INFINITY {
                    shift = 0.0;
                }
            }
            positions.push(shift);
            for d in 0..lc.len() {
                if d < acc_left.len() {
                    acc_left[d] = acc_left[d].min(lc[d] + shift);
                    acc_right[d] = acc_right[d].max(rc[d] + shift);
                } else {
                    acc_left.push(lc[d] + shift);
                    acc_right.push(rc[d] + shift);
                }
            }
        }
        let centre = match (positions.first(), positions.last()) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            _ => 0.0,
        };
        for (c, p) in kids.iter().zip(&positions) {
            offset[*c] = p - centre;
        }
        (
            acc_left.into_iter().map(|x| x - centre).collect(),
            acc_right.into_iter().map(|x| x - centre).collect(),
        )
    };
    for &v in &post {
        let (below_left, below_right) = place(&children[v], &mut left, &mut right, &mut offset);
        let mut l = Vec::with_capacity(below_left.len() + 1);
        let mut r = Vec::with_capacity(below_right.len() + 1);
        l.push(0.0);
        r.push(0.0);
        l.extend(below_left);
        r.extend(below_right);
        left[v] = l;
        right[v] = r;
    }
    // The roots side by side, as children of a virtual node.
    let (forest_left, _) = place(roots, &mut left, &mut right, &mut offset);
    let shift = -forest_left.iter().copied().fold(f64::INFINITY, f64::min);
    let shift = if shift.is_finite() { shift } else { 0.0 };
    let mut placed = vec![Placed { x: 0.0, depth: 0 }; n];
    let mut stack: Vec<(usize, f64, usize)> =
        roots.iter().map(|r| (*r, offset[*r] + shift, 0)).collect();
    let (mut min_x, mut max_x, mut max_depth) = (f64::INFINITY, f64::NEG_INFINITY, 0);
    while let Some((v, x, depth)) = stack.pop() {
        placed[v] = Placed { x, depth };
        min_x = min_x.min(x);
        max_x = max_x.max(x);
        max_depth = max_depth.max(depth + 1);
        for c in &children[v] {
            stack.push((*c, x + offset[*c], depth + 1));
        }
    }
    Layout {
        placed,
        width: if min_x.is_finite() {
            max_x - min_x + 1.0
        } else {
            0.0
        },
        depth: max_depth,
    }
}
