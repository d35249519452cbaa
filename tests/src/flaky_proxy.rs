//! A fault-injecting TCP proxy on loopback, between a client and the real server.
//!
//! TCP never loses a byte it delivers, so packet loss shows up to an application as what it
//! causes: a connection that breaks, or one that stalls until something times it out. The proxy
//! models exactly that, per forwarded chunk (one `read` from either side):
//!
//! - **latency**: every chunk is held for `latency` before it is written on (both directions,
//!   so a round trip costs twice that); chunks keep their order and the stream's throughput is
//!   not limited by the delay;
//! - **loss**: with probability `loss` a chunk breaks its connection (both sockets closed), or,
//!   one time in three, stalls it (nothing more is forwarded, the sockets stay open);
//! - **resets**: every `reset_every`, every open connection is closed at once (a Wi-Fi hand-over,
//!   a NAT timeout).
//!
//! Faults come from a seeded generator, so a run's choices are reproducible (their timing is not:
//! it is real time). Only loopback addresses are used; dropping the proxy stops it.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

/// How unreliable the proxy is.
#[derive(Debug, Clone)]
pub struct FlakyConfig {
    /// Added to every chunk in each direction.
    pub latency: Duration,
    /// The chance that a forwarded chunk breaks or stalls its connection.
    pub loss: f64,
    /// Every open connection is closed this often.
    pub reset_every: Duration,
    /// Seeds the fault choices.
    pub seed: u64,
}

/// What the proxy did, so a test can show that faults happened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: u64,
    /// Chunks forwarded.
    pub chunks: u64,
    /// Connections broken by loss.
    pub broken: u64,
    /// Connections stalled by loss.
    pub stalled: u64,
    /// Reset rounds (each closes every open connection).
    pub resets: u64,
    /// Connections closed by those resets.
    pub reset_connections: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    chunks: AtomicU64,
    broken: AtomicU64,
    stalled: AtomicU64,
    resets: AtomicU64,
    reset_connections: AtomicU64,
}

/// A running proxy. Dropping it stops accepting and closes every connection.
#[derive(Debug)]
pub struct FlakyProxy {
    /// Where clients connect.
    pub address: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a chunk's fault draw decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Forward,
    Break,
    Stall,
}

impl FlakyProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` (a loopback address).
    pub async fn start(upstream: SocketAddr, config: FlakyConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            upstream.ip().is_loopback(),
            "the proxy only forwards to loopback, not {upstream}"
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)));
        let (epoch_tx, epoch) = watch::channel(0_u64);
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            config,
            counters.clone(),
            rng,
            (epoch_tx, epoch),
        ));
        Ok(Self {
            address,
            counters,
            task,
        })
    }

    /// `http://address`, for API clients.
    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            chunks: c.chunks.load(Ordering::Relaxed),
            broken: c.broken.load(Ordering::Relaxed),
            stalled: c.stalled.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            reset_connections: c.reset_connections.load(Ordering::Relaxed),
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    config: FlakyConfig,
    counters: Arc<Counters>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    (epoch_tx, epoch): (watch::Sender<u64>, watch::Receiver<u64>),
) {
    let mut resets =
        tokio::time::interval_at(Instant::now() + config.reset_every, config.reset_every);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(
                    client, upstream, config.clone(), counters.clone(), rng.clone(), epoch.clone(),
                ));
            }
            _ = resets.tick() => {
                counters.resets.fetch_add(1, Ordering::Relaxed);
                epoch_tx.send_modify(|e| *e += 1);
            }
        }
    }
}

/// How one direction of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its sender closed (or a socket failed): the other direction may go on.
    Closed,
    /// A fault broke the connection: both directions end at once.
    Broken,
}

/// One proxied connection: two pumps, until both sides close, a fault breaks it, or a reset.
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    config: FlakyConfig,
    counters: Arc<Counters>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    mut epoch: watch::Receiver<u64>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (stall_tx, stall) = watch::channel(false);
    let up = pump(
        client_read,
        server_write,
        config.clone(),
        counters.clone(),
        rng.clone(),
        (stall_tx.clone(), stall.clone()),
    );
    let down = pump(
        server_read,
        client_write,
        config,
        counters.clone(),
        rng,
        (stall_tx, stall),
    );
    epoch.mark_unchanged();
    let both = async {
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            tokio::select! {
                end = &mut up, if !up_done => {
                    if end == End::Broken { return; }
                    up_done = true;
                }
                end = &mut down, if !down_done => {
                    if end == End::Broken { return; }
                    down_done = true;
                }
            }
        }
    };
    tokio::select! {
        () = both => {}
        _ = epoch.changed() => {
            counters.reset_connections.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Dropping the pumps drops every half: both sockets close.
}

/// Forwards one direction: reads chunks, draws their fate, and writes them `latency` later.
/// `stall` is shared by both directions: once one stalls, the connection forwards nothing.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    config: FlakyConfig,
    counters: Arc<Counters>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    (stall_tx, stall): (watch::Sender<bool>, watch::Receiver<bool>),
) -> End {
    let (chunks, mut delayed) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = delayed.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The reader saw the end of the stream and everything in flight is out: pass it on.
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if *stall.borrow() {
                // Stalled: the sockets stay open and nothing moves, until a reset.
                std::future::pending::<()>().await;
            }
            counters.chunks.fetch_add(1, Ordering::Relaxed);
            match draw(&rng, config.loss) {
                Fate::Forward => {}
                Fate::Break => {
                    counters.broken.fetch_add(1, Ordering::Relaxed);
                    return End::Broken;
                }
                Fate::Stall => {
                    counters.stalled.fetch_add(1, Ordering::Relaxed);
                    stall_tx.send_replace(true);
                    std::future::pending::<()>().await;
                }
            }
            if chunks
                .send((Instant::now() + config.latency, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
        drop(chunks); // Lets the writer finish once the delayed chunks are out.
        End::Closed
    };
    tokio::pin!(reader, writer);
    tokio::select! {
        end = &mut reader => {
            if end == End::Closed {
                writer.await;
            }
            end
        }
        // The writer stopped early: its socket failed.
        () = &mut writer => End::Closed,
    }
}

fn draw(rng: &Mutex<ChaCha8Rng>, loss: f64) -> Fate {
    let mut rng = rng.lock().unwrap_or_else(PoisonError::into_inner);
    let roll = (rng.next_u64() % 1_000_000) as f64 / 1_000_000.0;
    if roll >= loss {
        Fate::Forward
    } else if rng.next_u64().is_multiple_of(3) {
        Fate::Stall
    } else {
        Fate::Break
    }
}
