//! The flow's task graph (`baton_core::topology::Graph`) drawn as SVG, top to bottom: a node
//! per task, flowable tasks framed with their branches, edges labelled with the branch they
//! enter (`then`, `case x`, `errors`, `finally`…). On an execution's page each task is filled
//! with the state of its latest task run.
//!
//! Layout: each node's row is its longest distance from the start (so a task is always below
//! everything that runs before it); within a row, nodes are ordered by the mean position of
//! their predecessors, which keeps branches side by side and edges short.

use std::collections::HashMap;
use std::fmt::Write;

use baton_core::execution::State;
use baton_core::topology::Graph;

use super::highlight::escape;

const NODE_W: f64 = 200.0;
const NODE_H: f64 = 40.0;
const SMALL_W: f64 = 64.0;
const SMALL_H: f64 = 24.0;
const GAP_X: f64 = 40.0;
const ROW_H: f64 = 84.0;
const MARGIN: f64 = 24.0;
const CLUSTER_PAD: f64 = 10.0;

struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// The SVG of `graph`; `states` maps task ids to the state to colour them with.
pub fn svg(graph: &Graph, states: &HashMap<String, State>) -> String {
    let count = graph.nodes.len();
    if count == 0 {
        return String::new();
    }
    let index: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.uid.as_str(), i))
        .collect();
    let edges: Vec<(usize, usize, &str)> = graph
        .edges
        .iter()
        .filter_map(|e| {
            Some((
                *index.get(e.from.as_str())?,
                *index.get(e.to.as_str())?,
                e.label.as_str(),
            ))
        })
        .collect();
    let rank = ranks(count, &edges);
    let rows = order_rows(count, &edges, &rank);

    let small = |i: usize| graph.nodes[i].task_id.is_none();
    let row_width = |row: &Vec<usize>| {
        row.iter()
            .map(|&i| if small(i) { SMALL_W } else { NODE_W })
            .sum::<f64>()
            + GAP_X * row.len().saturating_sub(1) as f64
    };
    let width = rows.iter().map(row_width).fold(0.0, f64::max) + 2.0 * MARGIN;
    let mut placed: Vec<Placed> = (0..count)
        .map(|_| Placed {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0,
        })
        .collect();
    for (r, row) in rows.iter().enumerate() {
        let mut x = (width - row_width(row)) / 2.0;
        for &i in row {
            let (w, h) = if small(i) {
                (SMALL_W, SMALL_H)
            } else {
                (NODE_W, NODE_H)
            };
            placed[i] = Placed {
                x,
                y: MARGIN + r as f64 * ROW_H + (NODE_H - h) / 2.0,
                w,
                h,
            };
            x += w + GAP_X;
        }
    }
    let height = MARGIN * 2.0 + rows.len() as f64 * ROW_H - (ROW_H - NODE_H);

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="topology" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Task graph">"#
    );
    out.push_str(r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>"#);
    clusters(&mut out, graph, &placed);
    for &(from, to, label) in &edges {
        let (a, b) = (&placed[from], &placed[to]);
        let (x1, y1) = (a.x + a.w / 2.0, a.y + a.h);
        let (x2, y2) = (b.x + b.w / 2.0, b.y);
        let bend = ((y2 - y1) / 2.0).max(20.0);
        let _ = write!(
            out,
            r#"<path class="edge" d="M{x1:.1},{y1:.1} C{x1:.1},{:.1} {x2:.1},{:.1} {x2:.1},{y2:.1}" marker-end="url(#arrow)"/>"#,
            y1 + bend,
            y2 - bend
        );
        if !label.is_empty() {
            let _ = write!(
                out,
                r#"<text class="edge-label" x="{:.1}" y="{:.1}">{}</text>"#,
                (x1 + x2) / 2.0 + 4.0,
                (y1 + y2) / 2.0 + 4.0,
                escape(label)
            );
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let p = &placed[i];
        let state = node.task_id.as_ref().and_then(|id| states.get(id));
        let class = match state {
            Some(state) => format!("node {}", super::view::state_class(*state)),
            None if node.task_id.is_none() => "node terminal".to_owned(),
            None => "node".to_owned(),
        };
        let title = match state {
            Some(state) => format!("{} — {state}", node.label),
            None => node.label.clone(),
        };
        let _ = write!(
            out,
            r#"<g class="{class}" data-task="{}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6"/>"#,
            escape(node.task_id.as_deref().unwrap_or_default()),
            escape(&title),
            p.x,
            p.y,
            p.w,
            p.h
        );
        // The root's label is the flow's full name, which the page already shows.
        let label = if node.uid == "root" {
            "start"
        } else {
            &node.label
        };
        let (main, sub) = match label.split_once(" (") {
            Some((id, kind)) => (id.to_owned(), kind.trim_end_matches(')').to_owned()),
            None => (label.to_owned(), String::new()),
        };
        let cx = p.x + p.w / 2.0;
        if sub.is_empty() {
            let _ = write!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" class="label">{}</text>"#,
                p.y + p.h / 2.0 + 4.0,
                escape(&truncate(&main, if small(i) { 8 } else { 26 }))
            );
        } else {
            let _ = write!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" class="label">{}</text><text x="{cx:.1}" y="{:.1}" class="kind">{}</text>"#,
                p.y + 17.0,
                escape(&truncate(&main, 26)),
                p.y + 32.0,
                escape(&truncate(&sub, 30))
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The longest distance of each node from a node without predecessors (Kahn's order); nodes
/// on a cycle, which a flow's graph never has, go below everything else rather than looping.
fn ranks(count: usize, edges: &[(usize, usize, &str)]) -> Vec<usize> {
    let mut incoming = vec![0usize; count];
    let mut successors = vec![Vec::new(); count];
    for &(from, to, _) in edges {
        incoming[to] += 1;
        successors[from].push(to);
    }
    let mut rank = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).filter(|&i| incoming[i] == 0).collect();
    ready.reverse();
    let mut done = vec![false; count];
    while let Some(node) = ready.pop() {
        done[node] = true;
        for &next in &successors[node] {
            rank[next] = rank[next].max(rank[node] + 1);
            incoming[next] -= 1;
            if incoming[next] == 0 {
                ready.push(next);
            }
        }
    }
    let deepest = rank.iter().copied().max().unwrap_or(0);
    for (i, finished) in done.iter().enumerate() {
        if !finished {
            rank[i] = deepest + 1;
        }
    }
    rank
}

/// Nodes grouped by row; each row ordered by the mean column of its predecessors.
fn order_rows(count: usize, edges: &[(usize, usize, &str)], rank: &[usize]) -> Vec<Vec<usize>> {
    let rows_count = rank.iter().copied().max().unwrap_or(0) + 1;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); rows_count];
    for i in 0..count {
        rows[rank[i]].push(i);
    }
    let mut column = vec![0.0f64; count];
    for row in &mut rows {
        let key = |i: usize| {
            let parents: Vec<f64> = edges
                .iter()
                .filter(|&&(from, to, _)| to == i && rank[from] < rank[i])
                .map(|&(from, _, _)| column[from])
                .collect();
            if parents.is_empty() {
                f64::MAX
            } else {
                parents.iter().sum::<f64>() / parents.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = row.iter().map(|&i| (key(i), i)).collect();
        // Ties keep the graph's order (the order tasks are written in).
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *row = keyed.into_iter().map(|(_, i)| i).collect();
        for (position, &i) in row.iter().enumerate() {
            column[i] = position as f64 - row.len() as f64 / 2.0;
        }
    }
    rows
}

/// A frame around each flowable task and everything inside it, inner frames first so outer
/// ones can enclose them.
fn clusters(out: &mut String, graph: &Graph, placed: &[Placed]) {
    let parent: HashMap<&str, &str> = graph
        .nodes
        .iter()
        .filter_map(|n| Some((n.uid.as_str(), n.cluster.as_deref()?)))
        .collect();
    fn depth<'a>(parent: &HashMap<&'a str, &'a str>, mut id: &'a str) -> usize {
        let mut depth = 0;
        while let Some(up) = parent.get(id) {
            depth += 1;
            id = up;
            if depth > 64 {
                break;
            }
        }
        depth
    }
    let mut names: Vec<&str> = graph
        .nodes
        .iter()
        .filter_map(|n| n.cluster.as_deref())
        .collect();
    names.sort();
    names.dedup();
    let mut frames: Vec<(usize, String, [f64; 4])> = Vec::new();
    for name in names {
        let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for (i, node) in graph.nodes.iter().enumerate() {
            let mut inside = node.uid == name;
            let mut up = node.cluster.as_deref();
            while let (false, Some(cluster)) = (inside, up) {
                inside = cluster == name;
                up = parent.get(cluster).copied();
            }
            if inside {
                let p = &placed[i];
                bounds = [
                    bounds[0].min(p.x),
                    bounds[1].min(p.y),
                    bounds[2].max(p.x + p.w),
                    bounds[3].max(p.y + p.h),
                ];
            }
        }
        frames.push((depth(&parent, name), name.to_owned(), bounds));
    }
    let deepest = frames.iter().map(|f| f.0).max().unwrap_or(0);
    frames.sort_by_key(|f| f.0);
    for (level, name, [x1, y1, x2, y2]) in frames {
        let pad = CLUSTER_PAD * (1 + deepest - level) as f64;
        let _ = write!(
            out,
            r#"<rect class="cluster" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="10"><title>{}</title></rect>"#,
            x1 - pad,
            y1 - pad,
            x2 - x1 + 2.0 * pad,
            y2 - y1 + 2.0 * pad,
            escape(&name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::parse::FlowParser;

    const FLOW: &str = r#"
id: branches
namespace: tests.ui
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: yes
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: no
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: done
"#;

    #[test]
    fn every_task_is_drawn_below_what_runs_before_it_and_coloured_by_state() {
        let flow = FlowParser::default().parse(FLOW).flow.expect("valid flow");
        let graph = Graph::of(&flow);
        let states = HashMap::from([("yes".to_owned(), State::Success)]);
        let svg = svg(&graph, &states);
        for task in ["check", "yes", "no", "after"] {
            assert!(
                svg.contains(&format!(r#"data-task="{task}""#)),
                "{task} missing"
            );
        }
        assert!(svg.contains(r#"class="node st-success" data-task="yes""#));
        assert!(svg.contains(r#"class="cluster""#));
        assert!(svg.contains(">then<") && svg.contains(">else<"));
        let y_of = |task: &str| -> f64 {
            let at = svg.find(&format!(r#"data-task="{task}""#)).unwrap();
            let rect = &svg[at..];
            let y = rect.split(r#" y=""#).nth(1).unwrap();
            y.split('"').next().unwrap().parse().unwrap()
        };
        assert!(y_of("check") < y_of("yes"));
        assert_eq!(y_of("yes"), y_of("no"));
        assert!(y_of("yes") < y_of("after"));
    }

    #[test]
    fn ranks_are_longest_paths() {
        // 0 → 1 → 2, 0 → 2: node 2 sits below node 1.
        assert_eq!(
            ranks(3, &[(0, 1, ""), (1, 2, ""), (0, 2, "")]),
            vec![0, 1, 2]
        );
        // A cycle does not loop.
        assert_eq!(ranks(2, &[(0, 1, ""), (1, 0, "")]), vec![1, 1]);
    }
}
