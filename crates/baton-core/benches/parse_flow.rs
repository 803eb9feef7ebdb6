//! Parse + validate a 200-task flow, the budget the flow language must meet (under 5 ms).
//!
//! Run with `cargo bench -p baton-core --bench parse_flow`. Prints the median and the 90th
//! percentile of several rounds; this machine is noisy, so read medians, not single runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use baton_core::parse::FlowParser;

/// A flow of `n` tasks mixing the kinds real flows use: templated logs, script tasks with
/// files, Postgres queries under pluginDefaults, and If/Parallel blocks with children.
fn flow_with_tasks(n: usize) -> String {
    let mut yaml = String::from(
        "id: big\nnamespace: bench\ninputs:\n  - id: who\n    type: STRING\n    defaults: world\n\
         variables:\n  greeting: \"Hi {{ inputs.who }}\"\ntasks:\n",
    );
    let mut written = 0;
    let mut i = 0;
    while written < n {
        match i % 4 {
            0 => {
                yaml.push_str(&format!(
                    "  - id: log_{i}\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{{{ render(vars.greeting) }}}} #{i}\"\n"
                ));
                written += 1;
            }
            1 => {
                yaml.push_str(&format!(
                    "  - id: sh_{i}\n    type: io.kestra.plugin.scripts.shell.Commands\n    taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n    inputFiles:\n      in.txt: \"{{{{ inputs.who }}}}\"\n    outputFiles: [\"*.csv\"]\n    commands:\n      - cat in.txt > out_{i}.csv\n"
                ));
                written += 1;
            }
            2 => {
                yaml.push_str(&format!(
                    "  - id: q_{i}\n    type: io.kestra.plugin.jdbc.postgresql.Queries\n    sql: SELECT {i} AS n WHERE '{{{{ inputs.who }}}}' <> ''\n    fetchType: FETCH_ONE\n"
                ));
                written += 1;
            }
            _ => {
                yaml.push_str(&format!(
                    "  - id: if_{i}\n    type: io.kestra.plugin.core.flow.If\n    condition: \"{{{{ inputs.who == 'world' }}}}\"\n    then:\n      - id: par_{i}\n        type: io.kestra.plugin.core.flow.Parallel\n        tasks:\n          - id: a_{i}\n            type: io.kestra.plugin.core.debug.Return\n            format: \"{{{{ outputs.q_{p}.row.n }}}}\"\n          - id: b_{i}\n            type: io.kestra.plugin.core.log.Log\n            message: b\n",
                    p = i - 1
                ));
                written += 4;
            }
        }
        i += 1;
    }
    yaml.push_str(
        "pluginDefaults:\n  - type: io.kestra.plugin.jdbc.postgresql\n    values:\n      url: jdbc:postgresql://localhost:5432/db\n      username: postgres\n",
    );
    yaml
}

fn main() {
    let source = flow_with_tasks(200);
    let parser = FlowParser::default();
    let parsed = parser.parse(&source);
    let flow = parsed
        .flow
        .as_ref()
        .unwrap_or_else(|| panic!("bench flow is invalid: {:?}", parsed.diagnostics));
    let tasks = flow.all_tasks().len();

    // Cold: a new parser each round, so no compiled template is cached (a server restart, or
    // the first deploy of a flow). Warm: one parser reused (re-validating an edited flow).
    let cold = measure(200, || {
        black_box(FlowParser::default().parse(black_box(&source)));
    });
    let warm_parser = FlowParser::default();
    let warm = measure(200, || {
        black_box(warm_parser.parse(black_box(&source)));
    });
    for (name, (median, p90)) in [("cold", cold), ("warm", warm)] {
        println!(
            "parse+validate {tasks}-task flow ({} bytes), {name}: median {:.3} ms, p90 {:.3} ms over 200 rounds (budget 5 ms)",
            source.len(),
            median.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
        );
    }
}

/// Median and 90th percentile of `rounds` timed calls, after a few untimed warm-up calls.
fn measure(rounds: usize, mut run: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..10 {
        run();
    }
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[rounds / 2], times[rounds * 9 / 10])
}
