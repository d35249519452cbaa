//! The document registry in SQLite: which documents exist, their kind and team, who is assigned
//! to them, and their durably stored heads.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use crate::access::{DocFacts, DocKind};

/// A registry row as the manifest reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DocEntry {
    /// automerge-repo document id.
    pub id: String,
    /// Its kind's registry name.
    pub kind: String,
    /// Hex change hashes last read back from storage.
    pub heads: Vec<String>,
    /// The registry's change sequence at this document's last change: strictly increasing
    /// across all documents with every write (and never below the write's Unix ms), so a
    /// manifest cursor cannot skip a document written in the same millisecond as another.
    pub updated_at: i64,
}

/// Registers a new document inside the caller's transaction (a batch registers many in one).
/// Returns false when the id is taken.
pub fn register(
    conn: &Connection,
    id: &str,
    kind: DocKind,
    team_id: Option<&str>,
    created_by: &str,
    members: &[String],
    now: i64,
) -> rusqlite::Result<bool> {
    // Cached statements: a device registers each record it made before its first push, and
    // the share policy asks for a document's facts at every cold exchange.
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO documents (id, kind, team_id, created_by, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, MAX(?5, (SELECT COALESCE(MAX(updated_at), 0) + 1 FROM documents)))",
        )?
        .execute(params![id, kind.as_str(), team_id, created_by, now])?;
    if inserted == 0 {
        return Ok(false);
    }
    for member in members {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO document_members (document_id, user_id) VALUES (?1, ?2)",
        )?
        .execute(params![id, member])?;
    }
    Ok(true)
}

/// What access control needs to know about `doc_id` for `user_id`; `None` if unknown. A
/// document whose stored chunks exceed `max_bytes` is marked over its size limit.
pub fn facts(
    conn: &Connection,
    doc_id: &str,
    user_id: &str,
    max_bytes: u64,
) -> rusqlite::Result<Option<DocFacts>> {
    conn.prepare_cached(
        "SELECT kind, team_id, deleted_at IS NOT NULL, \
         EXISTS (SELECT 1 FROM document_members m WHERE m.document_id = d.id AND m.user_id = ?2) \
         FROM documents d WHERE id = ?1",
    )?
    .query_row(params![doc_id, user_id], |r| {
        let kind: String = r.get(0)?;
        Ok((kind, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .optional()?
    .map(
        |(kind, team_id, deleted, user_is_member): (String, _, _, _)| {
            let over_size_limit = stored_bytes(conn, doc_id)? > max_bytes;
            Ok(DocKind::parse(&kind).map(|kind| DocFacts {
                kind,
                team_id,
                deleted,
                user_is_member,
                over_size_limit,
            }))
        },
    )
    .transpose()
    .map(Option::flatten)
}

/// How many bytes of chunks are stored for `doc_id`.
pub fn stored_bytes(conn: &Connection, doc_id: &str) -> rusqlite::Result<u64> {
    let bytes: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(length(data)), 0) FROM chunks WHERE doc_id = ?1")?
        .query_row([doc_id], |r| r.get(0))?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// Replaces the users assigned to `doc_id`. Returns false for an unknown document.
pub fn set_members(
    conn: &mut Connection,
    doc_id: &str,
    members: &[String],
    now: i64,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    // Bumping updated_at puts the document in the manifest of whoever just gained access.
    let known = tx.execute(
        "UPDATE documents SET updated_at = MAX(?2, (SELECT MAX(updated_at) + 1 FROM documents)) \
         WHERE id = ?1",
        params![doc_id, now],
    )?;
    if known == 0 {
        return Ok(false);
    }
    tx.execute(
        "DELETE FROM document_members WHERE document_id = ?1",
        [doc_id],
    )?;
    for member in members {
        tx.execute(
            "INSERT OR IGNORE INTO document_members (document_id, user_id) VALUES (?1, ?2)",
            params![doc_id, member],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Every live document with its facts for `user_id`, changed after `since` (Unix ms).
pub fn changed_since(
    conn: &Connection,
    user_id: &str,
    since: i64,
) -> rusqlite::Result<Vec<(DocEntry, DocFacts)>> {
    let mut statement = conn.prepare(
        "SELECT id, kind, team_id, heads, updated_at, \
         EXISTS (SELECT 1 FROM document_members m WHERE m.document_id = d.id AND m.user_id = ?1) \
         FROM documents d WHERE deleted_at IS NULL AND updated_at > ?2 ORDER BY updated_at, id",
    )?;
    let rows = statement.query_map(params![user_id, since], |r| {
        let kind: String = r.get(1)?;
        let heads: String = r.get(3)?;
        Ok((
            r.get::<_, String>(0)?,
            kind,
            r.get::<_, Option<String>>(2)?,
            heads,
            r.get::<_, i64>(4)?,
            r.get::<_, bool>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind_name, team_id, heads, updated_at, user_is_member) = row?;
        let Some(kind) = DocKind::parse(&kind_name) else {
            continue;
        };
        let heads = serde_json::from_str(&heads).unwrap_or_default();
        out.push((
            DocEntry {
                id,
                kind: kind_name,
                heads,
                updated_at,
            },
            DocFacts {
                kind,
                team_id,
                deleted: false,
                user_is_member,
                // The manifest lists what may be read; the size limit only stops writes.
                over_size_limit: false,
            },
        ));
    }
    Ok(out)
}

/// Records the heads read back from storage for `doc_id`. Returns false for an unknown document.
pub fn set_heads(
    conn: &Connection,
    doc_id: &str,
    heads: &[String],
    now: i64,
) -> rusqlite::Result<bool> {
    let heads = serde_json::to_string(heads).unwrap_or_else(|_| "[]".to_owned());
    let changed = conn
        .prepare_cached(
            "UPDATE documents SET heads = ?2, \
             updated_at = MAX(?3, (SELECT MAX(updated_at) + 1 FROM documents)) \
             WHERE id = ?1 AND heads <> ?2",
        )?
        .execute(params![doc_id, heads, now])?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, DbError};

    /// Two documents written in the same millisecond must not share a cursor value: a device
    /// whose manifest ended at the first would never be told about the second.
    #[tokio::test]
    async fn writes_in_the_same_millisecond_get_distinct_increasing_sequence_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_in(dir.path()).expect("open");
        let sequence = db
            .call(|conn| -> Result<Vec<i64>, DbError> {
                // Users are not this test's subject.
                conn.pragma_update(None, "foreign_keys", "OFF")?;
                let now = 1_000;
                for id in ["a", "b", "c"] {
                    register(conn, id, DocKind::TrainingSession, None, "u", &[], now)?;
                }
                set_heads(conn, "a", &["aa".to_owned()], now)?;
                set_members(conn, "b", &[], now)?;
                let mut stmt =
                    conn.prepare("SELECT updated_at FROM documents ORDER BY updated_at")?;
                let values = stmt
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()?;
                Ok(values)
            })
            .await
            .expect("writes");
        let mut distinct = sequence.clone();
        distinct.dedup();
        assert_eq!(distinct, sequence, "no two documents share a value");
        assert_eq!(sequence.len(), 3);
        assert!(
            sequence.iter().all(|v| *v >= 1_000),
            "never below the clock"
        );
        assert!(
            *sequence.last().expect("three") >= 1_004,
            "five writes, each a step"
        );
    }
}
