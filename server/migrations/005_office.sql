-- The office: what the reports need beyond migration 004, and the programme's targets.

-- The place a person counts in (their residence 市町村; for 企業/教育 audiences with none recorded,
-- their workplace's or school's; '県外'), NULL when unknown: the by-市町村 report groups by it.
ALTER TABLE proj_attendees ADD COLUMN place TEXT;

-- SHA-256 of the patient code, so a patient with two cases counts once; never the code itself.
ALTER TABLE proj_visit_cases ADD COLUMN patient_key TEXT;

-- Which shape of report rows the stored rows have. The server rebuilds the projection at start
-- when this is older than the code's (rows written before this migration lack the columns above).
CREATE TABLE projection_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO projection_state (id, version) VALUES (1, 1);

-- Targets per indicator and fiscal year (令和 number), seeded from the plan compiled into
-- nimo-shared (shared/data/targets.csv) and edited by the office. A target is "by the end of
-- that year".
CREATE TABLE targets (
    indicator    TEXT NOT NULL,
    fiscal_year  INTEGER NOT NULL CHECK (fiscal_year >= 1),
    target       INTEGER NOT NULL CHECK (target >= 0),
    unit         TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    updated_by   TEXT REFERENCES users(id),    -- NULL: as seeded from the plan
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (indicator, fiscal_year)
);

-- What each device last did with sync, for the office's reconciliation view: when it last asked
-- for a WebSocket ticket, when it last asked to confirm, and how many of the documents in that
-- confirm the server did not (yet) hold at those heads: changes still only on the device.
CREATE TABLE device_sync (
    device_id             TEXT PRIMARY KEY REFERENCES devices(id),
    last_connect_at       INTEGER,
    last_confirm_at       INTEGER,
    documents_confirmed   INTEGER NOT NULL DEFAULT 0,
    documents_unconfirmed INTEGER NOT NULL DEFAULT 0
);

-- Fields of a document holding several concurrent values (nimo_shared::conflicts): the path and
-- how many values, never the values (they may be names); the queue reads them from the document.
CREATE TABLE proj_conflicts (
    doc_id       TEXT NOT NULL REFERENCES documents(id),
    path         TEXT NOT NULL,
    value_count  INTEGER NOT NULL,
    PRIMARY KEY (doc_id, path)
);

-- Duplicate people merged by the office: every roster entry given one confirmed person id, with
-- who did it and why. The entries themselves stay in their sessions (traceable both ways).
CREATE TABLE person_merges (
    person_id    TEXT NOT NULL,
    doc_id       TEXT NOT NULL REFERENCES documents(id),
    attendee_id  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    merged_by    TEXT NOT NULL REFERENCES users(id),
    merged_at    INTEGER NOT NULL,
    PRIMARY KEY (doc_id, attendee_id, person_id)
);
CREATE INDEX person_merges_by_person ON person_merges(person_id);
