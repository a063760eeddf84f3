//! Two-factor sign-in: time-based one-time passwords (RFC 6238, as authenticator apps make them)
//! and single-use recovery codes.

use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::api_key::SecretCipher;
use super::token::token_hash;

/// How the portal names itself in authenticator apps.
pub const ISSUER: &str = "Incident Portal";
/// Recovery codes issued at a time; each works once.
pub const RECOVERY_CODES: usize = 10;
/// How long a password-verified sign-in waits for its code.
pub const PENDING_SECONDS: i64 = 300;
const STEP_SECONDS: u64 = 30;

/// A new 160-bit secret (RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::fill(secret.as_mut_slice());
    secret
}

fn totp(secret: &[u8], account_name: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_account_name(account_name.replace(':', ""))
        .with_issuer(Some(ISSUER))
        .build()
        .ok()
}

/// The secret encrypted for storage, bound to its user (a ciphertext copied to another user's
/// row does not decrypt).
pub fn encrypt_secret(cipher: &SecretCipher, user_id: i64, secret: &[u8]) -> String {
    cipher.encrypt(&base32(secret), &format!("totp:{user_id}"))
}

pub fn decrypt_secret(cipher: &SecretCipher, user_id: i64, ciphertext: &str) -> Option<Vec<u8>> {
    from_base32(&cipher.decrypt(ciphertext, &format!("totp:{user_id}")).ok()?)
}

/// The secret as people type it into an authenticator app.
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

pub fn from_base32(encoded: &str) -> Option<Vec<u8>> {
    Secret::try_from_base32(encoded).ok().map(|secret| secret.as_ref().to_vec())
}

/// The `otpauth://` address the QR code carries.
pub fn provisioning_uri(secret: &[u8], account_name: &str) -> Option<String> {
    totp(secret, account_name)?.to_url().ok()
}

/// The QR code as inline SVG, drawn here so that the secret never leaves the server.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::new(uri.as_bytes()).ok()?;
    Some(code.render::<svg::Color>().min_dimensions(200, 200).quiet_zone(true).build())
}

/// The code an authenticator shows at `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    totp(secret, "x").map(|t| t.generate(unix_seconds.max(0) as u64).to_string()).unwrap_or_default()
}

/// The time step a correct `code` belongs to (one step of clock drift either way), if it is
/// later than `last_used`: a code works once, and never after a later one.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64, last_used: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = totp(secret, "x")?.check(&code, unix_seconds.max(0) as u64)?;
    let step = i64::try_from(step).ok()?;
    (last_used.is_none_or(|last| step > last)).then_some(step)
}

/// Does the input look like an authenticator code (rather than a recovery code)?
pub fn looks_like_code(input: &str) -> bool {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// New recovery codes as shown once to the user (`xxxxx-xxxxx`, lower-case letters and digits
/// without look-alikes).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::fill(&mut bytes);
            let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What the database keeps of a recovery code; spaces, dashes and case do not matter.
pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    token_hash(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", truncated to six digits.
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1_111_111_109), "081804");
        assert_eq!(code_at(secret, 2_000_000_000), "279037");
    }

    #[test]
    fn a_code_works_within_one_step_of_drift_and_only_once() {
        // A fixed secret: with a random one, a later step's code equals this one's about three
        // times in a million runs, and the test failed once.
        let secret = b"12345678901234567890".to_vec();
        let now = 1_700_000_000;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).expect("the current code");
        assert_eq!(verify(&secret, &code, now + 30, None), Some(step));
        assert_eq!(verify(&secret, &code, now + 90, None), None);
        assert_eq!(verify(&secret, &code, now, Some(step)), None, "a used step is refused");
        assert_eq!(verify(&secret, &code_at(&secret, now - 30), now, Some(step)), None, "so is an older one");
        assert_eq!(verify(&secret, &format!("{} {}", &code[..3], &code[3..]), now, None), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "+12345"] {
            assert_eq!(verify(&secret, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_secret_round_trips_through_base32_and_the_qr_code_is_svg() {
        let secret = new_secret();
        assert_eq!(from_base32(&base32(&secret)), Some(secret.clone()));
        let uri = provisioning_uri(&secret, "tess@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/") && uri.contains("tess"), "{uri}");
        assert!(uri.contains(&format!("secret={}", base32(&secret))));
        assert!(qr_svg(&uri).unwrap().contains("<svg"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_their_hash_ignores_formatting() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(recovery_code_hash(code), recovery_code_hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(recovery_code_hash(code), recovery_code_hash(&codes[1]));
        assert!(!looks_like_code(code));
        assert!(looks_like_code("123 456"));
    }
}
