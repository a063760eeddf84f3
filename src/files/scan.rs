//! Virus scanning with a ClamAV daemon (`clamd`), run by every instance when `CLAMAV_ADDRESS` is
//! set. A new file's bytes wait as `pending` (customers cannot download them) until the scanner
//! streams them to clamd (`INSTREAM`): clean files are released, infected ones kept from everyone
//! and flagged to support staff. While clamd cannot be reached, `CLAMAV_WHEN_DOWN` decides: `hold`
//! keeps files pending, `allow` releases them as unchecked; both are tried again later. Claims are
//! leases in the database, so several instances never scan one file at once.

use std::time::Duration as StdDuration;

use chrono::Duration;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Files;
use crate::clock::Clock;
use crate::domain::attachment::{ScanState, after_failed_scan};
use crate::settings::{ScannerAddress, ScannerSettings};
use crate::store::bytes::{ByteStream, ObjectKey};
use crate::store::{ScanJob, Store, StoreResult};

/// How long a scanner holds a file it took.
const LEASE_MINUTES: i64 = 10;
/// How long an idle scanner waits before looking again (an upload in this instance wakes it).
const IDLE: StdDuration = StdDuration::from_secs(2);
/// The longest a connection to clamd may take, and a whole scan.
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const SCAN_TIMEOUT: StdDuration = StdDuration::from_secs(300);
/// clamd takes a stream in chunks, each preceded by its length.
const CHUNK: usize = 64 * 1024;

/// What clamd said of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The name of the signature that matched, such as `Eicar-Test-Signature`.
    Infected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the scanner cannot be reached: {0}")]
    Unreachable(std::io::Error),
    #[error("the scanner answered {0:?}")]
    Refused(String),
    #[error("the scan took too long")]
    Timeout,
}

/// Reads clamd's one-line answer to `INSTREAM`: `stream: OK`, `stream: <name> FOUND`, or an error.
pub fn verdict(answer: &str) -> Result<Verdict, ScanError> {
    let answer = answer.trim_end_matches(['\0', '\n', '\r']).trim();
    let result = answer.strip_prefix("stream:").map(str::trim).unwrap_or(answer);
    if result == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(name) = result.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(name.trim().to_string()))
    } else {
        Err(ScanError::Refused(answer.chars().take(200).collect()))
    }
}

/// Streams a file to clamd and reads its verdict.
pub async fn scan(address: &ScannerAddress, bytes: ByteStream) -> Result<Verdict, ScanError> {
    let scanning = async {
        match address {
            ScannerAddress::Unix(path) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| ScanError::Timeout)?
                    .map_err(ScanError::Unreachable)?;
                instream(stream, bytes).await
            }
            ScannerAddress::Tcp(host) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(host))
                    .await
                    .map_err(|_| ScanError::Timeout)?
                    .map_err(ScanError::Unreachable)?;
                instream(stream, bytes).await
            }
        }
    };
    tokio::time::timeout(SCAN_TIMEOUT, scanning).await.map_err(|_| ScanError::Timeout)?
}

async fn instream<C: AsyncRead + AsyncWrite + Unpin>(mut conn: C, mut bytes: ByteStream) -> Result<Verdict, ScanError> {
    let sent: std::io::Result<()> = async {
        conn.write_all(b"zINSTREAM\0").await?;
        while let Some(part) = bytes.next().await {
            let part = part.map_err(std::io::Error::other)?;
            for chunk in part.chunks(CHUNK) {
                conn.write_all(&(chunk.len() as u32).to_be_bytes()).await?;
                conn.write_all(chunk).await?;
            }
        }
        conn.write_all(&0u32.to_be_bytes()).await?;
        conn.flush().await
    }
    .await;
    // clamd answers (and hangs up) as soon as it has a verdict or a limit is passed: its answer
    // counts even when the rest could not be sent.
    let mut answer = Vec::new();
    let read = (&mut conn).take(4096).read_to_end(&mut answer).await;
    if answer.is_empty() {
        return Err(ScanError::Unreachable(sent.err().or(read.err()).unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "clamd closed the connection without an answer")
        })));
    }
    verdict(&String::from_utf8_lossy(&answer))
}

/// When a file whose scan failed `attempts` times is tried again: a minute, doubling to an hour.
fn retry_after(attempts: i32) -> Duration {
    Duration::seconds((60_i64 << attempts.clamp(1, 7).saturating_sub(1)).min(3600))
}

/// The scanner of one instance.
pub struct Scanner {
    pub files: Files,
    pub store: Store,
    pub clock: Clock,
    pub settings: ScannerSettings,
}

/// Keeps the scanner running; it stops when this is dropped.
pub struct ScannerGuard {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Scanner {
    /// Runs the scanner on a thread of its own at a low priority (as the notification sender runs):
    /// reading files for clamd never takes the CPU from requests.
    pub fn spawn(self) -> std::io::Result<ScannerGuard> {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let wake = self.files.scan_wake();
        std::thread::Builder::new().name("virus-scanner".into()).spawn(move || {
            crate::auth::password::lower_this_threads_priority();
            runtime.block_on(async move {
                loop {
                    let worked = tokio::select! {
                        _ = &mut stopped => return,
                        worked = self.round() => worked,
                    };
                    let worked = worked.unwrap_or_else(|error| {
                        tracing::warn!(?error, "the virus scanner could not reach the database");
                        false
                    });
                    if !worked {
                        tokio::select! {
                            _ = &mut stopped => return,
                            _ = tokio::time::timeout(IDLE, wake.notified()) => {}
                        }
                    }
                }
            });
        })?;
        Ok(ScannerGuard { _stop: stop })
    }

    /// Scans the next file due, if any; `true` if there was one.
    pub async fn round(&self) -> StoreResult<bool> {
        let now = self.clock.now();
        let Some(job) = self.store.claim_scan(now, now + Duration::minutes(LEASE_MINUTES)).await? else {
            return Ok(false);
        };
        let key = ObjectKey::from_stored(job.object_key.clone());
        let outcome = scan(&self.settings.address, self.files.bytes.read(&key)).await;
        self.record(&job, outcome).await?;
        Ok(true)
    }

    async fn record(&self, job: &ScanJob, outcome: Result<Verdict, ScanError>) -> StoreResult<()> {
        let now = self.clock.now();
        match outcome {
            Ok(Verdict::Clean) => self.store.record_scan(job.blob_id, ScanState::Clean, None, None, now).await,
            Ok(Verdict::Infected(signature)) => {
                tracing::warn!(target: "security", blob_id = job.blob_id, %signature, "an uploaded file is infected; it is kept from download");
                self.store.record_scan(job.blob_id, ScanState::Infected, Some(&signature), None, now).await
            }
            Err(error) => {
                tracing::warn!(blob_id = job.blob_id, %error, "a virus scan failed; it is tried again later");
                let state = after_failed_scan(self.settings.when_down);
                let again = now + retry_after(job.scan_attempts);
                self.store.record_scan(job.blob_id, state, None, Some(again), now).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamds_answers_are_read() {
        assert_eq!(verdict("stream: OK\0").unwrap(), Verdict::Clean);
        assert_eq!(
            verdict("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0").unwrap(),
            Verdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into())
        );
        assert!(matches!(verdict("INSTREAM size limit exceeded. ERROR\0"), Err(ScanError::Refused(_))));
        assert!(matches!(verdict(""), Err(ScanError::Refused(_))));
    }

    #[test]
    fn failed_scans_are_retried_from_a_minute_to_an_hour() {
        assert_eq!(retry_after(1), Duration::seconds(60));
        assert_eq!(retry_after(2), Duration::seconds(120));
        assert_eq!(retry_after(30), Duration::seconds(3600));
    }
}
