//! Attachments' bytes at work: receiving an upload into the byte store while counting and hashing
//! it (`upload`), the virus scanner that every instance runs (`scan`), the previews re-encoded from
//! images (`preview`), and the housekeeping that leaves nothing half-written behind.
//!
//! An upload's life: its parts go to the byte store as they arrive, unsealed ([`Staged`]); the
//! transaction that stores its ticket or comment links it (a blob, or the account's blob of the same
//! bytes); after the commit the objects are sealed and those the link made redundant are deleted
//! ([`Files::settle`]). An upload refused or abandoned midway is deleted when its [`Staged`] is
//! dropped; one a crash interrupted is found by [`Files::sweep`].

pub mod preview;
pub mod scan;
pub mod upload;

use std::sync::Arc;

use actix_web::web::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use tokio::sync::{Notify, Semaphore};

use crate::domain::attachment::{self, ScanState};
use crate::settings::AttachmentSettings;
use crate::store::bytes::{ByteStore, ObjectKey};
use crate::store::{AttachmentRecord, Store, StoreResult};

/// How long an unsealed upload may sit untouched before housekeeping takes it for abandoned (one
/// file of a form waits while the others stream, so this is generous).
pub const STALE_UPLOAD: Duration = Duration::hours(6);
/// How many objects one housekeeping pass deletes or seals at most.
const SWEEP_BATCH: i64 = 500;

/// What handlers and background work use to reach attachments' bytes.
#[derive(Clone)]
pub struct Files {
    pub bytes: Arc<dyn ByteStore>,
    pub settings: AttachmentSettings,
    store: Store,
    scan_wake: Arc<Notify>,
    /// Previews are made one at a time: decoding an image takes memory and CPU.
    previews: Arc<Semaphore>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files").field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

/// Uploads in the byte store that no transaction has linked yet. Dropped without [`Files::settle`]
/// (a refused form, an error, a client gone), it deletes them.
pub struct Staged {
    bytes: Arc<dyn ByteStore>,
    keys: Vec<ObjectKey>,
}

impl Staged {
    pub fn keys(&self) -> &[ObjectKey] {
        &self.keys
    }

    pub(crate) fn push(&mut self, key: ObjectKey) {
        self.keys.push(key);
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let keys = std::mem::take(&mut self.keys);
        if keys.is_empty() {
            return;
        }
        let bytes = Arc::clone(&self.bytes);
        // Outside the request: its connection may be gone with it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            for key in keys {
                if let Err(error) = bytes.delete(&key).await {
                    tracing::warn!(?error, %key, "could not delete an upload that was not kept; housekeeping will");
                }
            }
        });
    }
}

/// What one housekeeping pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Interrupted uploads deleted.
    pub abandoned: usize,
    /// Uploads linked before a crash, whose sealing was interrupted.
    pub sealed: usize,
    /// Bytes deleted that were listed for deletion.
    pub deleted: usize,
}

impl Files {
    pub fn new(store: Store, bytes: Arc<dyn ByteStore>, settings: AttachmentSettings) -> Files {
        Files { bytes, settings, store, scan_wake: Arc::default(), previews: Arc::new(Semaphore::new(1)) }
    }

    /// Nothing staged yet.
    pub fn staging(&self) -> Staged {
        Staged { bytes: Arc::clone(&self.bytes), keys: Vec::new() }
    }

    /// Where new bytes start: waiting for the scanner when one is configured.
    pub fn initial_scan(&self) -> ScanState {
        if self.settings.scanner.is_some() { ScanState::Pending } else { ScanState::NotScanned }
    }

    /// Wakes this instance's scanner (new files are waiting).
    pub fn scan_now(&self) {
        self.scan_wake.notify_one();
    }

    pub(crate) fn scan_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.scan_wake)
    }

    /// After the transaction that linked `staged` committed: seals its objects and deletes those
    /// the link made redundant (the account had the same bytes already). Failures are left to
    /// housekeeping, which finds both.
    pub async fn settle(&self, mut staged: Staged) {
        let keys = std::mem::take(&mut staged.keys);
        if let Err(error) = self.bytes.seal(&keys).await {
            tracing::warn!(?error, "could not seal linked uploads; housekeeping will");
        }
        if let Err(error) = self.delete_listed().await {
            tracing::warn!(?error, "could not delete redundant bytes; housekeeping will");
        }
        self.scan_now();
    }

    /// Deletes the bytes listed for deletion (`blob_deletions`), then forgets each listing.
    pub async fn delete_listed(&self) -> StoreResult<usize> {
        let doomed = self.store.blob_deletions(SWEEP_BATCH).await?;
        for key in &doomed {
            self.bytes.delete(key).await?;
            self.store.forget_blob_deletion(key).await?;
        }
        Ok(doomed.len())
    }

    /// Housekeeping: uploads untouched since before `now - STALE_UPLOAD` that a blob references
    /// are sealed (a crash came between the link and the seal), the others deleted (an
    /// interrupted upload); then the bytes listed for deletion go.
    pub async fn sweep(&self, now: DateTime<Utc>) -> StoreResult<Swept> {
        let mut swept = Swept::default();
        for key in self.bytes.unsealed_before(now - STALE_UPLOAD, SWEEP_BATCH).await? {
            if self.store.object_referenced(&key).await? {
                self.bytes.seal(std::slice::from_ref(&key)).await?;
                swept.sealed += 1;
            } else {
                self.bytes.delete(&key).await?;
                swept.abandoned += 1;
            }
        }
        swept.deleted = self.delete_listed().await?;
        Ok(swept)
    }

    /// All of an object's bytes, if it has at most `limit` of them.
    async fn read_whole(&self, key: &ObjectKey, size: i64, limit: u64) -> StoreResult<Option<Vec<u8>>> {
        if u64::try_from(size).map_or(true, |s| s > limit) {
            return Ok(None);
        }
        let parts: Vec<Bytes> = self.bytes.read(key).try_collect().await?;
        Ok(Some(parts.concat()))
    }

    /// The preview of an image attachment (a small PNG re-encoded on the server, never the
    /// original bytes), made on its first request and kept; `None` when there is none (not one
    /// of the four image types, too large, or not decodable).
    pub async fn preview(&self, attachment: &AttachmentRecord) -> StoreResult<Option<Bytes>> {
        if !attachment::previewable(attachment.detected_type.as_deref()) || attachment.preview_made == Some(false) {
            return Ok(None);
        }
        let key = attachment.object_key.preview();
        if attachment.preview_made == Some(true) {
            let parts: Vec<Bytes> = self.bytes.read(&key).try_collect().await?;
            return Ok(Some(Bytes::from(parts.concat())));
        }
        // Without the request's connection while waiting for another preview and decoding.
        crate::store::request::release().await;
        let Ok(_turn) = self.previews.acquire().await else { return Ok(None) };
        // Another request may have made it while this one waited.
        if let Some(now) = self.store.attachment(&attachment.public_id).await?
            && now.preview_made.is_some()
        {
            return Box::pin(self.preview(&now)).await;
        }
        let source = self.read_whole(&attachment.object_key, attachment.size, preview::SOURCE_LIMIT).await?;
        let made = match source {
            Some(source) => tokio::task::spawn_blocking(move || preview::make(&source)).await.ok().flatten(),
            None => None,
        };
        match made {
            Some(png) => {
                let png = Bytes::from(png);
                self.bytes.put(&key, png.clone()).await?;
                self.store.set_preview_made(attachment.blob_id, true).await?;
                Ok(Some(png))
            }
            None => {
                self.store.set_preview_made(attachment.blob_id, false).await?;
                Ok(None)
            }
        }
    }
}
