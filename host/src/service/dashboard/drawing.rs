//! A workflow's graph as SVG, laid out by `layout-rs` (a Sugiyama-style
//! layered layout): one box per step, labelled as `wfhost graph` labels
//! it, and the same edges. Each box is a `<g class="node">` with the step's
//! id and state as data attributes, so the page's stylesheet colours it and
//! its script recolours it as events arrive. A map is one box (its items
//! are attempts of one step); a plan with more steps than [`MAX_DRAWN`] is
//! not laid out at all, nor one whose edges span more than [`MAX_SPAN`]
//! layers in all: the page shows its steps grouped by state instead of
//! freezing. (The layout's cost grows with the layers long edges cross:
//! 60 steps each routed back to the first took 10 s, a 150-step chain
//! 14 ms; see ARCHITECTURE.md.)

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use crate::workflow::Plan;
use crate::workflow::diagram::{EdgeKind, edges, node_label};

/// The most steps drawn as a graph.
pub const MAX_DRAWN: usize = 150;

/// The most layers all edges may cross together (estimated from the
/// steps' order in the file) for the graph to be drawn.
pub const MAX_SPAN: usize = 200;

/// How a step's box is shown.
#[derive(Debug, Default)]
pub struct NodeState {
    /// Its status (`pending`, `running`, …): the box's colour.
    pub state: &'static str,
    /// A line added to its label (a map's item counts).
    pub note: Option<String>,
}

/// The SVG of `plan`'s graph, each step's box shown as `state_of(step id)`
/// says; `None` when the plan has more than [`MAX_DRAWN`] steps.
pub fn svg(plan: &Plan, state_of: impl Fn(&str) -> NodeState) -> Option<String> {
    if !drawable(plan) {
        return None;
    }
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    let box_look = StyleAttr::new(Color::fast("black"), 1, Some(Color::fast("white")), 6, 13);
    let handles: Vec<_> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let shown = state_of(&step.id);
            let mut label = node_label(plan, index);
            if let Some(note) = &shown.note {
                label.push('\n');
                label.push_str(note);
            }
            let size = label_size(&label);
            // Step ids are letters, digits, `-` and `_` (validate checks):
            // safe inside an attribute.
            let properties = format!(
                "class=\"node\" id=\"node-{index}\" data-step=\"{}\" data-state=\"{}\"",
                step.id, shown.state
            );
            graph.add_node(Element::create_with_properties(
                ShapeKind::new_box(&label),
                box_look.clone(),
                Orientation::LeftToRight,
                size,
                properties,
            ))
        })
        .collect();
    let index_of = |id: &str| plan.by_id.get(id).copied();
    for edge in edges(plan) {
        let (Some(from), Some(to)) = (index_of(edge.from), index_of(edge.to)) else {
            continue;
        };
        let (color, line) = match edge.kind {
            EdgeKind::Success => ("darkgreen", LineStyleKind::Normal),
            EdgeKind::Failure => ("red", LineStyleKind::Dashed),
            EdgeKind::Branch => ("blue", LineStyleKind::Normal),
            EdgeKind::Needs => ("black", LineStyleKind::Dotted),
        };
        let look = StyleAttr::new(Color::fast(color), 1, None, 0, 11);
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            line,
            &short(&edge.label),
            &look,
            format!("class=\"edge {}\"", edge_class(edge.kind)),
            &None,
            &None,
        );
        graph.add_edge(arrow, handles[from], handles[to]);
    }
    let mut writer = SVGWriter::new();
    graph.do_it(false, false, false, &mut writer);
    let svg = writer.finalize();
    // Inside HTML the XML declaration is noise.
    let svg = match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    };
    Some(svg)
}

/// Whether laying `plan` out is cheap enough to do for a page.
pub fn drawable(plan: &Plan) -> bool {
    if plan.steps.is_empty() || plan.steps.len() > MAX_DRAWN {
        return false;
    }
    let index_of = |id: &str| plan.by_id.get(id).copied().unwrap_or(0);
    let span: usize = edges(plan)
        .iter()
        .map(|edge| {
            index_of(edge.from)
                .abs_diff(index_of(edge.to))
                .saturating_sub(1)
        })
        .sum();
    span <= MAX_SPAN
}

fn edge_class(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Success => "success",
        EdgeKind::Failure => "failure",
        EdgeKind::Branch => "branch",
        EdgeKind::Needs => "needs",
    }
}

/// A box big enough for its lines of text.
fn label_size(label: &str) -> Point {
    let widest = label.lines().map(|l| l.chars().count()).max().unwrap_or(1);
    let lines = label.lines().count().max(1);
    Point::new(
        (widest as f64 * 7.5 + 20.0).max(90.0),
        lines as f64 * 16.0 + 14.0,
    )
}

/// An edge label short enough not to crowd the picture (the whole
/// condition is in the step's panel).
fn short(label: &str) -> String {
    const MAX: usize = 40;
    if label.chars().count() <= MAX {
        label.to_string()
    } else {
        let cut: String = label.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}
