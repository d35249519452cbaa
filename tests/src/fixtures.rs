//! The R6 fixture: attendee-level training records that reproduce the prefecture's R6 tables
//! (`r6_actuals.csv`: 心のサポーター 375 and 指導者 132 by district; `r6_trainings.csv`: sessions
//! and attendees by host and audience), committed as `tests/fixtures/r6_attendees.json` so the
//! test needs nothing outside the repository.
//!
//! [`generate_r6`] builds it from the reference data compiled into nimo-shared; regenerate the
//! file after changing the generator with
//! `NIMO_WRITE_FIXTURES=1 cargo test -p nimo-tests --test office_reports the_committed_fixture`.
//!
//! The plan (DOMAIN.md's counting rules are what it exercises):
//! - 心のサポーター: R5 one session on 2024-03-31 (the last day of R5) with 31 people; R6 the
//!   sessions of r6_trainings.csv with 344 new people (前年比344人増), each session with a
//!   no-show and an entry marked 修了 and then withdrawn (neither counts); R7 one session where 20
//!   earlier people come again, their kana typed in katakana (not new), with 10 new people.
//!   Districts follow r6_actuals.csv; 黒川 people fill the co-hosted sessions (富谷市, 大和町,
//!   大郷町) first. 企業 attendees give only their workplace, half of the 教育 ones only their
//!   school; その他 people live in 仙台市, outside the prefecture, or did not say.
//! - 指導者: R5 one course with 22 people, R6 two with 55 each (the second on 2025-03-31, the last
//!   day of R6); districts follow r6_actuals.csv.

use std::collections::VecDeque;

use automerge::{ActorId, Automerge};
use nimo_shared::{
    AttendeeId, Date, Municipality, Place, ReportDistrict, Timestamp, UserId,
    records::{
        roster,
        training::{Affiliation, Audience, Host, Person, TrainingKind, TrainingSession},
    },
    reference::{Indicator, r6_by_district, r6_trainings},
};
use serde::{Deserialize, Serialize};

/// The committed fixture's path.
pub fn r6_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/r6_attendees.json")
}

/// Reads the committed fixture.
pub fn load_r6() -> anyhow::Result<Fixture> {
    Ok(serde_json::from_str(&std::fs::read_to_string(r6_path())?)?)
}

/// A set of sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    /// What it is and how it was made.
    pub about: String,
    /// The sessions, oldest first.
    pub sessions: Vec<FixtureSession>,
}

/// One session and its roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureSession {
    /// Course code, e.g. `kokoro_supporter`.
    pub course: String,
    /// Audience code, for 心のサポーター養成研修.
    pub audience: Option<String>,
    /// `prefecture` or `co_hosted:<市町村>`.
    pub host: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The venue's 市町村.
    pub venue_municipality: String,
    /// Everyone on the roster.
    pub attendees: Vec<FixtureAttendee>,
}

/// One roster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureAttendee {
    /// Name (made up).
    pub name: String,
    /// Reading.
    pub kana: String,
    /// Affiliation code.
    pub affiliation: String,
    /// 市町村 or 県外.
    pub residence: Option<String>,
    /// 市町村 or 県外.
    pub workplace: Option<String>,
    /// Birth year.
    pub birth_year: Option<u16>,
    /// Checked in.
    pub checked_in: bool,
    /// Marked 修了.
    pub completed: bool,
    /// Withdrawn after being marked.
    pub withdrawn: bool,
}

fn place(text: &Option<String>) -> anyhow::Result<Option<Place>> {
    Ok(match text {
        Some(text) => Some(text.parse()?),
        None => None,
    })
}

impl FixtureSession {
    /// The session's details with an empty roster.
    pub fn details(&self) -> anyhow::Result<TrainingSession> {
        let course: TrainingKind = self.course.parse()?;
        Ok(TrainingSession {
            course,
            audience: self.audience.as_deref().map(str::parse).transpose()?,
            scope: None,
            host: self.host.parse()?,
            date: self.date.parse()?,
            start: "13:30".parse()?,
            end: "15:30".parse()?,
            venue: format!("{} 会場", self.venue_municipality),
            venue_municipality: self.venue_municipality.parse()?,
            trainers: ["講師 一郎".to_owned()].into(),
            capacity: 300,
            roster: Default::default(),
        })
    }

    /// The session's document as a trainer's device writes it: created, then each person added,
    /// checked in, marked and (for mistakes) withdrawn, one change at a time.
    pub fn to_doc(&self, actor: ActorId, session_index: usize) -> anyhow::Result<Automerge> {
        let date: Date = self.date.parse()?;
        let at = Timestamp::from_unix_millis(date.days_since_epoch() * 86_400_000 + 4 * 3_600_000);
        let trainer: UserId = "trainer-fixture".parse()?;
        let mut doc = nimo_shared::doc::create(&self.details()?, actor, at)?;
        for (n, attendee) in self.attendees.iter().enumerate() {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(session_index as u64).to_be_bytes());
            bytes[8..].copy_from_slice(&(n as u64).to_be_bytes());
            let id = AttendeeId::from_random_bytes(bytes);
            let person = Person {
                name: attendee.name.clone(),
                kana: attendee.kana.clone(),
                affiliation: attendee.affiliation.parse()?,
                residence: place(&attendee.residence)?,
                workplace: place(&attendee.workplace)?,
                birth_year: attendee.birth_year,
            };
            roster::add_attendee(&mut doc, id, person, at)?;
            if attendee.checked_in {
                roster::check_in(&mut doc, id, at, &trainer)?;
            }
            if attendee.completed {
                roster::mark_completed(&mut doc, id, true, at)?;
            }
            if attendee.withdrawn {
                roster::withdraw_attendee(&mut doc, id, at)?;
            }
        }
        Ok(doc)
    }
}

// --- The generator -------------------------------------------------------------------------------

/// A unique kana name for person `n` (digits spelled as kana).
fn kana_for(prefix: &str, n: usize) -> String {
    const DIGITS: [char; 10] = ['あ', 'い', 'う', 'え', 'お', 'か', 'き', 'く', 'け', 'こ'];
    let digits: String = n
        .to_string()
        .chars()
        .map(|d| DIGITS[d.to_digit(10).unwrap_or(0) as usize])
        .collect();
    format!("{prefix} {digits}")
}

fn katakana(hiragana: &str) -> String {
    hiragana
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(u32::from(c) + 0x60).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// The `k`th person's place in `district`: its 市町村 in turn; for その他 in turn 仙台市, outside
/// the prefecture, unknown.
fn place_for(district: ReportDistrict, k: usize) -> Option<String> {
    if district == ReportDistrict::Other {
        return [Some("仙台市".to_owned()), Some("県外".to_owned()), None][k % 3].clone();
    }
    let municipalities: Vec<Municipality> = Municipality::all()
        .filter(|m| m.district() == district)
        .collect();
    Some(municipalities[k % municipalities.len()].name().to_owned())
}

#[derive(Debug, Clone)]
struct Planned {
    name: String,
    kana: String,
    place: Option<String>,
    birth_year: u16,
}

impl Planned {
    fn attendee(&self, audience: Option<Audience>, n: usize) -> FixtureAttendee {
        let workplace_only = audience == Some(Audience::Company)
            || (audience == Some(Audience::Education) && n % 2 == 1);
        let affiliation = match audience {
            Some(Audience::Company) => Affiliation::Company,
            Some(Audience::Education) => Affiliation::Education,
            Some(Audience::SupportStaff) | None => Affiliation::Welfare,
            Some(Audience::Community) => Affiliation::CommunityResident,
        };
        FixtureAttendee {
            name: self.name.clone(),
            kana: self.kana.clone(),
            affiliation: affiliation.code().to_owned(),
            residence: if workplace_only {
                None
            } else {
                self.place.clone()
            },
            workplace: if workplace_only {
                self.place.clone()
            } else {
                None
            },
            birth_year: Some(self.birth_year),
            checked_in: true,
            completed: true,
            withdrawn: false,
        }
    }
}

/// People of `indicator`'s R6 table, one per counted person, `first` first.
fn people(
    indicator: Indicator,
    prefix: &str,
    name: &str,
    first: ReportDistrict,
) -> VecDeque<Planned> {
    let mut leading = Vec::new();
    let mut rest = Vec::new();
    let mut n = 0;
    for (district, count) in r6_by_district(indicator) {
        for k in 0..count as usize {
            let planned = Planned {
                name: format!("{name} {n}"),
                kana: kana_for(prefix, n),
                place: place_for(district, k),
                birth_year: 1945 + u16::try_from(n % 60).unwrap_or(0),
            };
            n += 1;
            if district == first {
                leading.push(planned);
            } else {
                rest.push(planned);
            }
        }
    }
    leading.into_iter().chain(rest).collect()
}

fn session(
    course: TrainingKind,
    audience: Option<Audience>,
    host: Host,
    date: Date,
    people: &[Planned],
    noise: usize,
) -> FixtureSession {
    let mut attendees: Vec<FixtureAttendee> = people
        .iter()
        .enumerate()
        .map(|(n, p)| p.attendee(audience, n))
        .collect();
    if noise > 0 {
        let stranger = |suffix: usize| Planned {
            name: format!("誤登録 {noise}-{suffix}"),
            kana: kana_for("まちがい", noise * 10 + suffix),
            place: Some("石巻市".to_owned()),
            birth_year: 1980,
        };
        let mut no_show = stranger(0).attendee(audience, 0);
        no_show.checked_in = false;
        no_show.completed = false;
        let mut mistake = stranger(1).attendee(audience, 0);
        mistake.withdrawn = true;
        attendees.push(no_show);
        attendees.push(mistake);
    }
    let venue = match host {
        Host::CoHosted(municipality) => municipality,
        Host::Prefecture => Municipality::parse("塩竈市")
            .unwrap_or_else(|_| Municipality::all().next().expect("35 municipalities")),
    };
    FixtureSession {
        course: course.code().to_owned(),
        audience: audience.map(|a| a.code().to_owned()),
        host: host.to_string(),
        date: date.to_string(),
        venue_municipality: venue.name().to_owned(),
        attendees,
    }
}

fn day(text: &str) -> Date {
    text.parse().expect("a valid date in the generator")
}

/// Builds the fixture from the reference data (see the module's documentation for the plan).
pub fn generate_r6() -> Fixture {
    let mut sessions = Vec::new();

    // 心のサポーター.
    let mut queue = people(
        Indicator::KokoroSupportersCumulative,
        "さぽーたー",
        "サポーター",
        ReportDistrict::Kurokawa,
    );
    assert_eq!(queue.len(), 375, "r6_actuals.csv: 375 supporters");
    let mut take = |count: usize| -> Vec<Planned> { queue.drain(..count).collect() };
    let r5 = take(31);
    sessions.push(session(
        TrainingKind::KokoroSupporter,
        Some(Audience::Community),
        Host::Prefecture,
        day("2024-03-31"),
        &r5,
        0,
    ));
    let mut everyone = r5.clone();
    let mut rows = r6_trainings().to_vec();
    // Co-hosted rows first, so they draw from the 黒川 people.
    rows.sort_by_key(|row| matches!(row.host, Host::Prefecture));
    let mut held = 0i64;
    for row in &rows {
        let count = row.sessions as usize;
        for s in 0..count {
            let size =
                row.attendees as usize / count + usize::from(s < row.attendees as usize % count);
            let people = take(size);
            held += 1;
            sessions.push(session(
                TrainingKind::KokoroSupporter,
                Some(row.audience),
                row.host,
                day("2024-04-01").add_days((held - 1) * 37),
                &people,
                usize::try_from(held).unwrap_or(0),
            ));
            everyone.extend(people);
        }
    }
    assert!(queue.is_empty(), "every supporter placed in a session");
    let mut r7: Vec<Planned> = everyone
        .iter()
        .step_by(18)
        .take(20)
        .map(|p| Planned {
            kana: katakana(&p.kana),
            ..p.clone()
        })
        .collect();
    r7.extend((0..10).map(|k| Planned {
        name: format!("新規 {k}"),
        kana: kana_for("しんき", k),
        place: place_for(ReportDistrict::Sennan, k),
        birth_year: 1990,
    }));
    sessions.push(session(
        TrainingKind::KokoroSupporter,
        Some(Audience::Community),
        Host::Prefecture,
        day("2025-05-10"),
        &r7,
        0,
    ));

    // 指導者.
    let mut instructors: Vec<Planned> = people(
        Indicator::KokoroInstructorsCumulative,
        "しどうしゃ",
        "指導者",
        ReportDistrict::Sennan,
    )
    .into();
    assert_eq!(instructors.len(), 132, "r6_actuals.csv: 132 instructors");
    // Interleave districts so each course has people from everywhere.
    instructors.sort_by_key(|p| p.kana.chars().rev().collect::<String>());
    for (date, range) in [
        ("2024-02-15", 0..22),
        ("2024-08-20", 22..77),
        ("2025-03-31", 77..132),
    ] {
        sessions.push(session(
            TrainingKind::KokoroInstructor,
            None,
            Host::Prefecture,
            day(date),
            &instructors[range],
            0,
        ));
    }
    sessions.sort_by(|a, b| a.date.cmp(&b.date));
    Fixture {
        about:
            "Made-up attendee-level records reproducing the R6 心のサポーター and 指導者 tables \
                (r6_actuals.csv) and the R6 training table (r6_trainings.csv); generated by \
                nimo_tests::fixtures::generate_r6."
                .to_owned(),
        sessions,
    }
}

// --- Loading through the sync path ---------------------------------------------------------------

/// Creates each session's document on a trainer's device and syncs it: see [`sync_documents`].
pub async fn sync_through_a_device(
    trainer: &crate::ApiClient,
    sessions: &[FixtureSession],
    seed: u64,
) -> anyhow::Result<Vec<nimo_shared::sync::DocumentId>> {
    let actor = nimo_shared::DeviceId::from_random_bytes([0x5E; 16]).actor_id();
    let documents = sessions
        .iter()
        .enumerate()
        .map(|(index, fixture)| {
            Ok(NewDocument {
                doc: fixture.to_doc(actor.clone(), index)?,
                kind: "training_session",
                members: Vec::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    sync_documents(trainer, documents, seed).await
}

/// A document a device creates, with its registration.
#[derive(Debug)]
pub struct NewDocument {
    /// Its first changes.
    pub doc: Automerge,
    /// Registry kind.
    pub kind: &'static str,
    /// Assigned users (a visit case's pair).
    pub members: Vec<String>,
}

/// Creates each document on a device of `client`'s user (the native sync client), registers
/// it, syncs it over the real WebSocket, waits until the server confirms it stored, and then
/// until the projection has caught up (the manifest, which the projection writes in the same
/// transaction as the report rows, lists the device's heads). Returns the document ids in order.
pub async fn sync_documents(
    client: &crate::ApiClient,
    documents: Vec<NewDocument>,
    seed: u64,
) -> anyhow::Result<Vec<nimo_shared::sync::DocumentId>> {
    use crate::native_client::{Device, DeviceOptions, DeviceStorage, ServerLink};
    use nimo_shared::sync::DocStatus;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

    let device = Device::start(
        ServerLink::new(client.clone()),
        DeviceStorage::default(),
        DeviceOptions::seeded(seed),
    );
    let mut ids = Vec::new();
    for document in documents {
        let doc_id = device.create(document.doc).await?;
        let members: Vec<&str> = document.members.iter().map(String::as_str).collect();
        let status = client
            .register(&doc_id.to_string(), document.kind, &members)
            .await?;
        anyhow::ensure!(status.is_success(), "registering {doc_id}: {status}");
        device.sync_now(doc_id).await?;
        ids.push(doc_id);
    }
    let stored = device
        .wait_for("every document stored", WAIT, |o| {
            ids.iter()
                .all(|id| o.doc_status(id) == Some(DocStatus::Stored))
        })
        .await?;
    let expected: std::collections::BTreeMap<String, Vec<String>> = ids
        .iter()
        .map(|id| {
            let mut heads: Vec<String> = stored.docs[id]
                .heads
                .iter()
                .map(ToString::to_string)
                .collect();
            heads.sort();
            (id.to_string(), heads)
        })
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let manifest = client.get("/api/sync/manifest?since=0").await?;
        let projected: std::collections::BTreeMap<String, Vec<String>> = manifest["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let mut heads: Vec<String> = d["heads"]
                    .as_array()?
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect();
                heads.sort();
                Some((d["id"].as_str()?.to_owned(), heads))
            })
            .collect();
        if expected
            .iter()
            .all(|(id, heads)| projected.get(id) == Some(heads))
        {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the projection did not catch up within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    device.shut_down().await?;
    Ok(ids)
}
