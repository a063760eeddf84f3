//! API keys in the original provider's scheme: `Authorization: ARMOR-PSK
//! {keyId}:{signature}:{nonce}:{timestamp}`, where signature = base64(HMAC-SHA512(secret, keyId +
//! METHOD + path + nonce + timestamp + body)). Two forms of `path` and `body` are accepted: the
//! documented one (the request target with its query string, the raw body) and the original
//! provider's script (the path alone, `base64(SHA-512(body))`). The server needs the secret to
//! check signatures, so it keeps it encrypted (AES-256-GCM) with a key from configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::domain::credentials::SigningForm;
use crate::store::ApiKeySecret;

pub const SCHEME: &str = "ARMOR-PSK";
/// How far a request's timestamp may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
const MAX_NONCE_CHARS: usize = 128;

/// The parts of an `Authorization: ARMOR-PSK …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key_id: String,
    pub signature: Vec<u8>,
    pub nonce: String,
    pub timestamp: i64,
}

/// Why a request's credentials are refused; each message is safe to show the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the Authorization header must be ARMOR-PSK {{keyId}}:{{signature}}:{{nonce}}:{{timestamp}}")]
    Malformed,
    #[error("the timestamp is more than 5 minutes away from the server's time")]
    Expired,
    #[error("unknown or revoked API key, or a signature that does not match")]
    Invalid,
}

impl Credentials {
    pub fn parse(header: &str) -> Result<Credentials, CredentialError> {
        let rest = header.strip_prefix(SCHEME).and_then(|r| r.strip_prefix(' ')).ok_or(CredentialError::Malformed)?;
        let parts: Vec<&str> = rest.trim().split(':').collect();
        let [key_id, signature, nonce, timestamp] = parts.as_slice() else { return Err(CredentialError::Malformed) };
        let key_id_like = !key_id.is_empty()
            && key_id.len() <= 64
            && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // The original allows any nonce of at most 128 characters without a colon (its script sends
        // the timestamp); visible ASCII keeps it safe to store and to log.
        let nonce_like =
            !nonce.is_empty() && nonce.len() <= MAX_NONCE_CHARS && nonce.bytes().all(|b| b.is_ascii_graphic());
        if !key_id_like || !nonce_like {
            return Err(CredentialError::Malformed);
        }
        let signature = STANDARD.decode(signature).map_err(|_| CredentialError::Malformed)?;
        let timestamp = timestamp.parse::<i64>().map_err(|_| CredentialError::Malformed)?;
        Ok(Credentials { key_id: key_id.to_string(), signature, nonce: nonce.to_string(), timestamp })
    }

    pub fn is_fresh(&self, now: i64) -> bool {
        (self.timestamp - now).abs() <= MAX_CLOCK_SKEW_SECONDS
    }
}

fn mac(secret: &str, key_id: &str, method: &str, path: &str, nonce: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha512> {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(key_id.as_bytes());
    mac.update(method.as_bytes());
    mac.update(path.as_bytes());
    mac.update(nonce.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(body);
    mac
}

/// The signature a client sends in the documented form, base64-encoded: `target` is the request
/// target as sent (with its query string) and `body` the raw body.
pub fn sign(
    secret: &str,
    key_id: &str,
    method: &str,
    target: &str,
    nonce: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    STANDARD.encode(mac(secret, key_id, method, target, nonce, timestamp, body).finalize().into_bytes())
}

/// The signature the original provider's script computes: `path` without the query string, and
/// for a body `base64(SHA-512(body))` (nothing for a GET or an empty body).
pub fn sign_original(
    secret: &str,
    key_id: &str,
    method: &str,
    path: &str,
    nonce: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let body = original_body(method, body);
    STANDARD.encode(mac(secret, key_id, method, path, nonce, timestamp, body.as_bytes()).finalize().into_bytes())
}

/// What the original form signs in place of the body.
fn original_body(method: &str, body: &[u8]) -> String {
    if method == "GET" || body.is_empty() { String::new() } else { STANDARD.encode(Sha512::digest(body)) }
}

/// Checks the signature in constant time against the documented form.
pub fn verify(secret: &str, credentials: &Credentials, method: &str, target: &str, body: &[u8]) -> bool {
    mac(secret, &credentials.key_id, method, target, &credentials.nonce, credentials.timestamp, body)
        .verify_slice(&credentials.signature)
        .is_ok()
}

/// Which form the signature was made in: the documented one over `target` (path and query as
/// sent), else the original one over `path`; `None` if neither matches. Where both forms sign the
/// same text (no query string, no body), the call counts as documented.
pub fn verify_either(
    secret: &str,
    credentials: &Credentials,
    method: &str,
    target: &str,
    path: &str,
    body: &[u8],
) -> Option<SigningForm> {
    if verify(secret, credentials, method, target, body) {
        return Some(SigningForm::Documented);
    }
    let body = original_body(method, body);
    verify(secret, credentials, method, path, body.as_bytes()).then_some(SigningForm::Original)
}

/// The key under which a call's nonce is spent: the nonce with a digest of the call (method,
/// target with its query string, body). An exact replay has the same key and is refused; another
/// call reusing the nonce, as the original's script does (its nonce is the timestamp, so every
/// call of one second shares it), has its own. The digest has a fixed length, and a nonce never
/// contains a colon or whitespace, so two different (nonce, call) pairs never share a key.
pub fn call_key(nonce: &str, method: &str, target: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    for part in [method.as_bytes(), target.as_bytes()] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.update(body);
    let digest = digest.finalize();
    format!("{nonce} {}", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// A new key id and secret, as shown once to the user.
pub fn generate() -> (String, String) {
    let mut id = [0u8; 12];
    let mut secret = [0u8; 32];
    rand::fill(&mut id);
    rand::fill(&mut secret);
    (format!("ak_{}", URL_SAFE_NO_PAD.encode(id)), URL_SAFE_NO_PAD.encode(secret))
}

/// Encrypts and decrypts API key secrets at rest.
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an API key secret could not be decrypted (wrong API_KEY_ENCRYPTION_KEY?)")]
pub struct DecryptError;

impl SecretCipher {
    /// From the 32-byte key of the configuration, base64-encoded.
    pub fn from_base64(encoded: &str) -> Option<SecretCipher> {
        let key = STANDARD.decode(encoded.trim()).ok().filter(|k| k.len() == 32)?;
        Aes256Gcm::new_from_slice(&key).ok().map(|cipher| SecretCipher { cipher })
    }

    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        STANDARD.encode(key)
    }

    /// `base64(nonce ‖ ciphertext)`; the key id is bound in as associated data, so a ciphertext
    /// copied to another key's row does not decrypt.
    pub fn encrypt(&self, secret: &str, key_id: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret.as_bytes(), aad: key_id.as_bytes() })
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, stored: &str, key_id: &str) -> Result<String, DecryptError> {
        let bytes = STANDARD.decode(stored).map_err(|_| DecryptError)?;
        if bytes.len() < 12 {
            return Err(DecryptError);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| DecryptError)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: key_id.as_bytes() })
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }
}

/// The keys of recent calls, so that a busy key's calls skip looking it up. It holds only what
/// never changes about a key (its secret stays encrypted); whether the key may still be used is
/// decided by each call's spend, so a revocation takes effect at once on every instance.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, Arc<ApiKeySecret>>>,
}

/// More keys than this in use at once and the cache starts over: memory stays bounded.
const CACHED_KEYS: usize = 4096;

impl KeyCache {
    pub fn get(&self, key_id: &str) -> Option<Arc<ApiKeySecret>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).get(key_id).cloned()
    }

    pub fn insert(&self, key: ApiKeySecret) -> Arc<ApiKeySecret> {
        let key = Arc::new(key);
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= CACHED_KEYS {
            keys.clear();
        }
        keys.insert(key.key_id.clone(), Arc::clone(&key));
        key
    }

    pub fn forget(&self, key_id: &str) {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).remove(key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key_id: &str, signature: &str, nonce: &str, timestamp: i64) -> String {
        format!("ARMOR-PSK {key_id}:{signature}:{nonce}:{timestamp}")
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let (key_id, secret) = generate();
        let signature = sign(&secret, &key_id, "GET", "/api/v1/me", "n1", 1_700_000_000, b"");
        let credentials = Credentials::parse(&header(&key_id, &signature, "n1", 1_700_000_000)).unwrap();
        assert!(verify(&secret, &credentials, "GET", "/api/v1/me", b""));
        assert!(!verify(&secret, &credentials, "POST", "/api/v1/me", b""));
        assert!(!verify(&secret, &credentials, "GET", "/api/v1/mee", b""));
        assert!(!verify(&secret, &credentials, "GET", "/api/v1/me", b"{}"));
        assert!(!verify("another secret", &credentials, "GET", "/api/v1/me", b""));
    }

    #[test]
    fn the_signature_is_hmac_sha512_of_the_documented_concatenation() {
        let expected = {
            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(b"s3cret").unwrap();
            mac.update(b"ak_1GET/api/v1/mexyz1700000000");
            STANDARD.encode(mac.finalize().into_bytes())
        };
        assert_eq!(sign("s3cret", "ak_1", "GET", "/api/v1/me", "xyz", 1_700_000_000, b""), expected);
    }

    #[test]
    fn the_original_form_signs_the_path_without_its_query_and_a_digest_of_the_body() {
        let (key_id, secret) = generate();
        let body = br#"{"comment":"hello"}"#;
        // As the original's script: the nonce is the timestamp, the body is base64(SHA-512(body)).
        let expected = {
            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
            let digest = STANDARD.encode(Sha512::digest(body));
            mac.update(format!("{key_id}POST/tickets/ATS-7/comments17000000001700000000{digest}").as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        };
        let signature =
            sign_original(&secret, &key_id, "POST", "/tickets/ATS-7/comments", "1700000000", 1_700_000_000, body);
        assert_eq!(signature, expected);
        let credentials = Credentials::parse(&header(&key_id, &signature, "1700000000", 1_700_000_000)).unwrap();
        let either =
            |target: &str, path: &str, body: &[u8]| verify_either(&secret, &credentials, "POST", target, path, body);
        assert_eq!(either("/tickets/ATS-7/comments?x=1", "/tickets/ATS-7/comments", body), Some(SigningForm::Original));
        assert_eq!(either("/tickets/ATS-7/comments", "/tickets/ATS-7/comments", b"{}"), None, "the body is signed");
        assert_eq!(either("/tickets/ATS-8/comments", "/tickets/ATS-8/comments", body), None, "the path is signed");

        let documented = sign(&secret, &key_id, "GET", "/tickets/list?maxResults=50", "n-1", 1_700_000_000, b"");
        let credentials = Credentials::parse(&header(&key_id, &documented, "n-1", 1_700_000_000)).unwrap();
        let get = |target: &str| verify_either(&secret, &credentials, "GET", target, "/tickets/list", b"");
        assert_eq!(get("/tickets/list?maxResults=50"), Some(SigningForm::Documented));
        assert_eq!(get("/tickets/list?maxResults=10"), None, "the documented form signs the query");
    }

    #[test]
    fn without_query_or_body_both_forms_sign_alike_and_count_as_documented() {
        let (key_id, secret) = generate();
        let original = sign_original(&secret, &key_id, "GET", "/me", "1700000000", 1_700_000_000, b"");
        assert_eq!(original, sign(&secret, &key_id, "GET", "/me", "1700000000", 1_700_000_000, b""));
        let credentials = Credentials::parse(&header(&key_id, &original, "1700000000", 1_700_000_000)).unwrap();
        assert_eq!(verify_either(&secret, &credentials, "GET", "/me", "/me", b""), Some(SigningForm::Documented));
    }

    #[test]
    fn a_nonce_is_spent_per_call_so_only_an_exact_replay_repeats_its_key() {
        let key = |target: &str, body: &[u8]| call_key("1700000000", "GET", target, body);
        assert_eq!(key("/tickets/list", b""), key("/tickets/list", b""));
        assert_ne!(key("/tickets/list", b""), key("/tickets/list?nextPageToken=x", b""));
        assert_ne!(key("/tickets/list", b""), key("/tickets/list", b"x"));
        assert_ne!(call_key("n", "GET", "/me", b""), call_key("n", "POST", "/me", b""));
        // Lengths are part of the digest: moving bytes between method and target changes the key.
        assert_ne!(call_key("n", "GE", "T/me", b""), call_key("n", "GET", "/me", b""));
        assert!(key("/me", b"").starts_with("1700000000 ") && key("/me", b"").len() == "1700000000".len() + 23);
    }

    #[test]
    fn nonces_may_be_any_visible_text_without_a_colon() {
        for nonce in ["1700000000", "a+b/c=", "550e8400-e29b-41d4-a716-446655440000", "~!@#$%^&*()"] {
            let parsed = Credentials::parse(&header("ak_1", "YQ==", nonce, 1)).map(|c| c.nonce);
            assert_eq!(parsed.as_deref(), Ok(nonce));
        }
        for nonce in ["a b", "", "é", &"n".repeat(129)] {
            assert!(Credentials::parse(&header("ak_1", "YQ==", nonce, 1)).is_err(), "{nonce:?}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "Bearer x",
            "ARMOR-PSK a:b:c",
            "ARMOR-PSK a:!!:c:1",
            "ARMOR-PSK a:YQ==:c:soon",
            "ARMOR-PSK a b:YQ==:c:1",
            "ARMOR-PSK :YQ==:c:1",
        ] {
            assert_eq!(Credentials::parse(bad), Err(CredentialError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_fresh_within_five_minutes_either_way() {
        let at = |timestamp| Credentials { key_id: "k".into(), signature: vec![], nonce: "n".into(), timestamp };
        assert!(at(1000).is_fresh(1000 + 300));
        assert!(at(1000).is_fresh(1000 - 300));
        assert!(!at(1000).is_fresh(1000 + 301));
        assert!(!at(1000).is_fresh(1000 - 360));
    }

    #[test]
    fn the_key_cache_stays_bounded() {
        let cache = KeyCache::default();
        let key = |n: usize| ApiKeySecret { id: n as i64, key_id: format!("ak_{n}"), secret_ciphertext: String::new() };
        for n in 0..CACHED_KEYS {
            cache.insert(key(n));
        }
        assert_eq!(cache.get("ak_7").map(|k| k.id), Some(7));
        cache.insert(key(CACHED_KEYS));
        assert!(cache.get("ak_7").is_none(), "a full cache starts over");
        assert!(cache.get(&format!("ak_{CACHED_KEYS}")).is_some());
        cache.forget(&format!("ak_{CACHED_KEYS}"));
        assert!(cache.get(&format!("ak_{CACHED_KEYS}")).is_none());
    }

    #[test]
    fn secrets_round_trip_encrypted_and_bound_to_their_key_id() {
        let cipher = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        let stored = cipher.encrypt("the secret", "ak_1");
        assert!(!stored.contains("the secret"));
        assert_eq!(cipher.decrypt(&stored, "ak_1").unwrap(), "the secret");
        assert!(cipher.decrypt(&stored, "ak_2").is_err());
        let other = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        assert!(other.decrypt(&stored, "ak_1").is_err());
        assert!(SecretCipher::from_base64("too short").is_none());
    }
}
