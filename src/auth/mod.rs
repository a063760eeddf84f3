//! Authentication: passwords, sessions and the session store.

pub mod api_key;
pub mod password;
pub mod session;
pub mod session_store;
pub mod token;
pub mod totp;
