//! The support desk's pages besides the queue (which is a ticket table): accounts, staff and the
//! audit log.

pub mod accounts;
pub mod audit_log;
pub mod staff;
