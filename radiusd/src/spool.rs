//! The accounting spool: where acknowledged records wait while PostgreSQL is unreachable.
//!
//! One file per writer, JSON lines of [`Record`], appended and fsynced before the
//! Accounting-Responses go out, so a record survives kill -9 and power loss once its NAS
//! has its answer. A writer's spool is the open segment of its journal (`journal.rs`),
//! which seals, replays and removes it; replaying a record twice (a crash during replay)
//! is harmless because the store's writes are idempotent.
//!
//! A crash in the middle of an append can leave a torn last line. Its records were never
//! acknowledged (the fsync had not returned), so the NAS still retries them: opening the
//! file cuts the torn tail off, and a failed append is cut off the same way, so the next
//! record always starts on a line of its own.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::acct::Record;

/// One writer's spool file.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    file: File,
    /// Records in the file (read at open, counted on append).
    len: u64,
    /// Octets in the file.
    size: u64,
}

impl Spool {
    /// Opens (creating) `dir/name`, counting the records already in it.
    pub(crate) fn open(dir: &Path, name: &str) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        let content = std::fs::read(&path)?;
        // Everything after the last newline is a torn append that was never acknowledged.
        let size = content
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if size < content.len() {
            tracing::warn!(path = %path.display(), octets = content.len() - size, "cutting off a torn spool write (never acknowledged)");
            file.set_len(size as u64)?;
            file.sync_all()?;
        }
        let mut spool = Spool {
            path,
            file,
            len: 0,
            size: size as u64,
        };
        spool.len = spool.read_all()?.len() as u64;
        Ok(spool)
    }

    /// Records waiting.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's path, for logs.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` and waits until they are on disk.
    pub(crate) fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(records.len() * 256);
        for r in records {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
            out.push(b'\n');
        }
        if let Err(e) = self
            .file
            .write_all(&out)
            .and_then(|()| self.file.sync_data())
        {
            // Not acknowledged; leave no partial line for the next append to join.
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        self.len += records.len() as u64;
        self.size += out.len() as u64;
        Ok(())
    }

    /// Every record in the file, oldest first; see [`read_records`].
    pub(crate) fn read_all(&self) -> std::io::Result<Vec<Record>> {
        read_records(&self.path)
    }
}

/// Every record in the spool file at `path`, oldest first; torn or unreadable lines are
/// skipped and logged.
pub(crate) fn read_records(path: &Path) -> std::io::Result<Vec<Record>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = Vec::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(r) => records.push(r),
            Err(e) => tracing::warn!(
                path = %path.display(),
                line = n + 1,
                error = %e,
                "skipping an unreadable spool line (a torn write from a crash is never acknowledged)"
            ),
        }
    }
    Ok(records)
}

#[cfg(test)]
impl Spool {
    /// A spool whose appends go to `file` (/dev/full: a full disk).
    pub(crate) fn on(path: PathBuf, file: File) -> Spool {
        Spool {
            path,
            file,
            len: 0,
            size: 0,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proisp_model::{AcctRecord, AcctStatus};

    use super::*;

    pub(crate) fn record(n: u64) -> Record {
        let record = AcctRecord {
            status: AcctStatus::InterimUpdate,
            nas_id: 1,
            acct_session_id: format!("s{n}"),
            username: "u".into(),
            upload_octets: n,
            download_octets: n << 33,
            session_time_secs: 60,
            received_at_ms: 1_800_000_000_000,
            delay_secs: 0,
            framed_ip: None,
            calling_station_id: None,
            nas_port_id: None,
            terminate_cause: None,
        };
        Record {
            record,
            event_timestamp: n.is_multiple_of(2).then_some(1_800_000_000),
        }
    }

    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("radiusd-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appended_records_survive_reopening_and_a_torn_tail_is_skipped() {
        let dir = temp_dir("torn");
        let mut spool = Spool::open(&dir, "w0.jsonl").unwrap();
        spool.append(&[record(1), record(2)]).unwrap();
        spool.append(&[record(3)]).unwrap();
        drop(spool);
        // A crash in the middle of the next append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("w0.jsonl"))
            .unwrap();
        f.write_all(b"{\"status\":\"sto").unwrap();
        let mut spool = Spool::open(&dir, "w0.jsonl").unwrap();
        assert_eq!(spool.len(), 3);
        spool.append(&[record(4)]).unwrap();
        let read = spool.read_all().unwrap();
        assert_eq!(read, vec![record(1), record(2), record(3), record(4)]);
        assert_eq!(Spool::open(&dir, "w0.jsonl").unwrap().len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_spooled_before_event_timestamps_were_kept_replay() {
        let dir = temp_dir("old-lines");
        std::fs::create_dir_all(&dir).unwrap();
        let old = r#"{"status":"start","nas_id":1,"acct_session_id":"s1","username":"u","upload_octets":0,"download_octets":0,"session_time_secs":0,"received_at_ms":1800000000000,"delay_secs":3,"framed_ip":"100.64.0.9","calling_station_id":null,"nas_port_id":null,"terminate_cause":null}"#;
        std::fs::write(dir.join("w0.jsonl"), format!("{old}\n")).unwrap();
        let mut spool = Spool::open(&dir, "w0.jsonl").unwrap();
        spool.append(&[record(1), record(2)]).unwrap();
        let read = spool.read_all().unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].event_timestamp, None);
        assert_eq!(read[0].record.delay_secs, 3);
        assert_eq!(
            read[0].record.framed_ip,
            Some(std::net::Ipv4Addr::new(100, 64, 0, 9))
        );
        assert_eq!(read[1..], [record(1), record(2)]);
        let lines = std::fs::read_to_string(dir.join("w0.jsonl")).unwrap();
        assert!(lines.contains("\"event_timestamp\":1800000000"), "{lines}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
