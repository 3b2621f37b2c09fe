//! The single-host lease: an OS file lock on `<data-dir>/propbot.lock`, held for the
//! life of the process, plus an epoch that grows at every start (recorded in the
//! journal, see [`crate::journal::Journal::begin_lease`]).
//!
//! While the lock is held this process is the only one that may trade from this data
//! directory; the engine task turns it into `LeaseEvent::Granted` renewals. The lock
//! goes with the process, however it ends (the kernel releases `flock` on exit,
//! including `kill -9`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lock file name inside the data directory.
pub const LOCK_FILE: &str = "propbot.lock";

/// The held lock. Dropping it releases the lease.
#[derive(Debug)]
pub struct FileLease {
    _file: File,
    path: PathBuf,
}

/// Why the lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another process holds it.
    #[error(
        "another PropBot instance is running on data directory {dir} (it holds {lock}{holder}); \
         stop it first, or start this one with a different --data-dir"
    )]
    Held {
        /// Data directory.
        dir: String,
        /// Lock file.
        lock: String,
        /// ", pid N" when the holder wrote its pid.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// Lock file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl FileLease {
    /// Takes the lock without waiting; refuses if another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<FileLease, LeaseError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| LeaseError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .map(|pid| format!(", pid {pid}"))
                    .unwrap_or_default();
                return Err(LeaseError::Held {
                    dir: data_dir.display().to_string(),
                    lock: path.display().to_string(),
                    holder,
                });
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(FileLease { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileLease::acquire(dir.path()).unwrap();
        let err = FileLease::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LeaseError::Held { .. }));
        assert!(
            err.to_string().contains("another PropBot instance"),
            "{err}"
        );
        drop(first);
        FileLease::acquire(dir.path()).unwrap();
    }
}
