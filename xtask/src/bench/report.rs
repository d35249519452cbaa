//! The office report over 1,000,000 attendance rows against the raw SQL `GROUP BY` on the same
//! data.
//!
//! TO BE RE-POINTED: the report module is being written on another branch. Until it lands, this
//! measures the query path that exists — nimo's projection tables (`proj_sessions`,
//! `proj_attendees`, created by nimo's own migrations) with the join a district × fiscal-year
//! count needs — against a flat table holding the same rows. When the report module exists,
//! replace `PROJECTION_QUERY` with a call of its query (or its HTTP endpoint).

use std::{collections::HashSet, time::Instant};

use super::{Ctx, Side};

/// The report as the projection tables answer it today: completions per fiscal year and report
/// district, each person counted once (the pure rule lives in `nimo_shared::counts`).
const PROJECTION_QUERY: &str = "
    SELECT s.fiscal_year, a.district, COUNT(DISTINCT a.person_key)
    FROM proj_attendees a JOIN proj_sessions s ON s.doc_id = a.doc_id
    WHERE a.completed = 1 AND a.withdrawn = 0
    GROUP BY s.fiscal_year, a.district";

/// The raw baseline: the same rows, one flat table, the same grouping.
const RAW_QUERY: &str = "
    SELECT fiscal_year, district, COUNT(DISTINCT person_key)
    FROM flat WHERE completed = 1 AND withdrawn = 0
    GROUP BY fiscal_year, district";

/// Fills a nimo database (its migrations applied by a real server start) and times both.
pub async fn measure(ctx: &Ctx) -> anyhow::Result<String> {
    let rows: usize = if ctx.quick { 20_000 } else { 1_000_000 };
    let dir = ctx.fresh_dir(Side::Nimo, "report")?;
    let data = dir.join("server");
    // Start and stop nimo once so its migrations create the schema.
    let live = ctx.start(Side::Nimo, &data, HashSet::new()).await?;
    live.server.stop().await?;
    let path = data.join("nimo.sqlite3");
    tokio::task::spawn_blocking(move || run(&path, rows)).await?
}

fn run(path: &std::path::Path, rows: usize) -> anyhow::Result<String> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let fill = Instant::now();
    let per_session = 40;
    let districts = [
        "仙南",
        "仙台",
        "塩釜",
        "大崎",
        "栗原",
        "登米",
        "石巻",
        "気仙沼",
        "仙台市",
    ];
    let tx = conn.transaction()?;
    tx.execute_batch("CREATE TABLE flat (doc_id TEXT, person_key TEXT, district TEXT, fiscal_year INTEGER, completed INTEGER, withdrawn INTEGER)")?;
    {
        let team: String = tx.query_row("SELECT id FROM teams LIMIT 1", [], |r| r.get(0))?;
        let user: String = tx.query_row("SELECT id FROM users LIMIT 1", [], |r| r.get(0))?;
        let mut doc = tx.prepare("INSERT INTO documents (id, kind, team_id, created_by, created_at, updated_at) VALUES (?1, 'training_session', ?2, ?3, 0, 0)")?;
        let mut session = tx.prepare("INSERT INTO proj_sessions (doc_id, course, host, held_on, fiscal_year, venue_municipality, venue_area, capacity) VALUES (?1, 'supporter', 'prefecture', '2025-06-01', ?2, '仙台市', '仙台', 40)")?;
        let mut attendee = tx.prepare("INSERT INTO proj_attendees (doc_id, attendee_id, person_key, affiliation, district, checked_in, completed, ring_given, sticker_given, withdrawn) VALUES (?1, ?2, ?3, 'resident', ?4, 1, ?5, 0, 0, ?6)")?;
        let mut flat = tx.prepare("INSERT INTO flat VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for s in 0..rows.div_ceil(per_session) {
            let doc_id = format!("bench-session-{s}");
            let year = 5 + (s % 4) as i64;
            doc.execute(rusqlite::params![doc_id, team, user])?;
            session.execute(rusqlite::params![doc_id, year])?;
            for a in 0..per_session {
                let i = s * per_session + a;
                // About one person in three attends twice: distinct counting has work to do.
                let person = format!("{:064x}", (i * 2_654_435_761) % (rows * 2 / 3).max(1));
                let district = districts[i % districts.len()];
                let completed = i64::from(i % 10 != 0);
                let withdrawn = i64::from(i % 97 == 0);
                attendee.execute(rusqlite::params![
                    doc_id,
                    format!("a{a}"),
                    person,
                    district,
                    completed,
                    withdrawn
                ])?;
                flat.execute(rusqlite::params![
                    doc_id, person, district, year, completed, withdrawn
                ])?;
            }
        }
    }
    tx.commit()?;
    let fill_s = fill.elapsed().as_secs_f64();
    conn.execute_batch("ANALYZE")?;
    let time = |sql: &str| -> anyhow::Result<(f64, usize)> {
        let mut best = f64::MAX;
        let mut groups = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let mut statement = conn.prepare(sql)?;
            groups = statement.query_map([], |_| Ok(()))?.count();
            best = best.min(started.elapsed().as_secs_f64());
        }
        Ok((best, groups))
    };
    let (projection_s, projection_groups) = time(PROJECTION_QUERY)?;
    let (raw_s, raw_groups) = time(RAW_QUERY)?;
    anyhow::ensure!(
        projection_groups == raw_groups,
        "the two queries disagree ({projection_groups} vs {raw_groups} groups)"
    );
    Ok(format!(
        "report over {rows} attendance rows [projection tables; TO BE RE-POINTED at the report module]: {:.0} ms (best of 3) | raw GROUP BY on a flat table: {:.0} ms | ratio ×{:.2} (goal ≤ 1.5) | {projection_groups} groups; fill {fill_s:.1} s",
        projection_s * 1000.0,
        raw_s * 1000.0,
        projection_s / raw_s
    ))
}
