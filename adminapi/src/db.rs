//! adminapi's own PostgreSQL pool, for the tables only it uses (admins, refresh tokens,
//! the audit log). Subscribers, plans and NAS devices go through
//! [`proisp_store::Store`], which keeps Redis coherent; this pool never touches
//! them.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use proisp_store::{StoreConfig, StoreError};
use tokio_postgres::NoTls;

/// Builds the pool with the store's settings (size, timeouts, statement_timeout) without
/// connecting.
pub fn pool(cfg: &StoreConfig) -> Result<Pool, StoreError> {
    let mut pg: tokio_postgres::Config =
        cfg.database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Invalid {
                field: "database.url".to_owned(),
                reason: e.to_string(),
            })?;
    pg.connect_timeout(cfg.connect_timeout);
    if pg.get_application_name().is_none() {
        pg.application_name("proisp-adminapi");
    }
    let timeout = format!("-c statement_timeout={}", cfg.statement_timeout.as_millis());
    let options = match pg.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {timeout}"),
        _ => timeout,
    };
    pg.options(&options);
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // A quarter of the store's pool: these tables see a query or two per request.
    Pool::builder(manager)
        .max_size((cfg.pool_size / 4).max(2))
        .wait_timeout(Some(cfg.connect_timeout))
        .create_timeout(Some(cfg.connect_timeout))
        .recycle_timeout(Some(cfg.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Invalid {
            field: "database".to_owned(),
            reason: e.to_string(),
        })
}
