//! The admin socket: its mode, one daemon per data directory, and a health server reached over it.

#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use alliance_daemon::client::connect_admin;
use alliance_daemon::serve::{bind_admin_socket, uds_incoming};
use alliance_daemon::{AdminSocketError, DaemonError};
use support::health;
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic_health::pb::health_check_response::ServingStatus;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Entries of `dir` other than `except`: staging leftovers would show here.
fn others_in(dir: &Path, except: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path != except)
        .map(|path| path.display().to_string())
        .collect()
}

#[tokio::test]
async fn the_socket_is_private_and_leaves_nothing_else_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let _listener = bind_admin_socket(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(others_in(dir.path(), &path), Vec::<String>::new());
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    // What a killed daemon leaves: the file, with nobody listening.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let _listener = bind_admin_socket(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    std::os::unix::net::UnixStream::connect(&path).unwrap();
}

#[tokio::test]
async fn a_live_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let _first = bind_admin_socket(&path).unwrap();

    let err = bind_admin_socket(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DaemonError::AdminSocket(AdminSocketError::InUse { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("another process"), "{err}");
    // The first listener still owns the path.
    std::os::unix::net::UnixStream::connect(&path).unwrap();
}

#[tokio::test]
async fn something_other_than_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    std::fs::write(&path, "not a socket").unwrap();

    let err = bind_admin_socket(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DaemonError::AdminSocket(AdminSocketError::NotASocket { .. })
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}

#[tokio::test]
async fn connect_admin_reaches_a_health_server_until_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let listener = bind_admin_socket(&path).unwrap();
    let (_reporter, service) = tonic_health::server::health_reporter();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(uds_incoming(listener), async {
                let _ = stopped.await;
            }),
    );

    let channel = connect_admin(&path).await.unwrap();
    assert_eq!(health(channel).await, ServingStatus::Serving);

    stop.send(()).unwrap();
    tokio::time::timeout(support::STEP, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // The file stays behind, stale: a command then knows to open the data directory itself.
    let err = connect_admin(&path).await.unwrap_err();
    assert!(
        matches!(err, DaemonError::AdminNotRunning { .. }),
        "{err:?}"
    );
    std::fs::remove_file(&path).unwrap();
    let err = connect_admin(&path).await.unwrap_err();
    assert!(
        matches!(err, DaemonError::AdminNotRunning { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("admin.sock"), "{err}");
}
