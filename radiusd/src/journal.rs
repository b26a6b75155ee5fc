//! A writer's accounting journal: its spool cut into segments that are applied and removed
//! one at a time, oldest first.
//!
//! Records are appended (with fsync) to the open segment, `<stem>.jsonl`, the file the
//! spool has always been. A writer that applies the journal to PostgreSQL seals the open
//! segment first — renames it to `<stem>.<seq>.jsonl`, `seq` rising — so appends go on
//! into a fresh file while the sealed one is read, applied and removed. With
//! `acknowledge = "commit"` (DESIGN.md) that happens only while replaying what was
//! spooled during an outage; with `acknowledge = "journal"` every record goes this way.
//!
//! Everything in the directory is unapplied, or applied and not yet removed: a crash
//! between the commit and the removal applies a segment again at the next start, which
//! counts nothing twice (applying the same records in the same order again is idempotent,
//! see `store::session`). Renames and creations are followed by an fsync of the directory
//! so a power loss cannot lose the name of a file whose records were acknowledged.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::acct::Record;
use crate::spool::{self, Spool};

/// A sealed segment, waiting to be applied.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    len: u64,
    /// When its first record was appended (when it was found, for a journal reopened).
    since: Instant,
}

/// One writer's journal.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    stem: String,
    open: Spool,
    /// When the open segment's first record was appended; `None` while it is empty.
    open_since: Option<Instant>,
    sealed: VecDeque<Segment>,
    next_seq: u64,
    /// Records after which an append seals the open segment: segments the size of a
    /// batch are applied, and removed, one commit at a time.
    seal_at: u64,
}

impl Journal {
    /// Opens (creating) the journal `dir/<stem>.*`, whose appends seal the open segment
    /// once it holds `seal_at` records; whatever is in it is sealed, to be applied before
    /// anything appended from now on.
    pub(crate) fn open(dir: &Path, stem: &str, seal_at: u64) -> std::io::Result<Journal> {
        let open = Spool::open(dir, &format!("{stem}.jsonl"))?;
        sync_dir(dir)?;
        let now = Instant::now();
        let mut sealed = Vec::new();
        for (seq, path) in sealed_files(dir, stem)? {
            let len = spool::read_records(&path)?.len() as u64;
            sealed.push(Segment {
                seq,
                path,
                len,
                since: now,
            });
        }
        let next_seq = sealed.last().map_or(1, |s| s.seq + 1);
        let mut journal = Journal {
            dir: dir.to_owned(),
            stem: stem.to_owned(),
            open_since: (!open.is_empty()).then_some(now),
            open,
            sealed: sealed.into(),
            next_seq,
            seal_at: seal_at.max(1),
        };
        journal.seal()?;
        Ok(journal)
    }

    /// Records not yet applied (or applied and not yet removed).
    pub(crate) fn len(&self) -> u64 {
        self.open.len() + self.sealed.iter().map(|s| s.len).sum::<u64>()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The open segment's path, for logs.
    pub(crate) fn path(&self) -> &Path {
        self.open.path()
    }

    /// How long the oldest record waiting has waited; zero when nothing waits.
    pub(crate) fn lag(&self, now: Instant) -> std::time::Duration {
        self.sealed
            .front()
            .map(|s| s.since)
            .or(self.open_since)
            .map_or(std::time::Duration::ZERO, |since| {
                now.saturating_duration_since(since)
            })
    }

    /// Appends `records` to the open segment and waits until they are on disk.
    pub(crate) fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        self.open.append(records)?;
        if self.open_since.is_none() && !records.is_empty() {
            self.open_since = Some(Instant::now());
        }
        if self.open.len() >= self.seal_at {
            // The records are durable already: a failure here only leaves the segment
            // open, to be sealed by the next append or by the writer.
            if let Err(e) = self.seal() {
                tracing::warn!(error = %e, path = %self.open.path().display(), "cannot seal a full journal segment");
            }
        }
        Ok(())
    }

    /// The oldest segment waiting, sealing the open one when no other waits; `None` when
    /// the journal is empty.
    pub(crate) fn oldest(&mut self) -> std::io::Result<Option<Segment>> {
        if self.sealed.is_empty() {
            self.seal()?;
        }
        Ok(self.sealed.front().cloned())
    }

    /// Removes segment `seq` once its records are committed.
    pub(crate) fn applied(&mut self, seq: u64) -> std::io::Result<()> {
        let Some(pos) = self.sealed.iter().position(|s| s.seq == seq) else {
            return Ok(());
        };
        let segment = self.sealed.remove(pos).expect("position found above");
        std::fs::remove_file(&segment.path)?;
        sync_dir(&self.dir)
    }

    /// Moves every record of this journal into `into`, behind what it holds, and removes
    /// this journal's files (a writer that no longer exists: its records are not
    /// stranded). Returns how many records moved.
    pub(crate) fn move_into(mut self, into: &mut Journal) -> std::io::Result<u64> {
        self.seal()?;
        let mut moved = 0;
        for segment in std::mem::take(&mut self.sealed) {
            let records = spool::read_records(&segment.path)?;
            into.append(&records)?;
            moved += records.len() as u64;
            std::fs::remove_file(&segment.path)?;
        }
        std::fs::remove_file(self.open.path())?;
        sync_dir(&self.dir)?;
        Ok(moved)
    }

    /// Renames the open segment to the next sealed one and opens a fresh one.
    fn seal(&mut self) -> std::io::Result<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        let seq = self.next_seq;
        let path = self.dir.join(format!("{}.{seq}.jsonl", self.stem));
        std::fs::rename(self.open.path(), &path)?;
        let open = match Spool::open(&self.dir, &format!("{}.jsonl", self.stem))
            .and_then(|open| sync_dir(&self.dir).map(|()| open))
        {
            Ok(open) => open,
            Err(e) => {
                // A full disk, say: the segment stays open under its name, appends go on
                // into it, and the next seal tries again.
                std::fs::rename(&path, self.open.path())?;
                return Err(e);
            }
        };
        self.sealed.push_back(Segment {
            seq,
            path,
            len: self.open.len(),
            since: self.open_since.take().unwrap_or_else(Instant::now),
        });
        self.open = open;
        self.next_seq += 1;
        Ok(())
    }
}

/// The stems of the journals in `dir` named `<prefix><N>`, with their `N`.
pub(crate) fn stems(dir: &Path, prefix: &str) -> std::io::Result<Vec<(usize, String)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut stems = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(index) = rest.split('.').next().and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let stem = format!("{prefix}{index}");
        if !stems.iter().any(|(_, s)| *s == stem) {
            stems.push((index, stem));
        }
    }
    stems.sort();
    Ok(stems)
}

/// The sealed segments of journal `stem` in `dir`, oldest first.
fn sealed_files(dir: &Path, stem: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix(stem))
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((seq, entry.path()));
    }
    files.sort();
    Ok(files)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
impl Journal {
    /// A journal whose appends go to `open` (a spool on /dev/full: a full disk).
    pub(crate) fn on(open: Spool) -> Journal {
        Journal {
            dir: std::env::temp_dir(),
            stem: "none".into(),
            open,
            open_since: None,
            sealed: VecDeque::new(),
            next_seq: 1,
            seal_at: u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::spool::tests::{record, temp_dir};

    fn read(segment: &Segment) -> Vec<Record> {
        spool::read_records(&segment.path).unwrap()
    }

    #[test]
    fn segments_are_applied_oldest_first_while_appends_go_on() {
        let dir = temp_dir("journal-order");
        let mut journal = Journal::open(&dir, "writer-0", 100).unwrap();
        assert!(journal.oldest().unwrap().is_none());
        assert_eq!(journal.lag(Instant::now()), Duration::ZERO);
        journal.append(&[record(1), record(2)]).unwrap();
        let first = journal.oldest().unwrap().unwrap();
        // Appends go on into the fresh open segment while the sealed one is applied.
        journal.append(&[record(3)]).unwrap();
        assert_eq!(journal.len(), 3);
        assert_eq!(read(&first), vec![record(1), record(2)]);
        assert_eq!(journal.oldest().unwrap().unwrap().seq, first.seq);
        journal.applied(first.seq).unwrap();
        assert!(!first.path.exists());
        let second = journal.oldest().unwrap().unwrap();
        assert!(second.seq > first.seq);
        assert_eq!(read(&second), vec![record(3)]);
        assert_eq!(journal.len(), 1);
        assert!(journal.lag(Instant::now() + Duration::from_secs(5)) >= Duration::from_secs(5));
        journal.applied(second.seq).unwrap();
        assert!(journal.is_empty());
        assert!(journal.oldest().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_append_that_fills_the_open_segment_seals_it() {
        let dir = temp_dir("journal-full");
        let mut journal = Journal::open(&dir, "writer-2", 2).unwrap();
        journal.append(&[record(1)]).unwrap();
        journal.append(&[record(2), record(3)]).unwrap();
        journal.append(&[record(4)]).unwrap();
        let first = journal.oldest().unwrap().unwrap();
        assert_eq!(read(&first), vec![record(1), record(2), record(3)]);
        journal.applied(first.seq).unwrap();
        // The rest is sealed when the writer asks for it.
        let second = journal.oldest().unwrap().unwrap();
        assert_eq!(read(&second), vec![record(4)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reopened_journal_keeps_every_unapplied_record_in_order() {
        let dir = temp_dir("journal-reopen");
        let mut journal = Journal::open(&dir, "writer-1", 100).unwrap();
        journal.append(&[record(1)]).unwrap();
        let sealed = journal.oldest().unwrap().unwrap();
        journal.append(&[record(2), record(3)]).unwrap();
        drop(journal);
        // A crash: one sealed segment unapplied, records in the open one.
        let mut journal = Journal::open(&dir, "writer-1", 100).unwrap();
        assert_eq!(journal.len(), 3);
        let mut replayed = Vec::new();
        while let Some(segment) = journal.oldest().unwrap() {
            replayed.extend(read(&segment));
            journal.applied(segment.seq).unwrap();
        }
        assert_eq!(replayed, vec![record(1), record(2), record(3)]);
        assert!(!sealed.path.exists());
        // Numbering goes on past what was found: nothing new sorts before the old.
        journal.append(&[record(4)]).unwrap();
        assert!(journal.oldest().unwrap().unwrap().seq > sealed.seq);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_journal_moved_into_another_goes_behind_its_records() {
        let dir = temp_dir("journal-move");
        let mut gone = Journal::open(&dir, "writer-3", 100).unwrap();
        gone.append(&[record(7)]).unwrap();
        gone.oldest().unwrap();
        gone.append(&[record(8)]).unwrap();
        let mut kept = Journal::open(&dir, "writer-0", 100).unwrap();
        kept.append(&[record(1)]).unwrap();
        assert_eq!(
            stems(&dir, "writer-").unwrap(),
            vec![(0, "writer-0".to_owned()), (3, "writer-3".to_owned())]
        );
        assert_eq!(gone.move_into(&mut kept).unwrap(), 2);
        assert_eq!(
            stems(&dir, "writer-").unwrap(),
            vec![(0, "writer-0".to_owned())]
        );
        let segment = kept.oldest().unwrap().unwrap();
        assert_eq!(read(&segment), vec![record(1), record(7), record(8)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
