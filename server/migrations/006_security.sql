-- Security hardening: the hash-chained audit log, TOTP second factor with recovery codes,
-- half-finished logins waiting for their second factor, and failed-login counters.

-- Append-only: every row's hash is SHA-256(previous row's hash || this row's canonical bytes)
-- (server/src/audit/chain.rs), so editing or deleting a row breaks the chain from there on.
-- The triggers stop accidental changes through SQL; the chain detects deliberate ones.
-- `detail` is a short machine-written note, never record content (no visit notes, no names).
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    user_id      TEXT,
    device_id    TEXT,
    document_id  TEXT,
    action       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    BLOB NOT NULL,
    hash         BLOB NOT NULL
);
CREATE INDEX audit_log_by_document ON audit_log(document_id) WHERE document_id IS NOT NULL;
CREATE INDEX audit_log_by_user ON audit_log(user_id) WHERE user_id IS NOT NULL;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- One TOTP secret per user (RFC 6238, SHA-1, 6 digits, 30 s). Unconfirmed until the first
-- valid code; `last_step` refuses a code's reuse.
CREATE TABLE mfa_totp (
    user_id       TEXT PRIMARY KEY REFERENCES users(id),
    secret        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
);

-- Ten one-time recovery codes per confirmed enrolment, stored as SHA-256 (each has 60 random
-- bits, so a plain hash is not guessable offline).
CREATE TABLE mfa_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    code_hash  BLOB NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- A login whose password was right and which waits for its second factor. It grants nothing
-- but finishing (or enrolling) the second factor. Only a SHA-256 of the challenge is stored.
CREATE TABLE login_challenges (
    challenge_hash  BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    device_label    TEXT NOT NULL,
    api_client      INTEGER NOT NULL CHECK (api_client IN (0, 1)),
    client_address  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    failed_codes    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_by_user ON login_challenges(user_id);

-- Failed password checks, for the login throttle (server/src/accounts/throttle.rs). Old rows
-- are pruned as new ones are written.
CREATE TABLE login_failures (
    id              INTEGER PRIMARY KEY,
    login           TEXT NOT NULL COLLATE NOCASE,
    client_address  TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX login_failures_by_login ON login_failures(login, at);
CREATE INDEX login_failures_by_address ON login_failures(client_address, at);

-- Addresses from which a user completed a full login (password and, for their role, second
-- factor). The throttle keeps a small separate budget for them, so a flood from elsewhere
-- cannot lock the real user out.
CREATE TABLE known_addresses (
    user_id         TEXT NOT NULL REFERENCES users(id),
    client_address  TEXT NOT NULL,
    last_login_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_address)
);
