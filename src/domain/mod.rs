//! The portal's rules and vocabulary, free of HTTP and SQL: who may see and do what
//! (`policy`), permissions and roles, tickets, and the state of an incident table.

pub mod activity;
pub mod attachment;
pub mod audit_query;
pub mod credentials;
pub mod cursor;
pub mod features;
pub mod identity;
pub mod input;
pub mod lifecycle;
pub mod listing;
pub mod notify;
pub mod permission;
pub mod policy;
pub mod principal;
pub mod ticket;
pub mod webhook;
