//! Property checks over random flows and random worker behaviour: every execution ends, nothing
//! happens after the end, top-level `finally` always runs unless the execution was killed, and
//! no task run is left unfinished.
//!
//! A seeded generator (no external crate) makes each case reproducible: a failure names its
//! seed, and `simulate(seed)` replays it.

use serde_json::Map;

use super::tests::Harness;
use super::{Action, Event};
use crate::execution::State;

/// A small xorshift generator: deterministic per seed, good enough to spread cases.
pub(super) struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Writes a random task list `depth` levels deep; task ids are unique through `counter`.
fn task_list(rng: &mut Rng, depth: u32, counter: &mut u32, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for _ in 0..1 + rng.below(3) {
        *counter += 1;
        let id = format!("t{counter}");
        let extra = match rng.below(10) {
            0 => ", allowFailure: true",
            1 => ", retry: {type: constant, interval: PT1S, maxAttempt: 2}",
            2 => ", runIf: \"{{ false }}\"",
            _ => "",
        };
        let kind = if depth == 0 { 0 } else { rng.below(6) };
        match kind {
            1 => {
                out.push_str(&format!("{pad}- id: {id}\n{pad}  type: if\n{pad}  condition: \"{{{{ {} }}}}\"\n{pad}  then:\n", rng.chance(50)));
                task_list(rng, depth - 1, counter, indent + 4, out);
                out.push_str(&format!("{pad}  else:\n"));
                task_list(rng, depth - 1, counter, indent + 4, out);
            }
            2 => {
                out.push_str(&format!("{pad}- id: {id}\n{pad}  type: parallel\n{pad}  concurrent: {}\n{pad}  tasks:\n", rng.below(3)));
                task_list(rng, depth - 1, counter, indent + 4, out);
            }
            3 => {
                out.push_str(&format!("{pad}- id: {id}\n{pad}  type: for_each\n{pad}  values: [1, 2, 3]\n{pad}  concurrencyLimit: {}\n{pad}  tasks:\n", rng.below(3)));
                task_list(rng, depth - 1, counter, indent + 4, out);
            }
            4 => {
                out.push_str(&format!(
                    "{pad}- id: {id}\n{pad}  type: sequential\n{pad}  tasks:\n"
                ));
                task_list(rng, depth - 1, counter, indent + 4, out);
                if rng.chance(40) {
                    out.push_str(&format!("{pad}  errors:\n"));
                    task_list(rng, 0, counter, indent + 4, out);
                }
                if rng.chance(40) {
                    out.push_str(&format!("{pad}  finally:\n"));
                    task_list(rng, 0, counter, indent + 4, out);
                }
            }
            _ => out.push_str(&format!(
                "{pad}- {{id: {id}, type: log, message: m{extra}}}\n"
            )),
        }
    }
}

fn random_flow(rng: &mut Rng) -> String {
    let mut counter = 0;
    let mut yaml = String::from("id: sim\nnamespace: tests\ntasks:\n");
    task_list(rng, 3, &mut counter, 2, &mut yaml);
    if rng.chance(50) {
        yaml.push_str("errors:\n");
        task_list(rng, 1, &mut counter, 2, &mut yaml);
    }
    yaml.push_str("finally:\n  - {id: the_finally, type: log, message: f}\n");
    yaml
}

/// Runs one random execution to its end and checks the invariants.
fn simulate(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let yaml = random_flow(&mut rng);
    let mut h = Harness::new(&yaml);
    let kill_at = rng.chance(15).then(|| rng.below(8));
    let mut pending = h.step(&[]);
    let mut timers: Vec<Event> = Vec::new();
    let mut ended = None;
    for round in 0..2000 {
        if let Some(state) = pending.iter().find_map(|a| match a {
            Action::Ended { state } => Some(*state),
            _ => None,
        }) {
            ended = Some(state);
            break;
        }
        let mut events = Vec::new();
        for action in pending.drain(..) {
            match action {
                Action::Dispatch {
                    task_run_id,
                    attempt,
                } => {
                    let run = h
                        .execution
                        .task_run(&task_run_id)
                        .expect("dispatched run exists");
                    assert!(
                        !run.state.is_terminal(),
                        "seed {seed}: dispatch of an ended run"
                    );
                    // A worker sometimes vanishes; otherwise it succeeds, warns or fails.
                    if rng.chance(5) {
                        events.push(Event::LeaseExpired {
                            task_run_id,
                            attempt,
                        });
                        continue;
                    }
                    let state = match rng.below(10) {
                        0..=1 => State::Failed,
                        2 => State::Warning,
                        _ => State::Success,
                    };
                    events.push(Event::TaskStarted {
                        task_run_id: task_run_id.clone(),
                        attempt,
                        worker_id: "w".into(),
                        at: h.now,
                        dispatched_at: None,
                    });
                    events.push(Event::TaskFinished {
                        task_run_id,
                        attempt,
                        state,
                        outputs: Map::new(),
                        error: None,
                    });
                }
                Action::Kill { task_run_id } => {
                    let attempt = h
                        .execution
                        .task_run(&task_run_id)
                        .map_or(0, |r| r.attempt());
                    events.push(Event::TaskFinished {
                        task_run_id,
                        attempt,
                        state: State::Killed,
                        outputs: Map::new(),
                        error: None,
                    });
                }
                Action::WakeAt { task_run_id, .. } => timers.push(Event::Timer { task_run_id }),
                Action::StartSubflow(_) | Action::Notify { .. } | Action::Ended { .. } => {}
            }
        }
        if kill_at == Some(round) {
            events.push(Event::Kill);
        }
        if events.is_empty() {
            assert!(
                !timers.is_empty(),
                "seed {seed}: stuck at {:?}\n{yaml}",
                h.states()
            );
            events.append(&mut timers);
        }
        // Deliver in a shuffled order: the engine must not depend on it.
        for i in (1..events.len()).rev() {
            events.swap(i, rng.below(i as u64 + 1) as usize);
        }
        pending = h.step(&events);
    }
    let state =
        ended.unwrap_or_else(|| panic!("seed {seed}: never ended: {:?}\n{yaml}", h.states()));
    assert!(state.is_terminal());
    assert_eq!(h.execution.state, state, "seed {seed}");
    for run in &h.execution.task_runs {
        assert!(
            run.state.is_terminal(),
            "seed {seed}: {} left {:?} after the end\n{yaml}",
            run.task_id,
            run.state
        );
    }
    if state != State::Killed {
        assert!(
            h.execution
                .task_runs
                .iter()
                .any(|r| r.task_id == "the_finally"),
            "seed {seed}: finally never ran\n{yaml}"
        );
    }
    let frozen = h.execution.clone();
    let after = h.step(&[
        Event::Kill,
        Event::Resume,
        Event::Timer {
            task_run_id: "tr1".into(),
        },
    ]);
    assert!(
        after.is_empty(),
        "seed {seed}: actions after the end: {after:?}"
    );
    assert_eq!(
        h.execution, frozen,
        "seed {seed}: the execution changed after the end"
    );
}

#[test]
fn random_flows_always_end_cleanly() {
    for seed in 1..=400 {
        simulate(seed);
    }
}
