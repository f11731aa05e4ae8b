//! `node_submit`: the time from `report submit` to the stored receipt, on loopback, as ratios
//! against references measured in the same run (the machine may be shared and noisy).
//!
//! Everything runs in this process through the libraries, as the daemons run it: the hub
//! (`alliance_hub::serve::run` on a real TLS listener and its admin socket) in one runtime, the
//! node (`Node::open` + `run_outbox`) in another, both on sled files on a real disk.
//!
//! 1. Setup, not timed: hub init, one organisation registered, node init with its join code.
//! 2. References, before and after the submissions: the disk's flush latency (4 KiB appended +
//!    `fdatasync`, 50 each time) and a bare gRPC round trip to the hub over the same loopback
//!    TLS (`GetWinningRevision`, 200 sequential calls each time); the ratios use the median of
//!    all samples.
//! 3. The measurement, `--submits` times: one record added to a period (not timed), then the
//!    clock runs from `Node::submit` until `Node::status` shows the report `Decided`.
//!
//! The path of one submission, in order:
//! - `GetWinningRevision` to the hub (one RPC);
//! - flush 1: the node stores the draft (group commit);
//! - flush 2: the node signs and queues it;
//! - `Submit` to the hub (one RPC), which answers only after
//! - flush 3: the hub stores the report and its receipt;
//! - flush 4: the node stores the receipt and takes the entry out of the outbox.
//!
//! So the floor is about 4 flushes + 2 round trips. Note that sled 0.34's `Db::flush` on Linux
//! makes its writes stable with `sync_file_range`, not `fdatasync`: it neither commits file
//! metadata nor flushes the device's write cache, so a group-commit flush may cost less (or
//! more: sled may write several buffers) than the `fdatasync` reference. The status reads sled, which shows a write
//! before it is flushed: "visible" may stop the clock before flush 4 has finished. "durable"
//! adds a blocking `Node::flush` once the receipt is visible, an upper bound for flush 4.

#[path = "../disk.rs"]
#[allow(dead_code)]
mod disk;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::ReportId;
use alliance_core::record::{Record, RecordValue, parse_date};
use alliance_core::timestamp::Timestamp;
use alliance_daemon::{client, serve as daemon_serve, tls};
use alliance_node::node::Node;
use alliance_proto::pb;
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_store::DeliveryState;
use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Flushes on the path of one submission (see the module's documentation).
const FLUSHES_PER_SUBMIT: u32 = 4;
/// Round trips to the hub on the path of one submission.
const RPCS_PER_SUBMIT: u32 = 2;
/// Rounds of the flush reference.
const FLUSH_ROUNDS: usize = 50;
/// Calls of the round-trip reference.
const RPC_CALLS: usize = 200;
/// How often the status is polled.
const POLL: Duration = Duration::from_micros(200);
/// The longest one submission may take before the run is called off.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Periods cycled through, so that each one's revisions rise.
const FIRST_YEAR: u16 = 2009;
const LAST_YEAR: u16 = 2020;
const ORG: &str = "ke-cotu";

/// The time from `report submit` to the stored receipt on loopback, against references
/// measured in the same run.
#[derive(Debug, Parser)]
struct Args {
    /// Submissions to time.
    #[arg(long, default_value_t = 100)]
    submits: usize,
    /// Where the data directories go; must be on a real disk, not tmpfs [default:
    /// target/bench-tmp in the workspace].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
    /// Keep the data directories.
    #[arg(long)]
    keep: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.submits == 0 {
        bail!("--submits must be at least 1");
    }
    tls::install_crypto_provider();
    let disk::RunDir {
        dir,
        mount_point,
        fs_type,
    } = disk::run_dir(args.dir.as_deref())?;
    eprintln!(
        "node_submit: {} submissions, data in {} ({fs_type} at {})",
        args.submits,
        dir.path().display(),
        mount_point.display()
    );
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
            .with_context(|| format!("starting the {name} runtime"))
    };
    let hub_rt = runtime("hub")?;
    let node_rt = runtime("node")?;

    let measured = run(&hub_rt, &node_rt, dir.path(), args.submits);
    if args.keep {
        eprintln!("kept {}", dir.keep().display());
    }
    let m = measured?;

    // The ratios use the median of all samples, before and after.
    let flush = median(&[m.flushes_before.as_slice(), &m.flushes_after].concat());
    let rpc = median(&[m.rpcs_before.as_slice(), &m.rpcs_after].concat());
    let floor = flush * FLUSHES_PER_SUBMIT + rpc * RPCS_PER_SUBMIT;
    let visible_p50 = quantile(&m.visible, 0.5);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    if args.json {
        let stats = |d: &[Duration]| {
            json!({
                "p50_ms": ms(quantile(d, 0.5)),
                "p90_ms": ms(quantile(d, 0.9)),
                "p99_ms": ms(quantile(d, 0.99)),
                "max_ms": ms(quantile(d, 1.0)),
            })
        };
        let doc = json!({
            "submits": args.submits,
            "filesystem": fs_type,
            "load_average_start": m.load_start,
            "load_average_end": m.load_end,
            "flush_median_ms": ms(flush),
            "flush_median_before_ms": ms(median(&m.flushes_before)),
            "flush_median_after_ms": ms(median(&m.flushes_after)),
            "rpc_median_ms": ms(rpc),
            "rpc_median_before_ms": ms(median(&m.rpcs_before)),
            "rpc_median_after_ms": ms(median(&m.rpcs_after)),
            "flushes_per_submit": FLUSHES_PER_SUBMIT,
            "rpcs_per_submit": RPCS_PER_SUBMIT,
            "floor_ms": ms(floor),
            "submit_returns": stats(&m.queued),
            "receipt_visible": stats(&m.visible),
            "receipt_durable": stats(&m.durable),
            "status_call_mean_ms": ms(m.status_total / m.status_calls.max(1)),
            "p50_over_flush": ratio(visible_p50, flush),
            "p50_over_rpc": ratio(visible_p50, rpc),
            "p50_over_floor": ratio(visible_p50, floor),
            "durable_p50_over_flush": ratio(quantile(&m.durable, 0.5), flush),
            "revisions_unexpected": m.unexpected_revisions,
            "outcomes": m.outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "node submit → stored receipt, loopback TLS, {} submissions, {fs_type} at {}",
        args.submits,
        mount_point.display()
    );
    println!(
        "load average: {} at the start, {} at the end",
        m.load_start, m.load_end
    );
    println!("references (same run):");
    println!(
        "  disk flush (4 KiB appended + fdatasync), median of {FLUSH_ROUNDS} before + {FLUSH_ROUNDS} after: {:.3} ms (before {:.3}, after {:.3})",
        ms(flush),
        ms(median(&m.flushes_before)),
        ms(median(&m.flushes_after)),
    );
    println!(
        "  bare gRPC GetWinningRevision over loopback TLS, median of {RPC_CALLS} before + {RPC_CALLS} after: {:.3} ms (before {:.3}, after {:.3})",
        ms(rpc),
        ms(median(&m.rpcs_before)),
        ms(median(&m.rpcs_after)),
    );
    println!(
        "  floor = {FLUSHES_PER_SUBMIT} flushes + {RPCS_PER_SUBMIT} round trips: {:.3} ms",
        ms(floor)
    );
    for (name, d) in [
        ("submit returns (queued, 2 node flushes)", &m.queued),
        ("receipt Decided in status (visible)", &m.visible),
        ("  … then Node::flush (durable bound)", &m.durable),
    ] {
        println!(
            "{name:<42} p50 {:>8.3}  p90 {:>8.3}  p99 {:>8.3}  max {:>8.3} ms",
            ms(quantile(d, 0.5)),
            ms(quantile(d, 0.9)),
            ms(quantile(d, 0.99)),
            ms(quantile(d, 1.0)),
        );
    }
    println!("ratios (visible p50):");
    println!(
        "  p50 / flush median = {:.2}  (the path has {FLUSHES_PER_SUBMIT} flushes)",
        ratio(visible_p50, flush)
    );
    println!(
        "  p50 / rpc median   = {:.2}  (the path has {RPCS_PER_SUBMIT} round trips)",
        ratio(visible_p50, rpc)
    );
    println!("  p50 / floor        = {:.2}", ratio(visible_p50, floor));
    println!(
        "  durable p50 / flush median = {:.2}",
        ratio(quantile(&m.durable, 0.5), flush)
    );
    println!(
        "status() calls: {}, mean {:.3} ms each",
        m.status_calls,
        ms(m.status_total / m.status_calls.max(1))
    );
    println!("receipt outcomes: {}", json!(m.outcomes));
    if m.unexpected_revisions > 0 {
        println!(
            "WARNING: {} submissions got another revision than the cycle implies",
            m.unexpected_revisions
        );
    }
    Ok(())
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    flushes_before: Vec<Duration>,
    flushes_after: Vec<Duration>,
    rpcs_before: Vec<Duration>,
    rpcs_after: Vec<Duration>,
    /// From `submit` called to `submit` returned (the report signed and queued).
    queued: Vec<Duration>,
    /// From `submit` called to the status showing the report `Decided`.
    visible: Vec<Duration>,
    /// `visible`, then a blocking `Node::flush`.
    durable: Vec<Duration>,
    status_calls: u32,
    status_total: Duration,
    unexpected_revisions: usize,
    outcomes: BTreeMap<String, usize>,
    load_start: String,
    load_end: String,
}

/// Sets up the hub and the node, measures, and stops both.
fn run(hub_rt: &Runtime, node_rt: &Runtime, dir: &Path, submits: usize) -> Result<Measured> {
    let mut m = Measured {
        load_start: load_average()?,
        ..Measured::default()
    };

    // The hub: its port is known before init, so that the join code names it.
    let data = dir.join("hub");
    let socket = data.join(alliance_hub::config::ADMIN_SOCKET);
    let listener = hub_rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .context("binding the hub's port")?;
    let address = listener.local_addr().context("the hub's port")?;
    let hub = disk::init_hub(&data, &address.to_string())?;
    let issued = hub_rt
        .block_on(
            hub.import_orgs(
                format!(
                    "id,name,kind,country,region\n{ORG},COTU Kenya,national_centre,KE,africa\n"
                )
                .as_bytes(),
                "node_submit",
            ),
        )
        .context("registering the organisation")?;
    let code = issued
        .first()
        .map(|(_, code)| code.code.clone())
        .context("no join code issued")?;
    let ca = alliance_hub::config::HubConfig::resolve(&data, &hub.config().tls.ca);
    let ca_der = tls::read_ca_pem(&ca).context("the hub's CA")?;
    let admin = {
        let _entered = hub_rt.enter();
        daemon_serve::bind_admin_socket(&socket)
            .with_context(|| format!("binding {}", socket.display()))?
    };
    let (stop_hub, hub_stopped) = tokio::sync::oneshot::channel::<()>();
    let hub_task = hub_rt.spawn(alliance_hub::serve::run(hub, listener, admin, async {
        let _ = hub_stopped.await;
    }));

    // The node.
    let node_dir = dir.join("node");
    let org: OrgId = ORG.parse().context("the organisation id")?;
    let node = node_rt.block_on(async {
        alliance_node::init::init(&node_dir, &code)
            .await
            .context("node init")?;
        anyhow::Ok(Arc::new(Node::open(&node_dir).context("opening the node")?))
    })?;
    let (stop_node, node_stop) = tokio::sync::watch::channel(false);
    let outbox = node_rt.spawn({
        let node = Arc::clone(&node);
        async move { node.run_outbox(node_stop).await }
    });

    // The references before and after the submissions: the disk's latency in particular drifts
    // on a shared machine, and both halves are printed so that the drift shows.
    let measured = (|| {
        m.flushes_before = flush_reference(dir)?;
        m.rpcs_before = node_rt.block_on(rpc_reference(address, &ca_der))?;
        submissions(node_rt, &node, &org, submits, &mut m)?;
        m.flushes_after = flush_reference(dir)?;
        m.rpcs_after = node_rt.block_on(rpc_reference(address, &ca_der))?;
        anyhow::Ok(())
    })();

    let _ = stop_node.send(true);
    let outbox = node_rt.block_on(outbox);
    let _ = stop_hub.send(());
    let hub_ended = hub_rt.block_on(hub_task);
    measured?;
    outbox
        .context("the outbox panicked")?
        .context("the outbox stopped with an error")?;
    hub_ended
        .context("the hub panicked")?
        .context("the hub stopped with an error")?;
    node.flush().context("flushing the node")?;
    m.load_end = load_average()?;
    Ok(m)
}

/// 4 KiB appended and made durable with `fdatasync`, `FLUSH_ROUNDS` times, in the data
/// directory: what one group-commit flush of a small write costs on this disk.
fn flush_reference(dir: &Path) -> Result<Vec<Duration>> {
    let path = dir.join("flush-probe");
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5a_u8; 4096];
    let mut out = Vec::with_capacity(FLUSH_ROUNDS);
    for _ in 0..FLUSH_ROUNDS {
        let start = Instant::now();
        file.write_all(&block)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing and syncing {}", path.display()))?;
        out.push(start.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(out)
}

/// `RPC_CALLS` sequential `GetWinningRevision` calls over one loopback TLS connection (after a
/// few to warm it up): a round trip through tonic, TLS and the hub's signing of the answer.
async fn rpc_reference(address: std::net::SocketAddr, ca_der: &[u8]) -> Result<Vec<Duration>> {
    let channel = client::connect_tls(&address.to_string(), tls::client_config(ca_der)?)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let mut hub = HubServiceClient::new(channel);
    let ask = || pb::GetWinningRevisionRequest {
        org_id: ORG.to_owned(),
        period: FIRST_YEAR.to_string(),
    };
    for _ in 0..10 {
        hub.get_winning_revision(ask())
            .await
            .context("GetWinningRevision")?;
    }
    let mut out = Vec::with_capacity(RPC_CALLS);
    for _ in 0..RPC_CALLS {
        let start = Instant::now();
        hub.get_winning_revision(ask())
            .await
            .context("GetWinningRevision")?;
        out.push(start.elapsed());
    }
    Ok(out)
}

/// The timed submissions. The status is polled from this thread with a plain sleep (tokio's
/// timer would round 200 µs up to a millisecond) while the outbox runs in the node's runtime.
fn submissions(
    node_rt: &Runtime,
    node: &Arc<Node>,
    org: &OrgId,
    submits: usize,
    m: &mut Measured,
) -> Result<()> {
    let years = usize::from(LAST_YEAR - FIRST_YEAR) + 1;
    for i in 0..submits {
        let year = FIRST_YEAR + u16::try_from(i % years)?;
        let period = Period::year(year).context("the period")?;
        let record = Record {
            id: 0,
            org: org.clone(),
            date: parse_date(&format!("{year}-03-01")).context("the record's date")?,
            indicator: "awareness.activities".parse().context("the indicator")?,
            value: RecordValue::Count(1 + i as u64),
            breakdowns: BTreeMap::new(),
            note: String::new(),
            recorded_at: Timestamp(0),
        };
        node_rt
            .block_on(node.add_record(record))
            .context("adding a record")?;

        let start = Instant::now();
        let submitted = node_rt
            .block_on(node.submit(org, period))
            .with_context(|| format!("submitting {period}"))?;
        m.queued.push(start.elapsed());
        if submitted.revision != (i / years) as u64 + 1 {
            m.unexpected_revisions += 1;
        }
        let entry = wait_decided(node, submitted.report_id, start, m)?;
        m.visible.push(start.elapsed());
        node.flush().context("flushing the node")?;
        m.durable.push(start.elapsed());
        let outcome = match entry.receipt.as_ref().map(receipt_outcome) {
            Some(Ok(kind)) => kind,
            Some(Err(e)) => format!("unreadable receipt: {e}"),
            None => "no receipt".to_owned(),
        };
        *m.outcomes.entry(outcome).or_default() += 1;
    }
    Ok(())
}

/// Polls the status until the report is `Decided`.
fn wait_decided(
    node: &Node,
    report_id: ReportId,
    start: Instant,
    m: &mut Measured,
) -> Result<alliance_store::ReportEntry> {
    loop {
        let asked = Instant::now();
        let status = node.status(None).context("the node's status")?;
        m.status_total += asked.elapsed();
        m.status_calls += 1;
        let entry = status
            .orgs
            .iter()
            .flat_map(|o| o.reports.iter())
            .find(|r| r.report_id == report_id);
        match entry.map(|e| e.state) {
            Some(DeliveryState::Decided) => return entry.cloned().context("the entry"),
            Some(DeliveryState::SetAside) => bail!("report {report_id} was set aside: {entry:?}"),
            _ if start.elapsed() > GIVE_UP => bail!(
                "report {report_id} not decided after {GIVE_UP:?} (state {:?}, link {:?})",
                entry.map(|e| e.state),
                status.link
            ),
            _ => std::thread::sleep(POLL),
        }
    }
}

/// The outcome a hub receipt states, read without checking its signature (the node did).
fn receipt_outcome(envelope: &alliance_envelope::Envelope) -> Result<String> {
    let receipt = alliance_proto::decode_receipt(&envelope.payload).context("decoding")?;
    Ok(receipt.outcome.kind.as_str().to_owned())
}

fn median(d: &[Duration]) -> Duration {
    quantile(d, 0.5)
}

/// The `q` quantile (nearest rank) of `d`; zero if empty.
fn quantile(d: &[Duration], q: f64) -> Duration {
    let mut sorted = d.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn load_average() -> Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "))
}
