//! The hook through which a writer records a write in its own tables, atomically with it.
//!
//! adminapi's audit log must hold an entry for every change and no entry for a change that
//! did not happen. Writing the entry after the store's commit leaves a window in which the
//! change stands unrecorded (the insert fails, the process dies); writing it before leaves
//! entries for changes that then fail. So each write method has a `*_journaled` form that
//! calls a [`Journal`] inside its transaction, after the change's SQL and before COMMIT,
//! with the row as the transaction now sees it: the change and its record are committed
//! together or not at all. The store knows nothing of what the journal writes.

use deadpool_postgres::Transaction;

use super::StoreError;

/// Records a write of a `T` through the write's own transaction.
///
/// Any `async` closure `async |tx, written| -> Result<(), StoreError>` is one. It runs
/// after the change's statements and before COMMIT; an error rolls the change back and is
/// what the write returns. Cache updates and invalidations happen after the commit, so
/// they never announce a change the journal refused.
pub trait Journal<T: ?Sized>: AsyncFnOnce(&Transaction<'_>, &T) -> Result<(), StoreError> {}

impl<T: ?Sized, F> Journal<T> for F where
    F: AsyncFnOnce(&Transaction<'_>, &T) -> Result<(), StoreError>
{
}

/// A journal that records nothing: the plain write methods (seeding, tests, tools).
pub(crate) async fn unjournaled<T: ?Sized>(
    _tx: &Transaction<'_>,
    _written: &T,
) -> Result<(), StoreError> {
    Ok(())
}
