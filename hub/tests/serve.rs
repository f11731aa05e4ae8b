//! `alliance-hub serve` and the commands that reach it: through the real binary (the admin
//! socket's mode, SIGTERM, commands over the socket while it runs and on the database while
//! it is stopped), and in-process through `serve::run` (health on both listeners, shutdown).

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use alliance_hub::hub::Hub;

mod common;

use common::{hub, json, stderr, stdout};

/// How long a hub gets to start or stop before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// A new hub in `dir/hub`, listening on any free loopback port.
fn init(dir: &Path) -> PathBuf {
    let data = dir.join("hub");
    let run = hub(&[
        "init",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--public-addr",
        "localhost:7443",
    ]);
    assert!(run.status.success(), "{run:?}");
    data
}

/// `alliance-hub serve` as a child process, killed if the test ends without stopping it.
struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    fn start(data: &Path) -> Self {
        let log = data.with_extension("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_alliance-hub"))
            .args(["serve", "--data", data.to_str().expect("UTF-8 path")])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("serve starts");
        let mut served = Served { child, log };
        let socket = data.join("admin.sock");
        let deadline = Instant::now() + PATIENCE;
        while !is_socket(&socket) {
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!("serve exited with {status}: {}", served.log());
            }
            assert!(
                Instant::now() < deadline,
                "no admin socket: {}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn is_socket(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn org_add(data: &Path, id: &str) -> Output {
    hub(&[
        "org",
        "add",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--id",
        id,
        "--name",
        &format!("Centre {id}"),
        "--kind",
        "national_centre",
        "--country",
        "KE",
        "--region",
        "africa",
    ])
}

fn listed_ids(data: &Path) -> Vec<String> {
    let run = hub(&[
        "org",
        "list",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--json",
    ]);
    assert!(run.status.success(), "{run:?}");
    json(&run)["organisations"]
        .as_array()
        .expect("organisations")
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Who the newest audit entry says acted.
fn last_actor(data: &Path) -> String {
    let run = hub(&[
        "audit",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--limit",
        "1",
        "--json",
    ]);
    assert!(run.status.success(), "{run:?}");
    json(&run)["entries"][0]["actor"]
        .as_str()
        .expect("actor")
        .to_owned()
}

#[test]
fn serve_answers_on_a_private_socket_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let mut served = Served::start(&data);
    let socket = data.join("admin.sock");
    let mode = fs::metadata(&socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // While it runs, commands go through the socket.
    let added = org_add(&data, "ke-cotu");
    assert!(added.status.success(), "{added:?}\n{}", served.log());
    assert!(stdout(&added).contains("alliance-join:"), "{added:?}");
    assert_eq!(listed_ids(&data), ["ke-cotu"]);
    assert!(
        last_actor(&data).starts_with("admin socket"),
        "{}",
        last_actor(&data)
    );

    // A second serve on the same directory is refused and leaves the first one alone.
    let second = hub(&["serve", "--data", data.to_str().expect("UTF-8 path")]);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    assert!(is_socket(&socket));

    let status = served.terminate();
    assert!(status.success(), "{status}: {}", served.log());
    assert!(!socket.exists(), "the admin socket was left behind");
    assert!(served.log().contains("stopped"), "{}", served.log());

    // Stopped, the same commands open the database and see the same data.
    assert_eq!(listed_ids(&data), ["ke-cotu"]);
    let added = org_add(&data, "ug-notu");
    assert!(added.status.success(), "{added:?}");
    assert!(stdout(&added).contains("alliance-join:"), "{added:?}");
    assert!(
        last_actor(&data).contains("database opened directly"),
        "{}",
        last_actor(&data)
    );
    assert_eq!(listed_ids(&data), ["ke-cotu", "ug-notu"]);

    // And a restarted hub has both.
    let mut served = Served::start(&data);
    assert_eq!(listed_ids(&data), ["ke-cotu", "ug-notu"]);
    assert!(served.terminate().success(), "{}", served.log());
}

#[test]
fn a_running_hub_whose_socket_does_not_answer_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let mut served = Served::start(&data);
    let socket = data.join("admin.sock");
    let moved = data.join("moved.sock");
    fs::rename(&socket, &moved).expect("move the socket away");

    let run = hub(&["org", "list", "--data", data.to_str().expect("UTF-8 path")]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        stderr(&run).contains("is running but its admin socket does not answer"),
        "{}",
        stderr(&run)
    );

    fs::rename(&moved, &socket).expect("move the socket back");
    assert!(served.terminate().success(), "{}", served.log());
}

#[test]
fn refusals_name_what_was_being_done_over_either_transport() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let data_str = data.to_str().expect("UTF-8 path");
    let check = |run: Output| {
        assert_eq!(run.status.code(), Some(1), "{run:?}");
        let stderr = stderr(&run);
        assert!(
            stderr.starts_with("alliance-hub: showing organisation nobody: "),
            "{stderr}"
        );
        assert!(run.stdout.is_empty());
    };
    check(hub(&["org", "show", "--data", data_str, "nobody"]));
    let mut served = Served::start(&data);
    check(hub(&["org", "show", "--data", data_str, "nobody"]));
    assert!(served.terminate().success(), "{}", served.log());
}

#[test]
fn export_to_a_file_leaves_no_partial_file_when_it_fails() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let output = dir.path().join("out.csv");
    let run = hub(&[
        "export",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--period",
        "not-a-period",
        "--format",
        "csv",
        "--output",
        output.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(stderr(&run).contains("exporting not-a-period"), "{run:?}");
    let left: Vec<_> = fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().contains("out.csv")),
        "{left:?}"
    );

    let run = hub(&[
        "export",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--period",
        "2009",
        "--format",
        "csv",
        "--output",
        output.to_str().expect("UTF-8 path"),
    ]);
    assert!(run.status.success(), "{run:?}");
    assert!(output.is_file());
}

/// `serve::run` in-process: gRPC health answers SERVING on the TLS port and on the admin socket,
/// and the shutdown future stops both, removes the socket, and returns Ok.
#[tokio::test(flavor = "multi_thread")]
async fn run_serves_health_on_both_listeners_and_stops_on_shutdown() {
    alliance_daemon::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let hub = Arc::new(Hub::open(&data).expect("hub opens"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let socket = data.join("admin.sock");
    let admin = alliance_daemon::serve::bind_admin_socket(&socket).expect("admin socket");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(alliance_hub::serve::run(hub, listener, admin, async {
        let _ = stopped.await;
    }));

    let ca = alliance_daemon::tls::read_ca_pem(&data.join("tls/ca.pem")).expect("CA");
    let tls = alliance_daemon::tls::client_config(&ca).expect("client config");
    let network = alliance_daemon::client::connect_tls(&format!("localhost:{port}"), tls)
        .await
        .expect("TLS connection");
    let local = alliance_daemon::client::connect_admin(&socket)
        .await
        .expect("admin connection");
    for (channel, service) in [
        (network.clone(), ""),
        (network, "alliance.v1.HubService"),
        (local.clone(), ""),
        (local.clone(), "alliance.v1.HubAdminService"),
        (local, "alliance.v1.QueryService"),
    ] {
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"));
        assert_eq!(
            answer.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    stop.send(()).expect("server still running");
    let result = tokio::time::timeout(PATIENCE, server)
        .await
        .expect("stopped in time")
        .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(!socket.exists(), "the admin socket was left behind");
}

#[test]
fn import_reads_json_and_protobuf_envelopes_and_fails_when_any_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = init(dir.path());
    let data_str = data.to_str().expect("UTF-8 path");
    // Signed by a key the hub never enrolled: authentic-looking, and refused.
    let key = alliance_envelope::SigningKey::generate();
    let envelope = alliance_envelope::sign(
        &key,
        alliance_envelope::payload_type::REPORT,
        b"not a report".to_vec(),
    );
    let as_json = dir.path().join("report.json");
    fs::write(&as_json, format!("\n  {}", envelope.to_json())).expect("write");
    let as_protobuf = dir.path().join("report.pb");
    fs::write(&as_protobuf, alliance_proto::encode_envelope(&envelope)).expect("write");
    let files = [
        as_json.to_str().expect("UTF-8 path"),
        as_protobuf.to_str().expect("UTF-8 path"),
    ];

    let run = hub(&["import", "--data", data_str, "--json", files[0], files[1]]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        stderr(&run).contains("2 of 2 envelopes were refused"),
        "{run:?}"
    );
    let results = json(&run)["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 2);
    for (result, file) in results.iter().zip(files) {
        assert_eq!(result["result"], "refused", "{result}");
        assert_eq!(result["file"], file, "{result}");
    }

    // A file that is no envelope stops the import before anything is sent.
    let junk = dir.path().join("junk.bin");
    fs::write(&junk, [0xff, 0xff, 0xff]).expect("write");
    let run = hub(&[
        "import",
        "--data",
        data_str,
        files[0],
        junk.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        stderr(&run).contains("junk.bin is not a protobuf envelope"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty());
}
