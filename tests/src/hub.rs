//! A real `alliance-hub` on a temporary data directory, started from its command line and
//! reached the way nodes and operators reach it: over TLS on its ingest port (pinning the CA
//! that `init` generated) and through its command line.
//!
//! [`HubProcess::start`] runs `init` and `serve` and returns once the hub answers its health
//! check over TLS; dropping the process kills it. Tests that need to change `hub.toml` first use
//! [`HubProcess::init`], [`HubProcess::set_config`] and then [`HubProcess::serve`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alliance_core::Receipt;
use alliance_envelope::{Envelope, JoinCode, SigningKey, payload_type, sign, verify_pinned};
use alliance_proto::EnrollProof;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::{self, RefusalReason};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::process::{Daemon, POLL_INTERVAL, READY_TIMEOUT, parse_json, set_toml};
use crate::{Binary, Run, TempDir, temp_dir};

/// The data directory's name inside the test's temporary directory (`init` wants to create it).
const DATA_DIR: &str = "hub";
/// How many times [`HubProcess::start`] tries a fresh port.
const START_ATTEMPTS: usize = 3;
/// What the log says when the port was taken (the OS error's text).
const ADDRESS_IN_USE: &str = "in use";
/// Where `serve` writes its standard output and error, beside the data directory.
const LOG_FILE: &str = "serve.log";

/// A hub process on its own temporary data directory.
#[derive(Debug)]
pub struct HubProcess {
    /// The `serve` process. Declared first so that it is killed before the temporary directory
    /// is removed.
    daemon: Daemon,
    temp: TempDir,
    data: PathBuf,
    port: u16,
    hub_key: [u8; 32],
}

/// An organisation the tests enrolled, with the key its node would hold.
#[derive(Debug, Clone)]
pub struct EnrolledOrg {
    pub org_id: String,
    pub key: SigningKey,
    /// The hub's signing key, as the enrollment answered it (checked against the join code).
    pub hub_key: [u8; 32],
    pub enrollment: pb::Enrollment,
}

impl HubProcess {
    /// Initialises a hub on a fresh temporary directory and serves it; returns once it answers
    /// its health check over TLS.
    ///
    /// The port was free when `init` picked it, but another test may have taken it since; then
    /// it starts over on another port, a few times.
    pub async fn start() -> HubProcess {
        for _ in 1..START_ATTEMPTS {
            let mut hub = HubProcess::init();
            match hub.try_serve().await {
                Ok(()) => return hub,
                Err(log) if log.contains(ADDRESS_IN_USE) => continue,
                Err(log) => {
                    panic!("alliance-hub serve exited before it was ready; its log:\n{log}")
                }
            }
        }
        let mut hub = HubProcess::init();
        hub.serve().await;
        hub
    }

    /// Initialises a hub (`alliance-hub init`) listening on a free loopback port, without
    /// serving it yet.
    pub fn init() -> HubProcess {
        install_crypto_provider();
        let temp = temp_dir();
        let data = temp.path().join(DATA_DIR);
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let run = Binary::Hub.run([
            "init".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--listen".as_ref(),
            addr.as_ref(),
            "--public-addr".as_ref(),
            addr.as_ref(),
        ]);
        assert!(run.success(), "alliance-hub init failed: {run:?}");
        for file in ["hub.toml", "hub.key", "tls/ca.pem", "db"] {
            assert!(
                data.join(file).exists(),
                "alliance-hub init did not create {file}: {run:?}"
            );
        }
        let seed = std::fs::read(data.join("hub.key"))
            .unwrap_or_else(|e| panic!("could not read hub.key: {e}"));
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("hub.key holds {} bytes, not a 32-byte seed", seed.len()));
        let hub_key = SigningKey::from_seed(&seed).public_key();
        HubProcess {
            daemon: Daemon::new(Binary::Hub, "hub", temp.path().join(LOG_FILE)),
            temp,
            data,
            port,
            hub_key,
        }
    }

    /// Sets `key` of table `[table]` in `hub.toml` (creating the table if needed, or the top
    /// level when `table` is empty). Takes effect at the next `serve`; commands run while the hub
    /// is stopped read it at once.
    pub fn set_config(&self, table: &str, key: &str, value: impl Into<toml::Value>) {
        set_toml(&self.data.join("hub.toml"), table, key, value.into());
    }

    /// Starts `alliance-hub serve` and waits until it is ready: its admin socket exists and it
    /// answers SERVING to a health check over TLS and on the admin socket.
    pub async fn serve(&mut self) {
        if let Err(log) = self.try_serve().await {
            panic!("alliance-hub serve exited before it was ready; its log:\n{log}");
        }
    }

    /// [`HubProcess::serve`] with extra environment variables, such as
    /// `("FAILPOINTS", "hub-after-store=return")` (the binary is built with its crash points).
    /// A hub armed to crash may reach its crash point before it is ready (nodes send as soon as
    /// it listens): then the error is its log, and it is no longer running.
    pub async fn serve_with_env(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        self.try_serve_with_env(env).await
    }

    /// Starts `alliance-hub serve` and waits until it is ready, or until it exits: then the
    /// error is its log.
    async fn try_serve(&mut self) -> Result<(), String> {
        self.try_serve_with_env(&[]).await
    }

    /// [`HubProcess::try_serve`] with extra environment variables; `FAILPOINTS` is only set
    /// when `env` names it.
    async fn try_serve_with_env(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        self.daemon.spawn(&self.data, |command| {
            command.env_remove("FAILPOINTS");
            for (name, value) in env {
                command.env(name, value);
            }
        });
        self.wait_ready().await
    }

    /// Stops the hub with SIGTERM and waits for it to exit, which must be with status 0 (a
    /// graceful shutdown finishes what is in flight and flushes).
    ///
    /// It waits asynchronously, so that the test's runtime goes on driving the connections it
    /// holds: a graceful shutdown waits for them to close.
    pub async fn stop(&mut self) {
        self.daemon.stop().await;
    }

    /// Kills the hub with SIGKILL (nothing in flight is finished, nothing more is flushed).
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// Serves again after [`HubProcess::stop`] or [`HubProcess::kill`] (or stops it first with
    /// SIGTERM when it is running), on the same data directory and port.
    pub async fn restart(&mut self) {
        if self.daemon.is_started() {
            self.stop().await;
        }
        self.serve().await;
    }

    /// Whether the `serve` process is running (it may still have exited on its own).
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// Waits for a hub that ends by itself (at a crash point) to exit, and returns how it did;
    /// after `timeout` it kills the hub and panics with the log.
    pub async fn wait_exit(&mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        self.daemon.wait_exit(timeout).await
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A scratch directory beside the data directory, removed with it.
    pub fn scratch_dir(&self) -> &Path {
        self.temp.path()
    }

    /// The ingest port's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The hub's public signing key, derived from `hub.key` (not from anything it answered).
    pub fn hub_key(&self) -> [u8; 32] {
        self.hub_key
    }

    /// The CA certificate (DER) that `init` generated: the one every node pins.
    pub fn ca_der(&self) -> Vec<u8> {
        read_ca(&self.data.join("tls/ca.pem"))
    }

    /// Everything `serve` printed so far (over every restart).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Runs `alliance-hub ARGS --data DIR` to completion.
    pub fn cli<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        all.push("--data".into());
        all.push(self.data.clone().into_os_string());
        Binary::Hub.run(all)
    }

    /// Runs `alliance-hub ARGS --data DIR` and asserts that it succeeded.
    pub fn cli_ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let run = self.cli(&args);
        assert!(run.success(), "alliance-hub {args:?} failed: {run:?}");
        run
    }

    /// Runs a command with `--json` and parses what it prints.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let run = self.cli_ok(&args);
        parse_json(Binary::Hub, &args, &run.stdout)
    }

    /// `alliance-hub view --period PERIOD --by BY --json`.
    pub fn view_json(&self, period: &str, by: &str) -> serde_json::Value {
        self.cli_json(&["view", "--period", period, "--by", by])
    }

    /// The total of awareness.activities that `view --period PERIOD --by BY` shows for `group`,
    /// as (lo, hi).
    pub fn activities_total(&self, period: &str, by: &str, group: &str) -> (u64, u64) {
        crate::view::count_total(&self.view_json(period, by), group, "awareness.activities")
    }

    /// `alliance-hub audit --json`.
    pub fn audit_json(&self) -> serde_json::Value {
        self.cli_json(&["audit"])
    }

    /// Registers an organisation with `org add` and returns the join code it printed. An empty
    /// `country` leaves the option out (GUFs have none).
    pub fn add_org(&self, id: &str, kind: &str, country: &str, region: &str) -> JoinCode {
        let name = format!("Test organisation {id}");
        let mut args = vec![
            "org", "add", "--id", id, "--name", &name, "--kind", kind, "--region", region,
        ];
        if !country.is_empty() {
            args.extend(["--country", country]);
        }
        let run = self.cli_ok(&args);
        join_code_in(&run.stdout).unwrap_or_else(|| panic!("org add printed no join code: {run:?}"))
    }

    /// A TLS channel to the ingest port, pinning the hub's CA.
    pub async fn channel(&self) -> Channel {
        tls_channel(&self.addr(), &self.ca_der())
            .await
            .unwrap_or_else(|e| panic!("could not connect over TLS to {}: {e}", self.addr()))
    }

    /// A `HubService` client over TLS, pinning the hub's CA.
    pub async fn ingest_client(&self) -> HubServiceClient<Channel> {
        HubServiceClient::new(self.channel().await)
    }

    /// Enrolls a fresh key for the organisation of `code`, as a node does, and checks that the
    /// hub key it answers with is the one the code names and the one in `hub.key`.
    pub async fn enroll(&self, code: &JoinCode) -> EnrolledOrg {
        let key = SigningKey::generate();
        let enrollment = self
            .ingest_client()
            .await
            .enroll(enroll_request(code, &key, &key))
            .await
            .unwrap_or_else(|e| panic!("enrolling {} failed: {e:?}", code.org_id))
            .into_inner()
            .enrollment
            .unwrap_or_else(|| panic!("the enrollment of {} is empty", code.org_id));
        let hub_key: [u8; 32] = enrollment
            .hub_public_key
            .as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("the enrollment's hub key is not 32 bytes"));
        assert_eq!(
            alliance_envelope::fingerprint(&hub_key),
            hex(&code.hub_key_fingerprint),
            "the hub key of the enrollment is not the one the join code pins"
        );
        assert_eq!(hub_key, self.hub_key, "the hub answered with another key");
        EnrolledOrg {
            org_id: code.org_id.clone(),
            key,
            hub_key,
            enrollment,
        }
    }

    /// Registers a national centre `id` (in Kenya, Africa) and enrolls a key for it.
    pub async fn new_org(&self, id: &str) -> EnrolledOrg {
        let code = self.add_org(id, "national_centre", "KE", "africa");
        self.enroll(&code).await
    }

    /// Submits one envelope; on success, checks the hub's receipt (signed by the hub key, for
    /// this report id) and returns what it says.
    pub async fn submit(&self, envelope: &Envelope) -> Result<Receipt, Status> {
        let response = self
            .ingest_client()
            .await
            .submit(pb::SubmitRequest {
                envelope: Some(envelope.into()),
                custody_receipt: None,
            })
            .await?
            .into_inner();
        let receipt = match response.receipt {
            Some(pb::submit_response::Receipt::HubReceipt(receipt)) => receipt,
            other => panic!("the hub answered without a hub receipt: {other:?}"),
        };
        let receipt = self.open_receipt(&receipt.into());
        assert_eq!(
            receipt.report_id.0,
            alliance_envelope::report_id(envelope),
            "the receipt is for another report id"
        );
        Ok(receipt)
    }

    /// Submits an envelope that must be accepted, and returns its receipt.
    pub async fn submit_ok(&self, envelope: &Envelope) -> Receipt {
        self.submit(envelope)
            .await
            .unwrap_or_else(|e| panic!("the hub refused the envelope: {e:?}"))
    }

    /// Verifies a receipt envelope under the hub key and decodes it.
    pub fn open_receipt(&self, envelope: &Envelope) -> Receipt {
        let verified = verify_pinned(envelope, payload_type::RECEIPT, &self.hub_key)
            .unwrap_or_else(|e| panic!("the receipt is not signed by the hub key: {e}"));
        alliance_proto::decode_receipt(verified.payload())
            .unwrap_or_else(|e| panic!("the receipt does not decode: {e}"))
    }

    /// `GetReceipt` for a report id: the stored receipt envelope, or the status.
    pub async fn get_receipt(&self, report_id: [u8; 32]) -> Result<Envelope, Status> {
        let response = self
            .ingest_client()
            .await
            .get_receipt(pb::GetReceiptRequest {
                report_id: report_id.to_vec(),
            })
            .await?
            .into_inner();
        match response.state {
            Some(pb::get_receipt_response::State::Receipt(receipt)) => Ok(receipt.into()),
            other => panic!("the hub answered GetReceipt without a receipt: {other:?}"),
        }
    }

    /// Whether the hub answers SERVING to a health check over TLS.
    pub async fn health_ok(&self) -> bool {
        match tls_channel(&self.addr(), &self.ca_der()).await {
            Ok(channel) => is_serving(channel).await,
            Err(_) => false,
        }
    }

    /// Asserts that the hub still answers SERVING over TLS and that its process runs.
    pub async fn assert_healthy(&mut self) {
        assert!(
            self.is_running(),
            "the hub exited; its log:\n{}",
            self.log()
        );
        assert!(
            self.health_ok().await,
            "the hub does not answer its health check over TLS; its log:\n{}",
            self.log()
        );
    }

    /// Submits `envelope` and asserts that it is refused as BAD_INPUTS.md asks: with `code`,
    /// with a refusal of `reason` in the details and a message naming the cause (containing
    /// `word`, ignoring case), with the view of 2009 unchanged, the report id unknown to
    /// `GetReceipt`, and the hub healthy afterwards. Returns the status.
    pub async fn assert_refused(
        &mut self,
        envelope: &Envelope,
        code: Code,
        reason: RefusalReason,
        word: &str,
    ) -> Status {
        let before = self.view_json("2009", "org");
        let status = match self.submit(envelope).await {
            Ok(receipt) => panic!("the hub accepted what it must refuse: {receipt:?}"),
            Err(status) => status,
        };
        assert_refusal(&status, code, reason, word);
        assert_eq!(
            self.view_json("2009", "org"),
            before,
            "the view changed after a refusal"
        );
        self.assert_not_stored(alliance_envelope::report_id(envelope))
            .await;
        self.assert_healthy().await;
        status
    }

    /// Asserts that the hub holds nothing under `report_id`: `GetReceipt` answers NOT_FOUND.
    pub async fn assert_not_stored(&self, report_id: [u8; 32]) {
        match self.get_receipt(report_id).await {
            Err(status) if status.code() == Code::NotFound => {}
            other => panic!("GetReceipt of a refused report id should be NOT_FOUND, got {other:?}"),
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let socket = self.data.join("admin.sock");
        loop {
            if let Some(exit) = self.daemon.exited() {
                return Err(format!("(exit status {exit})\n{}", self.log()));
            }
            if socket.exists() && self.health_ok().await && admin_serving(&socket).await {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "alliance-hub serve was not ready within {READY_TIMEOUT:?} (admin socket \
                     {}: {}); its log:\n{}",
                    socket.display(),
                    if socket.exists() { "exists" } else { "missing" },
                    self.log()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// Asserts that `status` is a refusal with `code`, `reason` in its details, and `word` in its
/// message (ignoring case).
pub fn assert_refusal(status: &Status, code: Code, reason: RefusalReason, word: &str) {
    assert_eq!(status.code(), code, "wrong status code: {status:?}");
    let refusal = alliance_proto::status::refusal_of(status)
        .unwrap_or_else(|| panic!("the status carries no refusal in its details: {status:?}"));
    assert_eq!(
        refusal.reason(),
        reason,
        "wrong refusal reason: {refusal:?}"
    );
    assert!(
        status
            .message()
            .to_lowercase()
            .contains(&word.to_lowercase()),
        "the message does not name the cause ({word:?}): {:?}",
        status.message()
    );
}

/// An enrollment request for `key` with the join code's organisation and token, whose proof of
/// possession is signed by `proof_signer` (the key itself, unless a test says otherwise).
pub fn enroll_request(
    code: &JoinCode,
    key: &SigningKey,
    proof_signer: &SigningKey,
) -> pb::EnrollRequest {
    let proof = EnrollProof {
        org: code
            .org_id
            .parse()
            .unwrap_or_else(|e| panic!("the join code's organisation id: {e}")),
        token: code.token.clone(),
        public_key: key.public_key(),
        hub_key_fingerprint: code.hub_key_fingerprint,
        relay: None,
    };
    let proof = sign(
        proof_signer,
        payload_type::ENROLL_PROOF,
        alliance_proto::encode_enroll_proof(&proof),
    );
    pb::EnrollRequest {
        org_id: code.org_id.clone(),
        token: code.token.clone(),
        public_key: key.public_key().to_vec(),
        proof: Some(proof.into()),
    }
}

/// The first join code in `text`: the `alliance-join:` prefix and the base64 after it.
pub fn join_code_in(text: &str) -> Option<JoinCode> {
    let start = text.find(alliance_envelope::JOIN_CODE_PREFIX)?;
    let code: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "+/=-_:".contains(*c))
        .collect();
    Some(
        code.parse()
            .unwrap_or_else(|e| panic!("{code:?} is not a join code: {e}")),
    )
}

/// A TLS channel to `addr` that trusts only the CA `ca_der`.
pub async fn tls_channel(addr: &str, ca_der: &[u8]) -> Result<Channel, String> {
    install_crypto_provider();
    let config = alliance_daemon::tls::client_config(ca_der).map_err(|e| e.to_string())?;
    alliance_daemon::client::connect_tls(addr, config)
        .await
        .map_err(|e| e.to_string())
}

/// A channel over the hub's admin socket.
pub async fn admin_channel(socket: &Path) -> Result<Channel, String> {
    alliance_daemon::client::connect_admin(socket)
        .await
        .map_err(|e| e.to_string())
}

/// Whether the server behind `channel` answers SERVING for the whole server (service "").
pub async fn is_serving(channel: Channel) -> bool {
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    matches!(answer, Ok(r) if r.get_ref().status() == ServingStatus::Serving)
}

async fn admin_serving(socket: &Path) -> bool {
    match admin_channel(socket).await {
        Ok(channel) => is_serving(channel).await,
        Err(_) => false,
    }
}

/// The CA certificate in a PEM file, as DER.
pub fn read_ca(path: &Path) -> Vec<u8> {
    alliance_daemon::tls::read_ca_pem(path)
        .unwrap_or_else(|e| panic!("could not read the CA {}: {e}", path.display()))
        .to_vec()
}

fn install_crypto_provider() {
    alliance_daemon::tls::install_crypto_provider();
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("could not bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"))
        .port()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The clock, as the hub reads it (whole seconds since the Unix epoch).
pub fn now() -> alliance_core::Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    alliance_core::Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
}
