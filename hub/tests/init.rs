//! `alliance-hub init`, through the real binary: the data directory's layout and modes, the
//! fingerprints it prints, refusing to run twice, and the operator's own TLS files.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

mod common;

use common::{hub, json, stderr, stdout};

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file and directory under `root` with its mode, size and contents, to show that
/// nothing changed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).expect("metadata");
        let contents = if meta.is_dir() {
            for entry in fs::read_dir(&path).expect("read_dir") {
                pending.push(entry.expect("entry").path());
            }
            Vec::new()
        } else {
            fs::read(&path).expect("read")
        };
        out.insert(path, (meta.permissions().mode(), contents));
    }
    out
}

#[test]
fn init_creates_the_layout_with_private_modes_and_prints_fingerprints() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    let data_str = data.to_str().expect("UTF-8 path");
    let run = hub(&[
        "init",
        "--data",
        data_str,
        "--listen",
        "127.0.0.1:0",
        "--public-addr",
        "hub.example.org:7443",
    ]);
    assert!(run.status.success(), "{run:?}");
    let text = stdout(&run);

    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("hub.key")), 0o600);
    assert_eq!(fs::read(data.join("hub.key")).expect("key").len(), 32);
    assert_eq!(mode(&data.join("tls/server.key")), 0o600);
    assert_eq!(mode(&data.join("tls/ca.key")), 0o600);
    for file in ["hub.toml", "tls/ca.pem", "tls/server.pem"] {
        assert!(data.join(file).is_file(), "no {file}");
    }
    assert!(data.join("db").is_dir());
    assert!(!data.join("admin.sock").exists());

    let config = fs::read_to_string(data.join("hub.toml")).expect("hub.toml");
    assert!(config.contains("listen = \"127.0.0.1:0\""), "{config}");
    assert!(
        config.contains("public_address = \"hub.example.org:7443\""),
        "{config}"
    );

    // The CA fingerprint printed is the SHA-256 of the CA written.
    let ca = alliance_daemon::tls::read_ca_pem(&data.join("tls/ca.pem")).expect("CA");
    let ca_fingerprint = hex::encode(alliance_daemon::tls::fingerprint(&ca));
    assert!(text.contains(&ca_fingerprint), "{text}");
    // And the hub key's fingerprint is that of the key written.
    let seed: [u8; 32] = fs::read(data.join("hub.key"))
        .expect("key")
        .try_into()
        .expect("32 bytes");
    let key = alliance_envelope::SigningKey::from_seed(&seed);
    let key_fingerprint = alliance_envelope::fingerprint(&key.public_key());
    assert!(text.contains(&key_fingerprint), "{text}");
    assert!(
        text.contains(&format!("alliance-hub serve --data {data_str}")),
        "{text}"
    );
}

#[test]
fn init_json_names_the_fingerprints_and_the_derived_public_address() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    let run = hub(&[
        "init",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--listen",
        "127.0.0.1:7443",
        "--json",
    ]);
    assert!(run.status.success(), "{run:?}");
    let summary = json(&run);
    assert_eq!(summary["public_address"], "127.0.0.1:7443");
    assert_eq!(summary["generated_tls"], true);
    assert_eq!(summary["ca_fingerprint"].as_str().map(str::len), Some(64));
    assert_eq!(
        summary["hub_key_fingerprint"].as_str().map(str::len),
        Some(64)
    );
}

#[test]
fn init_twice_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    let data_str = data.to_str().expect("UTF-8 path");
    let first = hub(&["init", "--data", data_str, "--listen", "127.0.0.1:7443"]);
    assert!(first.status.success(), "{first:?}");
    let before = snapshot(&data);

    let second = hub(&["init", "--data", data_str, "--listen", "127.0.0.1:7444"]);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    assert!(
        stderr(&second).contains("already holds a hub"),
        "{second:?}"
    );
    assert!(second.stdout.is_empty());
    assert_eq!(snapshot(&data), before, "the second init changed something");
}

#[test]
fn init_refuses_a_port_0_public_address_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    let run = hub(&[
        "init",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(stderr(&run).contains("--public-addr"), "{run:?}");
    assert!(!data.exists());
}

/// A CA, and a server certificate for localhost issued by it, as PEM files in `dir`.
struct OperatorTls {
    ca_pem: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

fn operator_tls(dir: &Path, name: &str) -> OperatorTls {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");

    let tls = OperatorTls {
        ca_pem: dir.join(format!("{name}-ca.pem")),
        cert_pem: dir.join(format!("{name}-server.pem")),
        key_pem: dir.join(format!("{name}-server.key")),
    };
    fs::write(&tls.ca_pem, ca.pem()).expect("write CA");
    fs::write(&tls.cert_pem, cert.pem()).expect("write certificate");
    fs::write(&tls.key_pem, key.serialize_pem()).expect("write key");
    tls
}

fn init_with(data: &Path, cert: &Path, key: &Path, ca: &Path) -> Output {
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let args = [
        "init".to_owned(),
        "--data".to_owned(),
        path(data),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--public-addr".to_owned(),
        "localhost:7443".to_owned(),
        "--tls-cert".to_owned(),
        path(cert),
        "--tls-key".to_owned(),
        path(key),
        "--tls-ca".to_owned(),
        path(ca),
        "--json".to_owned(),
    ];
    hub(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn init_takes_the_operators_pem_files_and_their_ca() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let tls = operator_tls(dir.path(), "operator");
    let data = dir.path().join("hub");
    let run = init_with(&data, &tls.cert_pem, &tls.key_pem, &tls.ca_pem);
    assert!(run.status.success(), "{run:?}");

    let summary = json(&run);
    assert_eq!(summary["generated_tls"], false);
    let ca = alliance_daemon::tls::read_ca_pem(&tls.ca_pem).expect("CA");
    assert_eq!(
        summary["ca_fingerprint"],
        hex::encode(alliance_daemon::tls::fingerprint(&ca))
    );
    // Copied as given, the key privately; there is no CA key to keep.
    assert_eq!(
        fs::read(data.join("tls/ca.pem")).ok(),
        fs::read(&tls.ca_pem).ok()
    );
    assert_eq!(
        fs::read(data.join("tls/server.pem")).ok(),
        fs::read(&tls.cert_pem).ok()
    );
    assert_eq!(mode(&data.join("tls/server.key")), 0o600);
    assert!(!data.join("tls/ca.key").exists());
}

#[test]
fn init_refuses_a_certificate_not_issued_by_the_given_ca_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let issued = operator_tls(dir.path(), "real");
    let other = operator_tls(dir.path(), "other");
    let data = dir.path().join("hub");
    let run = init_with(&data, &issued.cert_pem, &issued.key_pem, &other.ca_pem);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        stderr(&run).contains("not issued by the CA"),
        "{}",
        stderr(&run)
    );
    assert!(run.stdout.is_empty());
    assert!(!data.exists(), "a refused init must create nothing");

    // A key that is not the certificate's is refused too.
    let run = init_with(&data, &issued.cert_pem, &other.key_pem, &issued.ca_pem);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(stderr(&run).contains("does not belong"), "{}", stderr(&run));
    assert!(!data.exists());
}

#[test]
fn init_in_an_existing_empty_directory_makes_it_private() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("hub");
    fs::create_dir(&data).expect("mkdir");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).expect("chmod");
    let run = hub(&[
        "init",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--listen",
        "127.0.0.1:7443",
    ]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(mode(&data), 0o700);
}
