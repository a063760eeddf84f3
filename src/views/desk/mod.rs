//! The support desk's pages besides the queue (which is a ticket table): accounts, staff, the
//! audit log and notifications.

pub mod accounts;
pub mod audit_log;
pub mod notifications;
pub mod staff;
