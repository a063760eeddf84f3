//! Attachments' metadata: the content-addressed `blobs` (one per account and SHA-256) and the
//! `attachments` that name them on tickets and comments. Linking new uploads happens inside the
//! transaction that stores their ticket or comment (`link_attachments!`); the bytes are the byte
//! store's (`bytes`).

use super::statement;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::bytes::ObjectKey;
use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::attachment::ScanState;

/// An upload that reached the byte store and waits to be linked to its ticket or comment.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub object_key: ObjectKey,
    /// Lowercase hex.
    pub sha256: String,
    pub size: i64,
    /// Cleaned already (`domain::attachment::clean_name`).
    pub name: String,
    pub declared_type: Option<String>,
    pub detected_type: Option<String>,
}

/// The uploads a comment or a new ticket carries, and the rules their linking checks.
#[derive(Debug, Clone)]
pub struct NewAttachments {
    pub files: Vec<NewAttachment>,
    /// The account's most bytes of attachments: linking beyond it fails, and nothing is linked.
    pub quota_bytes: i64,
    /// Where newly stored bytes start: `Pending` when a virus scanner is configured.
    pub scan: ScanState,
}

impl NewAttachments {
    /// No files.
    pub const NONE: NewAttachments =
        NewAttachments { files: Vec::new(), quota_bytes: i64::MAX, scan: ScanState::NotScanned };
}

impl Default for NewAttachments {
    fn default() -> Self {
        NewAttachments::NONE
    }
}

/// Linking would take the account past its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    pub used: i64,
    pub quota: i64,
}

/// One attachment as pages, the API and downloads read it.
#[derive(Debug, Clone)]
pub struct AttachmentRecord {
    pub public_id: String,
    pub ticket_id: i64,
    pub comment_id: Option<i64>,
    pub blob_id: i64,
    pub object_key: ObjectKey,
    pub name: String,
    pub declared_type: Option<String>,
    pub detected_type: Option<String>,
    pub size: i64,
    pub sha256: String,
    pub internal: bool,
    pub uploader_name: String,
    pub uploader_is_support: bool,
    pub created_at: DateTime<Utc>,
    pub scan: ScanState,
    pub scan_detail: Option<String>,
    /// `Some(true)` once a preview was made, `Some(false)` when none can be.
    pub preview_made: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct RawAttachment {
    public_id: String,
    ticket_id: i64,
    comment_id: Option<i64>,
    blob_id: i64,
    object_key: String,
    name: String,
    declared_type: Option<String>,
    detected_type: Option<String>,
    size: i64,
    sha256: String,
    internal: bool,
    uploader_name: String,
    uploader_is_support: bool,
    created_at: DateTime<Utc>,
    scan_state: String,
    scan_detail: Option<String>,
    preview_state: Option<String>,
}

impl TryFrom<RawAttachment> for AttachmentRecord {
    type Error = sqlx::Error;

    fn try_from(raw: RawAttachment) -> Result<Self, Self::Error> {
        let scan = ScanState::from_code(&raw.scan_state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown scan state {:?}", raw.scan_state).into()))?;
        Ok(AttachmentRecord {
            public_id: raw.public_id,
            ticket_id: raw.ticket_id,
            comment_id: raw.comment_id,
            blob_id: raw.blob_id,
            object_key: ObjectKey::from_stored(raw.object_key),
            name: raw.name,
            declared_type: raw.declared_type,
            detected_type: raw.detected_type,
            size: raw.size,
            sha256: raw.sha256,
            internal: raw.internal,
            uploader_name: raw.uploader_name,
            uploader_is_support: raw.uploader_is_support,
            created_at: raw.created_at,
            scan,
            scan_detail: raw.scan_detail,
            preview_made: raw.preview_state.map(|s| s == PREVIEW_MADE),
        })
    }
}

const PREVIEW_MADE: &str = "made";
const PREVIEW_NONE: &str = "none";

macro_rules! attachment_columns {
    () => {
        "SELECT a.public_id, a.ticket_id, a.comment_id, a.blob_id, b.object_key, a.name, a.declared_type, \
         b.detected_type, b.size, b.sha256, a.internal, u.first_name || ' ' || u.last_name AS uploader_name, \
         u.is_support AS uploader_is_support, a.created_at, b.scan_state, b.scan_detail, b.preview_state \
         FROM attachments a JOIN blobs b ON b.id = a.blob_id JOIN users u ON u.id = a.uploaded_by "
    };
}

/// A ticket's files in the order they were added (`$2`: with internal notes' files), as its page
/// reads them: through `attachments_ticket`, in order.
pub(super) const TICKET_ATTACHMENTS_SQL: &str =
    concat!(attachment_columns!(), "WHERE a.ticket_id = $1 AND (a.internal = FALSE OR $2) ORDER BY a.created_at, a.id");

/// A file to scan, claimed by one scanner until its lease ends.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScanJob {
    pub blob_id: i64,
    pub object_key: String,
    pub size: i64,
    pub scan_attempts: i32,
}

/// Links `$uploads` (a `&NewAttachments`) to a ticket, and to a comment if `$comment_id` is one,
/// inside the transaction `$tx` that stores them: a file whose bytes the account stored already
/// refers to those (its own upload is listed for deletion), the others become blobs. Fails with
/// [`OverQuota`] (as `$over_quota`) when the account would exceed its quota; the transaction then
/// rolls back and nothing is linked. PostgreSQL locks the account's row, so that two links of one
/// account (or a link and a removal) take turns; SQLite's writer already does. The lock is `NO KEY
/// UPDATE`: the transaction may already hold the row's key-share lock (a new ticket's foreign key
/// takes one), and two such transactions asking for `UPDATE` would deadlock.
macro_rules! link_attachments {
    ($store:expr, $tx:expr, $account_id:expr, $ticket_id:expr, $comment_id:expr, $uploader:expr,
     $internal:expr, $uploads:expr, $at:expr, $over_quota:expr) => {{
        let uploads: &$crate::store::NewAttachments = $uploads;
        if !uploads.files.is_empty() {
            if matches!($store, Store::Postgres(..)) {
                statement::query("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE")
                    .bind($account_id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            }
            for file in &uploads.files {
                let stored: Option<i64> = statement::query_scalar("SELECT id FROM blobs WHERE account_id = $1 AND sha256 = $2")
                    .bind($account_id)
                    .bind(&file.sha256)
                    .fetch_optional(&mut *$tx)
                    .await?;
                let blob_id: i64 = match stored {
                    Some(id) => {
                        statement::query(
                            "INSERT INTO blob_deletions (object_key, created_at) VALUES ($1, $2) \
                             ON CONFLICT (object_key) DO NOTHING",
                        )
                        .bind(file.object_key.as_str())
                        .bind($at)
                        .execute(&mut *$tx)
                        .await?;
                        id
                    }
                    None => {
                        let due = (uploads.scan == $crate::domain::attachment::ScanState::Pending).then_some($at);
                        statement::query_scalar(
                            "INSERT INTO blobs (account_id, sha256, size, object_key, detected_type, scan_state, \
                             scan_due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                        )
                        .bind($account_id)
                        .bind(&file.sha256)
                        .bind(file.size)
                        .bind(file.object_key.as_str())
                        .bind(&file.detected_type)
                        .bind(uploads.scan.code())
                        .bind(due)
                        .bind($at)
                        .fetch_one(&mut *$tx)
                        .await?
                    }
                };
                statement::query(
                    "INSERT INTO attachments (public_id, ticket_id, comment_id, blob_id, name, declared_type, internal, \
                     uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind($crate::store::attachments::public_id())
                .bind($ticket_id)
                .bind($comment_id)
                .bind(blob_id)
                .bind(&file.name)
                .bind(&file.declared_type)
                .bind($internal)
                .bind($uploader)
                .bind($at)
                .execute(&mut *$tx)
                .await?;
            }
            let used: i64 =
                statement::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE account_id = $1")
                    .bind($account_id)
                    .fetch_one(&mut *$tx)
                    .await?;
            if used > uploads.quota_bytes {
                let stored: i64 = uploads.files.iter().map(|f| f.size).sum();
                return Err($over_quota($crate::store::OverQuota {
                    used: (used - stored).max(0),
                    quota: uploads.quota_bytes,
                }));
            }
        }
    }};
}

pub(crate) use link_attachments;

/// A new attachment's id: 128 random bits, URL-safe (22 characters).
pub fn public_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Store {
    /// A ticket's attachments in the order they were added; files on internal notes only when
    /// asked for (support staff).
    #[tracing::instrument(skip(self))]
    pub async fn ticket_attachments(
        &self,
        ticket_id: i64,
        include_internal: bool,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        let raw: Vec<RawAttachment> = on_pool!(self, pool => statement::query_as(TICKET_ATTACHMENTS_SQL)
            .bind(ticket_id).bind(include_internal).fetch_all(pool).await)?;
        Ok(raw.into_iter().map(AttachmentRecord::try_from).collect::<Result<_, _>>()?)
    }

    /// One attachment by its public id, whoever may see it (the caller decides).
    #[tracing::instrument(skip(self))]
    pub async fn attachment(&self, public_id: &str) -> StoreResult<Option<AttachmentRecord>> {
        let sql = concat!(attachment_columns!(), "WHERE a.public_id = $1");
        let raw: Option<RawAttachment> =
            on_pool!(self, pool => statement::query_as(sql).bind(public_id).fetch_optional(pool).await)?;
        Ok(raw.map(AttachmentRecord::try_from).transpose()?)
    }

    /// The names of the files a notice may mention: those of a public comment, or (without a
    /// comment) those the ticket was opened with. Never an internal note's.
    pub async fn public_attachment_names(&self, ticket_id: i64, comment_id: Option<i64>) -> StoreResult<Vec<String>> {
        let sql = "SELECT name FROM attachments WHERE ticket_id = $1 AND internal = FALSE \
                   AND ((comment_id IS NULL AND $2 IS NULL) OR comment_id = $2) ORDER BY created_at, id";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).bind(ticket_id).bind(comment_id).fetch_all(pool).await)?)
    }

    /// The bytes an account's attachments take, each stored file counted once.
    pub async fn attachment_usage(&self, account_id: i64) -> StoreResult<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE account_id = $1";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).bind(account_id).fetch_one(pool).await)?)
    }

    /// Removes an attachment; when it was the last reference to its bytes, the blob goes too and
    /// its bytes (and preview) are listed for deletion in the same transaction. `false` if there
    /// was no such attachment.
    #[tracing::instrument(skip(self))]
    pub async fn remove_attachment(&self, public_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let postgres = matches!(self, Store::Postgres(..));
        in_transaction!(self, tx => {
            let found: Option<(i64, i64)> = statement::query_as(
                "SELECT a.blob_id, b.account_id FROM attachments a JOIN blobs b ON b.id = a.blob_id WHERE a.public_id = $1")
                .bind(public_id).fetch_optional(&mut *tx).await?;
            let Some((blob_id, account_id)) = found else { return Ok(false) };
            if postgres {
                // Takes turns with uploads of the account (see `link_attachments!`).
                statement::query("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE").bind(account_id).fetch_optional(&mut *tx).await?;
            }
            let removed = statement::query("DELETE FROM attachments WHERE public_id = $1")
                .bind(public_id).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                return Ok(false);
            }
            let others: i64 = statement::query_scalar("SELECT COUNT(*) FROM attachments WHERE blob_id = $1")
                .bind(blob_id).fetch_one(&mut *tx).await?;
            if others == 0 {
                let key: String = statement::query_scalar("DELETE FROM blobs WHERE id = $1 RETURNING object_key")
                    .bind(blob_id).fetch_one(&mut *tx).await?;
                for doomed in [key.clone(), ObjectKey::from_stored(key).preview().to_string()] {
                    statement::query("INSERT INTO blob_deletions (object_key, created_at) VALUES ($1, $2) \
                                 ON CONFLICT (object_key) DO NOTHING")
                        .bind(doomed).bind(at).execute(&mut *tx).await?;
                }
            }
            true
        })
    }

    /// Bytes listed for deletion, oldest first.
    pub async fn blob_deletions(&self, limit: i64) -> StoreResult<Vec<ObjectKey>> {
        let sql = "SELECT object_key FROM blob_deletions ORDER BY created_at, object_key LIMIT $1";
        let keys: Vec<String> = on_pool!(self, pool => statement::query_scalar(sql).bind(limit).fetch_all(pool).await)?;
        Ok(keys.into_iter().map(ObjectKey::from_stored).collect())
    }

    /// The bytes are gone from the byte store.
    pub async fn forget_blob_deletion(&self, key: &ObjectKey) -> StoreResult<()> {
        execute!(self, statement::query("DELETE FROM blob_deletions WHERE object_key = $1").bind(key.as_str()))?;
        Ok(())
    }

    /// Whether a blob refers to these bytes (an unsealed object that is referenced was linked,
    /// and only its sealing was interrupted).
    pub async fn object_referenced(&self, key: &ObjectKey) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM blobs WHERE object_key = $1 \
                   AND NOT EXISTS (SELECT 1 FROM blob_deletions d WHERE d.object_key = $1)";
        let n: i64 = on_pool!(self, pool => statement::query_scalar(sql).bind(key.as_str()).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Takes the next file due for a virus scan, holding it until `lease` (another scanner
    /// takes it over after). PostgreSQL skips rows other scanners hold.
    pub async fn claim_scan(&self, now: DateTime<Utc>, lease: DateTime<Utc>) -> StoreResult<Option<ScanJob>> {
        let pick = if matches!(self, Store::Postgres(..)) {
            "SELECT id FROM blobs WHERE scan_due_at <= $1 ORDER BY scan_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"
        } else {
            "SELECT id FROM blobs WHERE scan_due_at <= $1 ORDER BY scan_due_at LIMIT 1"
        };
        in_transaction!(self, tx => {
            let id: Option<i64> = statement::query_scalar(pick).bind(now).fetch_optional(&mut *tx).await?;
            match id {
                None => None,
                Some(id) => Some(statement::query_as::<_, ScanJob>(
                    "UPDATE blobs SET scan_due_at = $2, scan_attempts = scan_attempts + 1 WHERE id = $1 \
                     RETURNING id AS blob_id, object_key, size, scan_attempts")
                    .bind(id).bind(lease).fetch_one(&mut *tx).await?),
            }
        })
    }

    /// Records a scan's outcome: the state, the signature found, and when to look again (never,
    /// for a finished scan).
    pub async fn record_scan(
        &self,
        blob_id: i64,
        state: ScanState,
        detail: Option<&str>,
        again_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "UPDATE blobs SET scan_state = $2, scan_detail = $3, scan_due_at = $4, scanned_at = $5 WHERE id = $1";
        execute!(self, statement::query(sql).bind(blob_id).bind(state.code()).bind(detail).bind(again_at).bind(at))?;
        Ok(())
    }

    /// Files still waiting for a virus scan (`/metrics`).
    pub async fn scans_waiting(&self) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM blobs WHERE scan_due_at IS NOT NULL";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).fetch_one(pool).await)?)
    }

    /// Whether a preview of the blob was made (`true`) or cannot be (`false`).
    pub async fn set_preview_made(&self, blob_id: i64, made: bool) -> StoreResult<()> {
        let state = if made { PREVIEW_MADE } else { PREVIEW_NONE };
        execute!(
            self,
            statement::query("UPDATE blobs SET preview_state = $2 WHERE id = $1").bind(blob_id).bind(state)
        )?;
        Ok(())
    }
}
