-- The heads each document's report rows were last projected from. A projection pass that loads
-- a document and finds these heads (samod compacting chunks, or writing back changes that were
-- on disk already) writes nothing: no transaction, no fsync. Written in the same transaction as
-- the rows; `projection rebuild` empties it.
CREATE TABLE projected_heads (
    doc_id  TEXT PRIMARY KEY NOT NULL REFERENCES documents(id),
    heads   TEXT NOT NULL           -- JSON array of hex change hashes, as documents.heads
);
