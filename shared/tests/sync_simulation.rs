//! A deterministic simulation: several field devices and the office server, a virtual clock,
//! and a network that drops, duplicates, delays and reorders frames, cuts connections and
//! restarts devices and the server. Every history must end with every device holding exactly
//! the server's documents, every change stored, and every device's local storage reloading to
//! what it holds in memory.
//!
//! Each run is one seed. `NIMO_SIM_SEEDS=10000` runs more seeds (default 300, what CI runs;
//! `cargo xtask soak --sim` runs 10,000 in release); `NIMO_SIM_SEED=<n>` replays one. A failure
//! prints its seed.

mod sync_support;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ROOT};
use nimo_shared::sync::{
    ClientConfig, DocumentId, Effect, Input, PeerId, StorageKey, SyncClient, SyncStatus,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sync_support::{ConnId, RelayServer};

/// How unreliable the network is in one run (drawn from the seed).
#[derive(Debug, Clone, Copy)]
struct Faults {
    drop: f64,
    duplicate: f64,
    reorder: f64,
    cut: f64,
    restart_device: f64,
    restart_server: f64,
    refuse_connect: f64,
}

/// What the network and the operator did in a run, summed over runs for the closing line.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    devices: u64,
    frames: u64,
    dropped: u64,
    duplicated: u64,
    reordered: u64,
    cuts: u64,
    device_restarts: u64,
    server_restarts: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.devices += o.devices;
        self.frames += o.frames;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.cuts += o.cuts;
        self.device_restarts += o.device_restarts;
        self.server_restarts += o.server_restarts;
    }
}

#[derive(Debug)]
enum Event {
    /// A frame reaches the server on `conn`.
    ToServer { conn: ConnId, frame: Vec<u8> },
    /// A frame reaches a device on `conn`.
    ToDevice {
        device: usize,
        conn: ConnId,
        frame: Vec<u8>,
    },
    /// A device's reconnect timer fires.
    Reconnect { device: usize, incarnation: u64 },
    /// The app fetched the manifest over REST.
    Manifest { device: usize, incarnation: u64 },
}

/// One device: the client (absent while crashed), its IndexedDB, its confirmed heads.
#[derive(Debug)]
struct Device {
    client: Option<SyncClient>,
    incarnation: u64,
    conn: Option<ConnId>,
    storage: BTreeMap<StorageKey, Vec<u8>>,
    confirmed: BTreeMap<DocumentId, Vec<ChangeHash>>,
}

struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    now: u64,
    faults: Faults,
    server: RelayServer,
    devices: Vec<Device>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: BTreeMap<usize, Event>,
    next_event: usize,
    seq: u64,
    next_conn: ConnId,
    /// Per link, the delivery time of the last frame, so frames keep their order unless reordered.
    link_clock: BTreeMap<(ConnId, bool), u64>,
    faulty: bool,
    tally: Tally,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = |max: f64| (rng.next_u64() % 1000) as f64 / 1000.0 * max;
        let faults = Faults {
            drop: p(0.05),
            duplicate: p(0.03),
            reorder: p(0.05),
            cut: p(0.02),
            restart_device: p(0.02),
            restart_server: p(0.01),
            refuse_connect: p(0.3),
        };
        let devices = 3 + (rng.next_u64() % 3) as usize;
        let mut sim = Sim {
            seed,
            rng,
            now: 1_700_000_000_000,
            faults,
            server: RelayServer::new(),
            devices: Vec::new(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_event: 0,
            seq: 0,
            next_conn: 1,
            link_clock: BTreeMap::new(),
            faulty: true,
            tally: Tally {
                devices: devices as u64,
                ..Tally::default()
            },
        };
        for i in 0..devices {
            sim.devices.push(Device {
                client: None,
                incarnation: 0,
                conn: None,
                storage: BTreeMap::new(),
                confirmed: BTreeMap::new(),
            });
            sim.boot(i);
        }
        sim
    }

    fn chance(&mut self, p: f64) -> bool {
        self.faulty && (self.rng.next_u64() % 1_000_000) as f64 / 1_000_000.0 < p
    }

    fn schedule(&mut self, at: u64, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.seq += 1;
        self.events.insert(id, event);
        self.queue.push(Reverse((at, self.seq, id)));
    }

    /// Starts (or restarts) a device: a fresh client with a new actor, loaded from storage.
    fn boot(&mut self, device: usize) {
        let mut actor = [0u8; 16];
        self.rng.fill_bytes(&mut actor);
        let mut config = ClientConfig::new(ActorId::from(&actor[..]));
        config.compact_after_chunks = 4; // Compact often, so compaction is exercised.
        let mut client = SyncClient::new(PeerId::from(format!("device-{device}")), config);
        let d = &mut self.devices[device];
        if let Some(conn) = d.conn.take() {
            self.server.disconnect(conn);
        }
        d.incarnation += 1;
        let mut by_doc: BTreeMap<DocumentId, Vec<(StorageKey, Vec<u8>)>> = BTreeMap::new();
        for (key, bytes) in &d.storage {
            by_doc
                .entry(key.doc_id)
                .or_default()
                .push((key.clone(), bytes.clone()));
        }
        let mut effects = Vec::new();
        for (doc_id, chunks) in by_doc {
            let confirmed_heads = d.confirmed.get(&doc_id).cloned();
            effects.extend(client.handle(
                self.now,
                &mut self.rng,
                Input::Load {
                    doc_id,
                    chunks,
                    confirmed_heads,
                },
            ));
        }
        d.client = Some(client);
        let incarnation = d.incarnation;
        self.apply(device, effects);
        self.schedule(
            self.now,
            Event::Reconnect {
                device,
                incarnation,
            },
        );
    }

    fn input(&mut self, device: usize, input: Input) {
        let Some(client) = self.devices[device].client.as_mut() else {
            return;
        };
        let effects = client.handle(self.now, &mut self.rng, input);
        self.apply(device, effects);
    }

    fn send(&mut self, conn: ConnId, to_server: bool, device: usize, frame: Vec<u8>) {
        self.tally.frames += 1;
        if self.chance(self.faults.drop) {
            self.tally.dropped += 1;
            return;
        }
        let copies = if self.chance(self.faults.duplicate) {
            self.tally.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = self.now + 1 + self.rng.next_u64() % 200;
            if self.chance(self.faults.reorder) {
                self.tally.reordered += 1;
            } else {
                let last = self.link_clock.entry((conn, to_server)).or_insert(0);
                at = at.max(*last);
                *last = at;
            }
            let event = if to_server {
                Event::ToServer {
                    conn,
                    frame: frame.clone(),
                }
            } else {
                Event::ToDevice {
                    device,
                    conn,
                    frame: frame.clone(),
                }
            };
            self.schedule(at, event);
        }
    }

    /// Carries out a device's effects as its IO layer would.
    fn apply(&mut self, device: usize, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(frame) => {
                    if let Some(conn) = self.devices[device].conn {
                        self.send(conn, true, device, frame);
                    }
                }
                Effect::Persist { key, bytes } => {
                    self.devices[device].storage.insert(key, bytes);
                }
                Effect::Compact {
                    snapshot_key,
                    bytes,
                    remove,
                    ..
                } => {
                    let storage = &mut self.devices[device].storage;
                    storage.insert(snapshot_key, bytes);
                    for key in remove {
                        storage.remove(&key);
                    }
                }
                Effect::RememberConfirmed { doc_id, heads } => {
                    self.devices[device].confirmed.insert(doc_id, heads);
                }
                Effect::Close { .. } => {
                    if let Some(conn) = self.devices[device].conn.take() {
                        self.server.disconnect(conn);
                    }
                }
                Effect::ReconnectAfter(ms) => {
                    let incarnation = self.devices[device].incarnation;
                    self.schedule(
                        self.now + ms,
                        Event::Reconnect {
                            device,
                            incarnation,
                        },
                    );
                }
                _ => {}
            }
        }
    }

    fn cut(&mut self, device: usize) {
        if let Some(conn) = self.devices[device].conn.take() {
            self.server.disconnect(conn);
            self.input(device, Input::Disconnected);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::ToServer { conn, frame } => {
                for (to, reply) in self.server.receive(conn, &frame) {
                    if let Some(device) = self.devices.iter().position(|d| d.conn == Some(to)) {
                        self.send(to, false, device, reply);
                    }
                }
            }
            Event::ToDevice {
                device,
                conn,
                frame,
            } => {
                if self.devices[device].conn == Some(conn) {
                    self.input(device, Input::Received(frame));
                }
            }
            Event::Reconnect {
                device,
                incarnation,
            } => {
                let d = &self.devices[device];
                if d.incarnation != incarnation || d.conn.is_some() || d.client.is_none() {
                    return;
                }
                if self.chance(self.faults.refuse_connect) {
                    self.input(device, Input::Disconnected);
                    return;
                }
                let conn = self.next_conn;
                self.next_conn += 1;
                self.server.connect(conn);
                self.devices[device].conn = Some(conn);
                self.input(device, Input::Connected);
                self.schedule(
                    self.now + 50,
                    Event::Manifest {
                        device,
                        incarnation,
                    },
                );
            }
            Event::Manifest {
                device,
                incarnation,
            } => {
                if self.devices[device].incarnation == incarnation {
                    let manifest = self.server.manifest();
                    self.input(device, Input::Manifest(manifest));
                }
            }
        }
    }

    /// Runs events and timers until nothing is left to happen.
    fn run_until_quiescent(&mut self) {
        for iteration in 0..50_000 {
            let trace = iteration > 49_950;
            let next_event = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self
                .devices
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.client.as_ref()?.next_wakeup().map(|t| (t, i)))
                .min();
            let timer_first = match (next_event, next_timer) {
                (None, None) => return,
                (Some(at), Some((t, _))) => t < at,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if let (true, Some((t, device))) = (timer_first, next_timer) {
                if trace {
                    eprintln!("t={t} tick device {device}");
                }
                self.now = self.now.max(t);
                self.input(device, Input::Tick);
            } else if let Some(Reverse((at, _, id))) = self.queue.pop() {
                self.now = self.now.max(at);
                if let Some(event) = self.events.remove(&id) {
                    if trace {
                        match &event {
                            Event::ToServer { conn, frame } => eprintln!(
                                "t={at} to server {conn}: {:?}",
                                nimo_shared::sync::Message::decode(frame).map(|m| summarize(&m))
                            ),
                            Event::ToDevice {
                                device,
                                conn,
                                frame,
                            } => eprintln!(
                                "t={at} to device {device} {conn}: {:?}",
                                nimo_shared::sync::Message::decode(frame).map(|m| summarize(&m))
                            ),
                            other => eprintln!("t={at} {other:?}"),
                        }
                    }
                    self.handle(event);
                }
            }
        }
        panic!("seed {}: the simulation did not quiesce", self.seed);
    }

    /// One random thing a person, the network or the operator does.
    fn step(&mut self) {
        self.now += self.rng.next_u64() % 2_000;
        let device = (self.rng.next_u64() % self.devices.len() as u64) as usize;
        if self.chance(self.faults.restart_server) {
            self.tally.server_restarts += 1;
            for conn in self.server.restart() {
                if let Some(d) = self.devices.iter().position(|d| d.conn == Some(conn)) {
                    self.devices[d].conn = None;
                    self.input(d, Input::Disconnected);
                }
            }
        } else if self.chance(self.faults.restart_device) {
            self.tally.device_restarts += 1;
            self.boot(device);
        } else if self.chance(self.faults.cut) {
            self.tally.cuts += 1;
            self.cut(device);
        }
        self.edit(device);
        // Let some of the traffic happen before the next step.
        let until = self.now + self.rng.next_u64() % 500;
        while let Some(Reverse((at, _, id))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            if let Some(event) = self.events.remove(&id) {
                self.handle(event);
            }
        }
    }

    /// A person edits a record, or creates one.
    fn edit(&mut self, device: usize) {
        let key = format!("field-{}", self.rng.next_u64() % 4);
        let value = (self.rng.next_u64() % 100) as i64;
        let create = self.rng.next_u64().is_multiple_of(5);
        let pick = self.rng.next_u64();
        let now = self.now;
        let Some(client) = self.devices[device].client.as_mut() else {
            return;
        };
        let ids: Vec<DocumentId> = client.doc_ids().collect();
        let write = |doc: &mut Automerge| {
            doc.transact(|tx| tx.put(ROOT, key.as_str(), value))
                .map(|_| ())
                .map_err(|e| e.error)
        };
        let effects = if create || ids.is_empty() {
            let (_, result, effects) = client.create(now, &mut self.rng, write);
            result.expect("a put commits");
            effects
        } else {
            let doc_id = ids[(pick % ids.len() as u64) as usize];
            let (result, effects) = client.change(now, doc_id, write).expect("doc is here");
            result.expect("a put commits");
            effects
        };
        self.apply(device, effects);
    }

    /// The network heals, everyone comes back, and the app fetches manifests and confirms.
    fn settle(&mut self) {
        self.faulty = false;
        for device in 0..self.devices.len() {
            if self.devices[device].client.is_none() {
                self.boot(device);
            }
        }
        for _round in 0..4 {
            if self.converged() {
                return;
            }
            self.run_until_quiescent();
            for device in 0..self.devices.len() {
                let manifest = self.server.manifest();
                self.input(device, Input::Manifest(manifest));
            }
            self.run_until_quiescent();
            for device in 0..self.devices.len() {
                let unconfirmed = self.devices[device]
                    .client
                    .as_ref()
                    .map(SyncClient::unconfirmed_docs)
                    .unwrap_or_default();
                for doc_id in unconfirmed {
                    let heads = self.server.heads(&doc_id);
                    self.input(device, Input::Confirmed { doc_id, heads });
                }
            }
        }
    }

    /// Every device holds the server's documents at the server's heads, all confirmed.
    fn converged(&self) -> bool {
        let server_docs = self.server.doc_ids();
        self.queue.is_empty()
            && self.devices.iter().all(|d| {
                d.client.as_ref().is_some_and(|c| {
                    c.doc_ids().count() == server_docs.len()
                        && c.unconfirmed_docs().is_empty()
                        && server_docs.iter().all(|id| {
                            c.doc(id).map(Automerge::get_heads) == Some(self.server.heads(id))
                        })
                })
            })
    }

    fn check(&self) {
        let seed = self.seed;
        let server_docs: BTreeSet<DocumentId> = self.server.doc_ids().into_iter().collect();
        for (i, d) in self.devices.iter().enumerate() {
            let client = d
                .client
                .as_ref()
                .expect("every device is up after settling");
            let here: BTreeSet<DocumentId> = client.doc_ids().collect();
            assert_eq!(
                here, server_docs,
                "seed {seed}: device {i} holds other documents"
            );
            for doc_id in &server_docs {
                let doc = client.doc(doc_id).expect("listed");
                assert_eq!(
                    doc.get_heads(),
                    self.server.heads(doc_id),
                    "seed {seed}: device {i} differs on {doc_id}"
                );
                assert_eq!(
                    automerge::AutoSerde::from(doc)
                        .serialize(serde_json::value::Serializer)
                        .ok(),
                    self.server
                        .doc(doc_id)
                        .and_then(|s| automerge::AutoSerde::from(s)
                            .serialize(serde_json::value::Serializer)
                            .ok()),
                    "seed {seed}: device {i} content differs on {doc_id}"
                );
                let mut reloaded = Automerge::new();
                for (key, bytes) in d.storage.range(..).filter(|(k, _)| k.doc_id == *doc_id) {
                    reloaded
                        .load_incremental(bytes)
                        .unwrap_or_else(|e| panic!("seed {seed}: {key:?}: {e}"));
                }
                assert_eq!(
                    reloaded.get_heads(),
                    doc.get_heads(),
                    "seed {seed}: device {i}'s storage lost changes of {doc_id}"
                );
            }
            assert!(
                client.unconfirmed_docs().is_empty(),
                "seed {seed}: device {i} still has unconfirmed changes"
            );
            assert!(
                matches!(client.status(self.now), SyncStatus::UpToDate { .. }),
                "seed {seed}: device {i} is {:?}",
                client.status(self.now)
            );
        }
    }
}

use serde::Serialize as _;

fn run(seed: u64) -> Tally {
    let mut sim = Sim::new(seed);
    let steps = 8 + sim.rng.next_u64() % 16;
    for _ in 0..steps {
        sim.step();
    }
    sim.settle();
    sim.check();
    sim.tally
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("NIMO_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("NIMO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    (0..count).collect()
}

#[test]
fn every_faulty_history_converges_to_the_same_documents_everywhere() {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut total = Tally::default();
    for &seed in &seeds {
        match std::panic::catch_unwind(|| run(seed)) {
            Ok(tally) => total += tally,
            Err(panic) => {
                eprintln!(
                    "simulation failed for seed {seed}; replay it with NIMO_SIM_SEED={seed} cargo test -p nimo-shared --test sync_simulation"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    // The figures of the run (shown with --nocapture), so a long run says what it went through.
    eprintln!(
        "{} seeds converged in {:.1?}: {} devices, {} frames ({} dropped, {} duplicated, {} \
         reordered), {} connections cut, {} device restarts, {} server restarts",
        seeds.len(),
        started.elapsed(),
        total.devices,
        total.frames,
        total.dropped,
        total.duplicated,
        total.reordered,
        total.cuts,
        total.device_restarts,
        total.server_restarts
    );
}

#[test]
fn the_same_seed_replays_the_same_history() {
    let history = |seed| {
        let mut sim = Sim::new(seed);
        for _ in 0..15 {
            sim.step();
        }
        sim.settle();
        (sim.now, sim.seq, sim.server.received.len())
    };
    assert_eq!(history(42), history(42));
}

fn summarize(m: &nimo_shared::sync::Message) -> String {
    use nimo_shared::sync::Message;
    match m {
        Message::Sync {
            document_id, data, ..
        }
        | Message::Request {
            document_id, data, ..
        } => {
            let msg = automerge::sync::Message::decode(data).expect("valid");
            format!(
                "{} {document_id} heads={:?} need={:?} have={} changes={}",
                m.kind(),
                msg.heads,
                msg.need,
                msg.have.len(),
                msg.changes.len()
            )
        }
        other => other.kind().to_owned(),
    }
}
