//! Erasure of a closed visit case after its retention period (issue #6): only office staff with
//! visit access may erase; an open or recent case is refused; once erased, the document's
//! chunks are gone from SQLite, the manifest tells its pair to drop it, nobody can sync it any
//! more, and the audit log records the erasure without content.

use nimo_server::accounts::Role;
use nimo_shared::records::visit::{CaseStatus, Eligibility, VisitCase, VisitorPair};
use nimo_shared::{Date, Municipality, Timestamp, doc};
use nimo_tests::{TestServer, hex_heads, samod_peer};

fn case(first: &str, second: &str, status: CaseStatus, requested: Date) -> VisitCase {
    VisitCase {
        patient_code: "MY-2019-0042".parse().expect("code"),
        hospital: "県立こころの病院".to_owned(),
        hospital_municipality: Municipality::parse("名取市").expect("known"),
        eligibility: Eligibility::MayorConsentMedicalProtection,
        requested_on: requested,
        assigned: VisitorPair {
            professional: first.parse().expect("id"),
            non_professional: second.parse().expect("id"),
        },
        status,
        discharged_on: None,
        visits: Default::default(),
    }
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::new(y, m, d).expect("valid")
}

#[tokio::test]
async fn a_closed_case_past_retention_is_erased_from_the_server_and_the_manifest_says_so()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    server.add_user("office", Role::Office, None, true).await?;
    server.add_user("clerk", Role::Office, None, false).await?;
    let owner = server.api_client("visitor1").await?;
    let peer = samod_peer(&owner).await?;
    let at = Timestamp::from_unix_millis(1_560_000_000_000);
    let mut ids = Vec::new();
    for (status, requested) in [
        (CaseStatus::Closed, date(2019, 4, 1)),
        (CaseStatus::Open, date(2019, 4, 1)),
        (CaseStatus::Closed, date(2025, 4, 1)),
    ] {
        let record = case(first.id.as_str(), second.id.as_str(), status, requested);
        let document = doc::create(&record, automerge::ActorId::random(), at)?;
        let handle = peer.create_doc(document).await?;
        let id = handle.document_id().to_string();
        owner
            .register(&id, "visit_case", &[first.id.as_str(), second.id.as_str()])
            .await?;
        ids.push((id, handle));
    }
    peer.connect().await?;
    for (id, handle) in &ids {
        assert!(
            owner
                .wait_until_stored(id, &handle.with_document(|d| hex_heads(d)))
                .await?
        );
    }
    let (old, open, recent) = (&ids[0].0, &ids[1].0, &ids[2].0);
    let partner = server.api_client("visitor2").await?;
    let before = partner.get("/api/sync/manifest?since=0").await?;
    let cursor = before["cursor"].as_i64().expect("cursor");

    let erase = |client: &nimo_tests::ApiClient, id: &str| {
        client
            .request(reqwest::Method::POST, &format!("/api/docs/{id}/erase"))
            .send()
    };
    let clerk = server.api_client("clerk").await?;
    assert_eq!(erase(&clerk, old).await?.status(), 403, "no visit access");
    assert_eq!(
        erase(&owner, old).await?.status(),
        403,
        "visitors do not erase"
    );
    let office = server.api_client("office").await?;
    assert_eq!(erase(&office, open).await?.status(), 400, "still open");
    assert_eq!(
        erase(&office, recent).await?.status(),
        400,
        "within retention"
    );
    assert_eq!(erase(&office, old).await?.status(), 204);
    assert_eq!(erase(&office, old).await?.status(), 404, "already erased");

    let id = old.clone();
    let (chunks, erased_rows, details): (i64, i64, Vec<String>) = server
        .state
        .db
        .call(move |conn| -> Result<_, nimo_server::db::DbError> {
            let chunks = conn.query_row(
                "SELECT count(*) FROM chunks WHERE doc_id = ?1",
                [&id],
                |r| r.get(0),
            )?;
            let erased = conn.query_row(
                "SELECT count(*) FROM audit_log WHERE document_id = ?1 AND action = 'document_erased'",
                [&id],
                |r| r.get(0),
            )?;
            let mut statement =
                conn.prepare("SELECT detail FROM audit_log WHERE document_id = ?1")?;
            let details = statement
                .query_map([&id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok((chunks, erased, details))
        })
        .await?;
    assert_eq!(chunks, 0, "the document's chunks are gone");
    assert_eq!(erased_rows, 1);
    assert!(
        details.iter().all(|d| !d.contains("MY-2019")),
        "{details:?}"
    );
    let others = server.state.sync.store.load_document(open).await?;
    assert!(others.is_some(), "other cases stay");

    // The pair's next manifest tells their devices to drop it; it is no longer listed.
    let after = partner
        .get(&format!("/api/sync/manifest?since={cursor}"))
        .await?;
    let erased: Vec<String> = serde_json::from_value(after["erased"].clone())?;
    assert_eq!(erased, vec![old.clone()]);
    let full = partner.get("/api/sync/manifest?since=0").await?;
    assert!(!full["documents"].to_string().contains(old.as_str()));
    // Nobody can sync it any more.
    let fresh = samod_peer(&partner).await?;
    fresh.connect().await?;
    assert!(fresh.find(old).await?.is_none());
    Ok(())
}
