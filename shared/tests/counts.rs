//! The derived counts, by case tables and against the prefecture's R6 figures.

mod common;

use std::collections::BTreeMap;

use common::*;
use nimo_shared::counts::people::*;
use nimo_shared::counts::trainings::*;
use nimo_shared::counts::visits::*;
use nimo_shared::records::training::*;
use nimo_shared::records::visit::VisitCase;
use nimo_shared::reference::{Indicator, r6_by_district, r6_trainings};
use nimo_shared::{FiscalYear, Municipality, Place, ReportDistrict, Timestamp};
use rstest::rstest;

fn year(text: &str) -> FiscalYear {
    text.parse().expect("valid year")
}

fn completed(person: Person) -> Attendee {
    Attendee {
        checked_in_at: Some(Timestamp::from_unix_millis(0)),
        completed: true,
        ..Attendee::new(person)
    }
}

fn session_with(on: &str, attendees: Vec<Attendee>) -> TrainingSession {
    let mut session = session(on);
    session.roster = attendees
        .into_iter()
        .enumerate()
        .map(|(n, attendee)| (attendee_id(u16::try_from(n).expect("small")), attendee))
        .collect();
    session
}

fn hanako(kana: &str, residence: Option<&str>) -> Person {
    Person {
        birth_year: Some(1980),
        ..person("宮城 花子", kana, residence)
    }
}

#[rstest]
#[case::once_even_when_attending_twice(
    vec![("2025-06-14", hanako("みやぎ はなこ", Some("富谷市"))), ("2025-11-02", hanako("ミヤギハナコ", Some("富谷市")))],
    &[("R7", ReportDistrict::Kurokawa, 1)]
)]
#[case::in_the_year_of_first_completion(
    vec![("2025-03-31", hanako("みやぎ はなこ", Some("石巻市"))), ("2025-04-01", hanako("みやぎ はなこ", Some("石巻市")))],
    &[("R6", ReportDistrict::Ishinomaki, 1), ("R7", ReportDistrict::Ishinomaki, 0)]
)]
#[case::sendai_city_counts_under_other(
    vec![("2025-06-14", hanako("みやぎ はなこ", Some("仙台市")))],
    &[("R7", ReportDistrict::Other, 1), ("R7", ReportDistrict::SendaiCity, 1)]
)]
#[case::different_municipalities_are_different_people(
    vec![("2025-06-14", hanako("みやぎ はなこ", Some("富谷市"))), ("2025-06-15", hanako("みやぎ はなこ", Some("大和町")))],
    &[("R7", ReportDistrict::Kurokawa, 2)]
)]
#[case::unknown_residence_counts_under_other(
    vec![("2025-06-14", hanako("みやぎ はなこ", None))],
    &[("R7", ReportDistrict::Other, 1)]
)]
fn a_new_supporter_counts_once_in_the_district_and_year_of_first_completion(
    #[case] attendances: Vec<(&str, Person)>,
    #[case] expected: &[(&str, ReportDistrict, u32)],
) {
    let sessions: Vec<TrainingSession> = attendances
        .into_iter()
        .map(|(on, person)| session_with(on, vec![completed(person)]))
        .collect();
    let first = first_completions(&sessions, TrainingKind::KokoroSupporter);
    for (fiscal, district, count) in expected {
        assert_eq!(
            new_by_district(&first, year(fiscal)).get(*district),
            *count,
            "{fiscal} {district:?}"
        );
    }
}

#[rstest]
#[case::not_completed(Attendee { completed: false, ..completed(hanako("みやぎ はなこ", Some("富谷市"))) }, 0)]
#[case::withdrawn(Attendee { withdrawn: true, ..completed(hanako("みやぎ はなこ", Some("富谷市"))) }, 0)]
#[case::completed(completed(hanako("みやぎ はなこ", Some("富谷市"))), 1)]
fn only_active_completed_attendees_count(#[case] attendee: Attendee, #[case] expected: u32) {
    let sessions = [session_with("2025-06-14", vec![attendee])];
    let first = first_completions(&sessions, TrainingKind::KokoroSupporter);
    assert_eq!(new_by_district(&first, year("R7")).total(), expected);
}

#[test]
fn instructors_are_counted_apart_from_supporters() {
    let mut instructors = session_with(
        "2025-06-14",
        vec![completed(hanako("みやぎ はなこ", Some("富谷市")))],
    );
    instructors.course = TrainingKind::KokoroInstructor;
    instructors.audience = None;
    let sessions = [instructors];
    assert!(first_completions(&sessions, TrainingKind::KokoroSupporter).is_empty());
    assert_eq!(
        first_completions(&sessions, TrainingKind::KokoroInstructor).len(),
        1
    );
}

#[test]
fn a_confirmed_person_id_joins_entries_whose_written_details_differ() {
    let id = nimo_shared::PersonId::from_random_bytes([9; 16]);
    let first = Attendee {
        person_id: Some(id),
        ..completed(hanako("みやぎ はなこ", Some("富谷市")))
    };
    let moved = Attendee {
        person_id: Some(id),
        ..completed(hanako("みやぎ はなこ", Some("石巻市")))
    };
    let sessions = [
        session_with("2025-06-14", vec![first]),
        session_with("2025-10-01", vec![moved]),
    ];
    let completions = first_completions(&sessions, TrainingKind::KokoroSupporter);
    assert_eq!(completions.len(), 1);
    assert_eq!(
        completions[&PersonKey::Confirmed(id)].district,
        ReportDistrict::Kurokawa
    );
}

// --- The R6 supporter table, rebuilt from attendee-level records --------------------------------

/// A unique, valid kana name for person `n` (digits spelled as kana).
fn kana_for(n: usize) -> String {
    const DIGITS: [char; 10] = ['あ', 'い', 'う', 'え', 'お', 'か', 'き', 'く', 'け', 'こ'];
    let digits: String = n
        .to_string()
        .chars()
        .map(|d| DIGITS[d as usize - '0' as usize])
        .collect();
    format!("さぽーたー {digits}")
}

fn katakana(hiragana: &str) -> String {
    hiragana
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(u32::from(c) + 0x60).expect("katakana"),
            other => other,
        })
        .collect()
}

/// A concrete place for the `n`th person of a district: its 市町村 in turn, or for その他 in turn
/// 仙台市, outside the prefecture, and unknown.
fn place_for(district: ReportDistrict, n: usize) -> Option<Place> {
    if district == ReportDistrict::Other {
        return [
            Some("仙台市".parse().expect("known")),
            Some(Place::OutsidePrefecture),
            None,
        ][n % 3];
    }
    let municipalities: Vec<Municipality> = Municipality::all()
        .filter(|m| m.district() == district)
        .collect();
    Some(Place::Municipality(
        municipalities[n % municipalities.len()],
    ))
}

/// A person of the fixture: a unique kana, a place, a birth year.
#[derive(Clone)]
struct Planned {
    kana: String,
    place: Option<Place>,
    birth_year: u16,
}

impl Planned {
    fn numbered(n: usize, place: Option<Place>) -> Planned {
        Planned {
            kana: kana_for(n),
            place,
            birth_year: 1940 + u16::try_from(n % 60).expect("small"),
        }
    }

    /// As written on a roster for `audience`: 企業 people give only their workplace, half of the
    /// 教育 people only their school, everyone else their residence.
    fn person(&self, audience: Audience, n: usize) -> Person {
        let workplace_only =
            audience == Audience::Company || (audience == Audience::Education && n % 2 == 1);
        Person {
            name: format!("サポーター {n}"),
            kana: self.kana.clone(),
            affiliation: Affiliation::CommunityResident,
            residence: if workplace_only { None } else { self.place },
            workplace: if workplace_only { self.place } else { None },
            birth_year: Some(self.birth_year),
        }
    }
}

/// Builds a session document the way the app does (create, add, check in, mark) and hydrates it.
fn held_session(
    on: &str,
    host: Host,
    audience: Audience,
    people: &[Planned],
    noise: bool,
) -> TrainingSession {
    use nimo_shared::records::roster::*;
    let mut details = session(on);
    details.host = host;
    details.audience = Some(audience);
    details.venue_municipality = match host {
        Host::CoHosted(municipality) => municipality,
        Host::Prefecture => "塩竈市".parse().expect("known"),
    };
    details.capacity = 200;
    let when = at(&format!("{on}T13:00:00+09:00"));
    let trainer = user("trainer-1");
    let mut doc = nimo_shared::doc::create(&details, actor(1), when).expect("valid session");
    for (n, planned) in people.iter().enumerate() {
        let id = attendee_id(u16::try_from(n).expect("small"));
        add_attendee(&mut doc, id, planned.person(audience, n), when).expect("add");
        check_in(&mut doc, id, when, &trainer).expect("check in");
        mark_completed(&mut doc, id, true, when).expect("mark");
    }
    if noise {
        // A no-show and an entry made by mistake (marked, then withdrawn): neither counts.
        let no_show = attendee_id(900);
        add_attendee(
            &mut doc,
            no_show,
            Planned::numbered(9000, None).person(audience, 0),
            when,
        )
        .expect("add");
        let mistake = attendee_id(901);
        add_attendee(
            &mut doc,
            mistake,
            Planned::numbered(9001, None).person(audience, 0),
            when,
        )
        .expect("add");
        check_in(&mut doc, mistake, when, &trainer).expect("check in");
        mark_completed(&mut doc, mistake, true, when).expect("mark");
        withdraw_attendee(&mut doc, mistake, when).expect("withdraw");
    }
    nimo_shared::doc::hydrate(&doc).expect("hydrates")
}

/// R5: one session on 2024-03-31 (the last day of R5) with 31 people. R6: the sessions of
/// r6_trainings.csv (the first on 2024-04-01) with 344 new people, each with a no-show and a
/// withdrawn entry, and an instructors' course. R7: 20 earlier people attend again (kana typed in
/// katakana) with 10 new people. Districts follow r6_actuals.csv; 黒川 people fill the co-hosted
/// sessions first.
fn r6_fixture() -> &'static [TrainingSession] {
    // Built once: about a thousand transactions, slow-ish in debug builds.
    static FIXTURE: std::sync::OnceLock<Vec<TrainingSession>> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_r6_fixture)
}

fn build_r6_fixture() -> Vec<TrainingSession> {
    let mut kurokawa = Vec::new();
    let mut others = Vec::new();
    let mut n = 0;
    for (district, count) in r6_by_district(Indicator::KokoroSupportersCumulative) {
        for k in 0..count as usize {
            let planned = Planned::numbered(n, place_for(district, k));
            n += 1;
            if district == ReportDistrict::Kurokawa {
                kurokawa.push(planned)
            } else {
                others.push(planned)
            }
        }
    }
    let mut queue: std::collections::VecDeque<Planned> =
        kurokawa.into_iter().chain(others).collect();
    assert_eq!(queue.len(), 375);
    let mut take = |count: usize| -> Vec<Planned> { queue.drain(..count).collect() };

    let mut sessions = Vec::new();
    let mut everyone = Vec::new();
    let mut rows: Vec<_> = r6_trainings().to_vec();
    // Co-hosted rows first, so they draw from the 黒川 people.
    rows.sort_by_key(|row| matches!(row.host, Host::Prefecture));
    let mut day = 0;
    let mut r5_taken = false;
    for row in &rows {
        if !r5_taken && row.host == Host::Prefecture {
            let people = take(31);
            sessions.push(held_session(
                "2024-03-31",
                Host::Prefecture,
                Audience::Community,
                &people,
                false,
            ));
            everyone.extend(people);
            r5_taken = true;
        }
        let sessions_in_row = row.sessions as usize;
        for s in 0..sessions_in_row {
            let size = row.attendees as usize / sessions_in_row
                + usize::from(s < row.attendees as usize % sessions_in_row);
            let people = take(size);
            let on = nimo_shared::Date::new(2024, 4, 1)
                .expect("valid")
                .add_days(day * 17);
            day += 1;
            sessions.push(held_session(
                &on.to_string(),
                row.host,
                row.audience,
                &people,
                true,
            ));
            everyone.extend(people);
        }
    }
    assert!(queue.is_empty());

    let mut instructors = held_session(
        "2024-11-20",
        Host::Prefecture,
        Audience::Community,
        &everyone[..5],
        false,
    );
    instructors.course = TrainingKind::KokoroInstructor;
    instructors.audience = None;
    sessions.push(instructors);

    let mut r7_people: Vec<Planned> = everyone
        .iter()
        .step_by(18)
        .take(20)
        .map(|p| Planned {
            kana: katakana(&p.kana),
            ..p.clone()
        })
        .collect();
    r7_people
        .extend((0..10).map(|k| Planned::numbered(5000 + k, place_for(ReportDistrict::Sennan, k))));
    sessions.push(held_session(
        "2025-05-10",
        Host::Prefecture,
        Audience::Community,
        &r7_people,
        false,
    ));
    sessions
}

#[test]
fn attendee_level_records_reproduce_the_r6_supporter_table() {
    let sessions = r6_fixture();
    let first = first_completions(sessions, TrainingKind::KokoroSupporter);

    let cumulative = cumulative_by_district(&first, year("R6"));
    assert_eq!(
        cumulative.columns(),
        r6_by_district(Indicator::KokoroSupportersCumulative)
    );
    assert_eq!(
        cumulative.columns(),
        [
            (ReportDistrict::Sennan, 24),
            (ReportDistrict::Shiogama, 19),
            (ReportDistrict::Iwanuma, 16),
            (ReportDistrict::Kurokawa, 173),
            (ReportDistrict::Osaki, 22),
            (ReportDistrict::Kurihara, 5),
            (ReportDistrict::Ishinomaki, 43),
            (ReportDistrict::Tome, 6),
            (ReportDistrict::Kesennuma, 9),
            (ReportDistrict::Other, 58),
        ]
    );
    assert_eq!(cumulative.total(), 375);
    assert_eq!(new_by_district(&first, year("R5")).total(), 31);
    assert_eq!(
        new_by_district(&first, year("R6")).total(),
        344,
        "前年比344人増"
    );
    assert_eq!(
        new_by_district(&first, year("R7")).total(),
        10,
        "repeaters are not new"
    );
    assert_eq!(cumulative_by_district(&first, year("R7")).total(), 385);
}

#[test]
fn attendee_level_records_reproduce_the_r6_training_table() {
    let sessions = r6_fixture();
    let by_group = trainings_by_group(sessions, year("R6"));
    let supporter_rows: BTreeMap<(Host, Option<Audience>), (u32, u32)> = by_group
        .iter()
        .filter(|(group, _)| group.course == TrainingKind::KokoroSupporter)
        .map(|(group, tally)| {
            (
                (group.host, group.audience),
                (tally.sessions, tally.attendees),
            )
        })
        .collect();
    let expected: BTreeMap<(Host, Option<Audience>), (u32, u32)> = r6_trainings()
        .iter()
        .map(|row| {
            (
                (row.host, Some(row.audience)),
                (row.sessions, row.attendees),
            )
        })
        .collect();
    assert_eq!(supporter_rows, expected);
}

// --- The visit programme --------------------------------------------------------------------------

fn case_with(code: &str, visits: &[&str], discharged: Option<&str>) -> VisitCase {
    let mut case = visit_case();
    case.patient_code = code.parse().expect("valid code");
    case.visits = visits
        .iter()
        .enumerate()
        .map(|(n, on)| (visit_id(u16::try_from(n).expect("small")), visit(on, "")))
        .collect();
    case.discharged_on = discharged.map(date);
    case
}

#[rstest]
#[case::patients_not_visits(vec![case_with("P-0001", &["2025-06-01", "2025-07-01", "2025-08-01"], None)], "R7", (1, 3, 0))]
#[case::two_patients(vec![case_with("P-0001", &["2025-06-01"], None), case_with("P-0002", &["2025-06-02"], None)], "R7", (2, 2, 0))]
#[case::same_code_twice_is_one_patient(vec![case_with("P-0001", &["2025-06-01"], None), case_with("P-0001", &["2025-09-02"], None)], "R7", (1, 2, 0))]
#[case::visits_in_another_year_do_not_count(vec![case_with("P-0001", &["2025-03-31"], None)], "R7", (0, 0, 0))]
#[case::discharged_on_day_365(vec![case_with("P-0001", &["2025-06-01"], Some("2026-06-01"))], "R8", (0, 0, 1))]
#[case::discharged_on_day_366(vec![case_with("P-0001", &["2025-06-01"], Some("2026-06-02"))], "R8", (0, 0, 0))]
#[case::discharged_within_the_year(vec![case_with("P-0001", &["2025-06-01", "2025-10-01"], Some("2026-01-15"))], "R7", (1, 2, 1))]
#[case::never_visited(vec![case_with("P-0001", &[], Some("2025-10-01"))], "R7", (0, 0, 0))]
fn the_visit_programme_counts_patients_visits_and_discharges_within_a_year(
    #[case] cases: Vec<VisitCase>,
    #[case] fiscal: &str,
    #[case] expected: (u32, u32, u32),
) {
    let counts = visit_programme(&cases, year(fiscal));
    assert_eq!(
        (
            counts.patients,
            counts.visits,
            counts.discharged_within_a_year
        ),
        expected
    );
}

#[test]
fn cumulative_patients_count_each_code_from_its_first_visit() {
    let cases = [
        case_with("P-0001", &["2025-03-01"], None),
        case_with("P-0002", &["2025-06-01"], None),
        case_with("P-0002", &["2025-07-01"], None),
    ];
    assert_eq!(cumulative_patients(&cases, year("R6")), 1);
    assert_eq!(cumulative_patients(&cases, year("R7")), 2);
}

#[test]
fn per_area_staff_trainings_are_counted_by_the_venue_area() {
    let mut staff = session("2025-10-01");
    staff.course = TrainingKind::CommunitySupportStaff;
    staff.audience = None;
    staff.scope = Some(TrainingScope::PerArea);
    staff.venue_municipality = "登米市".parse().expect("known");
    let per_area = sessions_per_area([&staff], TrainingKind::CommunitySupportStaff, year("R7"));
    assert_eq!(per_area[&nimo_shared::Area::Tome], 1);
    assert_eq!(per_area.values().sum::<u32>(), 1);
    assert_eq!(per_area.len(), 7);
}
