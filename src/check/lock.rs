//! One writer per output file. Two runs writing one `-o`/`--resume` file (a Slurm task that
//! was cancelled but still finishes its checks in flight, while the same task submitted again
//! appends; a pod evicted and restarted on a shared volume) duplicate rows and splice one into
//! another. So the set-up locks the file exclusively (an advisory `flock`, through `fs4`) before
//! `--resume` reads it, and hands the locked handle to the writer, which holds it until the last
//! row is flushed. The kernel drops the lock when the process ends, however it ends, so a crashed
//! run never leaves a stale lock. Only regular files are locked: `/dev/null` and pipes are not
//! anyone's results. On NFS, see docs/resume.md.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// `--lock-wait`'s default: longer than a stopped run takes to finish its checks in flight
/// (one `--timeout`, 5 s by default) and flush.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting run tries the lock again (one `flock` call each).
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// An output file that this process alone writes, until it is dropped (by the writer, after its
/// last flush). If the set-up fails before the writer takes it, a file that this run created
/// goes again, so a refused run leaves nothing behind.
#[derive(Debug)]
pub struct LockedOutput {
    /// `None` once the writer took it.
    file: Option<File>,
    path: PathBuf,
    /// Created by this run and still empty when locked: removed if the writer never takes it.
    created: bool,
}

impl LockedOutput {
    /// Open the output at `path` (creating it) and lock it, waiting up to `wait` while another
    /// process holds the lock, or until `stop` (Ctrl-C). `None` when `path` is not a regular
    /// file (a device, a pipe): those are opened by the writer as before, unlocked.
    pub async fn acquire(path: &Path, wait: Duration, stop: &CancellationToken) -> Result<Option<Self>> {
        let failed = |source| Error::Output {
            path: path.to_path_buf(),
            source,
        };
        let deadline = Instant::now() + wait;
        let mut waiting_since: Option<Instant> = None;
        let mut holder = None;
        loop {
            let Some((file, created)) = open(path).map_err(failed)? else {
                return Ok(None);
            };
            match FileExt::try_lock(&file) {
                // Whoever held it may have removed or replaced the file meanwhile: lock the file
                // that the path names now.
                Ok(()) if !still_at(path, &file) => continue,
                Ok(()) => {
                    if let Some(since) = waiting_since {
                        tracing::info!(
                            "{}: the other healthcheck is done; going on after {:.1} s",
                            path.display(),
                            since.elapsed().as_secs_f64()
                        );
                    }
                    let created = created && file.metadata().map_err(failed)?.len() == 0;
                    return Ok(Some(LockedOutput {
                        file: Some(file),
                        path: path.to_path_buf(),
                        created,
                    }));
                }
                // A file system without locks (an NFS mount without a lock daemon): a warning
                // rather than a tool that cannot write there at all.
                Err(TryLockError::Error(e)) if unsupported(&e) => {
                    tracing::warn!(
                        "cannot lock {} ({e}): nothing keeps a second healthcheck from writing it at the same time",
                        path.display()
                    );
                    return Ok(Some(LockedOutput {
                        file: Some(file),
                        path: path.to_path_buf(),
                        created: false,
                    }));
                }
                Err(TryLockError::Error(e)) => return Err(failed(e)),
                Err(TryLockError::WouldBlock) => {}
            }
            let now = Instant::now();
            if waiting_since.is_none() || now >= deadline {
                holder = holder_of(&file);
            }
            if now >= deadline {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                    holder,
                    waited: wait,
                });
            }
            if waiting_since.is_none() {
                waiting_since = Some(now);
                tracing::warn!(
                    "{} is being written by another healthcheck ({}): waiting for it to finish, \
                     at most {} s (--lock-wait)",
                    path.display(),
                    holder.map_or("pid unknown".to_string(), |pid| format!("pid {pid}")),
                    wait.as_secs_f64()
                );
            }
            tokio::select! {
                _ = stop.cancelled() => return Err(Error::Interrupted { path: path.to_path_buf() }),
                _ = tokio::time::sleep(RETRY_EVERY.min(deadline - now)) => {}
            }
        }
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("held until the writer takes it")
    }

    /// The whole file as it is now, read through the locked handle (on NFS, closing another
    /// handle of the file could drop this one's lock).
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let file = self.file();
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The locked handle, for `--resume`'s edit.
    pub fn handle(&mut self) -> &File {
        self.file()
    }

    /// Hand the file to the writer, still locked: positioned at its end to `append`, emptied
    /// otherwise. Only now, with every input validated, may a fresh `-o` lose its old content.
    pub fn into_writer(mut self, append: bool) -> io::Result<File> {
        let mut file = self.file.take().expect("held until the writer takes it");
        if append {
            file.seek(SeekFrom::End(0))?;
        } else {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(file)
    }
}

impl Drop for LockedOutput {
    fn drop(&mut self) {
        if let (Some(file), true) = (&self.file, self.created) {
            if still_at(&self.path, file) {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Whether a lock failed because the file system has none (ENOLCK, EOPNOTSUPP).
fn unsupported(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if e.raw_os_error() == Some(rustix::io::Errno::NOLCK.raw_os_error()) {
        return true;
    }
    e.kind() == io::ErrorKind::Unsupported
}

/// Open `path` for reading and writing, creating it if missing; `None` when it exists and is not
/// a regular file. Also says whether this call created it.
fn open(path: &Path) -> io::Result<Option<(File, bool)>> {
    loop {
        match fs::metadata(path) {
            Ok(meta) if !meta.is_file() => return Ok(None),
            Ok(_) => match OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => return Ok(Some((file, false))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(path)
                {
                    Ok(file) => return Ok(Some((file, true))),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `path` still names the file open as `file`.
#[cfg(unix)]
fn still_at(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => (named.dev(), named.ino()) == (open.dev(), open.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(path: &Path, _: &File) -> bool {
    path.exists()
}

/// The process holding a lock on `file`, from /proc/locks; `None` where that is not known (the
/// holder is on another NFS client, in another PID namespace, or this is not Linux).
#[cfg(target_os = "linux")]
fn holder_of(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    holder_in(&fs::read_to_string("/proc/locks").ok()?, &id)
}

#[cfg(not(target_os = "linux"))]
fn holder_of(_: &File) -> Option<u32> {
    None
}

/// In /proc/locks' text, the PID of the first lock held (not waited for: `->`) on the file
/// `id` (`MAJOR:MINOR:INODE`, as the kernel prints it). 0 is a holder outside this namespace.
#[cfg_attr(not(target_os = "linux"), allow(dead_code, reason = "Linux only"))]
fn holder_in(locks: &str, id: &str) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 2379 fd:01:1311791 0 EOF`
        match fields.as_slice() {
            [_, kind, _, _, pid, file, ..] if *kind != "->" && *file == id => {
                pid.parse().ok().filter(|&p| p > 0)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_second_lock_waits_then_gives_up_naming_the_holder_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(&path, "url\n").unwrap();
        let rt = runtime();
        let stop = CancellationToken::new();
        let mut first = rt
            .block_on(LockedOutput::acquire(&path, Duration::ZERO, &stop))
            .unwrap()
            .expect("a regular file is locked");
        assert_eq!(first.read_all().unwrap(), b"url\n");
        let started = Instant::now();
        let err = rt
            .block_on(LockedOutput::acquire(&path, Duration::from_millis(300), &stop))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300), "it waited");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "out.csv is being written by another healthcheck (pid {})",
                std::process::id()
            )) || !cfg!(target_os = "linux"),
            "{text}"
        );
        assert_eq!(err.exit(), crate::exit_code::Exit::Usage);
        assert_eq!(fs::read(&path).unwrap(), b"url\n", "nothing changed");
        // The writer holds the lock until it drops the file.
        let writer = first.into_writer(true).unwrap();
        assert!(rt
            .block_on(LockedOutput::acquire(&path, Duration::ZERO, &stop))
            .is_err());
        drop(writer);
        assert!(rt
            .block_on(LockedOutput::acquire(&path, Duration::ZERO, &stop))
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_waiting_run_takes_the_lock_as_soon_as_it_is_released_and_ctrl_c_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let rt = runtime();
        let stop = CancellationToken::new();
        let first = rt
            .block_on(LockedOutput::acquire(&path, Duration::ZERO, &stop))
            .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let second = rt.block_on(LockedOutput::acquire(&path, Duration::from_secs(20), &stop));
        release.join().unwrap();
        let second = second.unwrap().expect("locked once released");
        stop.cancel();
        let err = rt
            .block_on(LockedOutput::acquire(&path, Duration::from_secs(20), &stop))
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");
        drop(second);
    }

    #[test]
    fn a_file_created_for_a_run_that_never_wrote_goes_again_and_an_old_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let stop = CancellationToken::new();
        let fresh = dir.path().join("fresh.csv");
        let locked = rt
            .block_on(LockedOutput::acquire(&fresh, Duration::ZERO, &stop))
            .unwrap();
        assert!(fresh.exists());
        drop(locked);
        assert!(!fresh.exists(), "a refused run leaves no file");
        let old = dir.path().join("old.csv");
        fs::write(&old, "kept").unwrap();
        drop(
            rt.block_on(LockedOutput::acquire(&old, Duration::ZERO, &stop))
                .unwrap(),
        );
        assert_eq!(fs::read(&old).unwrap(), b"kept");
        let written = rt
            .block_on(LockedOutput::acquire(&fresh, Duration::ZERO, &stop))
            .unwrap()
            .unwrap();
        let mut file = written.into_writer(false).unwrap();
        io::Write::write_all(&mut file, b"url\n").unwrap();
        drop(file);
        assert_eq!(fs::read(&fresh).unwrap(), b"url\n", "the writer's file stays");
    }

    #[test]
    fn devices_are_not_locked() {
        let rt = runtime();
        let stop = CancellationToken::new();
        if Path::new("/dev/null").exists() {
            let null = rt.block_on(LockedOutput::acquire(
                Path::new("/dev/null"),
                Duration::ZERO,
                &stop,
            ));
            assert!(null.unwrap().is_none());
        }
    }

    #[test]
    fn the_holder_is_read_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 2379 fd:01:1311791 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 2400 fd:01:1311791 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 99 00:2a:77 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 0 00:2b:5 0 EOF\n";
        assert_eq!(holder_in(locks, "fd:01:1311791"), Some(2379));
        assert_eq!(holder_in(locks, "00:2a:77"), Some(99));
        assert_eq!(holder_in(locks, "00:2b:5"), None, "another namespace");
        assert_eq!(holder_in(locks, "fd:01:1"), None);
    }
}
