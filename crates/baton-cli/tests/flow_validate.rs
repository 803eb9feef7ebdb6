//! `baton flow validate` as a user runs it: a real process, real files, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../baton-core/tests/flows")
        .join(kind)
        .join(name)
}

fn baton(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .output()
        .expect("baton runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_flows_exit_zero_and_print_the_tree_on_request() {
    let path = fixture("valid", "example_branching.yaml");
    let out = baton(&["flow", "validate", "--graph", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok (examples.branching, 14 tasks)"),
        "{stdout}"
    );
    assert!(stdout.contains("│  ├─ decide (if)"), "{stdout}");
}

#[test]
fn invalid_flows_print_every_error_and_exit_one() {
    let bad = fixture("invalid", "errors_everywhere.yaml");
    let good = fixture("valid", "zoomcamp_01_hello_world.yaml");
    let out = baton(&[
        "flow",
        "validate",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let name = bad.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:1:5: invalid flow id 'bad id'")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:15:5: unknown property 'extra'")),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("1 invalid flow"), "{stderr}");
    // The valid file in the same run is still checked and reported.
    assert!(text(&out.stdout).contains("zoomcamp.01_hello_world"));
}

#[test]
fn unreadable_and_non_utf8_files_are_errors_not_panics() {
    let dir = std::env::temp_dir().join(format!("baton-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let missing = dir.join("missing.yaml");
    let out = baton(&[
        "flow",
        "validate",
        binary.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the file is not UTF-8 text"), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains("2 invalid flows"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
