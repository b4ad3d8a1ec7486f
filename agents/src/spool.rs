//! The spool: reports waiting for delivery, on disk, oldest first.
//!
//! A report is written atomically (temporary file, fsync, rename, fsync of the directory) before any delivery
//! is tried, so a kill at any moment loses nothing: either the old state or the new one is on disk. The spool
//! is bounded by count and bytes; when a new report does not fit, the oldest ones are dropped, logged and
//! counted. Reports the server refused for good are moved aside to `rejected/`, never retried.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many refused reports are kept for inspection.
const KEEP_REJECTED: usize = 20;

#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError {
        path: path.to_owned(),
        source,
    }
}

/// One spooled report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub bytes: u64,
}

impl Entry {
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct Spool {
    pending: PathBuf,
    rejected: PathBuf,
    max_reports: usize,
    max_bytes: u64,
}

impl Spool {
    /// Opens (creating) the spool and clears temporary files a kill left behind.
    pub fn open(dir: &Path, max_reports: usize, max_bytes: u64) -> Result<Self, SpoolError> {
        let pending = dir.join("pending");
        let rejected = dir.join("rejected");
        for path in [&pending, &rejected] {
            fs::create_dir_all(path).map_err(io_error(path))?;
        }
        for entry in fs::read_dir(&pending)
            .map_err(io_error(&pending))?
            .filter_map(Result::ok)
        {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Spool {
            pending,
            rejected,
            max_reports: max_reports.max(1),
            max_bytes,
        })
    }

    /// Spooled reports, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let mut entries: Vec<Entry> = fs::read_dir(&self.pending)
            .map_err(io_error(&self.pending))?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|entry| {
                let bytes = entry.metadata().ok()?.len();
                Some(Entry {
                    path: entry.path(),
                    bytes,
                })
            })
            .collect();
        // Names start with the spooling time in zero-padded nanoseconds: name order is age order.
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    pub fn depth(&self) -> usize {
        self.entries().map_or(0, |entries| entries.len())
    }

    /// Writes a report durably. Returns the entries dropped to make room, oldest first.
    pub fn put(&self, scan_id: &str, report: &[u8]) -> Result<Vec<Entry>, SpoolError> {
        let mut entries = self.entries()?;
        let mut dropped = Vec::new();
        let incoming = report.len() as u64;
        while !entries.is_empty()
            && (entries.len() + 1 > self.max_reports
                || entries.iter().map(|entry| entry.bytes).sum::<u64>() + incoming > self.max_bytes)
        {
            let oldest = entries.remove(0);
            fs::remove_file(&oldest.path).map_err(io_error(&oldest.path))?;
            dropped.push(oldest);
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |age| age.as_nanos());
        let name = format!("{nanos:020}-{scan_id}.json");
        let final_path = self.pending.join(&name);
        let temporary = self.pending.join(format!("{name}.tmp"));
        let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(report).map_err(io_error(&temporary))?;
        file.sync_all().map_err(io_error(&temporary))?;
        drop(file);
        fs::rename(&temporary, &final_path).map_err(io_error(&final_path))?;
        sync_dir(&self.pending)?;
        Ok(dropped)
    }

    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>, SpoolError> {
        fs::read(&entry.path).map_err(io_error(&entry.path))
    }

    /// Forgets a delivered report.
    pub fn remove(&self, entry: &Entry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Ok(()) => sync_dir(&self.pending),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_error(&entry.path)(err)),
        }
    }

    /// Moves a report the server refused for good out of the way, keeping the latest few for inspection.
    pub fn reject(&self, entry: &Entry) -> Result<PathBuf, SpoolError> {
        let target = self.rejected.join(entry.name());
        fs::rename(&entry.path, &target).map_err(io_error(&target))?;
        sync_dir(&self.pending)?;
        let mut kept: Vec<PathBuf> = fs::read_dir(&self.rejected)
            .map_err(io_error(&self.rejected))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        kept.sort();
        while kept.len() > KEEP_REJECTED {
            let _ = fs::remove_file(kept.remove(0));
        }
        Ok(target)
    }
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_come_back_oldest_first_and_the_bound_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 3, 1_000_000).unwrap();
        for id in ["a", "b", "c"] {
            assert!(spool.put(id, id.as_bytes()).unwrap().is_empty());
        }
        let dropped = spool.put("d", b"d").unwrap();
        assert_eq!(dropped.len(), 1);
        assert!(dropped[0].name().ends_with("-a.json"));
        let names: Vec<String> = spool.entries().unwrap().iter().map(Entry::name).collect();
        assert!(
            names[0].ends_with("-b.json") && names[2].ends_with("-d.json"),
            "{names:?}"
        );
    }

    #[test]
    fn the_byte_bound_holds() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100, 250).unwrap();
        for id in 0..5 {
            spool.put(&id.to_string(), &[b'x'; 100]).unwrap();
        }
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().map(|e| e.bytes).sum::<u64>() <= 250);
    }

    #[test]
    fn leftovers_of_an_interrupted_write_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 10, 1_000).unwrap();
        spool.put("a", b"{}").unwrap();
        fs::write(
            dir.path().join("pending/00000000000000000001-x.json.tmp"),
            b"half",
        )
        .unwrap();
        let reopened = Spool::open(dir.path(), 10, 1_000).unwrap();
        assert_eq!(reopened.entries().unwrap().len(), 1);
        assert!(
            !dir.path()
                .join("pending/00000000000000000001-x.json.tmp")
                .exists()
        );
    }
}
