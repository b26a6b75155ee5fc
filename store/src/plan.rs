//! Service plans in PostgreSQL.

use tokio_postgres::Row;

use super::journal::unjournaled;
use super::{Entity, Invalidation, Journal, Store, StoreError};
use proisp_model::{Burst, FupAction, Plan, QuotaPeriod, RateLimit};

/// A plan to create or the new state of one to update: [`Plan`] without the id and
/// version the database assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    /// Unique name.
    pub name: String,
    /// The speed while within quota.
    pub rate: RateLimit,
    /// Octets per period before fair usage applies; `None` is unlimited.
    pub quota_bytes: Option<u64>,
    /// The period the quota applies to (a month unless set).
    pub quota_period: QuotaPeriod,
    /// The speed once the quota is spent: download and upload only (no burst, priority
    /// or minimum).
    pub fup_rate: Option<RateLimit>,
    /// What spending the quota does.
    pub fup_action: FupAction,
    /// Session-Timeout, seconds.
    pub session_timeout_secs: Option<u32>,
    /// Idle-Timeout, seconds.
    pub idle_timeout_secs: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    pub interim_interval_secs: u32,
    /// Framed-Pool.
    pub pool: Option<String>,
    /// Days a renewal extends the expiry by.
    pub validity_days: u32,
    /// Price per period in the smallest currency unit.
    pub price_cents: i64,
}

impl NewPlan {
    /// A plain plan: `download`/`upload` kbit/s, no quota, 300 s interim updates, 30 days.
    pub fn new(name: impl Into<String>, download_kbps: u32, upload_kbps: u32) -> NewPlan {
        NewPlan {
            name: name.into(),
            rate: RateLimit {
                download_kbps,
                upload_kbps,
                ..RateLimit::default()
            },
            quota_bytes: None,
            quota_period: QuotaPeriod::Month,
            fup_rate: None,
            fup_action: FupAction::Throttle,
            session_timeout_secs: None,
            idle_timeout_secs: None,
            interim_interval_secs: 300,
            pool: None,
            validity_days: 30,
            price_cents: 0,
        }
    }
}

/// Columns in the order [`from_row`] reads them.
const COLUMNS: &str = "id, name, download_kbps, upload_kbps, burst_download_kbps, \
    burst_upload_kbps, burst_threshold_download_kbps, burst_threshold_upload_kbps, \
    burst_time_secs, priority, min_download_kbps, min_upload_kbps, quota_bytes, \
    fup_download_kbps, fup_upload_kbps, fup_action, session_timeout_secs, idle_timeout_secs, \
    interim_interval_secs, pool, validity_days, price_cents, version, quota_period";

/// An unsigned value for an `integer` column.
pub(crate) fn int(field: &str, v: u32) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|_| StoreError::invalid(field, format!("{v} is too large")))
}

fn opt_int(field: &str, v: Option<u32>) -> Result<Option<i32>, StoreError> {
    v.map(|v| int(field, v)).transpose()
}

/// An `integer` column the schema keeps non-negative.
pub(crate) fn uint(column: &'static str, v: i32) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        column,
        reason: format!("{v} is negative"),
    })
}

fn opt_uint(column: &'static str, v: Option<i32>) -> Result<Option<u32>, StoreError> {
    v.map(|v| uint(column, v)).transpose()
}

fn from_row(row: &Row) -> Result<Plan, StoreError> {
    let burst = match (
        row.get::<_, Option<i32>>(4),
        row.get::<_, Option<i32>>(5),
        row.get::<_, Option<i32>>(6),
        row.get::<_, Option<i32>>(7),
        row.get::<_, Option<i32>>(8),
    ) {
        (Some(d), Some(u), Some(td), Some(tu), Some(t)) => Some(Burst {
            download_kbps: uint("plans.burst_download_kbps", d)?,
            upload_kbps: uint("plans.burst_upload_kbps", u)?,
            threshold_download_kbps: uint("plans.burst_threshold_download_kbps", td)?,
            threshold_upload_kbps: uint("plans.burst_threshold_upload_kbps", tu)?,
            time_secs: uint("plans.burst_time_secs", t)?,
        }),
        _ => None,
    };
    let min = match (row.get::<_, Option<i32>>(10), row.get::<_, Option<i32>>(11)) {
        (Some(d), Some(u)) => Some((
            uint("plans.min_download_kbps", d)?,
            uint("plans.min_upload_kbps", u)?,
        )),
        _ => None,
    };
    let priority = row
        .get::<_, Option<i16>>(9)
        .map(|p| {
            u8::try_from(p).map_err(|_| StoreError::Corrupt {
                column: "plans.priority",
                reason: format!("{p} out of range"),
            })
        })
        .transpose()?;
    let fup_rate = match (row.get::<_, Option<i32>>(13), row.get::<_, Option<i32>>(14)) {
        (Some(d), Some(u)) => Some(RateLimit {
            download_kbps: uint("plans.fup_download_kbps", d)?,
            upload_kbps: uint("plans.fup_upload_kbps", u)?,
            ..RateLimit::default()
        }),
        _ => None,
    };
    let fup_action: &str = row.get(15);
    let quota_period: &str = row.get(23);
    let quota: Option<i64> = row.get(12);
    Ok(Plan {
        id: row.get(0),
        name: row.get(1),
        rate: RateLimit {
            download_kbps: uint("plans.download_kbps", row.get(2))?,
            upload_kbps: uint("plans.upload_kbps", row.get(3))?,
            burst,
            priority,
            min,
        },
        quota_bytes: quota
            .map(|q| {
                u64::try_from(q).map_err(|_| StoreError::Corrupt {
                    column: "plans.quota_bytes",
                    reason: format!("{q} is negative"),
                })
            })
            .transpose()?,
        quota_period: QuotaPeriod::parse(quota_period).ok_or_else(|| StoreError::Corrupt {
            column: "plans.quota_period",
            reason: format!("unknown period {quota_period:?}"),
        })?,
        fup_rate,
        fup_action: FupAction::parse(fup_action).ok_or_else(|| StoreError::Corrupt {
            column: "plans.fup_action",
            reason: format!("unknown action {fup_action:?}"),
        })?,
        session_timeout_secs: opt_uint("plans.session_timeout_secs", row.get(16))?,
        idle_timeout_secs: opt_uint("plans.idle_timeout_secs", row.get(17))?,
        interim_interval_secs: uint("plans.interim_interval_secs", row.get(18))?,
        pool: row.get(19),
        validity_days: uint("plans.validity_days", row.get(20))?,
        price_cents: row.get(21),
        version: row.get(22),
    })
}

/// Parameters $1..$22 in the column order of the INSERT and UPDATE statements.
struct Params {
    name: String,
    download: i32,
    upload: i32,
    burst: [Option<i32>; 5],
    priority: Option<i16>,
    min: [Option<i32>; 2],
    quota: Option<i64>,
    fup: [Option<i32>; 2],
    fup_action: &'static str,
    session_timeout: Option<i32>,
    idle_timeout: Option<i32>,
    interim: i32,
    pool: Option<String>,
    validity_days: i32,
    price_cents: i64,
    quota_period: &'static str,
}

fn params(p: &NewPlan) -> Result<Params, StoreError> {
    if p.name.trim().is_empty() {
        return Err(StoreError::invalid("name", "must not be empty"));
    }
    if let Some(prio) = p.rate.priority
        && !(1..=8).contains(&prio)
    {
        return Err(StoreError::invalid("rate.priority", "must be 1 to 8"));
    }
    if let Some(f) = &p.fup_rate
        && (f.burst.is_some() || f.priority.is_some() || f.min.is_some())
    {
        return Err(StoreError::invalid(
            "fup_rate",
            "only download and upload speeds are stored for the fair-usage rate",
        ));
    }
    if p.interim_interval_secs == 0 {
        return Err(StoreError::invalid(
            "interim_interval_secs",
            "must be positive",
        ));
    }
    if p.session_timeout_secs == Some(0) || p.idle_timeout_secs == Some(0) {
        return Err(StoreError::invalid(
            if p.session_timeout_secs == Some(0) {
                "session_timeout_secs"
            } else {
                "idle_timeout_secs"
            },
            "must be positive (leave it unset for no limit)",
        ));
    }
    if p.price_cents < 0 {
        return Err(StoreError::invalid("price_cents", "must not be negative"));
    }
    if p.pool.as_deref() == Some("") {
        return Err(StoreError::invalid(
            "pool",
            "must not be empty (leave it unset)",
        ));
    }
    let burst = match &p.rate.burst {
        Some(b) => [
            Some(int("rate.burst.download_kbps", b.download_kbps)?),
            Some(int("rate.burst.upload_kbps", b.upload_kbps)?),
            Some(int(
                "rate.burst.threshold_download_kbps",
                b.threshold_download_kbps,
            )?),
            Some(int(
                "rate.burst.threshold_upload_kbps",
                b.threshold_upload_kbps,
            )?),
            Some(int("rate.burst.time_secs", b.time_secs)?),
        ],
        None => [None; 5],
    };
    let min = match p.rate.min {
        Some((d, u)) => [
            Some(int("rate.min.download_kbps", d)?),
            Some(int("rate.min.upload_kbps", u)?),
        ],
        None => [None; 2],
    };
    let fup = match &p.fup_rate {
        Some(f) => [
            Some(int("fup_rate.download_kbps", f.download_kbps)?),
            Some(int("fup_rate.upload_kbps", f.upload_kbps)?),
        ],
        None => [None; 2],
    };
    Ok(Params {
        name: p.name.clone(),
        download: int("rate.download_kbps", p.rate.download_kbps)?,
        upload: int("rate.upload_kbps", p.rate.upload_kbps)?,
        burst,
        priority: p.rate.priority.map(i16::from),
        min,
        quota: p
            .quota_bytes
            .map(|q| i64::try_from(q).map_err(|_| StoreError::invalid("quota_bytes", "too large")))
            .transpose()?,
        fup,
        fup_action: p.fup_action.as_str(),
        session_timeout: opt_int("session_timeout_secs", p.session_timeout_secs)?,
        idle_timeout: opt_int("idle_timeout_secs", p.idle_timeout_secs)?,
        interim: int("interim_interval_secs", p.interim_interval_secs)?,
        pool: p.pool.clone(),
        validity_days: int("validity_days", p.validity_days)?,
        price_cents: p.price_cents,
        quota_period: p.quota_period.as_str(),
    })
}

impl Params {
    fn as_sql(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 22] {
        [
            &self.name,
            &self.download,
            &self.upload,
            &self.burst[0],
            &self.burst[1],
            &self.burst[2],
            &self.burst[3],
            &self.burst[4],
            &self.priority,
            &self.min[0],
            &self.min[1],
            &self.quota,
            &self.fup[0],
            &self.fup[1],
            &self.fup_action,
            &self.session_timeout,
            &self.idle_timeout,
            &self.interim,
            &self.pool,
            &self.validity_days,
            &self.price_cents,
            &self.quota_period,
        ]
    }
}

const SETTABLE: &str = "name, download_kbps, upload_kbps, burst_download_kbps, burst_upload_kbps, \
    burst_threshold_download_kbps, burst_threshold_upload_kbps, burst_time_secs, priority, \
    min_download_kbps, min_upload_kbps, quota_bytes, fup_download_kbps, fup_upload_kbps, \
    fup_action, session_timeout_secs, idle_timeout_secs, interim_interval_secs, pool, \
    validity_days, price_cents, quota_period";

impl Store {
    /// Every plan, by id.
    pub async fn all_plans(&self) -> Result<Vec<Plan>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM plans ORDER BY id"))
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// One plan by name.
    pub async fn plan_by_name(&self, name: &str) -> Result<Option<Plan>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM plans WHERE name = $1"))
            .await?;
        client
            .query_opt(&stmt, &[&name])
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// One plan by id.
    pub async fn plan(&self, id: i64) -> Result<Option<Plan>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM plans WHERE id = $1"))
            .await?;
        client
            .query_opt(&stmt, &[&id])
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Deletes plan `id` and returns it: [`StoreError::NotFound`] when there is none,
    /// [`StoreError::Conflict`] while subscribers (deleted ones included: their rows keep
    /// the accounting history) are on it.
    pub async fn delete_plan(&self, id: i64) -> Result<Plan, StoreError> {
        self.delete_plan_journaled(id, unjournaled).await
    }

    /// [`Store::delete_plan`], recording the deleted plan through `journal` in its
    /// transaction.
    pub async fn delete_plan_journaled(
        &self,
        id: i64,
        journal: impl Journal<Plan>,
    ) -> Result<Plan, StoreError> {
        let plan = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "DELETE FROM plans WHERE id = $1 RETURNING {COLUMNS}"
                        ))
                        .await?;
                    let row = tx
                        .query_opt(&stmt, &[&id])
                        .await
                        .map_err(|e| match StoreError::from(e) {
                            // PostgreSQL names the referencing table (subscribers) for a
                            // DELETE on the referenced one too: here it means the plan is
                            // in use.
                            StoreError::Invalid { field, .. } if field == "plan_id" => {
                                StoreError::Conflict {
                                    what: "plan in use by subscribers".to_owned(),
                                }
                            }
                            other => other,
                        })?
                        .ok_or(StoreError::NotFound {
                            entity: Entity::Plan,
                        })?;
                    from_row(&row)
                },
                journal,
            )
            .await?;
        self.plan_changed(plan.id).await;
        Ok(plan)
    }

    /// Creates a plan; a taken name is [`StoreError::Conflict`].
    pub async fn create_plan(&self, p: &NewPlan) -> Result<Plan, StoreError> {
        self.create_plan_journaled(p, unjournaled).await
    }

    /// [`Store::create_plan`], recording the new plan through `journal` in its
    /// transaction.
    pub async fn create_plan_journaled(
        &self,
        p: &NewPlan,
        journal: impl Journal<Plan>,
    ) -> Result<Plan, StoreError> {
        let params = params(p)?;
        let placeholders: Vec<String> = (1..=22).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO plans ({SETTABLE}) VALUES ({}) RETURNING {COLUMNS}",
            placeholders.join(", ")
        );
        let plan = self
            .in_transaction(
                async |tx| {
                    let stmt = tx.prepare_cached(&sql).await?;
                    from_row(&tx.query_one(&stmt, &params.as_sql()).await?)
                },
                journal,
            )
            .await?;
        self.plan_changed(plan.id).await;
        Ok(plan)
    }

    /// Replaces plan `id`'s settings.
    pub async fn update_plan(&self, id: i64, p: &NewPlan) -> Result<Plan, StoreError> {
        self.update_plan_journaled(id, p, unjournaled).await
    }

    /// [`Store::update_plan`], recording the updated plan through `journal` in its
    /// transaction.
    pub async fn update_plan_journaled(
        &self,
        id: i64,
        p: &NewPlan,
        journal: impl Journal<Plan>,
    ) -> Result<Plan, StoreError> {
        let params = params(p)?;
        let sets: Vec<String> = SETTABLE
            .split(", ")
            .enumerate()
            .map(|(i, col)| format!("{} = ${}", col.trim(), i + 1))
            .collect();
        let sql = format!(
            "UPDATE plans SET {}, version = nextval('entry_version'), updated_at = now() \
             WHERE id = $23 RETURNING {COLUMNS}",
            sets.join(", ")
        );
        let mut args = params.as_sql().to_vec();
        args.push(&id);
        let plan = self
            .in_transaction(
                async |tx| {
                    let stmt = tx.prepare_cached(&sql).await?;
                    let row = tx
                        .query_opt(&stmt, &args)
                        .await?
                        .ok_or(StoreError::NotFound {
                            entity: Entity::Plan,
                        })?;
                    from_row(&row)
                },
                journal,
            )
            .await?;
        self.plan_changed(plan.id).await;
        Ok(plan)
    }

    async fn plan_changed(&self, id: i64) {
        self.after_commit("plan", async |cache| {
            cache.publish(&Invalidation::Plan(id)).await
        })
        .await;
    }
}
