//! The reference's workload clients (`clients/*.mjs`), run from the staged reference folder.
//! Each prints its figures as a last `RESULT {json}` line.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, ChildStdin, Command},
};

/// Runs `node <reference>/<script> args…` and returns its RESULT object.
pub async fn run(
    reference: &Path,
    script: &str,
    args: &[String],
    limit: Duration,
) -> anyhow::Result<Value> {
    let child = spawn(reference, script, args, false)?;
    finish(child, script, limit).await
}

/// A client started with `--wait stdin`: it loads its state, prints READY and waits for `go`.
#[derive(Debug)]
pub struct Gated {
    child: Child,
    stdin: ChildStdin,
    script: String,
    result: tokio::sync::oneshot::Receiver<String>,
}

/// Starts a gated client and waits for its READY line.
pub async fn start_gated(reference: &Path, script: &str, args: &[String]) -> anyhow::Result<Gated> {
    let mut child = spawn(reference, script, args, true)?;
    let stdin = child.stdin.take().context("no stdin")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(line) = lines.next_line().await? {
            if line == "READY" {
                return anyhow::Ok(());
            }
            rest.push_str(&line);
        }
        bail!("{script} ended before READY: {rest}")
    })
    .await
    .with_context(|| format!("{script} was not READY within 300 s"))??;
    // The rest of stdout holds the RESULT line; a task reads it so the pipe never fills.
    let (sender, result) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut out = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            out.push_str(&line);
            out.push('\n');
        }
        let _ = sender.send(out);
    });
    Ok(Gated {
        child,
        stdin,
        script: script.to_owned(),
        result,
    })
}

impl Gated {
    /// Says `go`.
    pub async fn go(&mut self) -> anyhow::Result<()> {
        self.stdin.write_all(b"go\n").await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Waits for the client's RESULT.
    pub async fn finish(mut self, limit: Duration) -> anyhow::Result<Value> {
        if tokio::time::timeout(limit, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
            bail!("{} did not finish within {limit:?}", self.script);
        }
        let out = self.result.await.unwrap_or_default();
        parse_result(&self.script, &out, "")
    }
}

fn spawn(reference: &Path, script: &str, args: &[String], gated: bool) -> anyhow::Result<Child> {
    Command::new("node")
        .arg(reference.join(script))
        .args(args)
        .current_dir(reference)
        .stdin(if gated { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        // A gated client's stderr is not read while it waits, so it goes to the terminal.
        .stderr(if gated {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start node {script}"))
}

/// Waits up to `limit` for `script`'s process and returns its `RESULT` object ([`parse_result`]).
pub async fn finish(mut child: Child, script: &str, limit: Duration) -> anyhow::Result<Value> {
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let mut out = String::new();
    let mut err = String::new();
    let done = tokio::time::timeout(limit, async {
        let (a, b, status) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err),
            child.wait()
        );
        a?;
        b?;
        status
    })
    .await;
    match done {
        Ok(status) => {
            status?;
        }
        Err(_) => {
            child.kill().await?;
            bail!("{script} did not finish within {limit:?}");
        }
    }
    parse_result(script, &out, &err)
}

/// The object of the last `RESULT {json}` line of `out` (`err`'s tail in the error otherwise).
pub fn parse_result(script: &str, out: &str, err: &str) -> anyhow::Result<Value> {
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .with_context(|| {
            let tail: String = err
                .chars()
                .rev()
                .take(1500)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{script} printed no RESULT; stderr: {tail}")
        })?;
    Ok(serde_json::from_str(line)?)
}
