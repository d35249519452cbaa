//! The hash chain: each row's hash is SHA-256 over the previous row's hash and this row's
//! canonical bytes. The first row's previous hash is 32 zero bytes.
//!
//! Canonical bytes: `seq` and `at` as 8-byte big-endian integers, then each of user, device,
//! document, action and detail as a presence byte (0 absent, 1 present) followed, when present,
//! by a 4-byte big-endian length and the UTF-8 bytes. Length prefixes make the encoding
//! unambiguous, so no two different rows share bytes.

use rusqlite::{Connection, OptionalExtension as _};
use sha2::{Digest as _, Sha256};

use super::AuditError;

/// One row's content, without its hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Row {
    pub seq: i64,
    pub at: i64,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub document_id: Option<String>,
    pub action: String,
    pub detail: String,
}

const GENESIS: [u8; 32] = [0; 32];

fn push_field(bytes: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => bytes.push(0),
        Some(text) => {
            bytes.push(1);
            // Fields are ids and short notes; a length over 4 GiB cannot be stored anyway.
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    }
}

fn canonical(row: &Row) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    bytes.extend_from_slice(&row.seq.to_be_bytes());
    bytes.extend_from_slice(&row.at.to_be_bytes());
    push_field(&mut bytes, row.user_id.as_deref());
    push_field(&mut bytes, row.device_id.as_deref());
    push_field(&mut bytes, row.document_id.as_deref());
    push_field(&mut bytes, Some(&row.action));
    push_field(&mut bytes, Some(&row.detail));
    bytes
}

/// The hash of `row` chained onto `prev_hash`.
pub(super) fn hash(prev_hash: &[u8], row: &Row) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical(row));
    hasher.finalize().into()
}

/// The last row's sequence number and hash (0 and the genesis hash for an empty log).
pub(super) fn last(conn: &Connection) -> Result<(i64, Vec<u8>), AuditError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_vec())))
}

/// An intact chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// How many rows it has.
    pub rows: i64,
    /// The last row's hash in hex (the genesis hash for an empty log). Writing it down
    /// elsewhere (the backup report, an operator's notebook) also makes a truncated tail
    /// detectable, which the chain alone cannot show.
    pub head: String,
}

/// The first row that does not fit the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// Its sequence number.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}", self.seq, self.reason)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Walks the whole log in order and reports the first broken row, or the intact chain's length
/// and head.
pub fn verify(conn: &Connection) -> Result<Result<Verified, ChainBreak>, AuditError> {
    let mut statement = conn.prepare(
        "SELECT seq, at, user_id, device_id, document_id, action, detail, prev_hash, hash \
         FROM audit_log ORDER BY seq",
    )?;
    let mut rows = statement.query([])?;
    let mut expected_prev = GENESIS.to_vec();
    let mut expected_seq = 1;
    let mut count = 0;
    while let Some(r) = rows.next()? {
        let row = Row {
            seq: r.get(0)?,
            at: r.get(1)?,
            user_id: r.get(2)?,
            device_id: r.get(3)?,
            document_id: r.get(4)?,
            action: r.get(5)?,
            detail: r.get(6)?,
        };
        let prev_hash: Vec<u8> = r.get(7)?;
        let stored_hash: Vec<u8> = r.get(8)?;
        let broken = |reason| {
            Ok(Err(ChainBreak {
                seq: row.seq,
                reason,
            }))
        };
        if row.seq != expected_seq {
            return broken("a row before it is missing (sequence gap)");
        }
        if prev_hash != expected_prev {
            return broken("its previous hash is not the hash of the row before");
        }
        if hash(&prev_hash, &row).as_slice() != stored_hash.as_slice() {
            return broken("its content does not match its hash (the row was changed)");
        }
        expected_prev = stored_hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(Ok(Verified {
        rows: count,
        head: hex(&expected_prev),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            seq: 1,
            at: 1_700_000_000_000,
            user_id: Some("u".to_owned()),
            device_id: None,
            document_id: None,
            action: "login_failed".to_owned(),
            detail: String::new(),
        }
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let a = Row {
            user_id: Some("ab".to_owned()),
            device_id: Some("c".to_owned()),
            ..row()
        };
        let b = Row {
            user_id: Some("a".to_owned()),
            device_id: Some("bc".to_owned()),
            ..row()
        };
        assert_ne!(hash(&GENESIS, &a), hash(&GENESIS, &b));
        let absent = Row {
            user_id: None,
            ..row()
        };
        let empty = Row {
            user_id: Some(String::new()),
            ..row()
        };
        assert_ne!(hash(&GENESIS, &absent), hash(&GENESIS, &empty));
    }

    #[test]
    fn the_hash_depends_on_the_previous_one() {
        assert_ne!(hash(&GENESIS, &row()), hash(&[1; 32], &row()));
    }
}
