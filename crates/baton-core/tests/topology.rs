//! The task graph the UI draws: clusters, branch labels, fan-out and the sequence around them.

use baton_core::parse::parse_flow;
use baton_core::topology::Graph;

const FLOW: &str = r#"
id: shapes
namespace: tests
tasks:
  - id: first
    type: log
    message: a
  - id: choose
    type: if
    condition: "{{ true }}"
    then:
      - id: yes_1
        type: log
        message: y
      - id: yes_2
        type: log
        message: y
    else:
      - id: no_1
        type: log
        message: n
  - id: fan
    type: parallel
    tasks:
      - id: left
        type: log
        message: l
      - id: right
        type: log
        message: r
    finally:
      - id: fan_done
        type: log
        message: done
errors:
  - id: on_error
    type: log
    message: e
"#;

fn edges(graph: &Graph) -> Vec<String> {
    graph
        .edges
        .iter()
        .map(|e| {
            if e.label.is_empty() {
                format!("{} -> {}", e.from, e.to)
            } else {
                format!("{} -[{}]-> {}", e.from, e.label, e.to)
            }
        })
        .collect()
}

#[test]
fn graph_links_sequences_branches_and_clusters() {
    let parsed = parse_flow(FLOW);
    let flow = parsed.flow.expect("valid flow");
    let graph = Graph::of(&flow);
    assert_eq!(
        edges(&graph),
        [
            "root -> first",
            "first -> choose",
            "choose -[then]-> yes_1",
            "yes_1 -> yes_2",
            "yes_2 -> choose.end",
            "choose -[else]-> no_1",
            "no_1 -> choose.end",
            "choose.end -> fan",
            "fan -[parallel]-> left",
            "left -> fan.end",
            "fan -[parallel]-> right",
            "right -> fan.end",
            "fan.end -[finally]-> fan_done",
            "fan_done -> fan.finally",
            "fan.finally -> end",
            "root -[errors]-> on_error",
            "on_error -> end",
        ]
    );
    let clustered: Vec<(&str, Option<&str>)> = graph
        .nodes
        .iter()
        .map(|n| (n.uid.as_str(), n.cluster.as_deref()))
        .filter(|(_, c)| c.is_some())
        .collect();
    assert!(clustered.contains(&("yes_1", Some("choose"))));
    assert!(clustered.contains(&("left", Some("fan"))));
    assert!(clustered.contains(&("fan.end", Some("fan"))));
    // Every edge joins nodes that exist.
    for edge in &graph.edges {
        for uid in [&edge.from, &edge.to] {
            assert!(
                graph.nodes.iter().any(|n| &n.uid == uid),
                "edge to missing node {uid}"
            );
        }
    }
}
