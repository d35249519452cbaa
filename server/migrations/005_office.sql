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
