-- Report tables projected from the documents (DESIGN.md decision 3). They are derived: the
-- projection rewrites a document's rows in one transaction after each stored change, and
-- `nimo-server projection rebuild` recreates them all from the chunks. No names and no patient
-- codes are projected: reports show counts, and a person is a pseudonymous key.

CREATE TABLE proj_sessions (
    doc_id              TEXT PRIMARY KEY REFERENCES documents(id),
    course              TEXT NOT NULL,
    audience            TEXT,
    scope               TEXT,
    host                TEXT NOT NULL,          -- 'prefecture' or 'co_hosted'
    host_municipality   TEXT,
    held_on             TEXT NOT NULL,          -- YYYY-MM-DD
    fiscal_year         INTEGER NOT NULL,       -- 令和 number: 7 for R7
    venue_municipality  TEXT NOT NULL,
    venue_area          TEXT NOT NULL,
    capacity            INTEGER NOT NULL
);
CREATE INDEX proj_sessions_by_year ON proj_sessions(fiscal_year, course);

CREATE TABLE proj_attendees (
    doc_id         TEXT NOT NULL REFERENCES proj_sessions(doc_id) ON DELETE CASCADE,
    attendee_id    TEXT NOT NULL,
    person_key     TEXT NOT NULL,               -- SHA-256 of the person's matching key
    affiliation    TEXT NOT NULL,
    district       TEXT NOT NULL,               -- report district (residence, else workplace)
    birth_year     INTEGER,
    checked_in     INTEGER NOT NULL,
    completed      INTEGER NOT NULL,
    ring_given     INTEGER NOT NULL,
    sticker_given  INTEGER NOT NULL,
    withdrawn      INTEGER NOT NULL,
    PRIMARY KEY (doc_id, attendee_id)
);
CREATE INDEX proj_attendees_by_person ON proj_attendees(person_key);

CREATE TABLE proj_visit_cases (
    doc_id                TEXT PRIMARY KEY REFERENCES documents(id),
    hospital_municipality TEXT NOT NULL,
    eligibility           TEXT NOT NULL,
    requested_on          TEXT NOT NULL,
    status                TEXT NOT NULL,
    discharged_on         TEXT
);

CREATE TABLE proj_visits (
    doc_id            TEXT NOT NULL REFERENCES proj_visit_cases(doc_id) ON DELETE CASCADE,
    visit_id          TEXT NOT NULL,
    visited_on        TEXT NOT NULL,
    fiscal_year       INTEGER NOT NULL,
    duration_minutes  INTEGER NOT NULL,
    topics            TEXT NOT NULL,            -- comma-separated topic codes
    PRIMARY KEY (doc_id, visit_id)
);

CREATE TABLE proj_council_meetings (
    doc_id            TEXT PRIMARY KEY REFERENCES documents(id),
    level             TEXT NOT NULL,
    area              TEXT,
    municipality      TEXT,
    held_on           TEXT NOT NULL,
    fiscal_year       INTEGER NOT NULL,
    lived_experience  INTEGER NOT NULL,         -- 当事者 took part
    attendance_total  INTEGER NOT NULL
);

CREATE TABLE proj_peer_groups (
    doc_id        TEXT PRIMARY KEY REFERENCES documents(id),
    organisation  TEXT NOT NULL,
    municipality  TEXT NOT NULL
);

CREATE TABLE proj_peer_activities (
    doc_id        TEXT NOT NULL REFERENCES proj_peer_groups(doc_id) ON DELETE CASCADE,
    activity_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    held_on       TEXT NOT NULL,
    fiscal_year   INTEGER NOT NULL,
    participants  INTEGER NOT NULL,
    PRIMARY KEY (doc_id, activity_id)
);

CREATE TABLE proj_peer_subsidies (
    doc_id       TEXT NOT NULL REFERENCES proj_peer_groups(doc_id) ON DELETE CASCADE,
    fiscal_year  INTEGER NOT NULL,
    yen          INTEGER NOT NULL,
    PRIMARY KEY (doc_id, fiscal_year)
);
