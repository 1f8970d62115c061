//! The tree as text, for terminals.

use crate::node::{HypothesisNode, NodeStatus};
use crate::render::label_of;
use crate::tree::HypothesisTree;

fn line(node: &HypothesisNode, best: Option<&str>) -> String {
    let (_, figure) = label_of(node);
    let mark = match node.status {
        NodeStatus::Completed if node.improved => "+",
        NodeStatus::Completed => " ",
        NodeStatus::Failed => "x",
        NodeStatus::Queued => ".",
        _ => ">",
    };
    let star = if best == Some(node.node_id.as_str()) {
        "  ★ best"
    } else {
        ""
    };
    let order = node
        .launch_order
        .map_or(String::new(), |o| format!("#{o} "));
    format!("[{mark}] {order}{} ({figure}){star}", node.node_id)
}

/// The tree with box-drawing branches; `[+]` kept, `[ ]` completed, `[x]` failed,
/// `[>]` in progress, `[.]` queued.
pub fn render_ascii(tree: &HypothesisTree, best: Option<&str>) -> String {
    let mut out = String::new();
    let mut stack: Vec<(&HypothesisNode, String, bool, bool)> = tree
        .roots()
        .into_iter()
        .rev()
        .map(|n| (n, String::new(), true, true))
        .collect();
    while let Some((node, prefix, last, root)) = stack.pop() {
        if root {
            out.push_str(&line(node, best));
        } else {
            out.push_str(&format!(
                "{prefix}{}{}",
                if last { "└── " } else { "├── " },
                line(node, best)
            ));
        }
        out.push('\n');
        let child_prefix = if root {
            String::new()
        } else {
            format!("{prefix}{}", if last { "    " } else { "│   " })
        };
        let children = tree.children(&node.node_id);
        let count = children.len();
        for (i, child) in children.into_iter().enumerate().rev() {
            stack.push((child, child_prefix.clone(), i + 1 == count, false));
        }
    }
    out
}
