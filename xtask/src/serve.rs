//! `cargo xtask serve`: build everything in release and run the server on 127.0.0.1:8080.

use std::{net::SocketAddr, path::Path, process::Command};

use crate::{dist, process};

/// Options of `cargo xtask serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the SQLite database.
    #[arg(long, default_value = "data")]
    data_dir: String,
}

/// Builds the shell and the release server, then runs the server in the foreground.
pub fn run(root: &Path, args: &ServeArgs) -> anyhow::Result<()> {
    let dist = dist::build(root)?;
    let mut build = process::cargo();
    build.args(["build", "--release", "--package", "nimo-server"]);
    process::run(build, root)?;
    let mut server = Command::new(process::target_dir(root).join("release/nimo-server"));
    server
        .arg("serve")
        .arg("--listen")
        .arg(args.listen.to_string())
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("--dist-dir")
        .arg(dist);
    process::run(server, root)
}
