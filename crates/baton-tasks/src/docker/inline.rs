//! Small working directories written by the container's own shell instead of uploaded.
//!
//! The Engine API's archive upload costs about 50 ms a container on this kind of host (the
//! engine mounts the container's filesystem and extracts in a mount namespace of its own), a
//! sixth of a whole `python -c pass` container. When the command is a POSIX shell's `-c` script
//! (Kestra's default interpreter, `/bin/sh -c`), the container runs as root, and the working
//! directory holds a few small text files (a script, the `kestra` module, inline input files),
//! a prelude of that script writes them with the shell's own `mkdir`, `printf` and `chmod`:
//! nothing the image must carry beyond the shell the command needs anyway. Anything else (big
//! or binary files, links, another interpreter, another user) is uploaded as before.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::spec::ContainerSpec;

/// The most file bytes written inline. The whole script is one argument of the shell, and
/// Linux caps one argument at 128 KiB; quoting can grow text, so the script's final length is
/// checked too.
const MAX_FILE_BYTES: u64 = 48 * 1024;
const MAX_SCRIPT_BYTES: usize = 120 * 1024;
/// Shells whose `-c` script the prelude can go in front of.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh"];

/// Whether `spec`'s command is `SHELL -c SCRIPT`, the only form a prelude can join.
pub(super) fn is_shell_script(spec: &ContainerSpec) -> bool {
    let Some([program, flag, _script]) = spec.body.cmd.as_deref() else {
        return false;
    };
    let name = program.rsplit('/').next().unwrap_or(program);
    flag == "-c"
        && SHELLS.contains(&name)
        && spec
            .body
            .entrypoint
            .as_deref()
            .is_none_or(|e| e.iter().all(String::is_empty))
}

/// Whether a container of `spec` runs as root, given the image's own `User`: the prelude creates
/// the working directory, and only root may create it under any parent.
pub(super) fn runs_as_root(spec: &ContainerSpec, image_user: &str) -> bool {
    let user = spec
        .body
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(image_user);
    let name = user.split(':').next().unwrap_or(user);
    name.is_empty() || name == "root" || name == "0"
}

/// The shell lines that recreate `dir` (its folders and files, at the same absolute path) and
/// enter it, or `None` when it must be uploaded.
pub(super) fn prelude(dir: &Path) -> io::Result<Option<String>> {
    let mut folders = vec![quote_path(dir)?];
    let mut writes = Vec::new();
    let mut budget = MAX_FILE_BYTES;
    if !walk(dir, &mut folders, &mut writes, &mut budget)? {
        return Ok(None);
    }
    let folders = folders.join(" ");
    let mut steps = vec![
        format!("mkdir -p {folders}"),
        // As the archive's folders: open to every user the command may switch to.
        format!("chmod 777 {folders}"),
    ];
    steps.extend(writes);
    let dir = quote_path(dir)?;
    Ok(Some(format!(
        "{{ {}; }} || {{ echo \"baton: cannot write the task's files into \"{dir}\" in the container\" >&2; exit 1; }}\ncd {dir} || exit 1\n",
        steps.join(" && ")
    )))
}

/// Joins the prelude to the spec's script, and lets the prelude create the working directory
/// (the engine would create it for the container's `WorkingDir`, owned by root, mode 0755).
/// `false` (and `spec` unchanged) when the script would be too long for one argument.
pub(super) fn apply(spec: &mut ContainerSpec, prelude: &str) -> bool {
    let Some(script) = spec.body.cmd.as_mut().and_then(|cmd| cmd.get_mut(2)) else {
        return false;
    };
    if prelude.len() + script.len() > MAX_SCRIPT_BYTES {
        return false;
    }
    script.insert_str(0, prelude);
    spec.body.working_dir = None;
    true
}

/// Adds the folders and file writes under `dir`; `false` when something cannot go inline.
fn walk(
    dir: &Path,
    folders: &mut Vec<String>,
    writes: &mut Vec<String>,
    budget: &mut u64,
) -> io::Result<bool> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let metadata = std::fs::symlink_metadata(&path)?;
        if metadata.is_dir() {
            folders.push(quote_path(&path)?);
            if !walk(&path, folders, writes, budget)? {
                return Ok(false);
            }
            continue;
        }
        if !metadata.is_file() || metadata.len() > *budget {
            return Ok(false);
        }
        *budget -= metadata.len();
        // Arguments cannot carry a NUL byte, and the Engine API's command is UTF-8 text.
        let Ok(text) = String::from_utf8(std::fs::read(&path)?) else {
            return Ok(false);
        };
        if text.contains('\0') {
            return Ok(false);
        }
        let target = quote_path(&path)?;
        writes.push(format!("printf %s {} > {target}", quote(&text)));
        if metadata.permissions().mode() & 0o111 != 0 {
            writes.push(format!("chmod 755 {target}"));
        }
    }
    Ok(true)
}

fn quote_path(path: &Path) -> io::Result<String> {
    path.to_str()
        .map(quote)
        .ok_or_else(|| io::Error::other(format!("{} is not UTF-8", path.display())))
}

/// One shell word holding `text` exactly: single quotes keep every byte but `'` itself.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn write(path: &Path, content: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn the_prelude_recreates_the_files_exactly_in_a_real_shell() {
        let source = tempfile::tempdir().unwrap();
        let dir = source.path().join("wd with space");
        write(&dir.join("script.py"), b"print('it''s \"quoted\"')\n\n");
        write(
            &dir.join("a/b/c.txt"),
            "no newline at the end: $HOME `id` \\n é".as_bytes(),
        );
        write(&dir.join("-dash"), b"-n");
        write(&dir.join("run.sh"), b"echo ran\n");
        std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        let prelude = prelude(&dir).unwrap().expect("small text files go inline");

        // The same absolute path, elsewhere: the prelude is run with the paths rewritten.
        let copy = tempfile::tempdir().unwrap();
        let target = copy.path().join("wd with space");
        let from = dir.to_str().unwrap();
        let to = target.to_str().unwrap();
        let script = prelude.replace(from, to) + "pwd; ./run.sh";
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{to}\nran\n"));
        for file in ["script.py", "a/b/c.txt", "-dash", "run.sh"] {
            assert_eq!(
                std::fs::read(target.join(file)).unwrap(),
                std::fs::read(dir.join(file)).unwrap(),
                "{file}"
            );
        }
        assert!(target.join("empty").is_dir());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target.join("a/b")), 0o777);
        assert_eq!(mode(&target.join("run.sh")) & 0o111, 0o111);
        assert_eq!(mode(&target.join("script.py")) & 0o111, 0);
    }

    #[test]
    fn binary_big_or_linked_files_are_left_to_the_upload() {
        // What each case adds to a directory of one fine file.
        type Spoil = fn(&Path);
        let cases: [(&str, Spoil); 3] = [
            ("a NUL byte", |d| write(&d.join("bin"), b"a\0b")),
            ("too big", |d| {
                write(&d.join("big"), &vec![b'x'; MAX_FILE_BYTES as usize + 1])
            }),
            ("a link", |d| {
                std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap()
            }),
        ];
        for (case, make) in cases {
            let dir = tempfile::tempdir().unwrap();
            write(&dir.path().join("ok.txt"), b"fine");
            make(dir.path());
            assert_eq!(prelude(dir.path()).unwrap(), None, "{case}");
        }
    }
}
