//! `[coa]`: how CoA and Disconnect-Requests (RFC 5176) are sent, by radiusd (fair usage)
//! and adminapi (kicks, live plan changes) alike.

use std::time::Duration;

use serde::Deserialize;

/// CoA and Disconnect-Requests to a NAS's Dynamic Authorization port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoaConfig {
    /// Wait for the NAS's answer before resending.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Resends after the first try; a request to a silent NAS gives up after
    /// `(retries + 1) × timeout`.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_timeout() -> Duration {
    proisp_coa::DEFAULT_TIMEOUT
}

fn default_retries() -> u32 {
    proisp_coa::DEFAULT_RETRIES
}

impl Default for CoaConfig {
    fn default() -> CoaConfig {
        CoaConfig {
            timeout: default_timeout(),
            retries: default_retries(),
        }
    }
}
