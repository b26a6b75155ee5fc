//! The `/api/v1` handlers, one module per resource.

pub mod admins;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod dashboard;
pub mod events;
pub mod fields;
pub mod jobs;
pub mod nas;
pub mod plans;
pub mod sessions;
pub mod subscribers;
