//! The acknowledged-records log (`acct --acked-log FILE`): one line per verified
//! Accounting-Response, so a check after the run can hold the server to what it promised.
//!
//! An Accounting-Response says "this record is durable" (RFC 2866 §4.2: a server must not
//! answer a request it could not record). The fault suite (scripts/faults.sh) loads this
//! file into PostgreSQL and asserts that every acknowledged record is reflected there
//! (counters at least those acknowledged, a session whose Stop was acknowledged closed),
//! whatever was done to the server meanwhile.
//!
//! Format: tab-separated, PostgreSQL `COPY … FROM` text format, one line per reply:
//!
//! ```text
//! Acct-Session-Id  User-Name  status  step  upload-octets  download-octets
//! 0000ABCD000000000000  user000001  interim  1  201326592  1610612736
//! ```
//!
//! `status` is `start`, `interim` or `stop`; `step` counts the updates so far (0 for a
//! Start, k for the k-th Interim-Update, interims + 1 for the Stop); the octets are the
//! running totals the request carried (0 for a Start).

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use proisp_radius::dictionary::values::acct_status_type;

/// One acknowledged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked<'a> {
    /// Acct-Session-Id.
    pub(crate) session_id: &'a [u8],
    /// User-Name.
    pub(crate) user: &'a [u8],
    /// Acct-Status-Type.
    pub(crate) status: u32,
    /// Updates so far.
    pub(crate) step: u64,
    /// Acct-Input-Octets with Gigawords: what the subscriber sent.
    pub(crate) upload: u64,
    /// Acct-Output-Octets with Gigawords: what the subscriber received.
    pub(crate) download: u64,
}

/// The log, shared by the lanes.
#[derive(Debug)]
pub(crate) struct AckedLog {
    out: Mutex<Writer>,
}

#[derive(Debug)]
struct Writer {
    file: BufWriter<File>,
    /// The first write error: the run fails at [`AckedLog::finish`], since a log with a
    /// line missing would let the check pass over a lost record.
    error: Option<std::io::Error>,
}

/// The word for an Acct-Status-Type in the log.
fn status_word(status: u32) -> &'static str {
    match status {
        acct_status_type::START => "start",
        acct_status_type::INTERIM_UPDATE => "interim",
        acct_status_type::STOP => "stop",
        acct_status_type::ACCOUNTING_ON => "on",
        acct_status_type::ACCOUNTING_OFF => "off",
        _ => "other",
    }
}

impl AckedLog {
    /// Creates (or truncates) the log at `path`.
    pub(crate) fn create(path: &Path) -> anyhow::Result<AckedLog> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the acked log {}", path.display()))?;
        Ok(AckedLog {
            out: Mutex::new(Writer {
                file: BufWriter::with_capacity(1 << 16, file),
                error: None,
            }),
        })
    }

    /// Appends one line.
    pub(crate) fn record(&self, a: &Acked<'_>) {
        let mut w = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if w.error.is_some() {
            return;
        }
        let result = w
            .file
            .write_all(a.session_id)
            .and_then(|()| w.file.write_all(b"\t"))
            .and_then(|()| w.file.write_all(a.user))
            .and_then(|()| {
                writeln!(
                    w.file,
                    "\t{}\t{}\t{}\t{}",
                    status_word(a.status),
                    a.step,
                    a.upload,
                    a.download
                )
            });
        if let Err(e) = result {
            w.error = Some(e);
        }
    }

    /// Flushes the log to disk; an error if any line could not be written.
    pub(crate) fn finish(&self) -> anyhow::Result<()> {
        let mut w = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = w.error.take() {
            return Err(anyhow::Error::new(e).context("cannot write the acked log"));
        }
        w.file.flush().context("cannot write the acked log")?;
        w.file
            .get_ref()
            .sync_all()
            .context("cannot write the acked log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tab_separated_for_copy() {
        let dir = std::env::temp_dir().join(format!("acked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acked.tsv");
        let log = AckedLog::create(&path).unwrap();
        log.record(&Acked {
            session_id: b"0000ABCD000000000000",
            user: b"user000001",
            status: acct_status_type::START,
            step: 0,
            upload: 0,
            download: 0,
        });
        log.record(&Acked {
            session_id: b"0000ABCD000000000000",
            user: b"user000001",
            status: acct_status_type::STOP,
            step: 4,
            upload: 5 << 30,
            download: 40 << 30,
        });
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "0000ABCD000000000000\tuser000001\tstart\t0\t0\t0\n\
             0000ABCD000000000000\tuser000001\tstop\t4\t5368709120\t42949672960\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn statuses_have_words() {
        assert_eq!(status_word(acct_status_type::INTERIM_UPDATE), "interim");
        assert_eq!(status_word(acct_status_type::ACCOUNTING_ON), "on");
        assert_eq!(status_word(99), "other");
    }
}
