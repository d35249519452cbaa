//! `nimo-load-fixture URL LOGIN`: logs in to a running nimo server as LOGIN (the password is read
//! from standard input) and syncs the R6 fixture (`tests/fixtures/r6_attendees.json`) from a
//! native device, waiting until it is stored and projected. The browser test of the office
//! dashboard uses it to give the real server binary real data through the real sync path.

use std::io::Read as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(login)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: nimo-load-fixture URL LOGIN < password");
    };
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let client = nimo_tests::ApiClient::login(&url, &login, password.trim_end()).await?;
    let fixture = nimo_tests::fixtures::load_r6()?;
    let ids = nimo_tests::fixtures::sync_through_a_device(&client, &fixture.sessions, 1).await?;
    println!("synced {} sessions", ids.len());
    Ok(())
}
