//! The office report over 1,000,000 attendance rows against the raw SQL `GROUP BY` computing
//! the same answer on the same SQLite file (BENCH.md: goal ≤ 1.5×).
//!
//! nimo's side is the real endpoint the office uses, `GET /api/reports/supporters?year=R6`
//! (心のサポーター養成数（圏域別）), asked of a running nimo server (the release build in the full
//! run) by an office user and timed from the request to the last byte of the JSON answer. Through
//! HTTP rather than by calling `nimo_server::reports` as a library because that is the build and
//! code path the office gets (authentication, the database task, serialising included), and
//! because xtask then needs no dependency on the whole server, which would lengthen every
//! `cargo xtask` build, CI's included. The hop costs a millisecond or two.
//!
//! The raw side is one SQL statement over the same projection tables: every completion of the
//! course, the first per person found by a `GROUP BY`, counted per district column — run by the
//! bench's own rusqlite connection (the same bundled SQLite, optimised in every profile, opened
//! with the server's pragmas) on the same file while the server is up. Every run checks that
//! both give the same numbers; a mismatch is an error, not a figure.
//!
//! The rows are written straight into nimo's projection tables (created by nimo's migrations) in
//! the shapes the projection writes (SHA-256-hex person keys, bs58-like document ids, UUID
//! attendee ids): sessions over five fiscal years (R3–R7) in all 35 市町村 (仙台市 weighted as
//! the big city it is), mostly 心のサポーター courses but also 指導者 and 関係者 courses the report
//! must leave out, about one attendance in three by someone who attended before (so "a person
//! counts once, in the year and district of their first completion" has work to do, some of them
//! after moving), and some withdrawn and some not completed.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::{Context as _, bail};
use nimo_shared::{FiscalYear, Municipality, ReportDistrict, records::training::TrainingKind};
use rusqlite::params;

use super::{Ctx, Side, api::NimoApi, servers, stats, stats::Run};

/// The report measured, its course, and the fiscal year asked for (R7 exists after it: its
/// people must count in neither the year nor the 累計).
pub(super) const REPORT: &str = "supporters";
const COURSE: TrainingKind = TrainingKind::KokoroSupporter;
pub(super) const YEAR: u16 = 6;
/// The fiscal years the sessions are spread over.
const YEARS: std::ops::RangeInclusive<u16> = 3..=7;
/// Timed runs of each side (after one untimed warm-up each).
const RUNS: usize = 3;

/// The office user the report is asked as.
pub(super) const OFFICE_LOGIN: &str = "bench-office";

/// The raw answer: the first completion of each person (`GROUP BY person_key`, SQLite taking the
/// bare columns from the row holding the `MIN`; the key orders as `held_on, doc_id, attendee_id`
/// because char(1) sorts below every character of the ids), then people per district column in
/// the year and through it. 仙台市 has no column in this table: its people count under その他.
/// The fastest form found for this answer (`cargo xtask bench --only report` on 1,000,000 rows,
/// sqlite3 3.40 CLI, a busy 2-core guest): `GROUP BY +a.person_key` (scan, then sort) 3.5 s;
/// plain `GROUP BY a.person_key` (the planner walks the `person_key` index, fetching every row
/// at random) 13 s; `ROW_NUMBER() OVER (PARTITION BY person_key …)` 14 s.
const RAW_QUERY: &str = "
    SELECT CASE district WHEN 'sendai_city' THEN 'other' ELSE district END AS column_code,
           SUM(fiscal_year = ?2), SUM(fiscal_year <= ?2)
    FROM (
        SELECT a.district AS district, s.fiscal_year AS fiscal_year,
               MIN(s.held_on || char(1) || a.doc_id || char(1) || a.attendee_id)
        FROM proj_attendees a JOIN proj_sessions s ON s.doc_id = a.doc_id
        WHERE s.course = ?1 AND a.completed = 1 AND a.withdrawn = 0
        GROUP BY +a.person_key
    )
    GROUP BY column_code";

/// New people in the year and the 累計, per district column code.
type Counts = BTreeMap<String, (i64, i64)>;

/// Fills a nimo database with `rows` attendance rows and times both sides.
pub async fn measure(ctx: &Ctx) -> anyhow::Result<String> {
    let rows: usize = if ctx.quick { 20_000 } else { 1_000_000 };
    let dir = ctx.fresh_dir(Side::Nimo, "report")?;
    let data = dir.join("server");
    // Start and stop nimo once so its migrations create the schema (and mark the empty
    // projection current, so the next start does not rebuild it from the absent chunks).
    let live = ctx.start(Side::Nimo, &data, HashSet::new()).await?;
    live.server.stop().await?;
    servers::nimo_add_user_as(&ctx.nimo_bin, &data, OFFICE_LOGIN, "office", None).await?;
    let path = data.join("nimo.sqlite3");
    let fill_path = path.clone();
    let fill_started = Instant::now();
    let filled = tokio::task::spawn_blocking(move || fill(&fill_path, rows)).await??;
    let fill_s = fill_started.elapsed().as_secs_f64();

    let server = servers::start_nimo(&ctx.nimo_bin, &data, &ctx.dist).await?;
    let result = compare(&server, path).await;
    server.stop().await?;
    let (nimo_runs, raw_runs, answer) = result?;
    let (nimo_ms, nimo_lo, nimo_hi) = stats::summary(&nimo_runs, "ms").context("no nimo run")?;
    let (raw_ms, raw_lo, raw_hi) = stats::summary(&raw_runs, "ms").context("no raw run")?;
    let (new, cumulative) = answer
        .values()
        .fold((0, 0), |(n, c), (new, cum)| (n + new, c + cum));
    Ok(format!(
        "report 心のサポーター養成数（圏域別） R{YEAR} over {rows} attendance rows ({} sessions R{}–R{}, {} people): \
         nimo GET /api/reports/{REPORT} {nimo_ms:.0} ms [{nimo_lo:.0}..{nimo_hi:.0}] | raw SQL GROUP BY, same file: \
         {raw_ms:.0} ms [{raw_lo:.0}..{raw_hi:.0}] | nimo / raw ×{:.2} (goal ≤ 1.5; medians of {RUNS}) | \
         same answer every run: {new} new, {cumulative} 累計 | fill {fill_s:.1} s",
        filled.sessions,
        YEARS.start(),
        YEARS.end(),
        filled.people,
        nimo_ms / raw_ms,
    ))
}

/// Asks both sides `RUNS` times (alternating, after one warm-up each) and checks every answer.
async fn compare(
    server: &servers::Server,
    path: PathBuf,
) -> anyhow::Result<(Vec<Run>, Vec<Run>, Counts)> {
    let office = NimoApi::login_as(server.port, OFFICE_LOGIN, servers::NIMO_PASSWORD).await?;
    let raw = Arc::new(Mutex::new(open_raw(&path)?));
    let (_, expected) = ask_nimo(&office).await?;
    let (_, raw_answer) = ask_raw(&raw).await?;
    check(&expected, &raw_answer)?;
    anyhow::ensure!(
        expected.values().any(|(new, _)| *new > 0),
        "the report counted nobody: the generated data does not exercise it"
    );
    let (mut nimo_runs, mut raw_runs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (ms, answer) = ask_nimo(&office).await?;
        check(&answer, &expected)?;
        nimo_runs.push(timed(ms));
        let (ms, answer) = ask_raw(&raw).await?;
        check(&answer, &expected)?;
        raw_runs.push(timed(ms));
    }
    Ok((nimo_runs, raw_runs, expected))
}

fn timed(ms: f64) -> Run {
    let mut run = Run {
        ok: true,
        ..Run::default()
    };
    run.set("ms", ms);
    run
}

/// A connection with the server's pragmas (`db::open_connection`).
fn open_raw(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// nimo's answer, as the office's browser gets it: milliseconds and the counts. Computed for
/// the request (`Cache-Control: no-cache`): the server keeps the last table of each report
/// while nothing changes, and this measures the computation against the raw GROUP BY.
async fn ask_nimo(office: &NimoApi) -> anyhow::Result<(f64, Counts)> {
    let started = Instant::now();
    let body = office
        .get_with(
            &format!("/api/reports/{REPORT}?year=R{YEAR}&format=json"),
            &[("cache-control", "no-cache")],
        )
        .await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((ms, parse_table(&body)?))
}

/// The table's two rows (the year's new people, the 累計) by column key, without 合計 (checked
/// here to be the sum of the columns: every person falls in exactly one column).
fn parse_table(body: &str) -> anyhow::Result<Counts> {
    let json: serde_json::Value = serde_json::from_str(body)?;
    let rows = json["rows"].as_array().context("no rows in the report")?;
    let [new, cumulative] = &rows[..] else {
        bail!("the report has {} rows, expected 2", rows.len());
    };
    let mut counts = Counts::new();
    for column in json["columns"].as_array().context("no columns")? {
        let key = column["key"].as_str().context("a column without a key")?;
        if key == "measure" || key == "total" {
            continue;
        }
        let count = |row: &serde_json::Value| {
            row[key]
                .as_i64()
                .with_context(|| format!("no count in column {key}"))
        };
        counts.insert(key.to_owned(), (count(new)?, count(cumulative)?));
    }
    let (sum_new, sum_cumulative) = counts
        .values()
        .fold((0, 0), |(n, c), (new, cum)| (n + new, c + cum));
    anyhow::ensure!(
        new["total"].as_i64() == Some(sum_new)
            && cumulative["total"].as_i64() == Some(sum_cumulative),
        "the report's 合計 is not the sum of its columns: {body}"
    );
    Ok(counts)
}

/// The raw statement's answer: milliseconds (prepare, step, read) and the counts.
async fn ask_raw(conn: &Arc<Mutex<rusqlite::Connection>>) -> anyhow::Result<(f64, Counts)> {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let conn = conn
            .lock()
            .map_err(|_| anyhow::anyhow!("a raw query panicked"))?;
        let started = Instant::now();
        let counts = raw_counts(&conn)?;
        Ok((started.elapsed().as_secs_f64() * 1000.0, counts))
    })
    .await?
}

fn raw_counts(conn: &rusqlite::Connection) -> anyhow::Result<Counts> {
    let mut statement = conn.prepare(RAW_QUERY)?;
    let rows = statement.query_map(params![COURSE.code(), YEAR], |row| {
        Ok((row.get::<_, String>(0)?, (row.get(1)?, row.get(2)?)))
    })?;
    let mut counts = Counts::new();
    for row in rows {
        let (column, pair) = row?;
        counts.insert(column, pair);
    }
    Ok(counts)
}

/// Equal, a column absent from one side counting as zero (the report lists every column).
fn check(nimo: &Counts, raw: &Counts) -> anyhow::Result<()> {
    let columns: std::collections::BTreeSet<&String> = nimo.keys().chain(raw.keys()).collect();
    for column in columns {
        let a = nimo.get(column).copied().unwrap_or_default();
        let b = raw.get(column).copied().unwrap_or_default();
        if a != b {
            bail!(
                "nimo's report and the raw GROUP BY disagree in column {column}: nimo (new, 累計) {a:?}, raw {b:?}\n  nimo: {nimo:?}\n  raw: {raw:?}"
            );
        }
    }
    Ok(())
}

/// What was written.
pub(super) struct Filled {
    pub(super) sessions: usize,
    pub(super) people: usize,
}

/// A small deterministic generator (splitmix64): the same data on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small; the modulo bias is irrelevant for test data.
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a person counts: a 市町村 (index into `Municipality::all()`), 県外, or unknown.
#[derive(Clone, Copy)]
enum Home {
    In(usize),
    Outside,
    Unknown,
}

/// Writes `rows` attendance rows (and their sessions and registry entries) in one transaction.
pub(super) fn fill(path: &Path, rows: usize) -> anyhow::Result<Filled> {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let municipalities: Vec<Municipality> = Municipality::all().collect();
    let sendai_city = municipalities
        .iter()
        .position(|m| m.district() == ReportDistrict::SendaiCity)
        .context("仙台市 is not in the table")?;
    let mut rng = Rng(0x6E69_6D6F);
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.transaction()?;
    let team: String = tx.query_row("SELECT id FROM teams LIMIT 1", [], |r| r.get(0))?;
    let user: String = tx.query_row("SELECT id FROM users LIMIT 1", [], |r| r.get(0))?;
    let mut homes: Vec<Home> = Vec::with_capacity(rows);
    let mut sessions = 0;
    {
        let mut document = tx.prepare(
            "INSERT INTO documents (id, kind, team_id, created_by, created_at, updated_at) \
             VALUES (?1, 'training_session', ?2, ?3, 0, 0)",
        )?;
        let mut session = tx.prepare(
            "INSERT INTO proj_sessions (doc_id, course, audience, scope, host, host_municipality, \
             held_on, fiscal_year, venue_municipality, venue_area, capacity) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut attendee = tx.prepare(
            "INSERT INTO proj_attendees (doc_id, attendee_id, person_key, affiliation, district, \
             birth_year, checked_in, completed, ring_given, sticker_given, withdrawn, place) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        let mut written = 0;
        while written < rows {
            sessions += 1;
            let doc_id: String = (0..28)
                .map(|_| char::from(BASE58[rng.below(BASE58.len())]))
                .collect();
            let course = match rng.below(100) {
                0..80 => TrainingKind::KokoroSupporter,
                80..92 => TrainingKind::KokoroInstructor,
                _ => TrainingKind::CommunitySupportStaff,
            };
            let audience = (course == TrainingKind::KokoroSupporter).then(|| {
                [
                    "community",
                    "community",
                    "community",
                    "education",
                    "company",
                ][rng.below(5)]
            });
            let scope = (course == TrainingKind::CommunitySupportStaff)
                .then(|| ["prefecture_wide", "per_area"][rng.below(2)]);
            // 仙台市 holds about a third of the prefecture: weight it as 17 of the others.
            let venue = match rng.below(municipalities.len() + 16) {
                i if i < municipalities.len() => i,
                _ => sendai_city,
            };
            let venue_municipality = municipalities[venue];
            let co_hosted = rng.percent(40);
            let year = FiscalYear::reiwa(*YEARS.start() + rng.below(YEARS.len()) as u16)
                .context("fiscal year")?;
            let held_on = year.first_day().add_days(rng.below(365) as i64);
            let capacity = 15 + rng.below(51);
            let capacity_sql = i64::try_from(capacity)?;
            document.execute(params![doc_id, team, user])?;
            session.execute(params![
                doc_id,
                course.code(),
                audience,
                scope,
                if co_hosted { "co_hosted" } else { "prefecture" },
                co_hosted.then(|| venue_municipality.name()),
                held_on.to_string(),
                FiscalYear::of(held_on).reiwa_number(),
                venue_municipality.name(),
                venue_municipality.area().code(),
                capacity_sql,
            ])?;
            for _ in 0..capacity.min(rows - written) {
                written += 1;
                let (person, home) = if !homes.is_empty() && rng.percent(35) {
                    let person = rng.below(homes.len());
                    // A few have moved since: they count where they lived at their first
                    // completion, not where they live now.
                    let home = if rng.percent(5) {
                        Home::In(rng.below(municipalities.len()))
                    } else {
                        homes[person]
                    };
                    (person, home)
                } else {
                    let home = match rng.below(100) {
                        0..70 => Home::In(venue),
                        70..90 => {
                            let district = venue_municipality.district();
                            let near: Vec<usize> = (0..municipalities.len())
                                .filter(|&i| municipalities[i].district() == district)
                                .collect();
                            Home::In(near[rng.below(near.len())])
                        }
                        90..98 => Home::In(rng.below(municipalities.len())),
                        98 => Home::Outside,
                        _ => Home::Unknown,
                    };
                    homes.push(home);
                    (homes.len() - 1, home)
                };
                let (place, district) = match home {
                    Home::In(i) => (
                        Some(municipalities[i].name()),
                        municipalities[i].district().code(),
                    ),
                    Home::Outside => (Some("県外"), ReportDistrict::Other.code()),
                    Home::Unknown => (None, ReportDistrict::Other.code()),
                };
                let person_key: String = (1..=4u64)
                    .map(|k| format!("{:016x}", mix(((person as u64) << 3) | k)))
                    .collect();
                let attendee_id = {
                    let (a, b) = (rng.next(), rng.next());
                    format!(
                        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0xfff,
                        (b >> 48) & 0x3fff | 0x8000,
                        b & 0xffff_ffff_ffff
                    )
                };
                let withdrawn = rng.percent(2);
                let completed = !withdrawn && rng.percent(93);
                let checked_in = completed || (!withdrawn && rng.percent(50));
                attendee.execute(params![
                    doc_id,
                    attendee_id,
                    person_key,
                    [
                        "community_resident",
                        "community_resident",
                        "community_resident",
                        "education",
                        "company",
                        "medical",
                        "welfare"
                    ][rng.below(7)],
                    district,
                    (!rng.percent(20)).then(|| 1945 + rng.below(60) as i64),
                    checked_in,
                    completed,
                    completed && rng.percent(80),
                    completed && rng.percent(60),
                    withdrawn,
                    place,
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(Filled {
        sessions,
        people: homes.len(),
    })
}
