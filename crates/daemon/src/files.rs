//! Files and directories that are private from the moment they exist.
//!
//! Modes are given at creation rather than set afterwards, so there is no window in which a
//! key is readable by others; contents and directory entries are fsynced so that a crash right
//! after `init` leaves either nothing or the whole file.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const PRIVATE_DIR_MODE: u32 = 0o700;
const PRIVATE_FILE_MODE: u32 = 0o600;
const PUBLIC_FILE_MODE: u32 = 0o644;

/// Creates `path` and any missing parents with mode 0700. An existing directory is left as it is.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
}

/// Writes `bytes` to a new file at `path` (an existing file is an error, never overwritten) with
/// mode 0600 from the start, and fsyncs it and its directory.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_new_file(path, bytes, PRIVATE_FILE_MODE)
}

/// Writes `bytes` to a new file at `path` (never overwriting) with mode 0644, for certificates and
/// configuration, and fsyncs it and its directory.
pub fn write_public_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_new_file(path, bytes, PUBLIC_FILE_MODE)
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    let written = (|| {
        // The umask may have taken bits away at creation; the mode is part of the contract.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        // A half-written file would make the next attempt fail with "already exists".
        let _ = std::fs::remove_file(path);
        return Err(err);
    }
    sync_parent(path)
}

/// Makes the directory entry for `path` durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn modes_and_no_overwrite() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).expect("create dir");
        assert_eq!(mode(&dir), 0o700);
        create_private_dir(&dir).expect("existing dir is fine");

        let key = dir.join("key.pem");
        write_private_file(&key, b"secret").expect("write key");
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read(&key).expect("read"), b"secret");
        let again = write_private_file(&key, b"other").expect_err("overwrote");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&key).expect("read"), b"secret");

        let cert = dir.join("cert.pem");
        write_public_file(&cert, b"public").expect("write cert");
        assert_eq!(mode(&cert), 0o644);
    }
}
