//! The flows the scenarios deploy, all in namespace `tests.subflows`.

pub const FLOWS: &[&str] = &[
    r#"
id: child
namespace: tests.subflows
inputs:
  - id: who
    type: STRING
  - id: n
    type: INT
    defaults: 1
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }} x{{ inputs.n }} from {{ trigger.executionId }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.hello.value }}"
"#,
    r#"
id: parent
namespace: tests.subflows
labels:
  team: data
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: child
    inheritLabels: true
    inputs:
      who: "{{ execution.id }}"
      n: 3
    labels:
      called_by: parent
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.call.outputs.greeting }}"
"#,
    r#"
id: failing
namespace: tests.subflows
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the child failed on purpose
"#,
    r#"
id: transmits
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.core.tasks.flows.Subflow
    namespace: tests.subflows
    flowId: failing
"#,
    r#"
id: swallows
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.core.tasks.flows.Flow
    namespace: tests.subflows
    flowId: failing
    transmitFailed: false
"#,
    r#"
id: slow
namespace: tests.subflows
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 60
"#,
    r#"
id: fire_and_forget
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: slow
    wait: false
"#,
    r#"
id: waits_for_slow
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: slow
"#,
    r#"
id: calls_missing
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: nope
"#,
    r#"
id: bad_inputs
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: child
    inputs:
      who: someone
      n: lots
"#,
    r#"
id: flaky
namespace: tests.subflows
inputs:
  - id: marker
    type: STRING
tasks:
  - id: first_time_fails
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - '[ -e "{{ inputs.marker }}" ] || { touch "{{ inputs.marker }}"; exit 1; }'
"#,
    r#"
id: restartable
namespace: tests.subflows
inputs:
  - id: marker
    type: STRING
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: flaky
    inputs:
      marker: "{{ inputs.marker }}"
"#,
    r#"
id: ping
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: pong
"#,
    r#"
id: pong
namespace: tests.subflows
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.subflows
    flowId: ping
"#,
];
