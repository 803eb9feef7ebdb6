//! Tar archives of a task's working directory, for the Engine API's archive endpoints.
//!
//! Upload: the archive is extracted at `/` in the container, so its entries carry the working
//! directory's absolute path (without the leading `/`); the engine creates missing parents.
//! Download: the engine answers with entries rooted at the directory's own name; only regular
//! files and directories are taken back, and nothing may land outside the directory.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Directories in the container are open to every user: the container's `user` may not be the
/// worker's, and it must be able to write its output files.
const DIR_MODE: u32 = 0o777;

/// Writes the tar of `dir` (for extraction at `/`) into `out`, rewound for reading.
pub(crate) fn pack(dir: &Path, out: File) -> io::Result<File> {
    let root = dir
        .strip_prefix("/")
        .map_err(|_| io::Error::other(format!("{} is not an absolute path", dir.display())))?
        .to_path_buf();
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    append_dir(&mut builder, &root)?;
    append_tree(&mut builder, dir, &root)?;
    let mut out = builder.into_inner()?;
    out.seek(SeekFrom::Start(0))?;
    Ok(out)
}

fn append_tree(builder: &mut tar::Builder<File>, dir: &Path, name: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let entry_name = name.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            append_dir(builder, &entry_name)?;
            append_tree(builder, &path, &entry_name)?;
        } else {
            builder.append_path_with_name(&path, &entry_name)?;
        }
    }
    Ok(())
}

fn append_dir(builder: &mut tar::Builder<File>, name: &Path) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(DIR_MODE);
    header.set_size(0);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    builder.append_data(&mut header, name, io::empty())
}

/// Extracts a downloaded archive of the working directory into `dest`. Entries are rooted at
/// the directory's name, which is stripped; links and special files are skipped.
pub(crate) fn unpack(archive: File, dest: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(relative) = inside(&entry.path()?) else {
            continue;
        };
        let target = dest.join(&relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // Never write through whatever already sits at the path.
                if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                    std::fs::remove_file(&target)?;
                }
                entry.unpack(&target)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The entry's path without its first component, when it stays inside the directory.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    match components.next()? {
        Component::Normal(_) => {}
        _ => return None,
    }
    let mut relative = PathBuf::new();
    for component in components {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!relative.as_os_str().is_empty()).then_some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_with_absolute_names_and_unpacks_stripped_and_contained() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir(source.path().join("sub")).unwrap();
        std::fs::write(source.path().join("a.txt"), "a").unwrap();
        std::fs::write(source.path().join("sub/b.txt"), "b").unwrap();
        let packed = pack(source.path(), tempfile::tempfile().unwrap()).unwrap();
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(packed);
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            names.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
            ));
        }
        let root = source
            .path()
            .strip_prefix("/")
            .unwrap()
            .display()
            .to_string();
        assert_eq!(names[0], (root.clone(), DIR_MODE));
        assert!(names.iter().any(|(n, _)| *n == format!("{root}/sub/b.txt")));

        // An archive as the engine sends it back: rooted at the directory's name.
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |name: &str, body: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, body).unwrap();
        };
        add("wd/out/result.csv", b"1,2\n");
        add("wd/a.txt", b"changed");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "wd/link", "/etc/passwd")
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(dest.path().join("a.txt"), "a").unwrap();
        unpack(file, dest.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.path().join("out/result.csv")).unwrap(),
            "1,2\n"
        );
        assert_eq!(
            std::fs::read_to_string(dest.path().join("a.txt")).unwrap(),
            "changed"
        );
        assert!(std::fs::symlink_metadata(dest.path().join("link")).is_err());
        assert_eq!(inside(Path::new("wd/../x")), None);
        assert_eq!(inside(Path::new("/abs")), None);
    }
}
