//! Authentication: passwords, sessions and the session store, API keys, two-factor codes,
//! the signed links mails carry, and the secrets webhook calls are signed with.

pub mod api_key;
pub mod password;
pub mod session;
pub mod session_store;
pub mod signer;
pub mod token;
pub mod totp;
pub mod unsubscribe;
pub mod webhook_secret;
