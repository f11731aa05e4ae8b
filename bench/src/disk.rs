//! Where the hub under test keeps its data: a fresh directory on a real disk, and a hub
//! initialised in it.
//!
//! The hub answers only after a flush, so ingest throughput is bounded by how fast the disk
//! makes writes durable. On tmpfs a flush costs nothing and the figures would flatter the hub,
//! so a directory on tmpfs (or ramfs) is refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alliance_hub::cli::{DataArgs, InitArgs, ShowArgs};
use alliance_hub::hub::Hub;
use anyhow::{Context, Result, bail};

/// A benchmark's run directory: fresh, under `dir` or else `target/bench-tmp` in the
/// workspace, on a real disk; with the mount point and type of the file system it is on.
pub struct RunDir {
    pub dir: tempfile::TempDir,
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// Initialises a hub in `data` whose join codes name `public_addr`, with the default settings
/// and a generated TLS identity, and opens it.
pub fn init_hub(data: &Path, public_addr: &str) -> Result<Arc<Hub>> {
    alliance_hub::init::init(&InitArgs {
        show: ShowArgs {
            data: DataArgs {
                data: data.to_owned(),
            },
            json: false,
        },
        listen: "127.0.0.1:0".into(),
        public_addr: Some(public_addr.to_owned()),
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    })
    .with_context(|| format!("initialising the hub's data directory {}", data.display()))?;
    let hub = Hub::open(data).with_context(|| format!("opening the hub at {}", data.display()))?;
    Ok(Arc::new(hub))
}

/// The run directory of a benchmark given `--dir` (or not); see [`RunDir`].
pub fn run_dir(dir: Option<&Path>) -> Result<RunDir> {
    let workspace = workspace()?;
    let parent = dir.map_or_else(|| workspace.join("target/bench-tmp"), Path::to_path_buf);
    let parent =
        std::path::absolute(&parent).with_context(|| format!("resolving {}", parent.display()))?;
    let dir = fresh_dir(&parent)?;
    let (mount_point, fs_type) = filesystem_of(dir.path())?;
    Ok(RunDir {
        dir,
        mount_point,
        fs_type,
    })
}

/// The workspace's root directory.
pub fn workspace() -> Result<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lies in the workspace")
}

/// A fresh directory under `parent` (created if needed), removed when dropped. Refused before
/// anything is created if `parent` is, or would be, on a file system in memory.
pub fn fresh_dir(parent: &Path) -> Result<tempfile::TempDir> {
    // `parent` may not exist yet: what it will be on is what its nearest existing ancestor is on.
    let existing = parent
        .ancestors()
        .find(|a| a.exists())
        .with_context(|| format!("no part of {} exists", parent.display()))?;
    let (mount_point, fs_type) = filesystem_of(existing)?;
    if MEMORY_FILESYSTEMS.contains(&fs_type.as_str()) {
        bail!(
            "{} is on {fs_type} (mounted at {}): flushes cost nothing there, so ingest \
             figures would mean nothing; pass --dir on a real disk",
            parent.display(),
            mount_point.display()
        );
    }
    std::fs::create_dir_all(parent)
        .with_context(|| format!("creating the benchmark directory {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a run directory in {}", parent.display()))
}

/// The average time to make a small write durable in `dir` (4 KiB written, then `fdatasync`),
/// over `rounds` rounds: the floor under every acknowledgement the hub gives, which group commit
/// shares between the calls in flight.
pub fn flush_latency(dir: &Path, rounds: u32) -> Result<Duration> {
    let path = dir.join("flush-probe");
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    for _ in 0..rounds.max(1) {
        file.write_all(&block)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing and syncing {}", path.display()))?;
    }
    let took = start.elapsed() / rounds.max(1);
    drop(file);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(took)
}

/// The mount point and file system type of the file system holding `path`, from
/// `/proc/mounts`: the longest mount point that contains the path.
pub fn filesystem_of(path: &Path) -> Result<(PathBuf, String)> {
    let path = path
        .canonicalize()
        .with_context(|| format!("resolving {}", path.display()))?;
    let mounts =
        std::fs::read_to_string("/proc/mounts").context("reading /proc/mounts to find the disk")?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount_point = PathBuf::from(unescape(fields.next()?));
            let fs_type = fields.next()?.to_owned();
            Some((mount_point, fs_type))
        })
        .filter(|(mount_point, _)| path.starts_with(mount_point))
        // Later lines win at equal length: they are mounted over the earlier ones.
        .fold(
            None,
            |best: Option<(PathBuf, String)>, candidate| match best {
                Some(b) if b.0.as_os_str().len() > candidate.0.as_os_str().len() => Some(b),
                _ => Some(candidate),
            },
        )
        .with_context(|| format!("no mount in /proc/mounts holds {}", path.display()))
}

/// File systems that live in memory.
const MEMORY_FILESYSTEMS: &[&str] = &["tmpfs", "ramfs"];

/// `/proc/mounts` writes space, tab, newline and backslash in paths as three octal digits.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\'
                && (b'0'..=b'3').contains(&d[0])
                && d.iter().all(|b| (b'0'..=b'7').contains(b))
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes_are_read() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"/a\\b"), r"/a\\b");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
    }

    #[test]
    fn the_root_is_found() {
        let (mount_point, fs_type) = filesystem_of(Path::new("/")).expect("/ is mounted");
        assert_eq!(mount_point, Path::new("/"));
        assert!(!fs_type.is_empty());
    }
}
