//! The login throttle: failed logins are limited per client address and per account, without
//! letting a flood from elsewhere lock the real user out.
//!
//! Every wrong password and every wrong second-factor code is a failure, recorded with the
//! login typed (known or not, so the throttle says nothing about which logins exist) and the
//! client address (IPv6 addresses by their /64, which one subscriber usually holds whole). Before
//! a password is even checked, the attempt is refused with 429 when any of these is reached:
//!
//! | budget | limit | window |
//! |---|---|---|
//! | one address, one login | 10 failures | 15 minutes |
//! | one address, all logins (password spraying) | 50 failures | 15 minutes |
//! | one login, from addresses it never logged in from | 90 failures | 1 hour |
//! | one login, from its known addresses together | 10 failures | 1 hour |
//!
//! An address is *known* for a user once a login from it has fully succeeded (password and, for
//! roles that need it, the second factor). So at most 100 passwords per account are evaluated
//! per hour, and an attacker who exhausts the 90 from elsewhere still leaves the real user, on a
//! known address, free to log in. A user on a new address during such an attack waits for the
//! hour to pass (or logs in from a known one); an admin sees the attack in the audit log.

use rusqlite::{Connection, params};

use super::AccountsError;

const MINUTE_MS: i64 = 60_000;

/// One budget: at most `failures` within `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Failures allowed in the window.
    pub failures: i64,
    /// The window's length.
    pub window_ms: i64,
}

/// The budgets of the table above.
pub const PER_ADDRESS_AND_LOGIN: Budget = Budget {
    failures: 10,
    window_ms: 15 * MINUTE_MS,
};
/// Per address, all logins together.
pub const PER_ADDRESS: Budget = Budget {
    failures: 50,
    window_ms: 15 * MINUTE_MS,
};
/// Per login, from addresses it never logged in from.
pub const PER_LOGIN_FROM_UNKNOWN_ADDRESSES: Budget = Budget {
    failures: 90,
    window_ms: 60 * MINUTE_MS,
};
/// Per login, from its known addresses together.
pub const PER_LOGIN_FROM_KNOWN_ADDRESSES: Budget = Budget {
    failures: 10,
    window_ms: 60 * MINUTE_MS,
};

// At most 100 passwords per account and hour are evaluated (issue #8), checked at compile time.
const _: () = assert!(
    PER_LOGIN_FROM_UNKNOWN_ADDRESSES.failures + PER_LOGIN_FROM_KNOWN_ADDRESSES.failures <= 100
        && PER_LOGIN_FROM_UNKNOWN_ADDRESSES.window_ms == PER_LOGIN_FROM_KNOWN_ADDRESSES.window_ms
);

/// The failures counted for one attempt, each in its own window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    /// This address with this login.
    pub address_and_login: i64,
    /// This address, any login.
    pub address: i64,
    /// This login from unknown addresses.
    pub login_from_unknown: i64,
    /// This login from known addresses.
    pub login_from_known: i64,
}

/// Why an attempt is refused before its password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This address failed too often for this login.
    AddressAndLogin,
    /// This address failed too often overall.
    Address,
    /// This login failed too often from this kind of address.
    Login,
}

impl Refusal {
    /// A short name for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddressAndLogin => "address and login",
            Self::Address => "address",
            Self::Login => "login",
        }
    }
}

/// Whether an attempt may have its password checked: the throttle's whole rule.
pub fn decide(failures: Failures, address_is_known: bool) -> Result<(), Refusal> {
    if failures.address_and_login >= PER_ADDRESS_AND_LOGIN.failures {
        return Err(Refusal::AddressAndLogin);
    }
    if failures.address >= PER_ADDRESS.failures {
        return Err(Refusal::Address);
    }
    let (spent, budget) = if address_is_known {
        (failures.login_from_known, PER_LOGIN_FROM_KNOWN_ADDRESSES)
    } else {
        (
            failures.login_from_unknown,
            PER_LOGIN_FROM_UNKNOWN_ADDRESSES,
        )
    };
    if spent >= budget.failures {
        return Err(Refusal::Login);
    }
    Ok(())
}

/// The throttle key of a client address: IPv6 addresses by their /64 prefix.
pub fn address_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Checks `login` from `address` against every budget.
pub fn check(
    conn: &Connection,
    login: &str,
    address: &str,
    now: i64,
) -> Result<Result<(), Refusal>, AccountsError> {
    let known = is_known(conn, login, address)?;
    let count =
        |sql: &str, window_ms: i64, args: &[&dyn rusqlite::ToSql]| -> Result<i64, AccountsError> {
            let since = now - window_ms;
            let mut all: Vec<&dyn rusqlite::ToSql> = args.to_vec();
            all.push(&since);
            Ok(conn.query_row(sql, all.as_slice(), |r| r.get(0))?)
        };
    let failures = Failures {
        address_and_login: count(
            "SELECT COUNT(*) FROM login_failures WHERE login = ?1 AND client_address = ?2 AND at > ?3",
            PER_ADDRESS_AND_LOGIN.window_ms,
            &[&login, &address],
        )?,
        address: count(
            "SELECT COUNT(*) FROM login_failures WHERE client_address = ?1 AND at > ?2",
            PER_ADDRESS.window_ms,
            &[&address],
        )?,
        login_from_unknown: count(
            "SELECT COUNT(*) FROM login_failures f WHERE f.login = ?1 AND f.at > ?2 \
             AND NOT EXISTS (SELECT 1 FROM known_addresses k JOIN users u ON u.id = k.user_id \
                 WHERE u.login = f.login AND k.client_address = f.client_address)",
            PER_LOGIN_FROM_UNKNOWN_ADDRESSES.window_ms,
            &[&login],
        )?,
        login_from_known: count(
            "SELECT COUNT(*) FROM login_failures f WHERE f.login = ?1 AND f.at > ?2 \
             AND EXISTS (SELECT 1 FROM known_addresses k JOIN users u ON u.id = k.user_id \
                 WHERE u.login = f.login AND k.client_address = f.client_address)",
            PER_LOGIN_FROM_KNOWN_ADDRESSES.window_ms,
            &[&login],
        )?,
    };
    Ok(decide(failures, known))
}

fn is_known(conn: &Connection, login: &str, address: &str) -> Result<bool, AccountsError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM known_addresses k JOIN users u ON u.id = k.user_id \
         WHERE u.login = ?1 AND k.client_address = ?2)",
        params![login, address],
        |r| r.get(0),
    )?)
}

/// Records a failed password or second-factor code, and forgets failures older than every
/// window.
pub fn record_failure(
    conn: &Connection,
    login: &str,
    address: &str,
    now: i64,
) -> Result<(), AccountsError> {
    conn.execute(
        "INSERT INTO login_failures (login, client_address, at) VALUES (?1, ?2, ?3)",
        params![login, address, now],
    )?;
    conn.execute(
        "DELETE FROM login_failures WHERE at <= ?1",
        [now - PER_LOGIN_FROM_UNKNOWN_ADDRESSES.window_ms],
    )?;
    Ok(())
}

/// How long an address stays known after the last full login from it. A phone moves between
/// mobile networks and halls; an address unused for a quarter is as good as unknown, and
/// forgetting it keeps the table from growing with every address ever used.
pub const KNOWN_ADDRESS_KEPT_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Remembers that `user_id` fully logged in from `address`, and forgets addresses of anyone not
/// used for [`KNOWN_ADDRESS_KEPT_MS`].
pub fn remember_address(
    conn: &Connection,
    user_id: &str,
    address: &str,
    now: i64,
) -> Result<(), AccountsError> {
    conn.execute(
        "INSERT INTO known_addresses (user_id, client_address, last_login_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id, client_address) DO UPDATE SET last_login_at = excluded.last_login_at",
        params![user_id, address, now],
    )?;
    conn.execute(
        "DELETE FROM known_addresses WHERE last_login_at <= ?1",
        [now - KNOWN_ADDRESS_KEPT_MS],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(address_and_login: i64, address: i64, unknown: i64, known: i64) -> Failures {
        Failures {
            address_and_login,
            address,
            login_from_unknown: unknown,
            login_from_known: known,
        }
    }

    #[test]
    fn an_address_unused_for_a_quarter_is_forgotten_at_the_next_login() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrate");
        let new = crate::accounts::NewUser {
            login: "v".to_owned(),
            display_name: "v".to_owned(),
            role: crate::accounts::Role::Visitor,
            team: None,
            visit_access: false,
            must_change_password: false,
        };
        let user =
            crate::accounts::User::create(&mut conn, &new, "a long enough password").expect("user");
        let t0 = 1_700_000_000_000;
        remember_address(&conn, &user.id, "hall", t0).expect("remember");
        remember_address(&conn, &user.id, "office", t0 + KNOWN_ADDRESS_KEPT_MS - 1)
            .expect("remember");
        assert!(is_known(&conn, "v", "hall").expect("query"));
        remember_address(&conn, &user.id, "office", t0 + KNOWN_ADDRESS_KEPT_MS).expect("remember");
        assert!(!is_known(&conn, "v", "hall").expect("query"));
        assert!(is_known(&conn, "v", "office").expect("query"));
    }

    #[test]
    fn the_rule_as_a_table() {
        use Refusal::*;
        let cases = [
            // (failures, known address, verdict)
            (failures(0, 0, 0, 0), false, Ok(())),
            (failures(9, 9, 9, 0), false, Ok(())),
            (failures(10, 10, 10, 0), false, Err(AddressAndLogin)),
            (failures(0, 50, 0, 0), false, Err(Address)),
            (failures(0, 0, 89, 0), false, Ok(())),
            (failures(0, 0, 90, 0), false, Err(Login)),
            // The flood from elsewhere does not touch the known address's budget.
            (failures(0, 0, 90, 0), true, Ok(())),
            (failures(0, 0, 500, 9), true, Ok(())),
            (failures(0, 0, 0, 10), true, Err(Login)),
            (failures(10, 10, 0, 0), true, Err(AddressAndLogin)),
        ];
        for (counted, known, expected) in cases {
            assert_eq!(
                decide(counted, known),
                expected,
                "{counted:?} known={known}"
            );
        }
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_bit_prefix() {
        let a: std::net::IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("v6");
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::1".parse().expect("v6");
        assert_eq!(address_key(a), address_key(b));
        let mapped: std::net::IpAddr = "::ffff:10.0.0.1".parse().expect("mapped");
        assert_eq!(address_key(mapped), "10.0.0.1");
    }
}
