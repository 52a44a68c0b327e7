//! Volumes on the host: each volume is a dir, `<root>/volumes/<volume id>` (what a
//! mount's path maps to, see [`super::container`]), and each snapshot a copy of one,
//! `<root>/snapshots/<snapshot id>`. The dirs persist across the machines' starts and
//! replacements; deleting the volume removes its dir (its snapshots stay).

use std::fs;
use std::io;
use std::path::Path;

/// Replaces `to` with a copy of `from` (files, dirs and symlinks); a missing `from`
/// gives an empty `to`.
pub fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    remove_dir(to)?;
    fs::create_dir_all(to)?;
    if !from.exists() {
        return Ok(());
    }
    copy_into(from, to)
}

fn copy_into(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_into(&entry.path(), &target)?;
            fs::set_permissions(&target, entry.metadata()?.permissions())?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Replaces `dir` with an empty dir.
pub fn fresh_dir(dir: &Path) -> io::Result<()> {
    remove_dir(dir)?;
    fs::create_dir_all(dir)
}

/// Removes a dir and what it holds; a missing one is fine.
pub fn remove_dir(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Bytes the files below `dir` hold (0 when it is missing).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_independent_and_replaces_what_was_there() {
        let dir = std::env::temp_dir().join(format!("fly-sim-disk-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        fs::create_dir_all(a.join("sub")).unwrap();
        fs::write(a.join("sub/f"), "hello").unwrap();
        std::os::unix::fs::symlink("sub/f", a.join("link")).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("stale"), "x").unwrap();
        copy_dir(&a, &b).unwrap();
        assert!(!b.join("stale").exists());
        assert_eq!(fs::read_to_string(b.join("link")).unwrap(), "hello");
        fs::write(a.join("sub/f"), "changed").unwrap();
        assert_eq!(fs::read_to_string(b.join("sub/f")).unwrap(), "hello");
        assert_eq!(dir_size(&b), 5);
        copy_dir(&dir.join("missing"), &b).unwrap();
        assert_eq!(fs::read_dir(&b).unwrap().count(), 0);
        remove_dir(&dir).unwrap();
        remove_dir(&dir).unwrap();
        assert_eq!(dir_size(&dir), 0);
    }
}
