//! `python.script` and `python.commands` (`io.kestra.plugin.scripts.python.{Script,Commands}`):
//! shell-like script tasks with Python's additions, on either runner.
//!
//! - `dependencies` are installed with pip before the script, into a directory of the working
//!   directory put first on `PYTHONPATH` (no change to the image's or the host's Python, and it
//!   works for a non-root container user).
//! - `from kestra import Kestra` works without the `kestra` package: a small compatible module
//!   is put on `PYTHONPATH` after the dependencies. It hands over to the real package when one
//!   is installed anywhere else on the path, so the image's own copy still wins.
//! - The script is a file in the working directory, run as `python <file>`, so the working
//!   directory is the script's `sys.path[0]` as in Kestra.

use std::path::Path;

use indexmap::IndexMap;

/// Kestra's default image for Python script tasks.
pub(crate) const DEFAULT_IMAGE: &str = "python:3.13-slim";

/// Where the script is written, in the working directory (hidden, so it cannot clash with an
/// input file).
const SCRIPT_FILE: &str = ".baton-script.py";
/// Where the `kestra` stand-in is written.
const SHIM_DIR: &str = ".baton/python";
/// Where `dependencies` are installed.
const PACKAGES_DIR: &str = ".baton/python-packages";

const KESTRA_SHIM: &str = include_str!("python/kestra.py");

/// Prepares the working directory for a Python task: writes the `kestra` stand-in, adds
/// Python's environment, and the pip line for `dependencies` to `lines`.
pub(crate) fn prepare(
    dir: &Path,
    dependencies: &[String],
    env: &mut IndexMap<String, String>,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    let shim_dir = dir.join(SHIM_DIR);
    std::fs::create_dir_all(&shim_dir)
        .and_then(|()| std::fs::write(shim_dir.join("kestra.py"), KESTRA_SHIM))
        .map_err(|e| format!("cannot write the kestra module: {e}"))?;
    let mut path = Vec::new();
    if !dependencies.is_empty() {
        let target = dir.join(PACKAGES_DIR);
        let mut install = vec![
            "python -m pip install --quiet --target".to_owned(),
            shell_quote(&target.display().to_string()),
        ];
        install.extend(dependencies.iter().map(|d| shell_quote(d)));
        lines.push(install.join(" "));
        path.push(target.display().to_string());
    }
    path.push(shim_dir.display().to_string());
    if let Some(user) = env.get("PYTHONPATH").filter(|p| !p.is_empty()) {
        path.push(user.clone());
    }
    env.insert("PYTHONPATH".to_owned(), path.join(":"));
    // Kestra's settings for Python tasks: live output, and quiet pip as root.
    for (key, value) in [
        ("PYTHONUNBUFFERED", "true"),
        ("PIP_ROOT_USER_ACTION", "ignore"),
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
    ] {
        env.entry(key.to_owned())
            .or_insert_with(|| value.to_owned());
    }
    Ok(())
}

/// Writes `script` into the working directory; returns the line that runs it.
pub(crate) fn write_script(dir: &Path, script: &str) -> Result<String, String> {
    let file = dir.join(SCRIPT_FILE);
    std::fs::write(&file, script).map_err(|e| format!("cannot write the script: {e}"))?;
    Ok(format!(
        "python {}",
        shell_quote(&file.display().to_string())
    ))
}

/// Quotes a word for `/bin/sh`.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'+')
        });
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_install_into_the_working_directory_ahead_of_the_shim() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = IndexMap::from([("PYTHONPATH".to_owned(), "/mine".to_owned())]);
        let mut lines = Vec::new();
        let deps = ["requests>=2".to_owned(), "kestra".to_owned()];
        prepare(dir.path(), &deps, &mut env, &mut lines).unwrap();
        let root = dir.path().display();
        assert_eq!(
            lines,
            [format!(
                "python -m pip install --quiet --target {root}/.baton/python-packages 'requests>=2' kestra"
            )]
        );
        assert_eq!(
            env["PYTHONPATH"],
            format!("{root}/.baton/python-packages:{root}/.baton/python:/mine")
        );
        assert_eq!(env["PYTHONUNBUFFERED"], "true");
        assert!(dir.path().join(".baton/python/kestra.py").is_file());
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
