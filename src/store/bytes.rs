//! The byte store: where attachments' bytes live. Handlers and the rest of the portal reach it
//! only through [`ByteStore`], so that a deployment too large for its database can keep the bytes
//! in an S3-compatible object store instead, by adding one implementation of the trait; the
//! metadata (names, sizes, hashes, who may see what) stays in the database either way.
//!
//! The contract, which [`DatabaseBytes`] keeps and another store must keep too:
//! - An upload [`begin`](ByteStore::begin)s an object under a new random key, [`append`](ByteStore::append)s
//!   its parts in order (each part its own small write; nothing holds a transaction across the
//!   stream), and is **unsealed** until the database transaction that references it has committed
//!   and the object is [`seal`](ByteStore::seal)ed.
//! - Unsealed objects untouched for a while ([`unsealed_before`](ByteStore::unsealed_before)) are
//!   what interrupted uploads and crashes leave: housekeeping seals those a blob references and
//!   deletes the rest. Deletions are written to the database first (`blob_deletions`) and carried
//!   out after the commit, so nothing half-written stays visible or behind.
//! - Keys are the store's own (random), never a name a user gave.

use super::statement;
use std::fmt;

use actix_web::web::Bytes;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use super::{Store, StoreResult, execute, in_transaction, on_pool};

/// An object's bytes, part after part.
pub type ByteStream = BoxStream<'static, StoreResult<Bytes>>;

/// The largest part an upload writes at once (and a download reads at once).
pub const PART_BYTES: usize = 256 * 1024;

/// A key in the byte store: random, URL-safe, chosen by the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// A new random key: 192 bits.
    pub fn random() -> ObjectKey {
        let mut bytes = [0u8; 24];
        rand::fill(&mut bytes);
        ObjectKey(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A key as stored in the database.
    pub fn from_stored(key: String) -> ObjectKey {
        ObjectKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the re-encoded preview image made from this object.
    pub fn preview(&self) -> ObjectKey {
        ObjectKey(format!("{}.preview", self.0))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where bytes are kept (see the module's documentation for the contract).
pub trait ByteStore: Send + Sync + fmt::Debug {
    /// Starts a new, unsealed object.
    fn begin(&self, at: DateTime<Utc>) -> BoxFuture<'_, StoreResult<ObjectKey>>;
    /// Writes part number `part` (0, 1, 2, … in order) of an unsealed object.
    fn append<'a>(
        &'a self,
        key: &'a ObjectKey,
        part: u32,
        bytes: Bytes,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// The objects are referenced now: housekeeping leaves them alone.
    fn seal<'a>(&'a self, keys: &'a [ObjectKey]) -> BoxFuture<'a, StoreResult<()>>;
    /// Writes a small object whole and sealed (a preview); a second write of the key keeps the first.
    fn put<'a>(&'a self, key: &'a ObjectKey, bytes: Bytes) -> BoxFuture<'a, StoreResult<()>>;
    /// The object's bytes, part by part (nothing for a missing object: callers know the size).
    fn read(&self, key: &ObjectKey) -> ByteStream;
    /// Deletes an object, sealed or not; nothing happens if there is none.
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, StoreResult<()>>;
    /// Unsealed objects last written before `before`.
    fn unsealed_before(&self, before: DateTime<Utc>, limit: i64) -> BoxFuture<'_, StoreResult<Vec<ObjectKey>>>;
}

/// A part and its upload's time in one statement (one round trip, its own transaction), whose
/// commit does not wait for the disk (`synchronous_commit` off for it alone): the link's commit,
/// which waits, comes after it in the log and makes it durable, and a crash before that loses
/// only an upload that was never linked (housekeeping deletes what is left of it).
const APPEND_POSTGRES: &str = "WITH commit_mode AS (SELECT set_config('synchronous_commit', 'off', true) AS mode), \
     touched AS (UPDATE file_uploads SET touched_at = $4 WHERE object_key = $1) \
     INSERT INTO file_chunks (object_key, part, data) SELECT $1, $2, $3 FROM commit_mode";

/// The byte store in the database the portal already uses: parts of at most [`PART_BYTES`] in
/// `file_chunks` (on SQLite in the attached `files` file), unsealed objects in `file_uploads`.
/// Several instances share it with nothing more than the database.
#[derive(Debug, Clone)]
pub struct DatabaseBytes {
    store: Store,
}

impl DatabaseBytes {
    pub fn new(store: Store) -> DatabaseBytes {
        DatabaseBytes { store }
    }
}

impl ByteStore for DatabaseBytes {
    fn begin(&self, at: DateTime<Utc>) -> BoxFuture<'_, StoreResult<ObjectKey>> {
        Box::pin(async move {
            let key = ObjectKey::random();
            let sql = "INSERT INTO file_uploads (object_key, started_at, touched_at) VALUES ($1, $2, $2)";
            execute!(&self.store, statement::query(sql).bind(key.as_str()).bind(at))?;
            Ok(key)
        })
    }

    fn append<'a>(
        &'a self,
        key: &'a ObjectKey,
        part: u32,
        bytes: Bytes,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if matches!(self.store, Store::Postgres(..)) {
                execute!(
                    &self.store,
                    statement::query(APPEND_POSTGRES)
                        .bind(key.as_str())
                        .bind(i64::from(part))
                        .bind(bytes.as_ref())
                        .bind(at)
                )?;
                return Ok(());
            }
            in_transaction!(&self.store, tx => {
                statement::query("INSERT INTO file_chunks (object_key, part, data) VALUES ($1, $2, $3)")
                    .bind(key.as_str()).bind(i64::from(part)).bind(bytes.as_ref())
                    .execute(&mut *tx).await?;
                statement::query("UPDATE file_uploads SET touched_at = $2 WHERE object_key = $1")
                    .bind(key.as_str()).bind(at)
                    .execute(&mut *tx).await?;
            })
        })
    }

    fn seal<'a>(&'a self, keys: &'a [ObjectKey]) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            for key in keys {
                execute!(
                    &self.store,
                    statement::query("DELETE FROM file_uploads WHERE object_key = $1").bind(key.as_str())
                )?;
            }
            Ok(())
        })
    }

    fn put<'a>(&'a self, key: &'a ObjectKey, bytes: Bytes) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let sql = "INSERT INTO file_chunks (object_key, part, data) VALUES ($1, 0, $2) \
                       ON CONFLICT (object_key, part) DO NOTHING";
            execute!(&self.store, statement::query(sql).bind(key.as_str()).bind(bytes.as_ref()))?;
            Ok(())
        })
    }

    fn read(&self, key: &ObjectKey) -> ByteStream {
        let (store, key) = (self.store.clone(), key.clone());
        // One part per statement, each on a connection of its own: a slow reader holds none
        // between parts.
        Box::pin(futures_util::stream::try_unfold(0_i64, move |part| {
            let (store, key) = (store.clone(), key.clone());
            async move {
                let sql = "SELECT data FROM file_chunks WHERE object_key = $1 AND part = $2";
                let data: Option<Vec<u8>> = on_pool!(&store, pool => statement::query_scalar(sql)
                    .bind(key.as_str()).bind(part).fetch_optional(pool).await)?;
                Ok(data.map(|data| (Bytes::from(data), part + 1)))
            }
        }))
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            in_transaction!(&self.store, tx => {
                statement::query("DELETE FROM file_chunks WHERE object_key = $1").bind(key.as_str()).execute(&mut *tx).await?;
                statement::query("DELETE FROM file_uploads WHERE object_key = $1").bind(key.as_str()).execute(&mut *tx).await?;
            })
        })
    }

    fn unsealed_before(&self, before: DateTime<Utc>, limit: i64) -> BoxFuture<'_, StoreResult<Vec<ObjectKey>>> {
        Box::pin(async move {
            let sql = "SELECT object_key FROM file_uploads WHERE touched_at < $1 ORDER BY touched_at LIMIT $2";
            let keys: Vec<String> = on_pool!(&self.store, pool => statement::query_scalar(sql).bind(before).bind(limit).fetch_all(pool).await)?;
            Ok(keys.into_iter().map(ObjectKey).collect())
        })
    }
}
