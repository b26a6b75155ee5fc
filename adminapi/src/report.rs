//! The weekly security report (`proisp-adminapi security-report`, run by
//! proisp-security-report.timer): from the audit log, over the last days, the failed admin
//! logins by name and address, refresh tokens used twice, admins created, deleted or
//! changed in role, TOTP requirement or state, and changes to admins' allowed networks.
//! Printed (into the journal, under the timer), or mailed through the local `sendmail`
//! when `security_report.mail_to` is set.
//!
//! It reads `audit_log` only, whose rows carry no secret; the same queries stand in
//! sql/maintenance/security-report.sql for psql.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use tokio_postgres::GenericClient;

/// One section: a title, its columns, and a row per finding (every value as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// The report over the last `days` days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub days: u32,
    pub sections: Vec<Section>,
}

/// The sections' titles, columns and queries; `$1` is the number of days. Every column is
/// text, NULL shown as "-".
const SECTIONS: [(&str, &[&str], &str); 4] = [
    (
        "Failed admin logins (auth.login_failed), by name and address",
        &[
            "username",
            "client_ip",
            "failures",
            "first",
            "last",
            "reasons",
        ],
        "SELECT coalesce(entity_id, '-'), coalesce(host(client_ip), '-'), count(*)::text,
                to_char(min(at), 'YYYY-MM-DD HH24:MI:SSOF'),
                to_char(max(at), 'YYYY-MM-DD HH24:MI:SSOF'),
                coalesce(string_agg(DISTINCT after->>'reason', ', '), '-')
         FROM audit_log
         WHERE action = 'auth.login_failed' AND at > now() - make_interval(days => $1)
         GROUP BY entity_id, client_ip
         ORDER BY count(*) DESC, max(at) DESC",
    ),
    (
        "Refresh tokens used twice (auth.refresh_reuse): the family was revoked",
        &["at", "admin", "client_ip"],
        "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SSOF'), admin_username,
                coalesce(host(client_ip), '-')
         FROM audit_log
         WHERE action = 'auth.refresh_reuse' AND at > now() - make_interval(days => $1)
         ORDER BY at",
    ),
    (
        "Admins created, deleted, or changed in role, TOTP requirement or state",
        &[
            "at",
            "by",
            "client_ip",
            "action",
            "admin",
            "role_before",
            "role_after",
            "totp_required",
            "disabled",
        ],
        "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SSOF'), admin_username,
                coalesce(host(client_ip), '-'), action,
                coalesce(after->>'username', before->>'username', '-'),
                coalesce(before->>'role', '-'), coalesce(after->>'role', '-'),
                coalesce(after->>'totp_required', '-'), coalesce(after->>'disabled', '-')
         FROM audit_log
         WHERE at > now() - make_interval(days => $1)
           AND (action IN ('admin.create', 'admin.delete', 'admin.reset_totp')
                OR (action = 'admin.update'
                    AND (before->'role' IS DISTINCT FROM after->'role'
                         OR before->'totp_required' IS DISTINCT FROM after->'totp_required'
                         OR before->'disabled' IS DISTINCT FROM after->'disabled')))
         ORDER BY at",
    ),
    (
        "Allowed networks changed (admin.update)",
        &["at", "by", "client_ip", "admin", "before", "after"],
        "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SSOF'), admin_username,
                coalesce(host(client_ip), '-'), coalesce(after->>'username', '-'),
                coalesce(before->'allowed_networks', 'null')::text,
                coalesce(after->'allowed_networks', 'null')::text
         FROM audit_log
         WHERE action = 'admin.update' AND at > now() - make_interval(days => $1)
           AND before->'allowed_networks' IS DISTINCT FROM after->'allowed_networks'
         ORDER BY at",
    ),
];

impl Report {
    /// Reads the report over the last `days` days from the audit log.
    pub async fn read(
        client: &impl GenericClient,
        days: u32,
    ) -> Result<Report, tokio_postgres::Error> {
        let interval_days = i32::try_from(days).unwrap_or(i32::MAX);
        let mut sections = Vec::with_capacity(SECTIONS.len());
        for (title, columns, sql) in SECTIONS {
            let rows = client
                .query(sql, &[&interval_days])
                .await?
                .iter()
                .map(|row| (0..columns.len()).map(|i| row.get(i)).collect())
                .collect();
            sections.push(Section {
                title,
                columns,
                rows,
            });
        }
        Ok(Report { days, sections })
    }

    pub fn subject(&self) -> String {
        format!("ProISP security report, the last {} days", self.days)
    }

    /// The report as plain text: each section's title, then an aligned table or "none".
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.subject());
        for section in &self.sections {
            let _ = write!(out, "\n{}\n", section.title);
            if section.rows.is_empty() {
                out.push_str("  none\n");
                continue;
            }
            let mut widths: Vec<usize> = section.columns.iter().map(|c| c.len()).collect();
            for row in &section.rows {
                for (w, value) in widths.iter_mut().zip(row) {
                    *w = (*w).max(value.chars().count());
                }
            }
            let line = |out: &mut String, values: &mut dyn Iterator<Item = &str>| {
                out.push(' ');
                for (value, w) in values.zip(&widths) {
                    let _ = write!(out, " {value:<w$}");
                }
                let end = out.trim_end().len();
                out.truncate(end);
                out.push('\n');
            };
            line(&mut out, &mut section.columns.iter().copied());
            for row in &section.rows {
                line(&mut out, &mut row.iter().map(String::as_str));
            }
        }
        out
    }

    /// Mails the report to `to` through `sendmail` (`sendmail -i -- to`, the message on
    /// its standard input, as every MTA's sendmail takes it).
    pub fn mail(&self, sendmail: &Path, to: &str) -> Result<(), MailError> {
        // A line break would let the address add headers of its own.
        if to.is_empty() || to.contains(['\r', '\n']) || to.starts_with('-') {
            return Err(MailError::Address(to.to_owned()));
        }
        let message = format!(
            "To: {to}\nSubject: {}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{}",
            self.subject(),
            self.render()
        );
        let mut child = Command::new(sendmail)
            .args(["-i", "--", to])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|source| MailError::Start {
                sendmail: sendmail.display().to_string(),
                source,
            })?;
        let written = child
            .stdin
            .take()
            .map_or(Ok(()), |mut stdin| stdin.write_all(message.as_bytes()));
        let status = child.wait().map_err(|source| MailError::Start {
            sendmail: sendmail.display().to_string(),
            source,
        })?;
        if !status.success() {
            return Err(MailError::Failed {
                sendmail: sendmail.display().to_string(),
                status: status.to_string(),
            });
        }
        written.map_err(|source| MailError::Start {
            sendmail: sendmail.display().to_string(),
            source,
        })
    }
}

/// Why the report could not be mailed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    #[error("security_report.mail_to {0:?} is no mail address")]
    Address(String),
    #[error("cannot run {sendmail}: {source}")]
    Start {
        sendmail: String,
        source: std::io::Error,
    },
    #[error("{sendmail} failed ({status}): the report was not mailed")]
    Failed { sendmail: String, status: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            days: 7,
            sections: vec![
                Section {
                    title: "Failed logins",
                    columns: &["username", "failures"],
                    rows: vec![vec!["mallory".into(), "12".into()]],
                },
                Section {
                    title: "Reuse",
                    columns: &["at"],
                    rows: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn renders_aligned_tables_and_empty_sections() {
        assert_eq!(
            report().render(),
            "ProISP security report, the last 7 days\n\n\
             Failed logins\n  username failures\n  mallory  12\n\n\
             Reuse\n  none\n"
        );
    }

    #[test]
    fn refuses_an_address_that_would_add_headers() {
        for to in ["", "ops@example.net\nBcc: x@example.net", "-oi"] {
            assert!(matches!(
                report().mail(Path::new("/bin/true"), to),
                Err(MailError::Address(_))
            ));
        }
    }

    #[test]
    fn a_failing_sendmail_is_an_error() {
        let err = report()
            .mail(Path::new("/bin/false"), "ops@example.net")
            .unwrap_err();
        assert!(matches!(err, MailError::Failed { .. }), "{err}");
        let err = report()
            .mail(Path::new("/nonexistent/sendmail"), "ops@example.net")
            .unwrap_err();
        assert!(matches!(err, MailError::Start { .. }), "{err}");
    }
}
