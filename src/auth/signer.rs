//! Signatures the portal makes for itself (HMAC-SHA256 under one key, kept in the database so
//! that every instance holds it): a mail's unsubscribe link, an anonymous form's CSRF token. Each
//! use signs under its own purpose, so a signature made for one is worthless for another.

use aes_gcm::aead::KeyInit;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Signer {
        Signer { key }
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(payload.as_bytes());
        mac
    }

    /// The signature of `payload` for `purpose`, URL-safe.
    pub fn sign(&self, purpose: &str, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, payload).finalize().into_bytes())
    }

    /// Whether `signature` is this portal's for `payload` and `purpose` (compared in constant time).
    pub fn verify(&self, purpose: &str, payload: &str, signature: &str) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        self.mac(purpose, payload).verify_slice(&signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_its_payload_purpose_and_key() {
        let signer = Signer::new(b"one key".to_vec());
        let signature = signer.sign("csrf", "abc");
        assert!(signer.verify("csrf", "abc", &signature));
        assert!(!signer.verify("csrf", "abd", &signature));
        assert!(!signer.verify("unsubscribe", "abc", &signature));
        assert!(!Signer::new(b"another key".to_vec()).verify("csrf", "abc", &signature));
        assert!(!signer.verify("csrf", "abc", "not base64 !"));
    }
}
