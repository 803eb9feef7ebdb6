//! The Kubernetes manifests under `deploy/kubernetes/` checked against the Kubernetes API's
//! schemas with `kubernetes-validate` (PyPI; `./test.sh` installs it), strictly: an unknown or
//! misspelt field fails. The same check on a broken copy must fail, so a validator that
//! accepts anything cannot pass this test.

use std::path::{Path, PathBuf};
use std::process::Command;

use baton_tests::compose::repo_root;

fn manifests() -> Vec<PathBuf> {
    let dir = repo_root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        // Kustomize's own file is not a Kubernetes resource.
        .filter(|path| !path.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

/// Runs the validator on `files`: (success, what it printed).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run kubernetes-validate ({error}): install it with \
                 `pip install kubernetes-validate` (./test.sh does)"
            )
        });
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[test]
fn the_kubernetes_manifests_are_valid_resources() {
    let files = manifests();
    assert!(files.len() >= 6, "{files:?}");
    let (ok, printed) = validate(&files);
    assert!(ok, "{printed}");
    for file in &files {
        assert!(
            printed.contains(&*file.to_string_lossy()),
            "{} was validated: {printed}",
            file.display()
        );
    }
}

#[test]
fn every_manifest_is_in_the_kustomization() {
    let kustomization =
        std::fs::read_to_string(repo_root().join("deploy/kubernetes/kustomization.yaml"))
            .expect("kustomization.yaml");
    for file in manifests() {
        let name = file.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(
            kustomization.contains(&format!("- {name}")),
            "{name} is listed in kustomization.yaml"
        );
    }
}

#[test]
fn a_misspelt_field_fails_the_validation() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let source = std::fs::read_to_string(repo_root().join("deploy/kubernetes/worker.yaml"))
        .expect("worker.yaml");
    let broken = source.replacen("readinessProbe:", "readinesProbe:", 1);
    assert_ne!(broken, source);
    let path = Path::new(dir.path()).join("worker.yaml");
    std::fs::write(&path, broken).expect("write the broken copy");
    let (ok, printed) = validate(&[path]);
    assert!(!ok, "a misspelt field must be rejected: {printed}");
    assert!(printed.contains("readinesProbe"), "{printed}");
}
