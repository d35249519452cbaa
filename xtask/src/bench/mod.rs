//! `cargo xtask bench`: BENCH.md's workloads against nimo and, in the same run, against the
//! JavaScript reference (the minimal automerge-repo 2.5.6 server, "repo2"), driven by the
//! reference's own Node clients; then the limits BENCH.md measures without a reference.
//! `cargo xtask bench load` is the load benchmark of the reliability issue.
//!
//! The reference folder (`--reference`, default `../shared/bench/anchor-js`) is read-only and
//! is never copied into the project: it is staged under the target directory
//! (`<target>/bench/anchor-js`) with its pinned npm packages, and its scripts run from there.
//! nimo is reached through [`proxy::TicketProxy`]. Working data goes to `<target>/bench/work`.

mod api;
mod checkin;
mod ingest;
mod load;
mod loaders;
mod node;
mod peer;
mod procstat;
mod proxy;
mod reconnect;
mod reference;
mod report;
mod servers;
mod shell;
mod stats;
mod w1;
mod w2;
mod w3;

use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context as _;

use crate::process;
use proxy::TicketProxy;
use servers::Server;
use stats::{Comparison, Run};

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Option<What>,
    /// A small smoke version (CI runs it to keep the benchmark working; figures mean little).
    #[arg(long)]
    quick: bool,
    /// The reference benchmark folder (anchor-js); absent → nimo is measured alone.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Runs per workload and server (median and range are printed).
    #[arg(long)]
    runs: Option<usize>,
    /// Which parts to run: W1, W2, W3, limits (comma-separated); or single limits: reconnect,
    /// ingest, report, shell, checkin (the browser's check-in tap; `limits` includes it).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Measure the release server even in the smoke version.
    #[arg(long)]
    release: bool,
    /// Run W1–W3 against nimo's server only (the reference's Node clients still drive it), for
    /// before-and-after experiments on nimo; no ratios are printed.
    #[arg(long)]
    nimo_only: bool,
    /// W3's read cap in seconds for the reference (BENCH.md's is 120 s; its rate is what is
    /// compared — repo2 reads ~900 documents in 10 s, ~1,800 in 20 s, its rate falling as it
    /// keeps more — and 6 × 120 s would not fit the 15-minute budget).
    #[arg(long)]
    w3_reference_deadline: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// 1,000 authenticated WebSocket connections held, sync pushes and report reads, p99.
    Load(load::LoadArgs),
}

/// Which server a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// nimo's release server (through the ticket proxy).
    Nimo,
    /// The reference's repo2 server.
    Reference,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Nimo => "nimo",
            Side::Reference => "reference",
        })
    }
}

/// Workload sizes.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// W1 documents.
    pub w1_docs: usize,
    /// W2 devices.
    pub w2_devices: usize,
    /// W2 documents per device.
    pub w2_docs: usize,
    /// W2 offline edits per document.
    pub w2_edits: usize,
    /// W3 stored documents.
    pub w3_docs: usize,
    /// W3 read cap for nimo, seconds.
    pub w3_deadline: u64,
    /// W3 read cap for the reference, seconds.
    pub w3_reference_deadline: u64,
    /// Runs per workload.
    pub runs: usize,
}

const FULL: Sizes = Sizes {
    w1_docs: 200,
    w2_devices: 50,
    w2_docs: 20,
    w2_edits: 5,
    w3_docs: 10_000,
    w3_deadline: 120,
    w3_reference_deadline: 10,
    runs: 3,
};

const QUICK: Sizes = Sizes {
    w1_docs: 20,
    w2_devices: 4,
    w2_docs: 5,
    w2_edits: 2,
    w3_docs: 100,
    w3_deadline: 20,
    w3_reference_deadline: 10,
    runs: 1,
};

/// Attendees per session document (BENCH.md's corpus).
pub const ATTENDEES: usize = 40;

/// Everything a workload needs.
#[derive(Debug)]
pub struct Ctx {
    /// Working data, wiped per run.
    pub work: PathBuf,
    /// nimo's server binary.
    pub nimo_bin: PathBuf,
    /// A minimal app shell for the server to serve.
    pub dist: PathBuf,
    /// The staged reference folder, when there is one.
    pub reference: Option<PathBuf>,
    /// The document corpus cache (built by the reference's `lib/docs.mjs`).
    pub cache: PathBuf,
    /// The proxy in front of nimo.
    pub proxy: TicketProxy,
    /// Sizes.
    pub sizes: Sizes,
    /// Whether this is the smoke version.
    pub quick: bool,
    /// Whether the reference's server is left out (`--nimo-only`).
    pub nimo_only: bool,
}

/// A started server and the URL its clients use.
#[derive(Debug)]
pub struct Live {
    /// The process.
    pub server: Server,
    /// `ws://…` for the workload clients.
    pub url: String,
    /// nimo's API client (nimo only).
    pub api: Option<api::NimoApi>,
}

impl Ctx {
    /// Starts `side`'s server over `data_dir` (created and, for nimo, given the benchmark user
    /// when new); `registered` are the documents nimo's database already holds.
    pub async fn start(
        &self,
        side: Side,
        data_dir: &Path,
        registered: HashSet<String>,
    ) -> anyhow::Result<Live> {
        match side {
            Side::Nimo => {
                if !data_dir.join("nimo.sqlite3").exists() {
                    servers::nimo_add_user(&self.nimo_bin, data_dir).await?;
                }
                let server = servers::start_nimo(&self.nimo_bin, data_dir, &self.dist).await?;
                let api = api::NimoApi::login(server.port).await?;
                self.proxy.set_upstream(api.clone(), registered);
                Ok(Live {
                    server,
                    url: self.proxy.url.clone(),
                    api: Some(api),
                })
            }
            Side::Reference => {
                let reference = self.reference.as_deref().context("no reference folder")?;
                let server = servers::start_reference(reference, data_dir).await?;
                let url = format!("ws://127.0.0.1:{}", server.port);
                Ok(Live {
                    server,
                    url,
                    api: None,
                })
            }
        }
    }

    /// The reference folder the Node clients run from.
    pub fn clients(&self) -> anyhow::Result<&Path> {
        self.reference
            .as_deref()
            .context("the Node workload clients come from the reference folder, which is absent")
    }

    /// A fresh directory for `side`'s `name`.
    pub fn fresh_dir(&self, side: Side, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(side.to_string()).join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The sides measured in this run.
    pub fn sides(&self) -> Vec<Side> {
        if self.reference.is_some() && !self.nimo_only {
            vec![Side::Nimo, Side::Reference]
        } else {
            vec![Side::Nimo]
        }
    }
}

/// The seconds each part of a bench run took, in order.
#[derive(Debug)]
struct PartTimes {
    parts: Vec<(&'static str, f64)>,
    last: Instant,
}

impl PartTimes {
    fn new(started: Instant) -> Self {
        Self {
            parts: Vec::new(),
            last: started,
        }
    }

    /// Records the time since the previous part ended as `part`'s.
    fn done(&mut self, part: &'static str) {
        self.parts.push((part, self.last.elapsed().as_secs_f64()));
        self.last = Instant::now();
    }
}

impl fmt::Display for PartTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(part, secs)| format!("{part} {secs:.0} s"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Turns a failed run into a recorded failure (the benchmark goes on).
pub fn failed(error: &anyhow::Error) -> Run {
    Run {
        ok: false,
        error: Some(format!("{error:#}").chars().take(600).collect()),
        ..Run::default()
    }
}

/// `cargo xtask bench --quick`, as `cargo xtask test` runs it.
pub fn quick(root: &Path) -> anyhow::Result<()> {
    run(
        root,
        &BenchArgs {
            what: None,
            quick: true,
            reference: None,
            runs: None,
            only: None,
            w3_reference_deadline: None,
            release: false,
            nimo_only: false,
        },
    )
}

/// Runs `cargo xtask bench`.
pub fn run(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    let smoke = match &args.what {
        Some(What::Load(load_args)) => load_args.quick,
        None => args.quick,
    };
    if cfg!(debug_assertions) && !smoke {
        return hand_over_to_optimised_build(root);
    }
    if let Some(What::Load(load_args)) = &args.what {
        let binary = build_server(root, load_args.quick)?;
        let work = process::target_dir(root).join("bench/work");
        return tokio::runtime::Runtime::new()?.block_on(load::run(&binary, &work, load_args));
    }
    let started = Instant::now();
    let mut sizes = if args.quick { QUICK } else { FULL };
    if let Some(runs) = args.runs {
        sizes.runs = runs.max(1);
    }
    if let Some(deadline) = args.w3_reference_deadline {
        sizes.w3_reference_deadline = deadline;
    }
    // Where the bench's own time goes, so that its 15-minute budget can be kept.
    let mut parts = PartTimes::new(started);
    let nimo_bin = build_server(root, args.quick && !args.release)?;
    parts.done("server build");
    let bench_dir = process::target_dir(root).join("bench");
    let source = args
        .reference
        .clone()
        .unwrap_or_else(|| root.join("../shared/bench/anchor-js"));
    let reference = reference::stage(&source, &bench_dir.join("anchor-js"))?;
    let only = |part: &str| {
        args.only
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p.eq_ignore_ascii_case(part)))
    };
    // The shell's size and the check-in tap are measured on dist/: never on a stale one.
    if ["limits", "shell", "checkin"].into_iter().any(&only)
        && let Some(why) = crate::dist::stale(root)?
    {
        println!("building the app shell first: {why}");
        crate::dist::build(root)?;
        parts.done("app shell build");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let work = bench_dir.join("work");
        std::fs::create_dir_all(&work)?;
        let dist = work.join("dist");
        std::fs::create_dir_all(&dist)?;
        std::fs::write(dist.join("index.html"), "<!doctype html><title>nimo bench</title>")?;
        let ctx = Ctx {
            work,
            nimo_bin,
            dist,
            cache: bench_dir.join("corpus"),
            reference,
            proxy: TicketProxy::start().await?,
            sizes,
            quick: args.quick,
            nimo_only: args.nimo_only,
        };
        println!(
            "nimo bench ({}): {} runs per workload; reference: {}",
            if args.quick { "quick" } else { "full" },
            sizes.runs,
            ctx.reference.as_ref().map_or_else(
                || format!("absent ({} not found): nimo alone, W1–W3 need its Node clients and are skipped", source.display()),
                |r| format!("repo2 (automerge-repo 2.5.6) from {}", r.display())
            )
        );
        let mut lines = Vec::new();
        if ctx.reference.is_some() && ["W1", "W2", "W3"].into_iter().any(only) {
            reference::build_corpus(&ctx)?;
            parts.done("reference staging and corpus");
            if only("W1") {
                lines.push(w1::compare(&ctx).await);
                println!("{}", lines.last().map_or("", String::as_str));
                parts.done("W1");
            }
            if only("W2") {
                lines.push(w2::compare(&ctx).await);
                println!("{}", lines.last().map_or("", String::as_str));
                parts.done("W2");
            }
        }
        let mut w3_seed = None;
        if ctx.reference.is_some() && only("W3") {
            let (w3_lines, seed) = w3::compare(&ctx).await;
            w3_seed = seed;
            for line in w3_lines {
                println!("{line}");
                lines.push(line);
            }
            parts.done("W3");
        }
        let limit = |name: &str| only("limits") || only(name);
        let mut report_failed = None;
        if ["reconnect", "ingest", "report", "shell"].iter().any(|name| limit(name)) {
            let (limit_lines, failure) = limits(&ctx, root, w3_seed.as_ref(), &limit).await;
            report_failed = failure;
            for line in limit_lines {
                println!("{line}");
                lines.push(line);
            }
            parts.done("limits");
        }
        if only("limits") || only("checkin") {
            let line = match checkin::measure(&ctx, root).await {
                Ok(line) => line,
                Err(error) => format!("check-in tap: failed: {error:#}"),
            };
            println!("{line}");
            lines.push(line);
            parts.done("check-in");
        }
        println!(
            "--- summary ({:.0} s: {parts}; the ticket proxy registered {} documents with nimo) ---",
            started.elapsed().as_secs_f64(),
            ctx.proxy.registrations()
        );
        for line in &lines {
            println!("{line}");
        }
        // A report that disagrees with SQL is a wrong answer, not a slow one: fail the command.
        if let Some(error) = report_failed {
            anyhow::bail!("the report limit failed: {error}");
        }
        anyhow::Ok(())
    })
}

/// The limits `only` names (`limits` names them all): their lines, and the report's failure if
/// it failed (the others' failures are lines).
async fn limits(
    ctx: &Ctx,
    root: &Path,
    w3_seed: Option<&w3::NimoSeed>,
    only: &dyn Fn(&str) -> bool,
) -> (Vec<String>, Option<String>) {
    let mut lines = Vec::new();
    let mut report_failed = None;
    if only("reconnect") {
        lines.push(match reconnect::measure(ctx, w3_seed).await {
            Ok(line) => line,
            Err(error) => format!("reconnect: failed: {error:#}"),
        });
    }
    if only("ingest") {
        lines.push(match ingest::measure(ctx).await {
            Ok(line) => line,
            Err(error) => format!("ingest: failed: {error:#}"),
        });
    }
    if only("report") {
        lines.push(match report::measure(ctx).await {
            Ok(line) => line,
            Err(error) => {
                report_failed = Some(format!("{error:#}"));
                format!("report: failed: {error:#}")
            }
        });
    }
    if only("shell") {
        lines.push(match shell::measure(root) {
            Ok(line) => line,
            Err(error) => format!("app shell: failed: {error:#}"),
        });
    }
    (lines, report_failed)
}

/// Builds nimo's server: release for the figures, the debug build `cargo xtask test` already
/// made for the smoke version. `NIMO_BENCH_SERVER` names a binary to run instead, unbuilt: a
/// profiler's wrapper (`exec heaptrack …/nimo-server "$@"`) that a build must not overwrite.
/// Runs this same bench command from an optimised build of the task runner.
///
/// The bench's own Rust clients (W3's reader, the limits' and `bench load`'s devices) and the
/// ticket proxy every reference client talks to nimo through run in this process. Built at
/// -O0 they measure the compiler: W3's Rust reader used 1.3 ms of CPU per document in the debug
/// build and 0.8 ms optimised (BENCH-RESULTS.md, "Session 16"). So a measuring run uses the
/// release profile, as `cargo bench` does; the smoke version (`--quick`, which CI runs to keep
/// the benchmarks working) stays in the debug build it was started from.
fn hand_over_to_optimised_build(root: &Path) -> anyhow::Result<()> {
    println!(
        "bench: building the task runner optimised (its clients are part of what is measured)"
    );
    let mut build = process::cargo();
    build.args(["build", "--release", "--package", "xtask"]);
    process::run(build, root)?;
    let optimised = process::target_dir(root).join("release/xtask");
    let status = std::process::Command::new(&optimised)
        .args(std::env::args_os().skip(1))
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {}", optimised.display()))?;
    if !status.success() {
        anyhow::bail!("the optimised bench failed ({status})");
    }
    Ok(())
}

fn build_server(root: &Path, quick: bool) -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("NIMO_BENCH_SERVER") {
        println!(
            "bench: running the server {} as it is",
            binary.to_string_lossy()
        );
        return Ok(PathBuf::from(binary));
    }
    let mut build = process::cargo();
    build.args(["build", "--package", "nimo-server"]);
    if !quick {
        build.arg("--release");
    }
    process::run(build, root)?;
    Ok(process::target_dir(root)
        .join(if quick { "debug" } else { "release" })
        .join("nimo-server"))
}

/// Runs `runs` runs of a workload on each side.
pub async fn each_side<F, Fut>(ctx: &Ctx, mut one: F) -> Comparison
where
    F: FnMut(Side, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Run>>,
{
    let mut comparison = Comparison::default();
    for side in ctx.sides() {
        for k in 1..=ctx.sizes.runs {
            let run = one(side, k).await.unwrap_or_else(|e| failed(&e));
            match side {
                Side::Nimo => comparison.nimo.push(run),
                Side::Reference => comparison.reference.push(run),
            }
        }
    }
    comparison
}

/// A JSON number of a client's RESULT (0 when absent).
pub fn num(value: &serde_json::Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(0.0)
}
