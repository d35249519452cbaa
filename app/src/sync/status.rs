//! What the sync status looks like on screen (pure functions: no IO, tested natively).

use nimo_shared::sync::{DocStatus, SyncStatus};

/// The global status line: オフライン / N件の変更が未送信 / 同期中 / HH:MM に同期済み.
/// `unsent` counts the documents with changes only on this device.
pub fn global_label(status: SyncStatus, unsent: usize) -> String {
    match status {
        SyncStatus::Offline | SyncStatus::Connecting if unsent > 0 => {
            format!("オフライン（{unsent}件の変更が未送信）")
        }
        SyncStatus::Offline | SyncStatus::Connecting => "オフライン".to_owned(),
        SyncStatus::Syncing { .. } => "同期中".to_owned(),
        SyncStatus::UpToDate { .. } if unsent > 0 => format!("{unsent}件の変更が未送信"),
        SyncStatus::UpToDate { at_ms } => format!("{} に同期済み", hh_mm_in_japan(at_ms)),
    }
}

/// A document's status: この端末のみ / 送信済み / サーバーに保存済み.
pub fn doc_label(status: DocStatus) -> &'static str {
    match status {
        DocStatus::OnlyHere => "この端末のみ",
        DocStatus::Sent => "送信済み",
        DocStatus::Stored => "サーバーに保存済み",
    }
}

/// A CSS class for a document's status badge.
pub fn doc_class(status: DocStatus) -> &'static str {
    match status {
        DocStatus::OnlyHere => "badge badge-local",
        DocStatus::Sent => "badge badge-sent",
        DocStatus::Stored => "badge badge-stored",
    }
}

/// `HH:MM` of a Unix time in milliseconds, in Japan (UTC+9, no daylight saving).
pub fn hh_mm_in_japan(unix_ms: u64) -> String {
    let seconds_of_day = (unix_ms / 1000 + 9 * 3600) % 86_400;
    format!(
        "{:02}:{:02}",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_label_says_what_the_trainer_needs_to_know() {
        assert_eq!(global_label(SyncStatus::Offline, 0), "オフライン");
        assert_eq!(
            global_label(SyncStatus::Offline, 2),
            "オフライン（2件の変更が未送信）"
        );
        assert_eq!(
            global_label(
                SyncStatus::Syncing {
                    pending: 1,
                    total: 3
                },
                1
            ),
            "同期中"
        );
        // 2025-06-01T01:30:00Z is 10:30 in Japan.
        assert_eq!(
            global_label(
                SyncStatus::UpToDate {
                    at_ms: 1_748_741_400_000
                },
                0
            ),
            "10:30 に同期済み"
        );
        assert_eq!(
            global_label(SyncStatus::UpToDate { at_ms: 0 }, 3),
            "3件の変更が未送信"
        );
    }
}
