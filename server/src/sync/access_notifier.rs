//! Tells each share-policy stream when access to *its* document may have changed.
//!
//! samod holds one share-policy stream per (document, peer): 50 devices with 1,000 documents
//! each is 50,000 streams. With one broadcast channel every stream woke for every message and
//! threw away those about other documents, so registering N documents cost ~N²/2 wake-ups
//! (BENCH-RESULTS.md finding 8: 60% of the server's CPU while seeding W3). Here a stream waits
//! on two generation counters only: its document's, and one for changes to everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::policy::AccessChange;

/// Where access changes are announced; cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessNotifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    everything: watch::Sender<u64>,
    documents: Mutex<HashMap<Arc<str>, watch::Sender<u64>>>,
}

impl Default for AccessNotifier {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                everything: watch::channel(0).0,
                documents: Mutex::default(),
            }),
        }
    }
}

impl AccessNotifier {
    /// Wakes the streams `change` concerns: one document's, or all.
    pub fn send(&self, change: AccessChange) {
        match change {
            AccessChange::Everything => self.inner.everything.send_modify(|g| *g += 1),
            AccessChange::Document(doc_id) => {
                if let Some(sender) = self.documents().get(&doc_id) {
                    sender.send_modify(|g| *g += 1);
                }
            }
        }
    }

    /// A watch on `doc_id`'s access, from now on.
    pub fn subscribe(&self, doc_id: &str) -> AccessWatch {
        let everything = self.inner.everything.subscribe();
        let mut documents = self.documents();
        // Forget documents nobody watches any more, at doubling sizes (amortised constant).
        if documents.len() >= 64 && documents.len().is_power_of_two() {
            documents.retain(|_, sender| sender.receiver_count() > 0);
        }
        let document = documents
            .entry(doc_id.into())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        AccessWatch {
            everything,
            document,
        }
    }

    fn documents(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, watch::Sender<u64>>> {
        // The map holds only senders; a panic while it was locked left it usable.
        self.inner
            .documents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One stream's view of [`AccessNotifier`].
#[derive(Debug)]
pub struct AccessWatch {
    everything: watch::Receiver<u64>,
    document: watch::Receiver<u64>,
}

impl AccessWatch {
    /// Waits until access to the document may have changed since the last call (or the
    /// subscription); `None` once the notifier is gone (the server is stopping).
    pub async fn changed(&mut self) -> Option<()> {
        tokio::select! {
            changed = self.everything.changed() => changed.ok(),
            changed = self.document.changed() => changed.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(watch: &mut AccessWatch) -> bool {
        tokio::time::timeout(Duration::from_millis(50), watch.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_stream_wakes_for_its_document_and_for_everything_only() {
        let notifier = AccessNotifier::default();
        let mut a = notifier.subscribe("docA");
        let mut b = notifier.subscribe("docB");
        notifier.send(AccessChange::Document("docA".into()));
        assert!(woken(&mut a).await);
        assert!(
            !woken(&mut b).await,
            "docB's stream slept through docA's change"
        );
        notifier.send(AccessChange::Everything);
        assert!(woken(&mut a).await);
        assert!(woken(&mut b).await);
        // A change to a document nobody watches is dropped.
        notifier.send(AccessChange::Document("docC".into()));
        assert!(!woken(&mut a).await);
    }

    #[tokio::test]
    async fn changes_between_two_waits_are_not_lost() {
        let notifier = AccessNotifier::default();
        let mut a = notifier.subscribe("docA");
        notifier.send(AccessChange::Document("docA".into()));
        notifier.send(AccessChange::Document("docA".into()));
        assert!(woken(&mut a).await);
        assert!(
            !woken(&mut a).await,
            "two changes before one wait wake it once"
        );
    }

    #[test]
    fn documents_nobody_watches_are_forgotten() {
        let notifier = AccessNotifier::default();
        let kept = notifier.subscribe("kept");
        for n in 0..200 {
            drop(notifier.subscribe(&format!("doc{n}")));
        }
        let remembered = notifier.documents().len();
        assert!(remembered < 100, "{remembered} documents remembered");
        assert!(notifier.documents().contains_key("kept"));
        drop(kept);
    }
}
