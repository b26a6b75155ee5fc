//! The query strings of the sessions routes, apart from their handlers: utoipa's
//! `params(…)` of a type declared in the handler's own module trips
//! `unused_qualifications` in the code it generates.

use serde::Deserialize;
use utoipa::IntoParams;

/// Filters and paging of `GET /sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions on this NAS.
    pub nas_id: Option<i64>,
    /// Only sessions of this User-Name.
    pub username: Option<String>,
    /// Only sessions of this subscriber (by id).
    pub subscriber_id: Option<i64>,
    /// Sessions with an id above this (the `next_after_id` of the previous page).
    pub after_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Paging of history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The `next_before` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Paging of usage.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Periods starting before this time (RFC 3339 or a date; the `next_before` of the
    /// previous page).
    pub before: Option<String>,
    /// Periods per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// What to look for: at least one of `ip`, `mac` and `username`; then either `at` or a
/// period (`from`, `to`, each optional), and optionally the NAS.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// Framed-IP-Address (IPv4 or IPv6).
    pub ip: Option<String>,
    /// The subscriber's MAC (Calling-Station-Id), in any common form:
    /// `4C:5E:0C:12:34:56`, `4c-5e-0c-12-34-56`, `4c5e.0c12.3456`, `4C5E0C123456`.
    pub mac: Option<String>,
    /// User-Name, exactly.
    pub username: Option<String>,
    /// Only sessions on this NAS.
    pub nas_id: Option<i64>,
    /// Sessions in progress at this instant (RFC 3339); not with `from` or `to`.
    pub at: Option<String>,
    /// Sessions that had not ended by this instant (RFC 3339).
    pub from: Option<String>,
    /// Sessions that had started by this instant (RFC 3339).
    pub to: Option<String>,
    /// The `next_before` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}
