//! `nimo-server backup` and `restore` through the real binary: an online copy taken while the
//! server runs restores to the same document heads with integrity intact, and a damaged backup
//! is refused without touching the database.

use std::time::Duration;

use automerge::transaction::Transactable as _;
use nimo_tests::{TestServer, TrainerWithSession, hex_heads, server_process::server_binary};

async fn run(args: &[&std::ffi::OsStr]) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(server_binary()?)
        .args(args)
        .env("NIMO_LOG", "warn")
        .output()
        .await?;
    Ok((
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    ))
}

/// The registry's recorded heads of `doc_id`, once the projection has recorded `expected`.
async fn recorded_heads(
    server: &TestServer,
    doc_id: &str,
    expected: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut expected = expected.to_vec();
    expected.sort();
    for _ in 0..100 {
        let id = doc_id.to_owned();
        let heads: String = server
            .state
            .db
            .call(move |conn| -> Result<String, nimo_server::db::DbError> {
                Ok(
                    conn.query_row("SELECT heads FROM documents WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await?;
        let mut heads: Vec<String> = serde_json::from_str(&heads)?;
        heads.sort();
        if heads == expected {
            return Ok(heads);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the registry never recorded {expected:?}")
}

#[tokio::test]
async fn an_online_backup_restores_to_the_same_heads_and_a_damaged_one_is_refused()
-> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let TrainerWithSession {
        client,
        peer: _connected,
        handle,
        doc_id,
    } = server.trainer_with_a_session().await?;
    let backed_up = handle.with_document(|doc| hex_heads(doc));
    assert!(client.wait_until_stored(&doc_id, &backed_up).await?);
    recorded_heads(&server, &doc_id, &backed_up).await?;

    let backups = tempfile::tempdir()?;
    let backup_file = backups.path().join("nimo-backup.sqlite3");
    let data = server.data_dir().to_owned();
    let (ok, report) = run(&[
        "backup".as_ref(),
        backup_file.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
    .await?;
    assert!(ok, "{report}");
    assert!(report.contains("integrity ok, 1 documents"), "{report}");
    let (again, report) = run(&[
        "backup".as_ref(),
        backup_file.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
    .await?;
    assert!(!again, "an existing backup is never overwritten: {report}");

    // A change after the backup, which the restore takes back.
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "研修(後で変更)")
            .expect("edit");
        tx.commit();
    });
    let later = handle.with_document(|doc| hex_heads(doc));
    assert!(client.wait_until_stored(&doc_id, &later).await?);
    server.stop_serving().await?;

    // A damaged backup: its registry claims a head no chunk holds. Refused, nothing replaced.
    let damaged = backups.path().join("damaged.sqlite3");
    std::fs::copy(&backup_file, &damaged)?;
    rusqlite::Connection::open(&damaged)?.execute(
        "UPDATE documents SET heads = ?1",
        [serde_json::to_string(&["ab".repeat(32)])?],
    )?;
    let (ok, report) = run(&[
        "restore".as_ref(),
        damaged.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
    .await?;
    assert!(!ok, "{report}");
    assert!(report.contains("is missing"), "{report}");
    let garbage = backups.path().join("garbage.sqlite3");
    std::fs::write(
        &garbage,
        b"not a database at all, just some bytes".repeat(200),
    )?;
    let (ok, report) = run(&[
        "restore".as_ref(),
        garbage.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
    .await?;
    assert!(!ok, "{report}");

    let (ok, report) = run(&[
        "restore".as_ref(),
        backup_file.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
    .await?;
    assert!(ok, "{report}");
    assert!(report.contains("integrity ok, 1 documents"), "{report}");
    assert!(report.contains("kept as"), "{report}");

    server.serve_again().await?;
    let restored = server
        .state
        .sync
        .store
        .load_document(&doc_id)
        .await?
        .expect("the document is back");
    let mut restored_heads = hex_heads(&restored);
    restored_heads.sort();
    let mut expected = backed_up.clone();
    expected.sort();
    assert_eq!(restored_heads, expected, "the heads at backup time");
    assert_eq!(
        recorded_heads(&server, &doc_id, &backed_up).await?,
        expected
    );
    server.stop().await
}
