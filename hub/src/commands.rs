//! Every command of `alliance-hub` (DESIGN.md §8), as the binary runs them.
//!
//! `init` and `serve` work on the data directory themselves; every other command builds one
//! request, sends it through a [`HubConnection`] (the admin socket while `serve` runs, else the
//! database opened directly), and prints the answer as a table or, with `--json`, as JSON.
//! A refusal from the hub becomes an error that says what was being done and why.

use std::fmt::Display;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures::StreamExt;
use tonic::Status;

use alliance_envelope::Envelope;
use alliance_proto::pb;

use crate::admin_client::HubConnection;
use crate::cli::{
    AuditArgs, AuditKindArg, Command, CoverageArgs, DeactivateArgs, DeadlineArgs, ExportArgs,
    ExportFormat, GroupByArg, ImportArgs, OrgAddArgs, OrgCommand, OrgIdArgs, OrgImportArgs,
    OrgKindArg, OrgListArgs, RegionArg, RevokeKeyArgs, ViewArgs,
};
use crate::render::{self, Render};
use crate::{init, serve};

/// Envelopes sent per ImportEnvelopes call, well under the hub's default message and batch
/// limits, so that importing a whole directory of files works.
const IMPORT_BATCH_ENVELOPES: usize = 200;
const IMPORT_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Runs `command` to completion. Output goes to stdout; the error, if any, is the caller's to
/// print.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => {
            let summary = init::init(&args)?;
            if args.show.json {
                print_json(&serde_json::to_value(&summary)?)
            } else {
                print_text(&summary)
            }
        }
        Command::Serve(args) => serve::serve_dir(&args.data.data).await,
        command => {
            let mut hub = HubConnection::connect(command.data_dir()).await?;
            let result = run_on(&mut hub, command).await;
            // The command's own error matters more than one from closing.
            let closed = hub.close().await;
            result.and(closed)
        }
    }
}

/// Logging for every command but `serve`: warnings and errors only, unless `RUST_LOG` says
/// otherwise, so that what a command prints is not buried in the hub's info lines.
pub fn init_quiet_logging() {
    alliance_daemon::logging::init_quiet();
}

/// A command that talks to the hub.
async fn run_on(hub: &mut HubConnection, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(_) | Command::Serve(_) => {
            unreachable!("init and serve do not go through a connection")
        }
        Command::Org(OrgCommand::Add(args)) => org_add(hub, args).await,
        Command::Org(OrgCommand::Import(args)) => org_import(hub, args).await,
        Command::Org(OrgCommand::List(args)) => org_list(hub, args).await,
        Command::Org(OrgCommand::Show(args)) => org_show(hub, args).await,
        Command::Org(OrgCommand::Reissue(args)) => org_reissue(hub, args).await,
        Command::Org(OrgCommand::RevokeKey(args)) => org_revoke_key(hub, args).await,
        Command::Org(OrgCommand::Deactivate(args)) => org_deactivate(hub, args).await,
        Command::View(args) => view(hub, args).await,
        Command::Coverage(args) => coverage(hub, args).await,
        Command::Export(args) => export(hub, args).await,
        Command::Import(args) => import(hub, args).await,
        Command::Deadline(args) => deadline(hub, args).await,
        Command::Audit(args) => audit(hub, args).await,
    }
}

async fn org_add(hub: &mut HubConnection, args: OrgAddArgs) -> anyhow::Result<()> {
    let organisation = pb::Organisation {
        id: args.id.clone(),
        name: args.name,
        kind: org_kind(args.kind) as i32,
        country: args.country.unwrap_or_default(),
        // Left unspecified when not given: the hub derives it or refuses, in one place.
        region: args.region.map_or(pb::Region::Unspecified, region) as i32,
        sectors: args.sector,
        via_relay_id: args.via.unwrap_or_default(),
        hosted: args.hosted,
        ..Default::default()
    };
    let response = hub
        .add_organisation(pb::AddOrganisationRequest {
            organisation: Some(organisation),
        })
        .await
        .map_err(doing(format_args!("adding organisation {}", args.id)))?;
    show(args.show.json, &response)
}

async fn org_import(hub: &mut HubConnection, args: OrgImportArgs) -> anyhow::Result<()> {
    let csv = fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let response = hub
        .import_organisations(pb::ImportOrganisationsRequest { csv })
        .await
        .map_err(doing(format_args!(
            "importing organisations from {}",
            args.file.display()
        )))?;
    show(args.show.json, &response)
}

async fn org_list(hub: &mut HubConnection, args: OrgListArgs) -> anyhow::Result<()> {
    let response = hub
        .list_organisations(pb::ListOrganisationsRequest {
            include_deactivated: args.include_deactivated,
        })
        .await
        .map_err(doing("listing organisations"))?;
    show(args.show.json, &response)
}

async fn org_show(hub: &mut HubConnection, args: OrgIdArgs) -> anyhow::Result<()> {
    let response = hub
        .get_organisation(pb::GetOrganisationRequest {
            org_id: args.id.clone(),
        })
        .await
        .map_err(doing(format_args!("showing organisation {}", args.id)))?;
    show(args.show.json, &response)
}

async fn org_reissue(hub: &mut HubConnection, args: OrgIdArgs) -> anyhow::Result<()> {
    let response = hub
        .reissue_join_code(pb::ReissueJoinCodeRequest {
            org_id: args.id.clone(),
        })
        .await
        .map_err(doing(format_args!(
            "reissuing the join code of {}",
            args.id
        )))?;
    show(args.show.json, &response)
}

async fn org_revoke_key(hub: &mut HubConnection, args: RevokeKeyArgs) -> anyhow::Result<()> {
    let response = hub
        .revoke_key(pb::RevokeKeyRequest {
            org_id: args.id.clone(),
            key_id: args.key.clone(),
            reason: args.reason,
        })
        .await
        .map_err(doing(format_args!(
            "revoking key {} of {}",
            args.key, args.id
        )))?;
    show(args.show.json, &RevokedKey(args.id, response))
}

async fn org_deactivate(hub: &mut HubConnection, args: DeactivateArgs) -> anyhow::Result<()> {
    let response = hub
        .deactivate_organisation(pb::DeactivateOrganisationRequest {
            org_id: args.id.clone(),
            reason: args.reason,
        })
        .await
        .map_err(doing(format_args!("deactivating organisation {}", args.id)))?;
    show(args.show.json, &Deactivated(response))
}

async fn view(hub: &mut HubConnection, args: ViewArgs) -> anyhow::Result<()> {
    let response = hub
        .view(pb::ViewRequest {
            period: args.period.clone(),
            group_by: group_by(args.by) as i32,
            action_point: args.action_point,
        })
        .await
        .map_err(doing(format_args!("showing the view of {}", args.period)))?;
    show(args.show.json, &response)
}

async fn coverage(hub: &mut HubConnection, args: CoverageArgs) -> anyhow::Result<()> {
    let deadline_unix_seconds = args
        .deadline
        .as_deref()
        .map(|text| parse_instant(text).context("--deadline"))
        .transpose()?;
    let response = hub
        .coverage(pb::CoverageRequest {
            period: args.period.clone(),
            deadline_unix_seconds,
        })
        .await
        .map_err(doing(format_args!(
            "showing the coverage of {}",
            args.period
        )))?;
    show(args.show.json, &response)
}

async fn deadline(hub: &mut HubConnection, args: DeadlineArgs) -> anyhow::Result<()> {
    let deadline_unix_seconds = parse_instant(&args.at).context("--at")?;
    let response = hub
        .set_deadline(pb::SetDeadlineRequest {
            period: args.period.clone(),
            deadline_unix_seconds,
        })
        .await
        .map_err(doing(format_args!(
            "setting the deadline of {}",
            args.period
        )))?;
    show(args.show.json, &DeadlineSet(response))
}

async fn audit(hub: &mut HubConnection, args: AuditArgs) -> anyhow::Result<()> {
    let kind = match args.kind {
        None => pb::AuditKind::Unspecified,
        Some(AuditKindArg::Admin) => pb::AuditKind::AdminAction,
        Some(AuditKindArg::Refusal) => pb::AuditKind::Refusal,
    };
    let response = hub
        .list_audit(pb::ListAuditRequest {
            limit: args.limit.unwrap_or(0),
            kind: kind as i32,
        })
        .await
        .map_err(doing("reading the audit log"))?;
    show(args.show.json, &response)
}

/// Streams the export to `--output` or stdout. A file is written beside its destination under a
/// temporary name and renamed into place only when complete, so a failed export leaves no half
/// file (and does not destroy an earlier export of the same name).
async fn export(hub: &mut HubConnection, args: ExportArgs) -> anyhow::Result<()> {
    let what = format!("exporting {}", args.period);
    let mut chunks = hub
        .export(pb::ExportRequest {
            period: args.period.clone(),
            format: export_format(args.format) as i32,
        })
        .await
        .map_err(doing(&what))?;
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(doing(&what))?;
                out.write_all(&chunk.chunk)
                    .context("writing the export to standard output")?;
            }
            out.flush()
                .context("writing the export to standard output")?;
        }
        Some(path) => {
            let partial = PartialFile::create(path)?;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(doing(&what))?;
                partial.write(&chunk.chunk)?;
            }
            partial.finish()?;
        }
    }
    Ok(())
}

/// A file being written under a temporary name beside its destination; removed when dropped
/// unless finished.
struct PartialFile {
    file: fs::File,
    temporary: PathBuf,
    destination: PathBuf,
    finished: bool,
}

impl PartialFile {
    fn create(destination: &Path) -> anyhow::Result<Self> {
        let name = destination
            .file_name()
            .with_context(|| format!("{} is not a file name", destination.display()))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".partial-{}", std::process::id()));
        let temporary = destination.with_file_name(temporary_name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        Ok(PartialFile {
            file,
            temporary,
            destination: destination.to_owned(),
            finished: false,
        })
    }

    fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        (&self.file)
            .write_all(bytes)
            .with_context(|| format!("writing {}", self.temporary.display()))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("writing {}", self.temporary.display()))?;
        fs::rename(&self.temporary, &self.destination).with_context(|| {
            format!(
                "moving {} to {}",
                self.temporary.display(),
                self.destination.display()
            )
        })?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: the error that stopped the export is the one to report.
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// Imports envelope files. Every file is read and decoded first, so a file that is not an
/// envelope stops the import before anything is sent; then the envelopes go to the hub in
/// batches, and each one's receipt or refusal is shown. Any refusal makes the command fail
/// (after showing every result), so scripts notice.
async fn import(hub: &mut HubConnection, args: ImportArgs) -> anyhow::Result<()> {
    let mut envelopes = Vec::with_capacity(args.files.len());
    for file in &args.files {
        envelopes.push(read_envelope(file)?);
    }

    let mut results = Vec::with_capacity(envelopes.len());
    for (first, batch) in batches(&envelopes) {
        let response = hub
            .import_envelopes(pb::ImportEnvelopesRequest {
                envelopes: batch.to_vec(),
            })
            .await
            .map_err(doing(format_args!(
                "importing {}",
                args.files[first].display()
            )))?;
        // Indices in a batch's answer are relative to it; make them indices into FILE....
        results.extend(response.results.into_iter().map(|mut result| {
            result.index += u32::try_from(first).unwrap_or(u32::MAX);
            result
        }));
    }
    let response = pb::ImportEnvelopesResponse { results };
    let files: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
    if args.show.json {
        // Each result also names its file.
        let mut value = response.json();
        if let Some(results) = value["results"].as_array_mut() {
            for result in results {
                let file = result["index"]
                    .as_u64()
                    .and_then(|i| files.get(usize::try_from(i).ok()?))
                    .cloned();
                result["file"] = file.into();
            }
        }
        print_json(&value)?;
    } else {
        let mut text = response.text();
        text.push_str("\nFiles:\n");
        for (index, file) in files.iter().enumerate() {
            text.push_str(&format!("  {index}  {file}\n"));
        }
        print_text(text)?;
    }
    let refused = response
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.answer,
                Some(pb::imported_envelope::Answer::Refusal(_)) | None
            )
        })
        .count();
    if refused > 0 {
        bail!(
            "{refused} of {} envelopes were refused; nothing was stored for them",
            response.results.len()
        );
    }
    Ok(())
}

/// One envelope file: the JSON envelope form if its first non-space byte is '{', else the
/// protobuf encoding.
fn read_envelope(path: &Path) -> anyhow::Result<pb::Envelope> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let looks_like_json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let envelope = if looks_like_json {
        Envelope::from_json_slice(&bytes)
            .with_context(|| format!("{} is not a JSON envelope", path.display()))?
    } else {
        alliance_proto::decode_envelope(&bytes)
            .with_context(|| format!("{} is not a protobuf envelope", path.display()))?
    };
    Ok(pb::Envelope::from(envelope))
}

/// Splits envelopes into batches under [`IMPORT_BATCH_ENVELOPES`] and (unless one envelope is
/// larger by itself) [`IMPORT_BATCH_BYTES`], each with the index of its first envelope.
fn batches(envelopes: &[pb::Envelope]) -> Vec<(usize, &[pb::Envelope])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, envelope) in envelopes.iter().enumerate() {
        let size = wire_size(envelope);
        if i > start && (i - start >= IMPORT_BATCH_ENVELOPES || bytes + size > IMPORT_BATCH_BYTES) {
            out.push((start, &envelopes[start..i]));
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < envelopes.len() {
        out.push((start, &envelopes[start..]));
    }
    out
}

/// The size of an envelope on the wire, near enough for batching (only alliance-proto
/// knows protobuf's exact encoding): payload, type and signatures, plus some framing per field.
fn wire_size(envelope: &pb::Envelope) -> usize {
    const FRAMING: usize = 16;
    let signatures: usize = envelope
        .signatures
        .iter()
        .map(|s| s.sig.len() + s.keyid.len() + FRAMING)
        .sum();
    envelope.payload.len() + envelope.payload_type.len() + signatures + FRAMING
}

/// The answers `render` has no printer for: a revoked key (with its organisation's id),
/// a deactivated organisation, a deadline set. Their JSON reuses `render`'s shapes for
/// organisations and keys (ORG and a key of ORG's "keys") so that scripts see one format.
struct RevokedKey(String, pb::RevokeKeyResponse);
struct Deactivated(pb::DeactivateOrganisationResponse);
struct DeadlineSet(pb::SetDeadlineResponse);

impl Render for RevokedKey {
    fn text(&self) -> String {
        let RevokedKey(org_id, response) = self;
        match &response.key {
            Some(key) => format!(
                "Revoked key {} of {org_id} at {}.",
                key.key_id,
                key.revoked_at_unix_seconds
                    .map_or_else(|| "an unknown time".to_owned(), render::time)
            ),
            None => format!("Revoked the key of {org_id}."),
        }
    }

    fn json(&self) -> serde_json::Value {
        let RevokedKey(org_id, response) = self;
        let key = response.key.clone().map(|key| {
            let holder = pb::Organisation {
                id: org_id.clone(),
                keys: vec![key],
                ..Default::default()
            };
            organisation_value(holder)["keys"][0].take()
        });
        serde_json::json!({ "org_id": org_id, "key": key })
    }
}

impl Render for Deactivated {
    fn text(&self) -> String {
        match &self.0.organisation {
            Some(o) => format!(
                "Deactivated {} ({}) at {}: it is no longer expected to report; its history stays.",
                o.id,
                o.name,
                o.deactivated_at_unix_seconds
                    .map_or_else(|| "an unknown time".to_owned(), render::time)
            ),
            None => "Deactivated.".to_owned(),
        }
    }

    fn json(&self) -> serde_json::Value {
        let organisation = self.0.organisation.clone().map(organisation_value);
        serde_json::json!({ "organisation": organisation })
    }
}

impl Render for DeadlineSet {
    fn text(&self) -> String {
        let r = &self.0;
        format!(
            "The deadline of {} is now {} (was {}).",
            r.period,
            render::time(r.deadline_unix_seconds),
            render::time(r.previous_deadline_unix_seconds)
        )
    }

    fn json(&self) -> serde_json::Value {
        let r = &self.0;
        serde_json::json!({
            "period": r.period,
            "deadline": render::time(r.deadline_unix_seconds),
            "previous_deadline": render::time(r.previous_deadline_unix_seconds),
        })
    }
}

/// An organisation as `org list --json` shows it.
fn organisation_value(organisation: pb::Organisation) -> serde_json::Value {
    let list = pb::ListOrganisationsResponse {
        organisations: vec![organisation],
    };
    list.json()["organisations"][0].take()
}

/// Turns a gRPC status into an error that says what was being done.
fn doing(what: impl Display) -> impl FnOnce(Status) -> anyhow::Error {
    let what = what.to_string();
    move |status| {
        let message = status.message();
        if message.is_empty() {
            anyhow::anyhow!("{what}: {}", status.code())
        } else {
            anyhow::anyhow!("{what}: {message}")
        }
    }
}

/// An instant from the command line: RFC 3339, or a date alone meaning the end of that day
/// (UTC), since "the deadline is 31 March" lets reports in on the 31st. Unix seconds.
fn parse_instant(text: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(instant) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(instant.unix_timestamp());
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .with_context(|| {
        format!("{text:?} is neither a date (2010-03-31) nor RFC 3339 (2010-03-31T12:00:00Z)")
    })?;
    let next_day = date
        .next_day()
        .with_context(|| format!("{text:?} is too far in the future"))?;
    Ok(next_day.midnight().assume_utc().unix_timestamp())
}

/// Prints `response` as a table or, with `--json`, as JSON.
fn show(json: bool, response: &impl Render) -> anyhow::Result<()> {
    print_text(render::output(response, json))
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("writing to standard output")?;
    writeln!(out).context("writing to standard output")
}

fn print_text(text: impl Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let text = text.to_string();
    if text.ends_with('\n') {
        write!(out, "{text}")
    } else {
        writeln!(out, "{text}")
    }
    .context("writing to standard output")
}

fn org_kind(kind: OrgKindArg) -> pb::OrgKind {
    match kind {
        OrgKindArg::NationalCentre => pb::OrgKind::NationalCentre,
        OrgKindArg::RegionalOrganisation => pb::OrgKind::RegionalOrganisation,
        OrgKindArg::Guf => pb::OrgKind::Guf,
    }
}

fn region(region: RegionArg) -> pb::Region {
    match region {
        RegionArg::Africa => pb::Region::Africa,
        RegionArg::Americas => pb::Region::Americas,
        RegionArg::AsiaPacific => pb::Region::AsiaPacific,
        RegionArg::Europe => pb::Region::Europe,
        RegionArg::Global => pb::Region::Global,
    }
}

fn group_by(by: GroupByArg) -> pb::GroupBy {
    match by {
        GroupByArg::Alliance => pb::GroupBy::Alliance,
        GroupByArg::Region => pb::GroupBy::Region,
        GroupByArg::Country => pb::GroupBy::Country,
        GroupByArg::Kind => pb::GroupBy::Kind,
        GroupByArg::Sector => pb::GroupBy::Sector,
        GroupByArg::Org => pb::GroupBy::Organisation,
    }
}

fn export_format(format: ExportFormat) -> pb::ExportFormat {
    match format {
        ExportFormat::Csv => pb::ExportFormat::Csv,
        ExportFormat::Json => pb::ExportFormat::Json,
        ExportFormat::SdmxCsv => pb::ExportFormat::SdmxCsv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc_3339_or_a_date_meaning_its_end() {
        assert_eq!(parse_instant("1970-01-01T00:00:10Z").ok(), Some(10));
        assert_eq!(parse_instant("1970-01-01").ok(), Some(86_400));
        assert_eq!(
            parse_instant("2010-03-31").ok(),
            parse_instant("2010-04-01T00:00:00Z").ok()
        );
        assert!(parse_instant("31/03/2010").is_err());
    }

    #[test]
    fn imports_are_split_into_batches_that_remember_where_they_start() {
        let envelope = |size: usize| pb::Envelope {
            payload: vec![0; size],
            ..Default::default()
        };
        let many: Vec<_> = (0..IMPORT_BATCH_ENVELOPES * 2 + 1)
            .map(|_| envelope(10))
            .collect();
        let split: Vec<_> = batches(&many).iter().map(|(s, b)| (*s, b.len())).collect();
        assert_eq!(
            split,
            [
                (0, IMPORT_BATCH_ENVELOPES),
                (IMPORT_BATCH_ENVELOPES, IMPORT_BATCH_ENVELOPES),
                (IMPORT_BATCH_ENVELOPES * 2, 1)
            ]
        );
        let big = vec![envelope(IMPORT_BATCH_BYTES), envelope(10), envelope(10)];
        let split: Vec<_> = batches(&big).iter().map(|(s, b)| (*s, b.len())).collect();
        assert_eq!(split, [(0, 1), (1, 2)]);
        assert!(batches(&[]).is_empty());
    }
}
