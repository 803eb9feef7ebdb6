//! Data-driven checks over flow files.
//!
//! `flows/valid/*.yaml` must be accepted; `flows/invalid/*.yaml` must be rejected. Each file has
//! a `.expected` snapshot beside it: the diagnostics `baton flow validate` prints, then for valid
//! flows the task tree. Adding a case is adding a file; run with `BLESS=1` to write or update
//! the snapshots, then read the diff before committing it.

use std::path::{Path, PathBuf};

use baton_core::parse::FlowParser;
use baton_core::topology::render_tree;

fn files(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// What validating `path` prints, as the snapshot stores it.
fn report(parser: &FlowParser, path: &Path) -> (bool, String) {
    let source = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let parsed = parser.parse(&source);
    let mut out = String::new();
    for diagnostic in &parsed.diagnostics {
        out.push_str(&format!("{}\n", diagnostic.display_in(&name)));
    }
    if let Some(flow) = &parsed.flow {
        out.push_str(&render_tree(flow));
    }
    (parsed.flow.is_some(), out)
}

#[track_caller]
fn check(path: &Path, expect_valid: bool, failures: &mut Vec<String>) {
    let parser = FlowParser::default();
    let (valid, actual) = report(&parser, path);
    let name = path.display();
    if valid != expect_valid {
        failures.push(format!(
            "{name}: expected {}, got:\n{actual}",
            if expect_valid { "valid" } else { "invalid" }
        ));
        return;
    }
    let snapshot = path.with_extension("expected");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&snapshot, &actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&snapshot) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{name}: output differs\n--- expected\n{expected}--- actual\n{actual}"
        )),
        Err(_) => failures.push(format!(
            "{name}: no snapshot {} (run with BLESS=1)\n{actual}",
            snapshot.display()
        )),
    }
}

#[test]
fn valid_flows_are_accepted() {
    let mut failures = Vec::new();
    for path in files("valid") {
        check(&path, true, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_flows_are_rejected_with_their_messages() {
    let mut failures = Vec::new();
    let all = files("invalid");
    assert!(all.len() >= 40, "only {} invalid cases", all.len());
    for path in all {
        check(&path, false, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each invalid case also holds at least one error: a case that only warns belongs in `valid`.
#[test]
fn invalid_snapshots_name_file_line_and_column() {
    for path in files("invalid") {
        let snapshot = std::fs::read_to_string(path.with_extension("expected")).unwrap_or_default();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in snapshot.lines() {
            let rest = line
                .strip_prefix(&format!("{name}:"))
                .unwrap_or_else(|| panic!("{name}: bad line {line}"));
            let mut parts = rest.splitn(3, ':');
            let (line_no, column) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(
                line_no.parse::<u32>().is_ok_and(|n| n > 0),
                "{name}: {line}"
            );
            assert!(column.parse::<u32>().is_ok_and(|n| n > 0), "{name}: {line}");
        }
    }
}
