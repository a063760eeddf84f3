//! Webhook signing secrets and signatures, per the Standard Webhooks specification
//! (standardwebhooks.com): a secret is `whsec_` and the base64 of random bytes; a call carries
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
//! secret's decoded bytes, one `v1,…` entry per secret in force, separated by spaces.

use aes_gcm::aead::KeyInit;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::api_key::SecretCipher;

pub const PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new secret, as shown once to the administrator.
pub fn generate() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key a secret stands for: the bytes its base64 part decodes to.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(PREFIX)?).ok().filter(|key| !key.is_empty())
}

/// One signature: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: a signature with each key in force, newest first.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|key| sign(key, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// What an endpoint's secrets are bound to when encrypted: a ciphertext copied to another
/// endpoint's row does not decrypt.
fn bound_to(endpoint_id: i64) -> String {
    format!("webhook:{endpoint_id}")
}

/// The secret encrypted for storage with the endpoint it belongs to.
pub fn seal(cipher: &SecretCipher, endpoint_id: i64, secret: &str) -> String {
    cipher.encrypt(secret, &bound_to(endpoint_id))
}

/// The HMAC key of a stored secret; `None` if it cannot be decrypted (another encryption key).
pub fn open(cipher: &SecretCipher, endpoint_id: i64, ciphertext: &str) -> Option<Vec<u8>> {
    key_of(&cipher.decrypt(ciphertext, &bound_to(endpoint_id)).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's reference libraries sign this message so (standard-webhooks
    /// repository, libraries/go/webhook_test.go, `TestWebhookSign`): matching it is what makes a
    /// receiver's off-the-shelf library accept ours.
    #[test]
    fn signatures_reproduce_the_standard_webhooks_test_vector() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_new_secret_is_whsec_and_the_base64_of_32_random_bytes() {
        let (one, other) = (generate(), generate());
        assert!(one.starts_with(PREFIX), "{one}");
        assert_eq!(key_of(&one).map(|k| k.len()), Some(32));
        assert_ne!(one, other);
        assert_eq!(key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None, "the prefix is part of the secret");
        assert_eq!(key_of("whsec_not base64!"), None);
    }

    #[test]
    fn during_a_rotation_the_header_carries_one_signature_per_secret() {
        let (new, old) = (key_of(&generate()).unwrap(), key_of(&generate()).unwrap());
        let header = signature_header(&[new.clone(), old.clone()], "msg_7", 1_700_000_000, b"{}");
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries, vec![sign(&new, "msg_7", 1_700_000_000, b"{}"), sign(&old, "msg_7", 1_700_000_000, b"{}")]);
        assert!(entries.iter().all(|e| e.starts_with("v1,")));
        assert_ne!(sign(&new, "msg_7", 1_700_000_001, b"{}"), entries[0], "the timestamp is signed");
        assert_ne!(sign(&new, "msg_8", 1_700_000_000, b"{}"), entries[0], "the id is signed");
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_endpoint() {
        let cipher = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        let secret = generate();
        let sealed = seal(&cipher, 7, &secret);
        assert!(!sealed.contains(secret.trim_start_matches(PREFIX)));
        assert_eq!(open(&cipher, 7, &sealed), key_of(&secret));
        assert_eq!(open(&cipher, 8, &sealed), None);
    }
}
