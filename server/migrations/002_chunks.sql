-- Document chunks in automerge-repo's layout, written by samod through SqliteChunkStore.
--
-- `key` is the storage key's components joined with '/' ("docId/incremental/changeHash",
-- "docId/snapshot/compactionHash", "storage-adapter-id"); components never contain '/', so a
-- prefix load is the exact key plus the range ['prefix/', 'prefix0'), served by the primary-key
-- index. `doc_id` is the first component, indexed for the per-document loads of the confirm
-- endpoint and the projection. A rowid table rather than WITHOUT ROWID: chunks are blobs of
-- up to tens of kilobytes, which SQLite advises against in WITHOUT ROWID tables.
CREATE TABLE chunks (
    key         TEXT PRIMARY KEY NOT NULL,
    doc_id      TEXT NOT NULL,
    data        BLOB NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX chunks_by_doc_id ON chunks (doc_id);
