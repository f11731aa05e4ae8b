//! `alliance-hub init`: creates a hub's data directory (layout in [`crate::config`]).
//!
//! Init either completes or leaves nothing behind: it checks everything it can before it writes
//! (the addresses, the operator's TLS files), and if a step fails midway it removes what it
//! created, so that running it again after fixing the cause works. `hub.toml` is written last,
//! so a directory with a `hub.toml` is a complete hub.
//!
//! The public address, when not given, is derived from the listen address: a specific address
//! (`127.0.0.1:7443`, `hub.example.org:7443`) is used as it is; an unspecified one (`0.0.0.0:P`,
//! `[::]:P`) becomes this machine's host name with the same port (`localhost:P` when the host
//! name cannot be read). Nodes must be able to reach that name, and a generated server
//! certificate is issued for it, so an operator behind NAT or DNS aliases passes
//! `--public-addr`.

use std::fmt;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use alliance_daemon::{files, tls};
use alliance_envelope::SigningKey;
use alliance_store::HubStore;

use crate::cli::InitArgs;
use crate::config::{
    ADMIN_SOCKET, CONFIG_FILE, DB_DIR, HubConfig, KEY_FILE, KeySettings, Limits, StoreSettings,
    TlsFiles,
};

/// The TLS directory inside the data directory, and the files in it.
const TLS_DIR: &str = "tls";
const CA_CERT: &str = "tls/ca.pem";
const CA_KEY: &str = "tls/ca.key";
const SERVER_CERT: &str = "tls/server.pem";
const SERVER_KEY: &str = "tls/server.key";

/// The names init creates: if any already exists, the directory holds (part of) a hub.
const HUB_ENTRIES: [&str; 5] = [CONFIG_FILE, DB_DIR, KEY_FILE, TLS_DIR, ADMIN_SOCKET];

/// The host name used in a derived public address when the machine's cannot be read.
const FALLBACK_HOST: &str = "localhost";

/// What init created, for the operator (and for `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct InitSummary {
    pub data_dir: PathBuf,
    /// The fingerprint of the hub's signing key, as join codes carry it.
    pub hub_key_fingerprint: String,
    /// The SHA-256 fingerprint of the CA certificate, as join codes carry it.
    pub ca_fingerprint: String,
    pub listen: String,
    pub public_address: String,
    /// Whether init generated the CA and server certificate (else the operator's were copied).
    pub generated_tls: bool,
}

/// Creates the hub's data directory; see the module documentation.
pub fn init(args: &InitArgs) -> anyhow::Result<InitSummary> {
    let dir = args.show.data.data.as_path();
    refuse_existing_hub(dir)?;
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address such as 0.0.0.0:7443",
            args.listen
        )
    })?;
    let public = match &args.public_addr {
        Some(given) => {
            PublicAddress::parse(given).with_context(|| format!("--public-addr {given:?}"))?
        }
        None => PublicAddress::derive(listen)?,
    };
    // The operator's files are read and checked before anything is written.
    let tls_material = match (&args.tls_cert, &args.tls_key, &args.tls_ca) {
        (Some(cert), Some(key), Some(ca)) => TlsMaterial::operator(cert, key, ca)?,
        (None, None, None) => TlsMaterial::generate(&public, listen)?,
        _ => bail!("--tls-cert, --tls-key and --tls-ca must be given together"),
    };

    let mut undo = Undo::begin(dir)?;
    let summary = create(dir, &mut undo, &args.listen, &public, &tls_material)?;
    undo.commit();
    Ok(summary)
}

/// Refuses a directory that already holds a hub, or part of one, saying which file shows it.
fn refuse_existing_hub(dir: &Path) -> anyhow::Result<()> {
    for name in HUB_ENTRIES {
        let path = dir.join(name);
        // symlink_metadata: a dangling symlink is in the way too.
        if fs::symlink_metadata(&path).is_ok() {
            let what = if name == CONFIG_FILE || name == DB_DIR {
                "already holds a hub"
            } else {
                "already holds part of a hub"
            };
            bail!(
                "{} {what} ({} exists); init changed nothing. Use another directory, or remove \
                 this one to start over",
                dir.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Everything that writes, in order; `undo` learns of each thing as it is created.
fn create(
    dir: &Path,
    undo: &mut Undo,
    listen: &str,
    public: &PublicAddress,
    tls_material: &TlsMaterial,
) -> anyhow::Result<InitSummary> {
    let key = SigningKey::generate();
    let key_path = dir.join(KEY_FILE);
    undo.created(&key_path);
    files::write_private_file(&key_path, &key.to_seed())
        .with_context(|| format!("writing the hub's signing key to {}", key_path.display()))?;

    let tls_dir = dir.join(TLS_DIR);
    undo.created(&tls_dir);
    files::create_private_dir(&tls_dir)
        .with_context(|| format!("creating {}", tls_dir.display()))?;
    tls_material.write(dir)?;
    // Checked again as written, which also gives the CA fingerprint.
    let identity = tls::load_server_identity(
        &dir.join(SERVER_CERT),
        &dir.join(SERVER_KEY),
        &dir.join(CA_CERT),
    )
    .context("checking the TLS files written")?;

    let config = HubConfig {
        listen: listen.to_owned(),
        public_address: public.to_string(),
        tls: TlsFiles {
            cert: SERVER_CERT.into(),
            key: SERVER_KEY.into(),
            ca: CA_CERT.into(),
        },
        limits: Limits::default(),
        store: StoreSettings::default(),
        keys: KeySettings::default(),
    };

    let db = dir.join(DB_DIR);
    undo.created(&db);
    let store = HubStore::create(&db, config.store.cache_capacity_bytes)
        .with_context(|| format!("creating the database in {}", db.display()))?;
    store
        .flush()
        .with_context(|| format!("flushing the new database in {}", db.display()))?;
    drop(store);

    // Last: a hub.toml means a complete hub.
    let config_path = dir.join(CONFIG_FILE);
    let text = format!(
        "# The hub's configuration, written by `alliance-hub init`.\n\
         # Paths are relative to this directory unless absolute.\n\n{}",
        toml::to_string_pretty(&config).context("encoding hub.toml")?
    );
    undo.created(&config_path);
    files::write_public_file(&config_path, text.as_bytes())
        .with_context(|| format!("writing {}", config_path.display()))?;

    Ok(InitSummary {
        data_dir: dir.to_owned(),
        hub_key_fingerprint: alliance_envelope::fingerprint(&key.public_key()),
        ca_fingerprint: hex::encode(identity.ca_fingerprint()),
        listen: config.listen,
        public_address: config.public_address,
        generated_tls: matches!(tls_material, TlsMaterial::Generated(_)),
    })
}

/// Where nodes reach the hub: a host (DNS name or IP address) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PublicAddress {
    host: String,
    port: u16,
}

impl PublicAddress {
    /// Parses `host:port` or `[v6]:port`. Port 0 is refused: a join code must name the port.
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (host, port) = alliance_daemon::client::split_host_port(text)?;
        if port == 0 {
            bail!("{text:?}: port 0 cannot go into join codes; give the port nodes connect to");
        }
        Ok(PublicAddress {
            host: host.to_owned(),
            port,
        })
    }

    /// The public address when none is given; see the module documentation.
    fn derive(listen: SocketAddr) -> anyhow::Result<Self> {
        if listen.port() == 0 {
            bail!(
                "--listen {listen} has port 0, so no public address can be derived from it; \
                 give --public-addr HOST:PORT"
            );
        }
        let host = if listen.ip().is_unspecified() {
            host_name().unwrap_or_else(|| FALLBACK_HOST.to_owned())
        } else {
            listen.ip().to_string()
        };
        Ok(PublicAddress {
            host,
            port: listen.port(),
        })
    }
}

impl fmt::Display for PublicAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// This machine's host name, as the kernel knows it (Linux), without a libc call.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

/// The TLS files to write into `DIR/tls`.
enum TlsMaterial {
    Generated(tls::GeneratedTls),
    /// The operator's PEM files, already checked: server chain, its key, the issuing CA.
    Operator {
        cert: Vec<u8>,
        key: Vec<u8>,
        ca: Vec<u8>,
    },
}

impl TlsMaterial {
    /// A new CA and a server certificate for the public host (and for the listen address,
    /// when that is a specific other one, so local clients can dial it too).
    fn generate(public: &PublicAddress, listen: SocketAddr) -> anyhow::Result<Self> {
        let mut hosts = vec![public.host.clone()];
        let listen_ip = listen.ip();
        if !listen_ip.is_unspecified() && public.host.parse::<IpAddr>().ok() != Some(listen_ip) {
            hosts.push(listen_ip.to_string());
        }
        let generated = tls::generate(&format!("alliance hub {}", public.host), &hosts)
            .context("generating the hub's CA and server certificate")?;
        Ok(TlsMaterial::Generated(generated))
    }

    /// Checks the operator's files (the certificate chains to the CA, the key is its key) and
    /// reads them, so that what is copied is what was checked.
    fn operator(cert: &Path, key: &Path, ca: &Path) -> anyhow::Result<Self> {
        tls::load_server_identity(cert, key, ca)
            .context("checking --tls-cert/--tls-key/--tls-ca")?;
        let read =
            |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
        Ok(TlsMaterial::Operator {
            cert: read(cert)?,
            key: read(key)?,
            ca: read(ca)?,
        })
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        match self {
            TlsMaterial::Generated(g) => {
                write_tls_file(dir, SERVER_CERT, g.server_cert_pem.as_bytes(), false)?;
                write_tls_file(dir, SERVER_KEY, g.server_key_pem.as_bytes(), true)?;
                write_tls_file(dir, CA_CERT, g.ca_cert_pem.as_bytes(), false)?;
                write_tls_file(dir, CA_KEY, g.ca_key_pem.as_bytes(), true)
            }
            TlsMaterial::Operator { cert, key, ca } => {
                write_tls_file(dir, SERVER_CERT, cert, false)?;
                write_tls_file(dir, SERVER_KEY, key, true)?;
                write_tls_file(dir, CA_CERT, ca, false)
            }
        }
    }
}

/// Writes one TLS file; keys mode 0600 from the start, certificates 0644.
fn write_tls_file(dir: &Path, name: &str, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let path = dir.join(name);
    let written = if private {
        files::write_private_file(&path, bytes)
    } else {
        files::write_public_file(&path, bytes)
    };
    written.with_context(|| format!("writing {}", path.display()))
}

/// Removes what init created unless [`Undo::commit`] is called: the data directory itself when
/// init created it (with any parents it had to create), else each entry init created in it.
struct Undo {
    dir: PathBuf,
    /// The outermost directory init created, if it created the data directory.
    created_dir: Option<PathBuf>,
    /// The directory's mode before init made it 0700, when it already existed.
    previous_mode: Option<u32>,
    entries: Vec<PathBuf>,
    committed: bool,
}

impl Undo {
    /// Creates the data directory (mode 0700), or makes an existing one 0700: it holds the
    /// hub's keys.
    fn begin(dir: &Path) -> anyhow::Result<Self> {
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let previous = meta.permissions().mode() & 0o7777;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("making {} private (mode 0700)", dir.display()))?;
                Ok(Undo {
                    dir: dir.to_owned(),
                    created_dir: None,
                    previous_mode: Some(previous),
                    entries: Vec::new(),
                    committed: false,
                })
            }
            Ok(_) => bail!("{} exists and is not a directory", dir.display()),
            Err(_) => {
                let mut outermost = dir;
                while let Some(parent) = outermost.parent() {
                    if parent.as_os_str().is_empty() || parent.exists() {
                        break;
                    }
                    outermost = parent;
                }
                let outermost = outermost.to_owned();
                files::create_private_dir(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Ok(Undo {
                    dir: dir.to_owned(),
                    created_dir: Some(outermost),
                    previous_mode: None,
                    entries: Vec::new(),
                    committed: false,
                })
            }
        }
    }

    /// Notes an entry about to be created (before, so that a partial write is removed too).
    fn created(&mut self, path: &Path) {
        self.entries.push(path.to_owned());
    }

    fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Best effort: the error that made init fail is what the operator needs to see.
        if let Some(outermost) = &self.created_dir {
            let _ = fs::remove_dir_all(outermost);
            return;
        }
        for entry in self.entries.iter().rev() {
            let _ = match fs::symlink_metadata(entry) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(entry),
                Ok(_) => fs::remove_file(entry),
                Err(_) => Ok(()),
            };
        }
        if let Some(mode) = self.previous_mode {
            let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(mode));
        }
    }
}

impl fmt::Display for InitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.data_dir.display();
        writeln!(f, "Initialised the hub in {dir}")?;
        writeln!(f, "  hub key fingerprint: {}", self.hub_key_fingerprint)?;
        writeln!(f, "  CA fingerprint:      {}", self.ca_fingerprint)?;
        writeln!(
            f,
            "  TLS:                 {}",
            if self.generated_tls {
                "CA and server certificate generated"
            } else {
                "the operator's certificate, key and CA"
            }
        )?;
        writeln!(f, "  listen:              {}", self.listen)?;
        writeln!(
            f,
            "  public address:      {} (goes into join codes)",
            self.public_address
        )?;
        writeln!(f)?;
        writeln!(f, "Next: alliance-hub serve --data {dir}")?;
        write!(
            f,
            "then register organisations: alliance-hub org add --data {dir} --id ID --name NAME --kind KIND ..."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_parse_and_print_back() {
        for text in ["hub.example.org:7443", "10.0.0.1:443", "[2001:db8::1]:7443"] {
            let parsed = PublicAddress::parse(text).expect(text);
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            PublicAddress::parse("[::1]:7443").map(|a| a.host).ok(),
            Some("::1".to_owned())
        );
        for bad in [
            "hub",
            "hub:",
            ":7443",
            "hub:0",
            "hub:99999",
            "::1:7443",
            "[::1:7443",
        ] {
            assert!(PublicAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_public_address_is_derived_from_the_listen_address() {
        let specific = PublicAddress::derive("127.0.0.1:7443".parse().expect("address"));
        assert_eq!(
            specific.map(|a| a.to_string()).ok().as_deref(),
            Some("127.0.0.1:7443")
        );
        let unspecified =
            PublicAddress::derive("0.0.0.0:7443".parse().expect("address")).expect("derived");
        assert_eq!(unspecified.port, 7443);
        assert!(!unspecified.host.is_empty() && unspecified.host != "0.0.0.0");
        assert!(PublicAddress::derive("127.0.0.1:0".parse().expect("address")).is_err());
    }

    #[test]
    fn a_failed_init_removes_the_directories_it_created() {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("a/b/hub");
        let mut undo = Undo::begin(&dir).expect("begin");
        let key = dir.join(KEY_FILE);
        undo.created(&key);
        fs::write(&key, b"seed").expect("write");
        drop(undo);
        assert!(!root.path().join("a").exists());
    }

    #[test]
    fn a_failed_init_in_an_existing_directory_removes_only_its_entries() {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("hub");
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).expect("chmod");
        fs::write(dir.join("operator-notes.txt"), b"mine").expect("write");
        let mut undo = Undo::begin(&dir).expect("begin");
        let tls = dir.join(TLS_DIR);
        undo.created(&tls);
        fs::create_dir(&tls).expect("mkdir");
        fs::write(tls.join("ca.pem"), b"pem").expect("write");
        drop(undo);
        assert!(!tls.exists());
        assert!(dir.join("operator-notes.txt").exists());
        let mode = fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
    }

    #[test]
    fn a_committed_init_keeps_everything() {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("hub");
        let mut undo = Undo::begin(&dir).expect("begin");
        undo.created(&dir.join(KEY_FILE));
        fs::write(dir.join(KEY_FILE), b"seed").expect("write");
        undo.commit();
        assert!(dir.join(KEY_FILE).exists());
    }
}
