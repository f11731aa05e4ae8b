//! The hub under load, started in-process exactly as `alliance-hub serve` starts it
//! (`alliance_hub::serve::run` on a TLS listener and the admin socket), on a data directory made
//! by `alliance_hub::init` on a real disk.
//!
//! 1. Setup, not measured: every organisation is registered (one CSV import) and enrolls its key
//!    with a proof of possession, as a node would, through the hub's own calls.
//! 2. Ingest over loopback TLS: `Submit` with one report per call, then `SubmitBatch` per batch
//!    size. Every report is new to the hub (a repeat would be a cheap duplicate), and every call
//!    is answered only after the hub's flush, so these are durable reports per second.
//! 3. Fill: the rest of the organisations × periods, in batches, so that the view has them all
//!    (its rate is printed too, but it is no target).
//! 4. The view over the admin socket: the alliance totals of one period, averaged over
//!    `--queries` queries, then once by region and once by organisation.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alliance_daemon::{client, serve as daemon_serve, tls};
use alliance_envelope::{JoinCode, payload_type, sign};
use alliance_hub::hub::{EnrollCall, Hub};
use alliance_proto::pb::hub_service_client::HubServiceClient;
use alliance_proto::pb::query_service_client::QueryServiceClient;
use alliance_proto::{EnrollProof, pb};
use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use tokio::net::TcpListener;
use tonic::transport::Channel;

use crate::Runtimes;
use crate::disk;
use crate::figures::Figures;
use crate::fixture::{self, Org};
use crate::load::{self, Pool, Run};

/// Figure keys the targets name.
pub const SUBMIT: &str = "hub_submit";
pub const BATCH_BEST: &str = "hub_batch_best";
pub const VIEW_ALLIANCE: &str = "view_alliance_ms";
/// Figure key: the first view query after the ledger changed, which the hub computes.
pub const VIEW_FIRST: &str = "view_first_ms";

/// Reports per call when filling the hub for the view.
const FILL_BATCH: usize = 500;

/// Enrollments in flight during setup: they share the hub's flushes.
const ENROLL_CONCURRENCY: usize = 64;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub periods: usize,
    pub in_flight: usize,
    pub batch_in_flight: usize,
    pub connections: usize,
    pub batch_sizes: Vec<usize>,
    pub queries: usize,
    pub duration: Duration,
    pub threads: usize,
    /// The most reports a timed phase can possibly take (from bare verification: the hub
    /// verifies every one), so that enough are signed beforehand.
    pub ceiling_per_s: f64,
}

/// Starts the hub, runs every phase and adds their figures.
pub fn measure(
    runtimes: &Runtimes,
    dir: &Path,
    orgs: &[Org],
    plan: &Plan,
    figures: &mut Figures,
) -> Result<()> {
    let data = dir.join("hub");
    let started = Instant::now();
    let hub = disk::init_hub(&data, "127.0.0.1:7443")?;
    runtimes.server.block_on(enroll_all(&hub, orgs))?;
    figures.add(
        "setup_s",
        format!(
            "setup: {} organisations registered and enrolled",
            orgs.len()
        ),
        started.elapsed().as_secs_f64(),
        "s",
    );

    let server = Server::start(runtimes, hub, &data)?;
    let measured = phases(runtimes, &server, orgs, plan, figures);
    let stopped = server.stop(runtimes);
    measured?;
    stopped
}

/// The timed phases against a running hub.
fn phases(
    runtimes: &Runtimes,
    server: &Server,
    orgs: &[Org],
    plan: &Plan,
    figures: &mut Figures,
) -> Result<()> {
    let mut supply = Supply::new(orgs, plan.periods, plan.threads);
    let channels = runtimes.client.block_on(crate::echo::channels(
        server.address,
        &server.ca_der,
        plan.connections,
    ))?;
    // What a timed phase may take at most, with a margin; signed before the clock starts.
    let cap = (plan.ceiling_per_s * plan.duration.as_secs_f64() * 1.25) as usize + 1000;

    eprintln!("  signing up to {cap} reports for the phase");
    let pool = Pool::once(supply.take(cap)?);
    eprintln!(
        "  submit: one report per call, {} in flight",
        plan.in_flight
    );
    let run = runtimes.client.block_on(load::in_flight(
        plan.in_flight,
        plan.duration,
        pool.clone(),
        submit_one(channels.clone()),
    ))?;
    supply.give_back(pool.rest().iter().cloned());
    note_exhausted(figures, "submit", &run);
    figures.add(
        SUBMIT,
        "hub ingest, one report per call",
        run.reports_per_s(),
        "reports/s",
    );
    figures.add(
        "hub_submit_cpu",
        "hub ingest one per call, cores busy (client and server)",
        run.busy_cores,
        "cores",
    );
    figures.add(
        "hub_submit_p50_ms",
        "hub ingest one per call, latency p50",
        ms(run.latency(0.5)),
        "ms",
    );
    figures.add(
        "hub_submit_p99_ms",
        "hub ingest one per call, latency p99",
        ms(run.latency(0.99)),
        "ms",
    );

    let mut best: Option<(f64, usize)> = None;
    for &size in &plan.batch_sizes {
        let size = size.max(1);
        let wanted = cap.div_ceil(size) * size;
        eprintln!("  signing up to {wanted} reports for the phase");
        let envelopes = supply.take(wanted)?;
        eprintln!(
            "  submit batch: {size} reports per call, {} in flight",
            plan.batch_in_flight
        );
        let pool = Pool::once(batches(envelopes, size));
        let run = runtimes.client.block_on(load::in_flight(
            plan.batch_in_flight,
            plan.duration,
            pool.clone(),
            submit_batch(channels.clone()),
        ))?;
        supply.give_back(pool.rest().iter().flatten().cloned());
        note_exhausted(figures, &format!("batch {size}"), &run);
        let rate = run.reports_per_s();
        figures.add(
            format!("hub_batch_{size}"),
            format!("hub ingest, batches of {size}"),
            rate,
            "reports/s",
        );
        figures.add(
            format!("hub_batch_{size}_cpu"),
            format!("hub ingest batches of {size}, cores busy (client and server)"),
            run.busy_cores,
            "cores",
        );
        figures.add(
            format!("hub_batch_{size}_p99_ms"),
            format!("hub ingest batches of {size}, latency p99 per call"),
            ms(run.latency(0.99)),
            "ms",
        );
        if best.is_none_or(|(r, _)| rate > r) {
            best = Some((rate, size));
        }
    }
    if let Some((rate, size)) = best {
        figures.add(
            BATCH_BEST,
            format!("hub batch ingest (best: {size} per call)"),
            rate,
            "reports/s",
        );
    }

    // Every (org, period) not sent yet, so that the view covers them all.
    let envelopes = supply.take_first_revisions()?;
    eprintln!(
        "  fill: {} more reports in batches of {FILL_BATCH}",
        envelopes.len()
    );
    if !envelopes.is_empty() {
        let run = runtimes.client.block_on(load::in_flight(
            plan.batch_in_flight,
            Duration::from_secs(24 * 3600),
            Pool::once(batches(envelopes, FILL_BATCH)),
            submit_batch(channels.clone()),
        ))?;
        figures.add(
            "hub_fill",
            format!(
                "hub fill, batches of {FILL_BATCH} ({} reports)",
                run.reports
            ),
            run.reports_per_s(),
            "reports/s",
        );
    }
    figures.add(
        "hub_reports_sent",
        "reports sent to the hub in all",
        supply.sent() as f64,
        "reports",
    );
    drop(channels);

    runtimes
        .client
        .block_on(view_phase(&server.socket, supply.orgs.len(), plan, figures))
}

/// The view over the admin socket, on a hub holding every (org, period).
async fn view_phase(socket: &Path, orgs: usize, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let channel = client::connect_admin(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    // A view by organisation carries a row per organisation and cell: far above tonic's
    // default 4 MiB.
    let mut query = QueryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
    let period = fixture::period(plan.periods / 2)?.to_string();
    let ask = |group_by: pb::GroupBy| pb::ViewRequest {
        period: period.clone(),
        group_by: group_by.into(),
        action_point: None,
    };

    // The first query also proves that the hub holds what was sent: every organisation
    // contributed to the period's totals.
    let (first, view) = timed(query.view(ask(pb::GroupBy::Alliance))).await?;
    let contributors = view
        .rows
        .iter()
        .filter(|r| r.group == "alliance" && r.dimension.is_empty())
        .map(|r| r.organisations)
        .max()
        .unwrap_or(0);
    if contributors as usize != orgs {
        bail!("the alliance view of {period} counts {contributors} organisations, not {orgs}");
    }
    figures.add(
        VIEW_FIRST,
        format!("view alliance {period}, first query after ingest (computed)"),
        ms(first),
        "ms",
    );

    let mut total = Duration::ZERO;
    for _ in 0..plan.queries.max(1) {
        total += timed(query.view(ask(pb::GroupBy::Alliance))).await?.0;
    }
    figures.add(
        VIEW_ALLIANCE,
        format!(
            "view alliance totals of {period} ({} rows, avg of {}; repeated, so from the hub's view cache)",
            view.rows.len(),
            plan.queries.max(1)
        ),
        ms(total) / plan.queries.max(1) as f64,
        "ms",
    );
    for (key, name, group_by) in [
        ("view_region_ms", "region", pb::GroupBy::Region),
        ("view_org_ms", "organisation", pb::GroupBy::Organisation),
    ] {
        let (took, view) = timed(query.view(ask(group_by))).await?;
        figures.add(
            key,
            format!(
                "view by {name} of {period} ({} rows, once)",
                view.rows.len()
            ),
            ms(took),
            "ms",
        );
    }
    Ok(())
}

/// Times one view call.
async fn timed(
    call: impl Future<Output = Result<tonic::Response<pb::ViewResponse>, tonic::Status>>,
) -> Result<(Duration, pb::ViewResponse)> {
    let start = Instant::now();
    let view = call.await.context("a view query failed")?.into_inner();
    Ok((start.elapsed(), view))
}

/// One `Submit` per call; the hub's answer must be its receipt.
fn submit_one(
    channels: Arc<Vec<Channel>>,
) -> impl Fn(usize, Tagged) -> std::pin::Pin<Box<dyn Future<Output = Result<u64>> + Send>>
+ Send
+ Sync
+ 'static {
    move |worker, (_, envelope)| {
        let mut client = HubServiceClient::new(channels[worker % channels.len()].clone());
        Box::pin(async move {
            let answer = client
                .submit(pb::SubmitRequest {
                    envelope: Some(envelope),
                    custody_receipt: None,
                })
                .await
                .context("Submit failed")?
                .into_inner();
            match answer.receipt {
                Some(pb::submit_response::Receipt::HubReceipt(_)) => Ok(1),
                other => bail!("Submit answered {other:?}"),
            }
        })
    }
}

/// One `SubmitBatch` per call; every item must be stored.
fn submit_batch(
    channels: Arc<Vec<Channel>>,
) -> impl Fn(usize, Vec<Tagged>) -> std::pin::Pin<Box<dyn Future<Output = Result<u64>> + Send>>
+ Send
+ Sync
+ 'static {
    move |worker, batch: Vec<Tagged>| {
        let mut client = HubServiceClient::new(channels[worker % channels.len()].clone());
        let envelopes: Vec<pb::Envelope> = batch.into_iter().map(|(_, e)| e).collect();
        Box::pin(async move {
            let n = envelopes.len() as u64;
            let answer = client
                .submit_batch(pb::SubmitBatchRequest {
                    envelopes,
                    custody_receipts: Vec::new(),
                    custody_batch: None,
                })
                .await
                .context("SubmitBatch failed")?
                .into_inner();
            if let Some(refusal) = answer.refusals.first() {
                bail!("the hub refused a benchmark report: {refusal:?}");
            }
            match answer.receipts {
                Some(pb::submit_batch_response::Receipts::BatchReceipt(_)) => Ok(n),
                other => bail!("SubmitBatch answered {other:?}"),
            }
        })
    }
}

/// Registers every organisation with one CSV import and enrolls each one's key, several at a
/// time, exactly as nodes do: a proof of possession for the token of its join code.
async fn enroll_all(hub: &Arc<Hub>, orgs: &[Org]) -> Result<()> {
    let mut csv = String::from("id,name,kind,country,region\n");
    for org in orgs {
        csv.push_str(&format!(
            "{},Union {},national_centre,{},{}\n",
            org.id,
            org.id,
            org.country.as_str(),
            org.region.as_str()
        ));
    }
    let issued = hub
        .import_orgs(csv.as_bytes(), "alliance-bench")
        .await
        .context("registering the organisations")?;
    if issued.len() != orgs.len() {
        bail!(
            "{} organisations registered, not {}",
            issued.len(),
            orgs.len()
        );
    }
    futures::stream::iter(orgs.iter().zip(issued))
        .map(|(org, (_, code))| async move {
            let join: JoinCode = code
                .code
                .parse()
                .with_context(|| format!("the join code of {}", org.id))?;
            let public_key = org.key.public_key();
            let proof = EnrollProof {
                org: org.id.clone(),
                token: join.token.clone(),
                public_key,
                hub_key_fingerprint: join.hub_key_fingerprint,
                relay: None,
            };
            let call = EnrollCall {
                org_id: org.id.to_string(),
                token: join.token,
                public_key: public_key.to_vec(),
                proof: sign(
                    &org.key,
                    payload_type::ENROLL_PROOF,
                    alliance_proto::encode_enroll_proof(&proof),
                ),
                relay: None,
            };
            hub.enroll(call, "alliance-bench")
                .await
                .map(drop)
                .with_context(|| format!("enrolling {}", org.id))
        })
        .buffer_unordered(ENROLL_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// The hub serving in the server runtime.
struct Server {
    address: std::net::SocketAddr,
    socket: PathBuf,
    ca_der: Vec<u8>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Server {
    fn start(runtimes: &Runtimes, hub: Arc<Hub>, data: &Path) -> Result<Server> {
        let socket = data.join(alliance_hub::config::ADMIN_SOCKET);
        let (listener, admin) = runtimes.server.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding the hub's port")?;
            let admin = daemon_serve::bind_admin_socket(&socket)
                .with_context(|| format!("binding {}", socket.display()))?;
            anyhow::Ok((listener, admin))
        })?;
        let address = listener.local_addr().context("the hub's port")?;
        let ca = alliance_hub::config::HubConfig::resolve(data, &hub.config().tls.ca);
        let ca_der = tls::read_ca_pem(&ca).context("the hub's CA")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtimes
            .server
            .spawn(alliance_hub::serve::run(hub, listener, admin, async {
                let _ = stopped.await;
            }));
        Ok(Server {
            address,
            socket,
            ca_der,
            stop,
            task,
        })
    }

    /// Stops the hub as SIGTERM would, and returns how serving ended.
    fn stop(self, runtimes: &Runtimes) -> Result<()> {
        let _ = self.stop.send(());
        runtimes
            .server
            .block_on(self.task)
            .context("the hub's task panicked")?
            .context("the hub stopped with an error")
    }
}

/// A signed report with its position in the supply's order.
type Tagged = (usize, pb::Envelope);

/// Signed reports in a fixed order: every (org, period) at revision 1, period by period, then
/// all again at revision 2, and so on. Reports signed for a phase but not sent are kept for the
/// next one.
struct Supply<'a> {
    orgs: &'a [Org],
    periods: usize,
    threads: usize,
    /// The next position in the order to sign.
    next: usize,
    spare: VecDeque<Tagged>,
}

impl<'a> Supply<'a> {
    fn new(orgs: &'a [Org], periods: usize, threads: usize) -> Self {
        Supply {
            orgs,
            periods,
            threads,
            next: 0,
            spare: VecDeque::new(),
        }
    }

    /// `n` reports the hub has not seen, signed on every core.
    fn take(&mut self, n: usize) -> Result<Vec<Tagged>> {
        let from_spare = n.min(self.spare.len());
        let mut out: Vec<Tagged> = self.spare.drain(..from_spare).collect();
        out.extend(self.sign(n - from_spare)?);
        Ok(out)
    }

    /// Every (org, period) at revision 1 not sent yet, so that the hub holds them all.
    fn take_first_revisions(&mut self) -> Result<Vec<Tagged>> {
        let pairs = self.pairs();
        let mut out: Vec<Tagged> = self
            .spare
            .iter()
            .filter(|(seq, _)| *seq < pairs)
            .cloned()
            .collect();
        self.spare.retain(|(seq, _)| *seq >= pairs);
        out.extend(self.sign(pairs.saturating_sub(self.next))?);
        Ok(out)
    }

    fn give_back(&mut self, unsent: impl IntoIterator<Item = Tagged>) {
        self.spare.extend(unsent);
    }

    /// Reports handed out and not given back.
    fn sent(&self) -> usize {
        self.next - self.spare.len()
    }

    fn pairs(&self) -> usize {
        self.orgs.len() * self.periods
    }

    /// The next `n` reports of the order, signed on every core.
    fn sign(&mut self, n: usize) -> Result<Vec<Tagged>> {
        let pairs = self.pairs();
        if pairs == 0 {
            return Err(anyhow!("no organisations or no periods"));
        }
        let seqs = self.next..self.next + n;
        let items = seqs
            .clone()
            .map(|seq| {
                Ok(fixture::Item {
                    org: seq % self.orgs.len(),
                    period: fixture::period((seq % pairs) / self.orgs.len())?,
                    revision: u64::try_from(seq / pairs)? + 1,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.next += n;
        let signed = fixture::sign_all(self.orgs, &items, self.threads)?;
        Ok(seqs.zip(signed).collect())
    }
}

fn batches(envelopes: Vec<Tagged>, size: usize) -> Vec<Vec<Tagged>> {
    let mut out = Vec::with_capacity(envelopes.len().div_ceil(size));
    let mut iter = envelopes.into_iter().peekable();
    while iter.peek().is_some() {
        out.push(iter.by_ref().take(size).collect());
    }
    out
}

fn note_exhausted(figures: &mut Figures, phase: &str, run: &Run) {
    if run.exhausted {
        figures.note(format!(
            "{phase}: every pre-signed report was sent before the deadline ({} in {:.1} s)",
            run.reports,
            run.elapsed.as_secs_f64()
        ));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
