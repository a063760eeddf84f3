//! Authentication: passwords, sessions and the session store, API keys, two-factor codes, and
//! the signed links mails carry.

pub mod api_key;
pub mod password;
pub mod session;
pub mod session_store;
pub mod signer;
pub mod token;
pub mod totp;
pub mod unsubscribe;
