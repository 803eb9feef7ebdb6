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

/// Invariant: only baton-store issues SQL to Baton's database. The only other crate that
/// depends on sqlx is baton-tasks, whose Postgres tasks run the flow's SQL on the user's
/// database.
#[test]
fn only_the_store_and_the_user_database_tasks_depend_on_sqlx() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(crates).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let runtime_deps = manifest.split("[dev-dependencies]").next().unwrap();
        if name != "baton-store" && name != "baton-tasks" {
            assert!(
                !runtime_deps.contains("sqlx"),
                "{name} depends on sqlx; only baton-store may issue SQL (and baton-tasks on the \
                 user's databases)"
            );
        }
    }
}

/// Invariant: a worker never needs Baton's database credentials, so neither the worker, the
/// task implementations it runs, nor the internal storage it reaches depend on the store; only
/// the task implementations hold a database driver, for the user's databases.
#[test]
fn the_worker_holds_no_access_to_batons_database() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, forbidden) in [
        ("baton-worker", &["baton-store", "sqlx"][..]),
        ("baton-tasks", &["baton-store"][..]),
        ("baton-storage", &["baton-store", "sqlx"][..]),
    ] {
        let manifest = std::fs::read_to_string(crates.join(name).join("Cargo.toml")).unwrap();
        let runtime_deps = manifest.split("[dev-dependencies]").next().unwrap();
        for forbidden in forbidden {
            assert!(
                !runtime_deps.contains(forbidden),
                "{name} depends on {forbidden}; a worker must not need Baton's database"
            );
        }
    }
}
