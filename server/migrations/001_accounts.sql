-- Teams own training sessions; users belong to at most one team and have one role.
CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('trainer', 'visitor', 'office', 'admin')),
    team_id        TEXT REFERENCES teams(id),
    password_hash  TEXT NOT NULL,
    -- Set for a bootstrap or reset password: the user must choose a new one at next login.
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
