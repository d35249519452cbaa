-- The document registry: every Automerge document the server knows, who owns it, and its
-- durably stored heads. Access control and the sync manifest read it.
CREATE TABLE documents (
    id          TEXT PRIMARY KEY,            -- automerge-repo document id (bs58check)
    kind        TEXT NOT NULL CHECK (kind IN
                    ('training_session', 'visit_case', 'peer_support_group', 'council_meeting')),
    team_id     TEXT REFERENCES teams(id),   -- the owning team (training sessions and similar)
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    -- JSON array of hex change hashes as last read back from the chunks table.
    heads       TEXT NOT NULL DEFAULT '[]',
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX documents_by_team ON documents(team_id);
CREATE INDEX documents_by_update ON documents(updated_at);

-- Users assigned to a document: the visiting pair of a visit case.
CREATE TABLE document_members (
    document_id TEXT NOT NULL REFERENCES documents(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (document_id, user_id)
);
CREATE INDEX document_members_by_user ON document_members(user_id);
