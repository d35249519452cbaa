//! Ends sessions that lapse while nobody presents them, and closes their sync connections.
//!
//! A session is checked against its role's idle and absolute limits whenever its token is
//! presented ([`Session::find`]). An office desk left open with its sync socket connected
//! presents nothing, so without this sweep its socket would outlive the 30-minute idle limit.

use std::time::Duration;

use crate::AppState;
use crate::accounts::{AccountsError, Session, now_ms};
use crate::sync::Revocation;

/// How often lapsed sessions are looked for: a lapsed session's socket closes within this.
pub const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Ends lapsed sessions now and closes the sync connections of devices left without one.
/// Returns those devices.
pub async fn sweep(state: &AppState) -> Result<Vec<String>, AccountsError> {
    let devices = state
        .db
        .call(|conn| Session::end_lapsed(conn, now_ms()))
        .await?;
    for device in &devices {
        tracing::info!(device = %device, "session lapsed; closing its sync connections");
        state.sync.revoke(Revocation::Device(device.clone()));
    }
    Ok(devices)
}

/// Sweeps every [`SWEEP_EVERY`] until the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        loop {
            ticks.tick().await;
            if let Err(error) = sweep(&state).await {
                tracing::error!(%error, "cannot end lapsed sessions; trying again later");
            }
        }
    })
}
