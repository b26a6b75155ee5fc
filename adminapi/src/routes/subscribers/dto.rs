//! The request and response bodies of `/subscribers`, as the OpenAPI document shows them.

use super::*;

/// A subscriber as created or replaced (PUT), and the shape PATCH merges into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberInput {
    /// Login name: 1 to 253 octets, case-sensitive, no control characters or surrounding
    /// spaces; unique among live subscribers.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?$"
    )]
    pub username: String,
    /// Required on create; on PUT and PATCH, absent keeps the current one. 1 to 128
    /// octets, not the username (or containing it), not one of the commonest passwords.
    /// Never shown again (see `reveal-password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub password: Option<String>,
    /// `active` (default), `suspended` or `disabled`.
    #[serde(default = "default_status")]
    #[schema(pattern = "^(active|suspended|disabled)$")]
    pub status: String,
    /// The plan's id.
    #[schema(minimum = 1)]
    pub plan_id: i64,
    /// End of the paid period: RFC 3339 (`2026-12-31T23:59:59Z`) or a date (`2026-12-31`,
    /// midnight UTC); absent: never expires.
    #[serde(default, with = "fields::opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// MAC binding, any common form (`4C:5E:0C:12:34:56`, `4c-5e-…`, `4c5e.0c12.3456`).
    #[serde(default, with = "fields::opt")]
    #[schema(value_type = Option<String>, pattern = r"^\s*(?:(?:[0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4})?\s*$")]
    pub mac: Option<MacAddr>,
    /// Static IPv4 address, unique among live subscribers.
    #[serde(default, with = "fields::opt")]
    #[schema(value_type = Option<String>, format = Ipv4)]
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix, `2001:db8:1::/64`.
    #[serde(default, with = "fields::opt")]
    #[schema(value_type = Option<String>)]
    pub ipv6_prefix: Option<Ipv6Net>,
    /// Delegated-IPv6-Prefix, `2001:db8:100::/56`.
    #[serde(default, with = "fields::opt")]
    #[schema(value_type = Option<String>)]
    pub delegated_ipv6_prefix: Option<Ipv6Net>,
    /// Sessions at once; 0 is unlimited (default 1).
    #[serde(default = "default_simultaneous_use")]
    #[schema(maximum = 2147483647)]
    pub simultaneous_use: u32,
    /// Full name.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Phone number: digits, spaces and `+-().`.
    #[serde(default)]
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^\s\u0000-\u001F\u007F-\u009F]*\.[^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub email: Option<String>,
    /// Postal or installation address.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub address: Option<String>,
}

pub(super) fn default_status() -> String {
    Status::Active.as_str().to_owned()
}

const fn default_simultaneous_use() -> u32 {
    1
}

/// A subscriber as the API shows it: never the password.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriberView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// `active`, `suspended` or `disabled`.
    pub status: String,
    /// The plan's id.
    pub plan_id: i64,
    /// The plan's name.
    pub plan: String,
    /// End of the paid period (RFC 3339 UTC); null: never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// MAC binding, `4C:5E:0C:12:34:56`.
    #[serde(serialize_with = "fields::opt::serialize")]
    #[schema(value_type = Option<String>, pattern = "^([0-9A-F]{2}:){5}[0-9A-F]{2}$")]
    pub mac: Option<MacAddr>,
    /// Static IPv4 address.
    #[schema(value_type = Option<String>, format = Ipv4)]
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix.
    #[schema(value_type = Option<String>)]
    pub ipv6_prefix: Option<Ipv6Net>,
    /// Delegated-IPv6-Prefix.
    #[schema(value_type = Option<String>)]
    pub delegated_ipv6_prefix: Option<Ipv6Net>,
    /// Sessions at once; 0 is unlimited.
    pub simultaneous_use: u32,
    /// Full name.
    pub name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Postal or installation address.
    pub address: Option<String>,
    /// Has an open session now.
    pub online: bool,
    /// Quota spent: on the fair-usage speed until then (RFC 3339 UTC).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fup_until: Option<Timestamp>,
    /// Created (RFC 3339 UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last changed (RFC 3339 UTC).
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Changes with every write.
    pub version: i64,
}

impl events::Subject for SubscriberView {
    fn subject(&self) -> &str {
        &self.username
    }
}

/// A page of `GET /subscribers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberPage {
    /// Matches, by id (by address for an `ip` search).
    pub items: Vec<SubscriberView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// Query strings (in a module of their own: utoipa's expansion qualifies a params type
/// of the handler's own module, which `unused_qualifications` refuses).
pub mod params {
    use serde::Deserialize;
    use utoipa::IntoParams;

    /// Filters, search and paging of `GET /subscribers`; every filter given must hold.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct ListQuery {
        /// `active`, `suspended` or `disabled`.
        #[param(pattern = "^(active|suspended|disabled)$")]
        pub status: Option<String>,
        /// Plan id.
        pub plan_id: Option<i64>,
        /// Expiring before this time (RFC 3339 or a date).
        pub expires_before: Option<String>,
        /// With (true) or without (false) an open session.
        #[param(pattern = "^(true|false)$")]
        pub online: Option<String>,
        /// Substring (at least 3 characters) of the username, name or phone, any case.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub q: Option<String>,
        /// Substring (at least 3 characters) of the username.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub username: Option<String>,
        /// Substring (at least 3 characters) of the name.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub name: Option<String>,
        /// Substring (at least 3 characters) of the phone number.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub phone: Option<String>,
        /// Bound to this MAC (exact; any common form).
        pub mac: Option<String>,
        /// Static address inside this IPv4 prefix (`10.1.0.0/16`; a bare address is /32).
        /// Results are ordered by address.
        pub ip: Option<String>,
        /// The `next` of the previous page.
        pub after: Option<String>,
        /// Page size, 1 to 500 (default 50).
        #[param(minimum = 1, maximum = 500)]
        pub limit: Option<u32>,
    }

    /// Options of the CSV import.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct ImportQuery {
        /// When true, nothing is written if any row fails (one transaction); otherwise the
        /// valid rows are created and the others reported.
        #[serde(default)]
        pub all_or_nothing: bool,
    }

    /// How many of the latest imports to list.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct RecentImportsQuery {
        /// 1 to 100 (default 20).
        #[param(minimum = 1, maximum = 100)]
        pub limit: Option<u32>,
    }

    /// Paging of an import's refused rows.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct ErrorPageQuery {
        /// Rows after this row number (the `next` of the previous page).
        pub after: Option<u32>,
        /// Page size, 1 to 1,000 (default 100).
        #[param(minimum = 1, maximum = 1000)]
        pub limit: Option<u32>,
    }
}

/// Body of `POST /subscribers/{id}/renew` (optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewInput {
    /// How many validity periods of the plan to add (1 to 120, default 1).
    #[schema(minimum = 1, maximum = 120)]
    #[serde(default = "default_periods")]
    pub periods: u32,
}

const fn default_periods() -> u32 {
    1
}

/// Body of `POST /subscribers/{id}/reset-password` (optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    /// The new password (1 to 128 octets, not the username or one of the commonest
    /// passwords); absent: a random one is generated and returned once.
    #[schema(min_length = 1, max_length = 128)]
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of a password reset or reveal.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordAnswer {
    /// Subscriber id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// The password: in a reveal, and in a reset that generated it (shown only here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Whether the password was generated by this reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<bool>,
}

/// One refused row of an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// The CSV row, the header being row 1 (as a spreadsheet numbers them).
    pub row: usize,
    /// The column at fault (`username`, `plan`, …), or `row` for the row's shape.
    pub field: String,
    /// Why.
    pub message: String,
}

/// One created row of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowCreated {
    /// The CSV row.
    pub row: usize,
    /// The new subscriber's id.
    pub id: i64,
    /// Its username.
    pub username: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// Whether anything was written (false: `all_or_nothing` and a row failed, or no
    /// valid rows).
    pub committed: bool,
    /// Subscribers created.
    pub created: Vec<RowCreated>,
    /// Rows refused, by row.
    pub errors: Vec<RowError>,
}

/// `POST /subscribers/imports`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStarted {
    /// The job: `GET /api/v1/subscribers/imports/{job_id}`.
    pub job_id: i64,
    /// Data rows in the file.
    pub rows: usize,
}

/// An import job's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJob {
    /// The job's id.
    pub id: i64,
    /// `running`, `done` or `cancelled`.
    pub state: String,
    /// Whether nothing is written unless every row is valid.
    pub all_or_nothing: bool,
    /// Data rows in the file.
    pub rows: i32,
    /// Data rows done: written with their part, or (`all_or_nothing`) checked; when every
    /// row is checked and the job still runs, it is writing them.
    pub processed: i32,
    /// Subscribers created.
    pub created: i32,
    /// Rows refused: `GET …/errors` lists them.
    pub refused: i32,
    /// Whether anything was written.
    pub committed: bool,
    /// The admin who started it.
    pub created_by: String,
    /// When, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last progress, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// When it ended, RFC 3339 UTC; null while it runs.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

/// A page of an import's refused rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportErrorPage {
    /// Refused rows, by row number.
    pub items: Vec<RowError>,
    /// The `after` of the next page; null on the last.
    pub next: Option<usize>,
}
