//! Service plans: speeds, burst, fair-usage quota and session limits.

use std::fmt::{self, Write as _};

/// A MikroTik rate limit, `rx/tx [burst-rx/burst-tx [threshold-rx/threshold-tx
/// [time-rx/time-tx [priority [min-rx/min-tx]]]]]`, rates in kbit/s.
///
/// "rx" is what the router receives from the subscriber — their upload — and "tx" what it
/// transmits to them — their download (MikroTik's PPP and Hotspot documentation: "rx-rate
/// [/tx-rate]" from the router's point of view). The fields are named by the subscriber's
/// view so the plan reads as sold, and [`RateLimit::to_mikrotik`] puts them in router
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    /// Subscriber's download, kbit/s.
    pub download_kbps: u32,
    /// Subscriber's upload, kbit/s.
    pub upload_kbps: u32,
    /// Burst: download and upload burst rates, thresholds and the averaging time.
    pub burst: Option<Burst>,
    /// Queue priority 1 (highest) to 8; MikroTik's default is 8.
    pub priority: Option<u8>,
    /// Guaranteed (limit-at) download and upload, kbit/s.
    pub min: Option<(u32, u32)>,
}

/// MikroTik burst parameters (RouterOS queues: burst-limit, burst-threshold, burst-time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Burst {
    /// Download burst rate, kbit/s.
    pub download_kbps: u32,
    /// Upload burst rate, kbit/s.
    pub upload_kbps: u32,
    /// Download average below which burst is allowed, kbit/s.
    pub threshold_download_kbps: u32,
    /// Upload average below which burst is allowed, kbit/s.
    pub threshold_upload_kbps: u32,
    /// Averaging window, seconds.
    pub time_secs: u32,
}

/// Writes a rate in the shortest exact MikroTik unit (`10M`, `1500k`, `64k`, `0`).
fn rate(out: &mut String, kbps: u32) {
    let _ = if kbps != 0 && kbps.is_multiple_of(1000) {
        write!(out, "{}M", kbps / 1000)
    } else if kbps == 0 {
        write!(out, "0")
    } else {
        write!(out, "{kbps}k")
    };
}

fn pair(out: &mut String, rx: u32, tx: u32) {
    rate(out, rx);
    out.push('/');
    rate(out, tx);
}

impl RateLimit {
    /// The Mikrotik-Rate-Limit attribute value, in router order (rx = upload first).
    ///
    /// Priority needs burst before it, and min needs priority, because the fields are
    /// positional; absent ones are filled with RouterOS's defaults (no burst is `0/0 0/0
    /// 0/0`, priority 8).
    pub fn to_mikrotik(&self) -> String {
        let mut out = String::with_capacity(48);
        pair(&mut out, self.upload_kbps, self.download_kbps);
        if self.burst.is_none() && self.priority.is_none() && self.min.is_none() {
            return out;
        }
        let b = self.burst.clone().unwrap_or(Burst {
            download_kbps: 0,
            upload_kbps: 0,
            threshold_download_kbps: 0,
            threshold_upload_kbps: 0,
            time_secs: 0,
        });
        out.push(' ');
        pair(&mut out, b.upload_kbps, b.download_kbps);
        out.push(' ');
        pair(&mut out, b.threshold_upload_kbps, b.threshold_download_kbps);
        let _ = write!(out, " {}/{}", b.time_secs, b.time_secs);
        if self.priority.is_none() && self.min.is_none() {
            return out;
        }
        let _ = write!(out, " {}", self.priority.unwrap_or(8));
        if let Some((down, up)) = self.min {
            out.push(' ');
            pair(&mut out, up, down);
        }
        out
    }
}

/// What happens when a subscriber spends the plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FupAction {
    /// Slow down to the fair-usage rate (CoA with the new Mikrotik-Rate-Limit).
    Throttle,
    /// Disconnect (Disconnect-Request); new logins are refused until the period resets.
    Disconnect,
}

impl FupAction {
    /// The name stored in PostgreSQL and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            FupAction::Throttle => "throttle",
            FupAction::Disconnect => "disconnect",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<FupAction> {
        match s {
            "throttle" => Some(FupAction::Throttle),
            "disconnect" => Some(FupAction::Disconnect),
            _ => None,
        }
    }
}

/// The billing period a plan's quota applies to; periods are cut in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    /// From midnight to midnight.
    Day,
    /// Monday to Monday (ISO weeks).
    Week,
    /// From the first of the month (the default).
    #[default]
    Month,
}

impl QuotaPeriod {
    /// The name stored in PostgreSQL (a `date_trunc` field) and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "day",
            QuotaPeriod::Week => "week",
            QuotaPeriod::Month => "month",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<QuotaPeriod> {
        match s {
            "day" => Some(QuotaPeriod::Day),
            "week" => Some(QuotaPeriod::Week),
            "month" => Some(QuotaPeriod::Month),
            _ => None,
        }
    }
}

/// A service plan as the auth path needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Database id.
    pub id: i64,
    /// Unique name, e.g. `home-50`.
    pub name: String,
    /// The speed while within quota.
    pub rate: RateLimit,
    /// Octets per billing period before fair usage applies; `None` is unlimited.
    pub quota_bytes: Option<u64>,
    /// The period `quota_bytes` applies to.
    pub quota_period: QuotaPeriod,
    /// The speed once the quota is spent (for [`FupAction::Throttle`]).
    pub fup_rate: Option<RateLimit>,
    /// What spending the quota does.
    pub fup_action: FupAction,
    /// Session-Timeout, seconds; `None` is unlimited (still capped at the expiry).
    pub session_timeout_secs: Option<u32>,
    /// Idle-Timeout, seconds.
    pub idle_timeout_secs: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    pub interim_interval_secs: u32,
    /// Framed-Pool (the NAS's address pool) for subscribers without a static address.
    pub pool: Option<String>,
    /// Days a renewal extends the expiry by.
    pub validity_days: u32,
    /// Price per period in the smallest currency unit.
    pub price_cents: i64,
    /// Incremented on every change, for the cache's stale-write check.
    pub version: i64,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.rate.to_mikrotik())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_rate_is_upload_slash_download() {
        let r = RateLimit {
            download_kbps: 20_000,
            upload_kbps: 10_000,
            ..RateLimit::default()
        };
        assert_eq!(r.to_mikrotik(), "10M/20M");
        let odd = RateLimit {
            download_kbps: 1500,
            upload_kbps: 512,
            ..RateLimit::default()
        };
        assert_eq!(odd.to_mikrotik(), "512k/1500k");
    }

    #[test]
    fn burst_priority_and_min_are_positional() {
        let r = RateLimit {
            download_kbps: 20_000,
            upload_kbps: 10_000,
            burst: Some(Burst {
                download_kbps: 40_000,
                upload_kbps: 20_000,
                threshold_download_kbps: 15_000,
                threshold_upload_kbps: 7_500,
                time_secs: 16,
            }),
            priority: Some(5),
            min: Some((4_000, 2_000)),
        };
        assert_eq!(r.to_mikrotik(), "10M/20M 20M/40M 7500k/15M 16/16 5 2M/4M");
        let priority_only = RateLimit {
            download_kbps: 2_000,
            upload_kbps: 1_000,
            priority: Some(3),
            ..RateLimit::default()
        };
        assert_eq!(priority_only.to_mikrotik(), "1M/2M 0/0 0/0 0/0 3");
        assert_eq!(FupAction::parse("throttle"), Some(FupAction::Throttle));
        assert_eq!(
            FupAction::parse(FupAction::Disconnect.as_str()),
            Some(FupAction::Disconnect)
        );
        assert_eq!(FupAction::parse("x"), None);
    }
}
