//! The `/api/v1` handlers, one module per resource.

pub mod activity;
pub mod admins;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod dashboard;
pub mod events;
pub mod fields;
pub mod health;
pub mod jobs;
pub mod nas;
pub mod plans;
pub mod sessions;
pub mod subscribers;
// Issue 22's signed webhooks.
pub mod webhooks;
