//! The command line of `alliance-hub` (DESIGN.md §8). Every command takes `--data DIR`; every
//! command that shows something takes `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The ITUC hub of the Global Trade Union Alliance against Forced Labour and Trafficking:
/// verifies signed reports from affiliates and merges them into the alliance-wide view.
#[derive(Debug, Parser)]
#[command(name = "alliance-hub", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory: database, signing key, TLS material and config.
    Init(InitArgs),
    /// Run the hub: gRPC over TLS for ingest and enrollment, admin API on a Unix socket.
    Serve(DataArgs),
    /// Manage the registry of organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Show the alliance-wide view of progress.
    View(ViewArgs),
    /// Show who has and has not reported for a period.
    Coverage(CoverageArgs),
    /// Write the view of a period as CSV, JSON or SDMX-CSV.
    Export(ExportArgs),
    /// Import envelopes carried by hand.
    Import(ImportArgs),
    /// Show admin actions and refusals.
    Audit(ShowArgs),
}

impl Command {
    /// The command's name as typed, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Serve(_) => "serve",
            Command::Org(OrgCommand::Add(_)) => "org add",
            Command::Org(OrgCommand::Import(_)) => "org import",
            Command::Org(OrgCommand::List(_)) => "org list",
            Command::Org(OrgCommand::Show(_)) => "org show",
            Command::Org(OrgCommand::Reissue(_)) => "org reissue",
            Command::Org(OrgCommand::RevokeKey(_)) => "org revoke-key",
            Command::View(_) => "view",
            Command::Coverage(_) => "coverage",
            Command::Export(_) => "export",
            Command::Import(_) => "import",
            Command::Audit(_) => "audit",
        }
    }
}

/// The data directory every command works on.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The hub's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// A data directory and the choice of machine-readable output.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on for ingest and enrollment.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7443")]
    pub listen: String,
    /// Address nodes reach the hub at, written into join codes.
    #[arg(long, value_name = "HOST:PORT")]
    pub public_addr: Option<String>,
    /// The operator's TLS certificate chain (PEM), instead of generating one.
    #[arg(long, value_name = "PEM", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA certificate that issued --tls-cert (PEM); its fingerprint goes into join codes.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation and print its one-time join code.
    Add(OrgAddArgs),
    /// Register many organisations from a CSV file: all rows or none.
    Import(OrgImportArgs),
    /// List the registered organisations.
    List(ShowArgs),
    /// Show one organisation, its keys and its reports.
    Show(OrgIdArgs),
    /// Issue a new join code for an organisation that lost its key.
    Reissue(OrgIdArgs),
    /// Revoke a key at once.
    RevokeKey(RevokeKeyArgs),
}

#[derive(Debug, Args)]
pub struct OrgAddArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Stable organisation id (a-z, 0-9, '-', '_').
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub kind: OrgKindArg,
    /// ISO 3166-1 alpha-2 country code (none for GUFs).
    #[arg(long)]
    pub country: Option<String>,
    /// africa, americas, asia_pacific, europe (GUFs: global).
    #[arg(long)]
    pub region: Option<String>,
    /// Sectors a GUF covers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub sector: Vec<String>,
    /// The relay the organisation reports through.
    #[arg(long, value_name = "RELAY")]
    pub via: Option<String>,
    /// The relay hosts the organisation (holds its key by delegation).
    #[arg(long, requires = "via")]
    pub hosted: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum OrgKindArg {
    NationalCentre,
    RegionalOrganisation,
    Guf,
}

#[derive(Debug, Args)]
pub struct OrgImportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// CSV with a header row: id,name,kind,country,region,sectors,via,hosted.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct OrgIdArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The organisation id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RevokeKeyArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The organisation id.
    pub id: String,
    /// The key id to revoke.
    #[arg(long)]
    pub key: String,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// A period (2009) or a span of periods (2008..2010).
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum, default_value = "alliance")]
    pub by: GroupByArg,
    /// Only this action point.
    #[arg(long, value_name = "A")]
    pub action_point: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupByArg {
    Alliance,
    Region,
    Country,
    Kind,
    Sector,
    Org,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    #[arg(long)]
    pub period: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    SdmxCsv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Envelope files (JSON envelope form or protobuf).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_shapes() {
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace());
        assert!(
            parse("alliance-hub init --data d --listen 127.0.0.1:0 --public-addr hub:7443").is_ok()
        );
        assert!(parse("alliance-hub org add --data d --id cut-brazil --name CUT --kind national_centre --country BR --region americas").is_ok());
        assert!(parse("alliance-hub view --data d --period 2008..2010 --by region --json").is_ok());
        assert!(parse("alliance-hub export --data d --period 2009 --format sdmx-csv").is_ok());
        assert!(
            parse("alliance-hub org add --data d --id x --name X --kind guf --hosted").is_err()
        );
        assert!(parse("alliance-hub init --data d --tls-cert c.pem").is_err());
    }
}
