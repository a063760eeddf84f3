//! Argon2id password hashing, run on threads of its own at a lower priority, so that a burst of
//! sign-ins slows itself rather than every other request.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Each hash holds ~19 MiB; bound how many run at once so memory stays bounded under a burst.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Semaphore::new((cores / 2).max(1))
});

/// Verified against when the email is unknown, so that the answer takes as long as for a real user.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("not a real password").expect("hashing a constant cannot fail"));

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default().hash_password(password.as_bytes())?.to_string())
}

/// The nice value of hashing threads: under contention they get about a tenth of the CPU share
/// of the threads answering requests (nice 0).
const HASHING_NICENESS: i32 = 10;

/// Runs `work` on a new thread at [`HASHING_NICENESS`]; a thread costs microseconds, a hash
/// tens of milliseconds.
async fn at_low_priority<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("password-hash".into()).spawn(move || {
        lower_this_threads_priority();
        let _ = done.send(work());
    })?;
    Ok(result.await?)
}

/// Lowers the calling thread's priority to that of background work (password hashing, mail).
pub fn lower_this_threads_priority() {
    // SAFETY: only changes the scheduling weight of the calling thread (on Linux, PRIO_PROCESS
    // with `who = 0` means the calling thread); failure leaves it at normal priority.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICENESS);
    }
}

pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    crate::store::request::release().await;
    let _permit = HASHING.acquire().await?;
    let hash = at_low_priority(move || hash_blocking(password.expose_secret()))
        .await?
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    Ok(hash)
}

/// Whether `password` matches `stored_hash`. With no hash (unknown user, or one who has not set a
/// password yet) a dummy hash is checked, and the answer is always no.
pub async fn verify_password(password: SecretString, stored_hash: Option<String>) -> anyhow::Result<bool> {
    crate::store::request::release().await;
    let _permit = HASHING.acquire().await?;
    let verified = at_low_priority(move || {
        let (hash, real) = match &stored_hash {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        let matches = Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
        matches && real
    })
    .await?;
    Ok(verified)
}

/// Warms the dummy hash at start-up instead of on the first sign-in.
pub fn prepare() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_password(SecretString::from("correct horse battery")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(SecretString::from("correct horse battery"), Some(hash.clone())).await.unwrap());
        assert!(!verify_password(SecretString::from("wrong"), Some(hash)).await.unwrap());
        assert!(!verify_password(SecretString::from("not a real password"), None).await.unwrap());
    }
}
