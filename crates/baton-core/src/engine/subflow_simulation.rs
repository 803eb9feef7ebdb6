//! Property checks over random families of flows that start each other as subflows (cycles
//! included), every execution stepped by the engine the way the executor steps it: children are
//! created in the parent's step, messages between executions are delivered in random order
//! (but in order per execution, as the queue's key does), workers succeed or fail at random,
//! and the root is sometimes killed or restarted.
//!
//! Checked: everything ends; no execution is deeper than [`MAX_SUBFLOW_DEPTH`]; a waiting
//! Subflow task run holds its child's final state and the state Kestra's rule gives it; nothing
//! is left running.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Map;

use super::simulation::Rng;
use super::subflow::task_state;
use super::tests::NoHost;
use super::{Action, Event, MAX_SUBFLOW_DEPTH, StepContext, SubflowStart, step};
use crate::execution::{ContextExtras, Execution, State};
use crate::flow::{Flow, TaskProps};
use crate::parse::parse_flow;
use crate::template::{RenderLimits, TemplateEngine};

const FLOWS: u64 = 3;

/// `sim.f<index>`: a log task and one or two Subflow tasks calling other flows of the family
/// (or a missing one), sometimes inside a parallel or a for_each.
fn random_flow(rng: &mut Rng, index: u64) -> String {
    let mut yaml = format!("id: f{index}\nnamespace: sim\ntasks:\n");
    let mut tasks = Vec::new();
    for n in 0..1 + rng.below(2) {
        let target = match rng.below(FLOWS + 1) {
            t if t == index || t == FLOWS => "missing".to_owned(),
            t => format!("f{t}"),
        };
        let mut call = format!(
            "{{id: call{n}, type: subflow, namespace: sim, flowId: {target}, wait: {}, transmitFailed: {}",
            !rng.chance(20),
            !rng.chance(30)
        );
        if rng.chance(20) {
            call.push_str(", restartBehavior: NEW_EXECUTION");
        }
        if rng.chance(15) {
            call.push_str(", allowFailure: true");
        }
        call.push('}');
        tasks.push(call);
    }
    tasks.push("{id: work, type: log, message: w}".to_owned());
    let wrapper = match rng.below(10) {
        0..=2 => Some("  - id: par\n    type: parallel\n    tasks:\n"),
        3..=4 => Some("  - id: each\n    type: for_each\n    values: [only]\n    tasks:\n"),
        _ => None,
    };
    match wrapper {
        Some(wrapper) => {
            yaml.push_str(wrapper);
            for task in &tasks {
                yaml.push_str(&format!("      - {task}\n"));
            }
        }
        None => {
            for task in &tasks {
                yaml.push_str(&format!("  - {task}\n"));
            }
        }
    }
    if rng.chance(30) {
        yaml.push_str("errors:\n  - {id: handler, type: log, message: e}\n");
    }
    yaml
}

/// Every execution of the family, with the queue between them.
struct World {
    flows: BTreeMap<String, Flow>,
    executions: BTreeMap<String, Execution>,
    /// Messages per execution, delivered in order per execution.
    inbox: BTreeMap<String, VecDeque<Vec<Event>>>,
    templates: TemplateEngine,
    now: DateTime<Utc>,
    next_id: u32,
    rng: Rng,
}

impl World {
    fn send(&mut self, execution_id: &str, events: Vec<Event>) {
        if self.executions.contains_key(execution_id) {
            self.inbox
                .entry(execution_id.to_owned())
                .or_default()
                .push_back(events);
        }
    }

    fn step(&mut self, execution_id: &str, events: &[Event]) -> Vec<Action> {
        let mut execution = self.executions[execution_id].clone();
        let flow = &self.flows[&format!("{}.{}", execution.namespace, execution.flow_id)];
        let mut counter = self.next_id;
        let mut new_id = || {
            counter += 1;
            format!("id{counter}")
        };
        let extras = ContextExtras::default();
        let mut ctx = StepContext {
            flow,
            now: self.now,
            templates: &self.templates,
            host: &NoHost,
            new_id: &mut new_id,
            extras: &extras,
        };
        let actions = step(&mut ctx, &mut execution, events);
        self.next_id = counter;
        self.executions.insert(execution_id.to_owned(), execution);
        actions
    }

    /// One message, as the executor processes it: step, create the children it asks for and
    /// step again with the answers, then carry out the other actions.
    fn process(&mut self, execution_id: &str, events: Vec<Event>) {
        let mut actions = self.step(execution_id, &events);
        for _ in 0..100 {
            let mut answers = Vec::new();
            for action in std::mem::take(&mut actions) {
                match action {
                    Action::StartSubflow(start) => answers.push(self.create_child(*start)),
                    other => self.carry_out(execution_id, other),
                }
            }
            if answers.is_empty() {
                return;
            }
            actions = self.step(execution_id, &answers);
        }
        panic!("{execution_id}: subflow starts never settled");
    }

    fn create_child(&mut self, start: SubflowStart) -> Event {
        let key = format!("{}.{}", start.namespace, start.flow_id);
        if !self.flows.contains_key(&key) {
            return Event::SubflowRefused {
                task_run_id: start.task_run_id,
                error: format!("flow {key} not found"),
            };
        }
        let mut child = Execution::new(
            start.execution_id.clone(),
            &start.namespace,
            &start.flow_id,
            1,
            self.now,
        );
        child.trigger = Some(start.parent.trigger_variables());
        child.parent_execution = Some(start.parent);
        self.executions.insert(child.id.clone(), child);
        self.send(&start.execution_id, Vec::new());
        Event::SubflowStarted {
            task_run_id: start.task_run_id,
        }
    }

    fn carry_out(&mut self, execution_id: &str, action: Action) {
        match action {
            Action::Dispatch {
                task_run_id,
                attempt,
            } => {
                let state = if self.rng.chance(15) {
                    State::Failed
                } else {
                    State::Success
                };
                let finished = Event::TaskFinished {
                    task_run_id,
                    attempt,
                    state,
                    outputs: Map::new(),
                    error: None,
                };
                self.send(execution_id, vec![finished]);
            }
            Action::Kill { task_run_id } => {
                let attempt = self.executions[execution_id]
                    .task_run(&task_run_id)
                    .map_or(0, |r| r.attempt());
                let killed = Event::TaskFinished {
                    task_run_id,
                    attempt,
                    state: State::Killed,
                    outputs: Map::new(),
                    error: None,
                };
                self.send(execution_id, vec![killed]);
            }
            Action::WakeAt { task_run_id, .. } => {
                self.send(execution_id, vec![Event::Timer { task_run_id }])
            }
            Action::Notify {
                execution_id,
                event,
            } => self.send(&execution_id, vec![event]),
            Action::StartSubflow(_) | Action::Ended { .. } => {}
        }
    }

    /// Delivers messages in random order across executions until none is left.
    fn run(&mut self, seed: u64, kill_root_at: Option<u64>) {
        for round in 0..20_000 {
            if kill_root_at == Some(round) {
                self.send("root", vec![Event::Kill]);
            }
            let ready: Vec<String> = self
                .inbox
                .iter()
                .filter(|(_, queue)| !queue.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            if ready.is_empty() {
                return;
            }
            let id = ready[self.rng.below(ready.len() as u64) as usize].clone();
            let events = self
                .inbox
                .get_mut(&id)
                .and_then(VecDeque::pop_front)
                .unwrap_or_default();
            self.now += TimeDelta::milliseconds(10);
            self.process(&id, events);
        }
        panic!("seed {seed}: messages never ran out");
    }

    fn check(&self, seed: u64) {
        for execution in self.executions.values() {
            let what = format!("seed {seed}: {} ({})", execution.id, execution.flow_id);
            assert!(
                execution.state.is_terminal(),
                "{what} left {}",
                execution.state
            );
            for run in &execution.task_runs {
                assert!(
                    run.state.is_terminal(),
                    "{what}: {} left {}",
                    run.task_id,
                    run.state
                );
            }
            let Some(link) = &execution.parent_execution else {
                continue;
            };
            assert!(
                link.call_chain.len() <= MAX_SUBFLOW_DEPTH,
                "{what} too deep"
            );
            let parent = &self.executions[&link.execution_id];
            let run = parent.task_run(&link.task_run_id).expect("parent task run");
            let current = run.outputs.get("executionId").and_then(|v| v.as_str())
                == Some(execution.id.as_str());
            if !link.wait || !current || parent.state == State::Killed {
                continue;
            }
            let flow = &self.flows[&format!("{}.{}", parent.namespace, parent.flow_id)];
            let Some(TaskProps::Subflow(subflow)) = flow.find_task(&run.task_id).map(|t| &t.props)
            else {
                panic!("{what}: parent run is no subflow");
            };
            assert_eq!(
                run.outputs.get("state").and_then(|v| v.as_str()),
                Some(execution.state.as_str()),
                "{what}: the parent task run holds the child's state"
            );
            assert_eq!(
                run.state,
                task_state(execution.state, subflow.transmit_failed),
                "{what}: the parent task run's state"
            );
        }
    }
}

/// What the seeds exercised, so a generator that stops reaching a case fails the test.
#[derive(Default, Debug)]
struct Coverage {
    executions: usize,
    depth_limited: usize,
    refused: usize,
    killed_children: usize,
    restarted_children: usize,
}

impl Coverage {
    fn count(&mut self, world: &World) {
        self.executions += world.executions.len();
        for execution in world.executions.values() {
            for run in &execution.task_runs {
                let error = run.error.as_deref().unwrap_or_default();
                if error.contains("levels deep") {
                    self.depth_limited += 1;
                }
                if error.ends_with("not found") {
                    self.refused += 1;
                }
            }
            if execution.parent_execution.is_some() {
                let states: Vec<State> = execution.history.iter().map(|c| c.state).collect();
                if execution.state == State::Killed {
                    self.killed_children += 1;
                }
                if states
                    .windows(2)
                    .any(|w| w[0].is_terminal() && !w[1].is_terminal())
                {
                    self.restarted_children += 1;
                }
            }
        }
    }
}

fn simulate(seed: u64, coverage: &mut Coverage) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut flows = BTreeMap::new();
    let mut sources = String::new();
    for index in 0..FLOWS {
        let yaml = random_flow(&mut rng, index);
        let parsed = parse_flow(&yaml);
        let flow = parsed
            .flow
            .unwrap_or_else(|| panic!("seed {seed}: {:?}\n{yaml}", parsed.diagnostics));
        sources.push_str(&yaml);
        flows.insert(format!("sim.f{index}"), flow);
    }
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let mut world = World {
        flows,
        executions: BTreeMap::new(),
        inbox: BTreeMap::new(),
        templates: TemplateEngine::new(RenderLimits::default()),
        now,
        next_id: 0,
        rng,
    };
    world.executions.insert(
        "root".into(),
        Execution::new("root".into(), "sim", "f0", 1, now),
    );
    world.send("root", Vec::new());
    let kill_at = world.rng.chance(25).then(|| world.rng.below(20));
    world.run(seed, kill_at);
    world.check(seed);
    assert!(
        world.executions.len() < 2_000,
        "seed {seed}: {} executions\n{sources}",
        world.executions.len()
    );
    if world.executions["root"].state.is_failure() && world.rng.chance(50) {
        world.send("root", vec![Event::Restart]);
        world.run(seed, None);
        world.check(seed);
    }
    coverage.count(&world);
}

#[test]
fn families_of_subflows_always_end_consistently() {
    let mut coverage = Coverage::default();
    for seed in 1..=100 {
        simulate(seed, &mut coverage);
    }
    println!("{coverage:?}");
    assert!(
        coverage.depth_limited > 0
            && coverage.refused > 0
            && coverage.killed_children > 0
            && coverage.restarted_children > 0,
        "the seeds no longer reach every case: {coverage:?}"
    );
}
