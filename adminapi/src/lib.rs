//! proisp-adminapi: the admin REST API (actix-web) and the operator commands.
//!
//! Modules, from the outside in:
//! - [`server`]: the application (routes, middleware), `serve`; [`openapi`]: the
//!   document's parts no handler declares; [`console`]: the web console's files;
//! - [`routes`]: handlers, one module per resource (plans is the pattern to copy);
//! - [`session`]: the authenticated admin of a request and `require(Permission)`;
//! - [`error`]: [`error::ApiError`], the one mapping of errors to statuses and bodies;
//! - [`commands`]: billing's commands (NATS consumer and REST twin);
//! - [`audit`]: the audit log; [`events`]: the events billing hears of, in the outbox; [`admin`], [`refresh`]: admins and refresh tokens;
//! - [`jwt`], [`password`], [`totp`]: credentials; [`cookie`]: the browser's refresh
//!   cookie; [`permission`]: the role table;
//! - [`kv`], [`ratelimit`], [`client_ip`]: limits, revocations and who the client is;
//! - [`config`], [`state`], [`db`], [`metrics`], [`body`], [`time`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod body;
pub mod client_ip;
pub mod commands;
pub mod config;
pub mod console;
pub mod cookie;
pub mod data;
pub mod dynauth;
pub mod error;
pub mod events;
pub mod jobs;
pub mod jwt;
pub mod kv;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod permission;
pub mod ratelimit;
pub mod refresh;
pub mod report;
pub mod routes;
pub mod server;
pub mod session;
pub mod state;
pub mod time;
pub mod totp;
