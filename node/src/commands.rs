//! Every command of `alliance-node` (DESIGN.md §8), as the binary runs them.
//!
//! `init` and `serve` work on the data directory themselves; every other command builds one
//! request, sends it through a [`NodeConnection`] (the admin socket while `serve` runs, else the
//! database opened directly) and prints the answer as text or, with `--json`, as JSON.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use alliance_core::framework::ConventionStatus;
use alliance_core::record::parse_amount;
use alliance_envelope::Envelope;
use alliance_proto::pb;

use crate::admin_call;
use crate::admin_client::NodeConnection;
use crate::cli::{
    Command, KeyCommand, NarrativeArgs, OrgAddArgs, OrgCommand, OrgDataArgs, PeriodArgs,
    PeriodShowArgs, RecordAddArgs, RecordCommand, RecordDeleteArgs, RecordImportArgs,
    RecordListArgs, ReportCommand, ReportExportArgs, ShowArgs,
};
use crate::render;
use crate::{init, serve};

/// Files larger than this get a progress bar while they are read and sent.
const PROGRESS_BAR_BYTES: u64 = 1024 * 1024;

/// Runs `command` to completion. Output goes to stdout; the error, if any, is the caller's to
/// print.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => {
            let summary = if args.relay {
                let (Some(listen), Some(public_address)) = (&args.listen, &args.public_addr) else {
                    bail!("--relay needs --listen ADDR and --public-addr HOST:PORT");
                };
                let relay = init::RelayInit {
                    listen: listen.clone(),
                    public_address: public_address.clone(),
                };
                init::init_relay(&args.data.data, &args.join, &relay).await?
            } else {
                init::init(&args.data.data, &args.join).await?
            };
            if args.json {
                render::print_json(&serde_json::to_value(&summary)?);
            } else {
                render::print_init(&summary);
            }
            Ok(())
        }
        Command::Serve(args) => serve::serve_dir(&args.data.data).await,
        command => {
            let dir = data_dir(&command).to_owned();
            let mut node = NodeConnection::connect(&dir).await?;
            let result = run_on(&mut node, command).await;
            let closed = node.close();
            result.and(closed)
        }
    }
}

/// Logging for every command but `serve`: warnings and errors only, unless `RUST_LOG` says
/// otherwise, so that output stays clean for scripts.
pub fn init_quiet_logging() {
    alliance_daemon::logging::init_quiet();
}

async fn run_on(node: &mut NodeConnection, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Org(OrgCommand::Add(args)) => org_add(node, &args).await,
        Command::Init(_) | Command::Serve(_) => {
            bail!("this command does not go through a connection")
        }
        Command::Record(RecordCommand::Add(args)) => record_add(node, &args).await,
        Command::Record(RecordCommand::Import(args)) => record_import(node, &args).await,
        Command::Record(RecordCommand::List(args)) => record_list(node, &args).await,
        Command::Record(RecordCommand::Delete(args)) => record_delete(node, &args).await,
        Command::Report(ReportCommand::Preview(args)) => report_preview(node, &args).await,
        Command::Report(ReportCommand::Submit(args)) => report_submit(node, &args, false).await,
        Command::Report(ReportCommand::Withdraw(args)) => report_submit(node, &args, true).await,
        Command::Report(ReportCommand::Export(args)) => report_export(node, &args).await,
        Command::Report(ReportCommand::Narrative(args)) => report_narrative(node, &args).await,
        Command::Status(args) => status(node, &args).await,
        Command::Key(KeyCommand::Rotate(args)) => key_rotate(node, &args).await,
    }
}

fn data_dir(command: &Command) -> &Path {
    match command {
        Command::Init(args) => &args.data.data,
        Command::Serve(args) => &args.data.data,
        Command::Org(OrgCommand::Add(args)) => &args.data.data,
        Command::Record(RecordCommand::Add(args)) => &args.data.data.data,
        Command::Record(RecordCommand::Import(args)) => &args.data.data.data,
        Command::Record(RecordCommand::List(args)) => &args.show.data.data.data,
        Command::Record(RecordCommand::Delete(args)) => &args.data.data.data,
        Command::Report(ReportCommand::Preview(args)) => &args.show.data.data.data,
        Command::Report(ReportCommand::Submit(args) | ReportCommand::Withdraw(args)) => {
            &args.data.data.data
        }
        Command::Report(ReportCommand::Export(args)) => &args.period.data.data.data,
        Command::Report(ReportCommand::Narrative(args)) => &args.period.data.data.data,
        Command::Status(args) => &args.data.data.data,
        Command::Key(KeyCommand::Rotate(args)) => &args.data.data,
    }
}

async fn org_add(node: &mut NodeConnection, args: &OrgAddArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        add_hosted_organisation,
        pb::AddHostedOrganisationRequest {
            join_code: args.join.clone(),
        }
    )
    .context("taking on the hosted affiliate")?;
    println!(
        "hosting {} with key {}; give --org {} to the record and report commands",
        response.org_id, response.key_id, response.org_id
    );
    Ok(())
}

fn org(args: &OrgDataArgs) -> String {
    args.org.clone().unwrap_or_default()
}

async fn record_add(node: &mut NodeConnection, args: &RecordAddArgs) -> anyhow::Result<()> {
    let record = wire_record(args)?;
    let response = admin_call!(
        node,
        add_record,
        pb::AddRecordRequest {
            record: Some(record)
        }
    )
    .context("adding the record")?;
    let record = response
        .record
        .context("the node answered without the record")?;
    println!("record {} added", record.id);
    Ok(())
}

async fn record_import(node: &mut NodeConnection, args: &RecordImportArgs) -> anyhow::Result<()> {
    let csv = read_with_progress(&args.file)?;
    let waiting = spinner("checking and storing the records");
    let response = admin_call!(
        node,
        import_records,
        pb::ImportRecordsRequest {
            org_id: org(&args.data),
            csv,
        }
    );
    waiting.finish_and_clear();
    let response = response.with_context(|| format!("importing {}", args.file.display()))?;
    println!(
        "{} records imported from {}",
        response.records.len(),
        args.file.display()
    );
    Ok(())
}

async fn record_list(node: &mut NodeConnection, args: &RecordListArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        list_records,
        pb::ListRecordsRequest {
            org_id: org(&args.show.data),
            period: args.period.clone().unwrap_or_default(),
            indicator: args.indicator.clone().unwrap_or_default(),
        }
    )
    .context("listing the records")?;
    if args.show.json {
        render::print_json(&render::records_json(&response));
    } else {
        render::print_records(&response);
    }
    Ok(())
}

async fn record_delete(node: &mut NodeConnection, args: &RecordDeleteArgs) -> anyhow::Result<()> {
    admin_call!(
        node,
        delete_record,
        pb::DeleteRecordRequest {
            org_id: org(&args.data),
            record_id: args.id,
        }
    )
    .with_context(|| format!("deleting record {}", args.id))?;
    println!("record {} deleted", args.id);
    Ok(())
}

async fn report_preview(node: &mut NodeConnection, args: &PeriodShowArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        preview_report,
        pb::PreviewReportRequest {
            org_id: org(&args.show.data),
            period: args.period.clone(),
        }
    )
    .with_context(|| format!("previewing the report of {}", args.period))?;
    if args.show.json {
        render::print_json(&render::preview_json(&response));
    } else {
        render::print_preview(&response);
    }
    Ok(())
}

async fn report_submit(
    node: &mut NodeConnection,
    args: &PeriodArgs,
    withdraw: bool,
) -> anyhow::Result<()> {
    let (report_id, revision) = if withdraw {
        let r = admin_call!(
            node,
            withdraw_report,
            pb::WithdrawReportRequest {
                org_id: org(&args.data),
                period: args.period.clone(),
            }
        )
        .with_context(|| format!("withdrawing the report of {}", args.period))?;
        (r.report_id, r.revision)
    } else {
        let r = admin_call!(
            node,
            submit_report,
            pb::SubmitReportRequest {
                org_id: org(&args.data),
                period: args.period.clone(),
            }
        )
        .with_context(|| format!("submitting the report of {}", args.period))?;
        (r.report_id, r.revision)
    };
    let what = if withdraw { "retraction" } else { "report" };
    println!(
        "{what} of {} queued: revision {revision}, report id {}",
        args.period,
        hex::encode(&report_id)
    );
    if node.is_direct() {
        println!("the node is not running: `alliance-node serve` will deliver it");
    }
    Ok(())
}

async fn report_export(node: &mut NodeConnection, args: &ReportExportArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        export_report,
        pb::ExportReportRequest {
            org_id: org(&args.period.data),
            period: args.period.period.clone(),
            revision: args.revision.unwrap_or(0),
        }
    )
    .with_context(|| format!("exporting the report of {}", args.period.period))?;
    let envelope: Envelope = response
        .envelope
        .context("the node answered without the envelope")?
        .into();
    std::fs::write(&args.output, envelope.to_json())
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "revision {} of {} (report id {}) written to {}; the hub operator imports it with `alliance-hub import`",
        response.revision,
        args.period.period,
        hex::encode(&response.report_id),
        args.output.display()
    );
    Ok(())
}

async fn report_narrative(node: &mut NodeConnection, args: &NarrativeArgs) -> anyhow::Result<()> {
    admin_call!(
        node,
        set_narrative,
        pb::SetNarrativeRequest {
            org_id: org(&args.period.data),
            period: args.period.period.clone(),
            action_point: args.action_point.clone(),
            text: args.text.clone(),
        }
    )
    .context("setting the narrative")?;
    println!(
        "narrative of {} in {} stored; narratives are free text and not covered by disclosure control",
        args.action_point, args.period.period
    );
    Ok(())
}

async fn status(node: &mut NodeConnection, args: &ShowArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        get_status,
        pb::GetStatusRequest {
            org_id: org(&args.data),
        }
    )
    .context("reading the status")?;
    let running = !node.is_direct();
    if args.json {
        render::print_json(&render::status_json(&response, running));
    } else {
        render::print_status(&response, running);
    }
    Ok(())
}

async fn key_rotate(node: &mut NodeConnection, args: &OrgDataArgs) -> anyhow::Result<()> {
    let response = admin_call!(
        node,
        rotate_key,
        pb::NodeAdminServiceRotateKeyRequest { org_id: org(args) }
    )
    .context("rotating the key")?;
    println!(
        "key {} replaced by {}; the hub accepts the old key until {}; {} queued reports re-signed",
        response.old_key_id,
        response.new_key_id,
        render::time(response.grace_until_unix_seconds),
        response.resigned
    );
    Ok(())
}

/// The record `record add` describes. Only the form is checked here; the node checks it against
/// its framework.
fn wire_record(args: &RecordAddArgs) -> anyhow::Result<pb::Record> {
    use pb::record::Value;
    let value = &args.value;
    let value = if let Some(count) = value.value {
        Value::Count(count)
    } else if let Some(status) = &value.status {
        let status: ConventionStatus = status.parse().context("--status")?;
        Value::Status(alliance_proto::enums::convention_status_to_i32(status))
    } else if let Some(flag) = &value.flag {
        Value::Flag(match flag.as_str() {
            "yes" | "true" => true,
            "no" | "false" => false,
            other => bail!("--flag: {other:?} is neither yes nor no"),
        })
    } else if let Some(amount) = &value.amount {
        Value::Amount(pb::Money {
            currency: args.currency.clone().unwrap_or_default(),
            hundredths: parse_amount(amount).context("--amount")?,
        })
    } else {
        bail!("give one of --value, --status, --flag or --amount");
    };
    let breakdowns = [
        ("sex", &args.sex),
        ("migrant_status", &args.migrant),
        ("sector", &args.sector),
        ("convention", &args.convention),
        ("agreement_kind", &args.kind),
        ("authority", &args.authority),
        ("scope", &args.scope),
    ]
    .into_iter()
    .filter_map(|(dimension, value)| {
        value.as_ref().map(|value| pb::BreakdownValue {
            dimension: dimension.to_owned(),
            value: value.clone(),
        })
    })
    .collect();
    Ok(pb::Record {
        id: 0,
        org_id: org(&args.data),
        date: args.date.clone(),
        indicator: args.indicator.clone(),
        value: Some(value),
        breakdowns,
        note: args.note.clone().unwrap_or_default(),
        recorded_at_unix_seconds: 0,
    })
}

/// Reads a file, with a progress bar if it is large.
fn read_with_progress(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if size >= PROGRESS_BAR_BYTES {
        let bar = ProgressBar::new(size);
        if let Ok(style) = ProgressStyle::with_template("reading {bytes}/{total_bytes} {wide_bar}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut chunk)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..read]);
        bar.inc(read as u64);
    }
    bar.finish_and_clear();
    Ok(bytes)
}

/// A spinner on stderr while a long call runs (hidden when stderr is not a terminal).
fn spinner(message: &'static str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
