//! `PROISP_*` environment variables as config keys.

/// The prefix of every variable that configures a ProISP binary.
pub(crate) const PREFIX: &str = "PROISP_";

/// The key path a `PROISP_*` variable sets, if it is one of `sections`' keys.
///
/// The prefix is matched without regard to case, as figment's `Env` did; the rest is
/// lower-cased, `__` separates the levels, and the short forms every deployment uses
/// (`PROISP_DATABASE_URL`, `PROISP_REDIS_URL`, `PROISP_NATS_URL`) map to their sections. `None` for a variable that is not configuration
/// (`PROISP_CONFIG`, the stack's `PROISP_PG_PORT`) or is another binary's
/// (`PROISP_LISTEN__AUTH` reaching adminapi from a shared environment file): neither may
/// trip `deny_unknown_fields`.
pub(crate) fn key(name: &str, sections: &[&str]) -> Option<String> {
    let rest = name
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| name.get(PREFIX.len()..))?;
    let rest = rest.trim().to_ascii_lowercase();
    let path = match rest.as_str() {
        "database_url" => "database.url".to_owned(),
        "redis_url" => "redis.url".to_owned(),
        "nats_url" => "nats.url".to_owned(),
        other => other.replace("__", "."),
    };
    if path.split('.').any(str::is_empty) {
        return None;
    }
    let top = path.split('.').next().unwrap_or_default();
    sections.contains(&top).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: &[&str] = &["database", "redis", "nats", "key_file", "listen", "log"];

    #[test]
    fn names_map_to_key_paths() {
        let key = |name| key(name, SECTIONS);
        assert_eq!(key("PROISP_DATABASE_URL").unwrap(), "database.url");
        assert_eq!(key("PROISP_REDIS_URL").unwrap(), "redis.url");
        assert_eq!(key("PROISP_NATS_URL").unwrap(), "nats.url");
        assert_eq!(key("PROISP_KEY_FILE").unwrap(), "key_file");
        assert_eq!(
            key("PROISP_DATABASE__POOL_SIZE").unwrap(),
            "database.pool_size"
        );
        assert_eq!(key("PROISP_LISTEN__AUTH").unwrap(), "listen.auth");
        assert_eq!(key("PROISP_LOG__LEVEL").unwrap(), "log.level");
        assert_eq!(key("proisp_log__level").unwrap(), "log.level");
        assert_eq!(key("PROISP_DATABASE__URL").unwrap(), "database.url");
    }

    #[test]
    fn other_variables_are_not_configuration() {
        let key = |name| key(name, SECTIONS);
        assert_eq!(key("PROISP_CONFIG"), None);
        assert_eq!(key("PROISP_PG_PORT"), None);
        assert_eq!(key("PROISP_HTTP__LISTEN"), None);
        assert_eq!(key("PROISP_DATABASE__"), None);
        assert_eq!(key("PROISP___LISTEN"), None);
        assert_eq!(key("PROISP_"), None);
        assert_eq!(key("DATABASE_URL"), None);
        assert_eq!(key("RUST_LOG"), None);
        assert_eq!(key("PROISÜ"), None);
    }
}
