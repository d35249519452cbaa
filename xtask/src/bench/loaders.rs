//! The threads on which W3's Rust reader loads what it fetches.
//!
//! Loading a received document into automerge is almost all of a reader's CPU (~0.8 ms per
//! document optimised, against the server's ~0.2 ms to serve it), so one thread caps a reader
//! near 1,200 documents per second whatever the server does. The reader keeps one socket and
//! one request window; only the loading is spread over the machine's cores. Each document
//! stays on one thread for its whole exchange (chosen from its id), so its messages are
//! applied in the order they arrived.

use std::{
    collections::HashMap,
    hash::{BuildHasher as _, RandomState},
    sync::mpsc,
    thread,
};

use automerge::{
    Automerge, ChangeHash,
    sync::{self, SyncDoc as _},
};
use nimo_shared::sync::ids::DocumentId;
use tokio::sync::mpsc as async_mpsc;

/// What a loader thread is asked to do.
enum Job {
    /// Start a document whose request was sent from its sync state.
    Start {
        id: DocumentId,
        loading: Box<Loading>,
    },
    /// Apply a sync message the server sent for `id`.
    Receive { id: DocumentId, data: Vec<u8> },
    /// Drop `id` (the server said it is unavailable).
    Forget { id: DocumentId },
}

/// A document being fetched: what has arrived of it, and the heads it must end with.
struct Loading {
    doc: Automerge,
    state: sync::State,
    expected: Vec<ChangeHash>,
}

/// What a loader thread made of a message.
#[derive(Debug)]
pub struct Outcome {
    /// The document.
    pub id: DocumentId,
    /// The sync message to send back, if any (the acknowledgement of what was received).
    pub reply: Option<Vec<u8>>,
    /// Set once the server's heads are all held: `Ok` when they are the expected ones.
    pub verdict: Option<Result<(), String>>,
}

/// A pool of loader threads, one document always on the same thread.
pub struct Loaders {
    jobs: Vec<mpsc::Sender<Job>>,
    threads: Vec<thread::JoinHandle<()>>,
    route: RandomState,
    /// Every thread's outcomes, in the order they were made.
    pub outcomes: async_mpsc::UnboundedReceiver<Outcome>,
}

impl Loaders {
    /// One thread per core the machine offers (at least one).
    pub fn for_this_machine() -> Self {
        let count = thread::available_parallelism().map_or(1, usize::from);
        Self::new(count)
    }

    /// `count` threads (at least one).
    pub fn new(count: usize) -> Self {
        let (outcome_tx, outcomes) = async_mpsc::unbounded_channel();
        let (jobs, threads) = (0..count.max(1))
            .map(|k| {
                let (job_tx, job_rx) = mpsc::channel();
                let outcome_tx = outcome_tx.clone();
                let thread = thread::Builder::new()
                    .name(format!("w3-loader-{k}"))
                    .spawn(move || load_loop(&job_rx, &outcome_tx))
                    .expect("spawning a loader thread");
                (job_tx, thread)
            })
            .unzip();
        Self {
            jobs,
            threads,
            route: RandomState::new(),
            outcomes,
        }
    }

    /// Hands a document whose request was just sent to its thread.
    pub fn start(
        &self,
        id: DocumentId,
        doc: Automerge,
        state: sync::State,
        mut expected: Vec<ChangeHash>,
    ) {
        expected.sort_unstable();
        let loading = Box::new(Loading {
            doc,
            state,
            expected,
        });
        self.send(id, Job::Start { id, loading });
    }

    /// Hands a received sync message to its document's thread.
    pub fn receive(&self, id: DocumentId, data: Vec<u8>) {
        self.send(id, Job::Receive { id, data });
    }

    /// Tells a document's thread to drop it.
    pub fn forget(&self, id: DocumentId) {
        self.send(id, Job::Forget { id });
    }

    fn send(&self, id: DocumentId, job: Job) {
        let k = usize::try_from(self.route.hash_one(id)).unwrap_or_default() % self.jobs.len();
        // A thread ends only when its sender is dropped (in `close`), so this cannot fail
        // while `self` lives; were one to have panicked, its documents never complete and the
        // reader's deadline reports them.
        let _ = self.jobs[k].send(job);
    }

    /// Stops the threads once they have done what they were given.
    pub fn close(self) {
        drop(self.jobs);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// One loader thread: its documents, until its job sender is dropped.
fn load_loop(jobs: &mpsc::Receiver<Job>, outcomes: &async_mpsc::UnboundedSender<Outcome>) {
    let mut loading: HashMap<DocumentId, Box<Loading>> = HashMap::new();
    while let Ok(job) = jobs.recv() {
        let (id, data) = match job {
            Job::Start { id, loading: one } => {
                loading.insert(id, one);
                continue;
            }
            Job::Forget { id } => {
                loading.remove(&id);
                continue;
            }
            Job::Receive { id, data } => (id, data),
        };
        let Some(entry) = loading.get_mut(&id) else {
            continue;
        };
        let applied = sync::Message::decode(&data)
            .map_err(|e| format!("{id}: undecodable sync message: {e}"))
            .and_then(|message| {
                entry
                    .doc
                    .receive_sync_message(&mut entry.state, message)
                    .map_err(|e| format!("{id}: {e}"))
            });
        let outcome = match applied {
            Err(why) => {
                loading.remove(&id);
                Outcome {
                    id,
                    reply: None,
                    verdict: Some(Err(why)),
                }
            }
            Ok(()) => {
                let reply = entry
                    .doc
                    .generate_sync_message(&mut entry.state)
                    .map(sync::Message::encode);
                let mut heads = entry.doc.get_heads();
                heads.sort_unstable();
                let theirs = entry.state.their_heads.as_deref().unwrap_or_default();
                let done = !theirs.is_empty() && theirs.iter().all(|h| heads.contains(h));
                let verdict = done.then(|| {
                    if heads == entry.expected {
                        Ok(())
                    } else {
                        Err(format!("{id}: heads differ"))
                    }
                });
                if verdict.is_some() {
                    loading.remove(&id);
                }
                Outcome { id, reply, verdict }
            }
        };
        if outcomes.send(outcome).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::{AutoCommit, ROOT, transaction::Transactable as _};

    use super::*;

    /// A server's side of one document: answers a reader's messages as a sync peer.
    struct Server {
        doc: Automerge,
        state: sync::State,
    }

    impl Server {
        fn with_document(seed: u8) -> Self {
            let mut doc = AutoCommit::new();
            doc.put(ROOT, "seed", i64::from(seed)).expect("a put");
            doc.commit();
            Self {
                doc: doc.document().clone(),
                state: sync::State::new(),
            }
        }

        fn answer(&mut self, message: &[u8]) -> Option<Vec<u8>> {
            self.doc
                .receive_sync_message(
                    &mut self.state,
                    sync::Message::decode(message).expect("a sync message"),
                )
                .expect("applied");
            self.doc
                .generate_sync_message(&mut self.state)
                .map(sync::Message::encode)
        }
    }

    fn id(k: u8) -> DocumentId {
        DocumentId::from_random_bytes([k; 16])
    }

    /// Runs whole exchanges for `count` documents through `loaders`; returns each verdict.
    fn exchange(
        loaders: &mut Loaders,
        count: u8,
        expected: impl Fn(&Server) -> Vec<ChangeHash>,
    ) -> HashMap<DocumentId, Result<(), String>> {
        let mut servers: HashMap<DocumentId, Server> = HashMap::new();
        for k in 0..count {
            let mut server = Server::with_document(k);
            let doc = Automerge::new();
            let mut state = sync::State::new();
            let request = doc
                .generate_sync_message(&mut state)
                .expect("a request")
                .encode();
            let answer = server.answer(&request).expect("an answer");
            loaders.start(id(k), doc, state, expected(&server));
            loaders.receive(id(k), answer);
            servers.insert(id(k), server);
        }
        let mut verdicts = HashMap::new();
        while verdicts.len() < usize::from(count) {
            let outcome = loaders.outcomes.blocking_recv().expect("an outcome");
            if let Some(reply) = outcome.reply {
                let server = servers.get_mut(&outcome.id).expect("its server");
                if let Some(more) = server.answer(&reply) {
                    loaders.receive(outcome.id, more);
                }
            }
            if let Some(verdict) = outcome.verdict {
                assert!(verdicts.insert(outcome.id, verdict).is_none());
            }
        }
        verdicts
    }

    #[test]
    fn every_document_loads_once_with_the_heads_it_should_have_on_any_number_of_threads() {
        for threads in [1, 2, 3] {
            let mut loaders = Loaders::new(threads);
            let verdicts = exchange(&mut loaders, 20, |server| server.doc.get_heads());
            assert_eq!(verdicts.len(), 20);
            assert!(
                verdicts.values().all(Result::is_ok),
                "{threads} threads: {verdicts:?}"
            );
            loaders.close();
        }
    }

    #[test]
    fn a_document_with_other_heads_than_expected_fails_and_says_which() {
        let mut loaders = Loaders::new(2);
        let verdicts = exchange(&mut loaders, 4, |_| vec![ChangeHash([7; 32])]);
        assert_eq!(verdicts.len(), 4);
        for (id, verdict) in &verdicts {
            assert_eq!(verdict, &Err(format!("{id}: heads differ")));
        }
        loaders.close();
    }

    #[test]
    fn an_undecodable_message_fails_its_document_only() {
        let mut loaders = Loaders::new(2);
        let doc = Automerge::new();
        let mut state = sync::State::new();
        doc.generate_sync_message(&mut state).expect("a request");
        loaders.start(id(1), doc, state, Vec::new());
        loaders.receive(id(1), vec![0xff, 0x00]);
        let outcome = loaders.outcomes.blocking_recv().expect("an outcome");
        assert_eq!(outcome.id, id(1));
        assert!(outcome.reply.is_none());
        let why = outcome.verdict.expect("a verdict").expect_err("a failure");
        assert!(why.contains("undecodable sync message"), "{why}");
        // A message for a document it dropped or never had is ignored, not answered.
        loaders.receive(id(1), vec![0xff]);
        loaders.forget(id(2));
        let Loaders {
            jobs,
            threads,
            mut outcomes,
            ..
        } = loaders;
        drop(jobs);
        for thread in threads {
            thread.join().expect("the thread ended");
        }
        assert!(outcomes.try_recv().is_err());
    }
}
