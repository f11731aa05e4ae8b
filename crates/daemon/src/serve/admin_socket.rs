//! Binding the admin socket: mode 0600 from the first instant, one daemon per data directory.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::Path;

use tokio::net::UnixListener;

use crate::error::{AdminSocketError, DaemonError};

const SOCKET_MODE: u32 = 0o600;

/// Binds the admin socket at `path` with mode 0600, with no moment at which it is reachable with
/// a wider mode. A socket file left by a killed process is replaced; if a live process answers on
/// it, this refuses with [`AdminSocketError::InUse`]. Must be called within a tokio runtime.
///
/// The socket file is left in place when the listener is dropped; the next bind replaces it.
pub fn bind_admin_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    let io_error = |source| AdminSocketError::Io {
        path: path.into(),
        source,
    };
    remove_stale_socket(path)?;

    // Bind inside a fresh directory only we can enter (tempfile creates it 0700), set the mode,
    // then link the socket into place. The umask would be the other way, but it is per process
    // and would race with every other thread creating files.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".a")
        .tempdir_in(dir)
        .map_err(io_error)?;
    // A short name: socket paths are limited to about 100 bytes.
    let staged = staging.path().join("s");
    let listener = StdUnixListener::bind(&staged).map_err(io_error)?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(SOCKET_MODE)).map_err(io_error)?;
    // A hard link, unlike a rename, never replaces: if another daemon bound `path` since the check
    // above, it keeps it.
    fs::hard_link(&staged, path).map_err(|err| match err.kind() {
        io::ErrorKind::AlreadyExists => AdminSocketError::InUse { path: path.into() },
        _ => io_error(err),
    })?;
    staging.close().map_err(io_error)?;

    listener.set_nonblocking(true).map_err(io_error)?;
    Ok(UnixListener::from_std(listener).map_err(io_error)?)
}

/// Removes a socket file nobody answers on; refuses if somebody does, or if it is not a socket.
fn remove_stale_socket(path: &Path) -> Result<(), AdminSocketError> {
    let io_error = |source| AdminSocketError::Io {
        path: path.into(),
        source,
    };
    match fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_error(err)),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(AdminSocketError::NotASocket { path: path.into() });
        }
        Ok(_) => {}
    }
    match StdUnixStream::connect(path) {
        Ok(_) => Err(AdminSocketError::InUse { path: path.into() }),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale admin socket");
            match fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(err)),
                _ => Ok(()),
            }
        }
        Err(err) => Err(io_error(err)),
    }
}
