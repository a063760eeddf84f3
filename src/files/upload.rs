//! Receiving one file: its bytes go to the byte store in parts as they arrive, hashed and counted
//! on the way, so that memory holds at most one part whatever the file's size; a file that passes
//! a limit stops there, and what it left is deleted with its [`Staged`].

use actix_web::web::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::{Files, Staged};
use crate::clock::Clock;
use crate::domain::attachment::{Limits, OverLimit};
use crate::store::bytes::PART_BYTES;
use crate::store::{NewAttachment, StoreError};

/// How many leading bytes the type is detected from.
const SNIFF_BYTES: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// A limit was passed (413); nothing of the file is kept.
    #[error("{}", .0.message())]
    TooLarge(OverLimit),
    /// The request's body broke off or was malformed.
    #[error("the upload was cut off or malformed")]
    Broken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many bytes the account may still add, and how many this request has added so far.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limits: Limits,
    /// What the account's attachments take already.
    pub used: u64,
    /// What this request has streamed so far.
    pub received: u64,
}

impl Budget {
    pub fn new(limits: Limits, used: u64) -> Budget {
        Budget { limits, used, received: 0 }
    }
}

/// One file as the form named it.
pub struct Incoming {
    /// Cleaned already.
    pub name: String,
    pub declared_type: Option<String>,
}

/// Streams one file into the byte store under a new object of `staged`.
pub async fn receive<S, E>(
    files: &Files,
    clock: &Clock,
    staged: &mut Staged,
    budget: &mut Budget,
    incoming: Incoming,
    mut body: S,
) -> Result<NewAttachment, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let key = files.bytes.begin(clock.now()).await?;
    staged.push(key.clone());
    let mut hasher = Sha256::new();
    let mut sniff = Vec::with_capacity(SNIFF_BYTES);
    let mut buffer = BytesMut::with_capacity(PART_BYTES);
    let mut size: u64 = 0;
    let mut part: u32 = 0;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|_| UploadError::Broken)?;
        size += piece.len() as u64;
        budget.received += piece.len() as u64;
        if size > budget.limits.max_file_bytes {
            return Err(UploadError::TooLarge(OverLimit::File { name: incoming.name, limits: budget.limits }));
        }
        if budget.used.saturating_add(budget.received) > budget.limits.account_quota_bytes {
            return Err(UploadError::TooLarge(OverLimit::Quota {
                used: budget.used,
                quota: budget.limits.account_quota_bytes,
            }));
        }
        hasher.update(&piece);
        if sniff.len() < SNIFF_BYTES {
            sniff.extend_from_slice(&piece[..piece.len().min(SNIFF_BYTES - sniff.len())]);
        }
        buffer.extend_from_slice(&piece);
        while buffer.len() >= PART_BYTES {
            let whole = buffer.split_to(PART_BYTES).freeze();
            files.bytes.append(&key, part, whole, clock.now()).await?;
            part += 1;
            // No connection is held while the next part arrives over the network.
            crate::store::request::release().await;
        }
    }
    if !buffer.is_empty() {
        files.bytes.append(&key, part, buffer.freeze(), clock.now()).await?;
        crate::store::request::release().await;
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(NewAttachment {
        object_key: key,
        sha256,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        name: incoming.name,
        declared_type: incoming.declared_type,
        detected_type: infer::get(&sniff).map(|kind| kind.mime_type().to_string()),
    })
}
