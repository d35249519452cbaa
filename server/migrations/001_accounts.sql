-- Accounts: teams, users, their devices and login sessions. Times are Unix milliseconds (UTC).

-- A team owns training sessions (a 保健福祉事務所's trainers, say).
CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('trainer', 'visitor', 'office', 'admin')),
    team_id        TEXT REFERENCES teams(id),
    -- Office staff may read visit cases only when granted explicitly.
    visit_access   INTEGER NOT NULL DEFAULT 0 CHECK (visit_access IN (0, 1)),
    -- argon2id PHC string.
    password_hash  TEXT NOT NULL,
    -- Set for a bootstrap or reset password: the user must choose a new one at next login.
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL
);

-- A browser profile or API client a user logged in from. Revoking it ends its sessions.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    label         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX devices_by_user ON devices(user_id);

-- Only a SHA-256 of the session token is stored: a copy of the database cannot log anyone in.
CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    device_id     TEXT NOT NULL REFERENCES devices(id),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ended_at      INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id);
