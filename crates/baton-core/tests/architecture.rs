//! The invariants `docs/ARCHITECTURE.md` states about baton-core, checked against the code.

use std::path::Path;

const IO_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "tonic",
    "reqwest",
    "hyper",
    "axum",
    "bollard",
    "object_store",
    "baton-store",
    "baton-worker",
    "baton-executor",
    "baton-webserver",
    "baton-scheduler",
    "baton-tasks",
];

/// Invariant: baton-core depends on no runtime, database, network or container crate.
#[test]
fn core_has_no_io_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for line in dependencies.lines() {
        let name = line.split(['=', '.']).next().unwrap().trim();
        assert!(
            !IO_CRATES.contains(&name),
            "baton-core must stay IO-free but depends on {name}"
        );
    }
}

/// Invariant: baton-core's code touches no files, sockets, processes or environment.
#[test]
fn core_source_does_no_io() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env::var",
        "std::io::stdin",
        "File::open",
    ];
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in forbidden {
                assert!(
                    !text.contains(needle),
                    "{} uses {needle}; baton-core must stay IO-free",
                    path.display()
                );
            }
        }
    }
}
