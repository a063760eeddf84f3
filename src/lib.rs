//! incident-portal: the customer portal of a managed security provider, where customers see their
//! open security incidents and the provider's support staff triage and close them.
//!
//! Dependencies point down the house: `http` (routes, middleware, thin handlers) → `views` (one
//! struct per askama template) → `auth` (passwords, sessions, keys) → `store` (SQLite or
//! PostgreSQL) → `domain` (the rules, free of HTTP and SQL) → `paths`, `clock`, `assets`.
//! `files` (attachments' bytes: uploads, the virus scanner, previews) sits beside `notify`, above
//! `store`. `startup` builds the app that `main` and the tests both run.

pub mod assets;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod error;
pub mod files;
pub mod generate;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod report;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod views;
