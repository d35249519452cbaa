//! Users and teams in SQLite. Functions take a connection so callers choose the transaction.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use super::{AccountsError, Role, hash_password, now_ms, random_id};

/// A user's id: random, never reused, never shown as a login.
pub type UserId = String;

/// A user as access control and the UI need them; never carries the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Random id.
    pub id: UserId,
    /// What they type to log in.
    pub login: String,
    /// Their name as shown to colleagues.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// Their team's id, if any.
    pub team_id: Option<String>,
    /// Office staff allowed to read visit cases.
    pub visit_access: bool,
    /// Must choose a new password before doing anything else.
    pub must_change_password: bool,
    /// A disabled user cannot log in and their sessions end.
    pub disabled: bool,
}

/// What creating a user needs.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Team name; created if it does not exist.
    pub team: Option<String>,
    /// Office staff allowed to read visit cases.
    pub visit_access: bool,
    /// Whether the first login must change the password (bootstrap and generated passwords).
    pub must_change_password: bool,
}

const USER_COLUMNS: &str =
    "id, login, display_name, role, team_id, visit_access, must_change_password, disabled";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: row.get(0)?,
        login: row.get(1)?,
        display_name: row.get(2)?,
        role: role.parse().map_err(|e: AccountsError| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        team_id: row.get(4)?,
        visit_access: row.get(5)?,
        must_change_password: row.get(6)?,
        disabled: row.get(7)?,
    })
}

fn valid_login(login: &str) -> bool {
    (1..=64).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl User {
    /// Creates a user with `password` (hashed with argon2id).
    pub fn create(
        conn: &mut Connection,
        new: &NewUser,
        password: &str,
    ) -> Result<User, AccountsError> {
        if !valid_login(&new.login) {
            return Err(AccountsError::InvalidLogin);
        }
        let hash = hash_password(password)?;
        let tx = conn.transaction()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE login = ?1)",
            [&new.login],
            |r| r.get(0),
        )?;
        if taken {
            return Err(AccountsError::LoginTaken(new.login.clone()));
        }
        let team_id = match &new.team {
            Some(name) => Some(ensure_team(&tx, name)?),
            None => None,
        };
        let id = random_id();
        tx.execute(
            "INSERT INTO users (id, login, display_name, role, team_id, visit_access, \
             password_hash, must_change_password, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                new.login,
                new.display_name,
                new.role.as_str(),
                team_id,
                new.visit_access,
                hash,
                new.must_change_password,
                now_ms()
            ],
        )?;
        tx.commit()?;
        Ok(User {
            id,
            login: new.login.clone(),
            display_name: new.display_name.clone(),
            role: new.role,
            team_id,
            visit_access: new.visit_access,
            must_change_password: new.must_change_password,
            disabled: false,
        })
    }

    /// The user with this id.
    pub fn get(conn: &Connection, id: &str) -> Result<Option<User>, AccountsError> {
        // Cached: every authenticated request asks (its preparation was 2% of W1's server CPU).
        Ok(conn
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
            .query_row([id], user_from_row)
            .optional()?)
    }

    /// The user with this login (case-insensitive) and their password hash.
    pub fn find_for_login(
        conn: &Connection,
        login: &str,
    ) -> Result<Option<(User, String)>, AccountsError> {
        Ok(conn
            .query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE login = ?1"),
                [login],
                |row| Ok((user_from_row(row)?, row.get(8)?)),
            )
            .optional()?)
    }

    /// How many users exist.
    pub fn count(conn: &Connection) -> Result<i64, AccountsError> {
        Ok(conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    /// Replaces the password and clears `must_change_password`.
    pub fn set_password(conn: &Connection, id: &str, password: &str) -> Result<(), AccountsError> {
        let hash = hash_password(password)?;
        conn.execute(
            "UPDATE users SET password_hash = ?1, must_change_password = 0 WHERE id = ?2",
            params![hash, id],
        )?;
        Ok(())
    }
}

impl User {
    /// Every user, by login: what an admin's list needs.
    pub fn list(conn: &Connection) -> Result<Vec<User>, AccountsError> {
        let mut statement =
            conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))?;
        let users = statement
            .query_map([], user_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(users)
    }

    /// Disables a user (they cannot log in) and ends their sessions. False for an unknown id.
    pub fn disable(conn: &Connection, id: &str) -> Result<bool, AccountsError> {
        let changed = conn.execute("UPDATE users SET disabled = 1 WHERE id = ?1", [id])?;
        if changed == 1 {
            super::Session::end_all_of_user(conn, id)?;
            super::challenge::forget_user(conn, id)?;
        }
        Ok(changed == 1)
    }

    /// Changes a user's role and visit access and ends their sessions, so nothing keeps the old
    /// rights. False for an unknown id.
    pub fn set_role(
        conn: &Connection,
        id: &str,
        role: Role,
        visit_access: bool,
    ) -> Result<bool, AccountsError> {
        let changed = conn.execute(
            "UPDATE users SET role = ?1, visit_access = ?2 WHERE id = ?3",
            params![role.as_str(), visit_access, id],
        )?;
        if changed == 1 {
            super::Session::end_all_of_user(conn, id)?;
        }
        Ok(changed == 1)
    }
}

/// The id of the team called `name`, creating it if needed.
pub fn ensure_team(conn: &Connection, name: &str) -> Result<String, AccountsError> {
    if let Some(id) = conn
        .query_row("SELECT id FROM teams WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
    {
        return Ok(id);
    }
    let id = random_id();
    conn.execute(
        "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![id, name, now_ms()],
    )?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::open_in(dir.path()).expect("db");
        let conn = crate::db::open_connection(db.path()).expect("conn");
        // Keep the directory alive for the connection's lifetime.
        std::mem::forget(dir);
        conn
    }

    fn trainer(login: &str) -> NewUser {
        NewUser {
            login: login.to_owned(),
            display_name: "宮城 花子".to_owned(),
            role: Role::Trainer,
            team: Some("仙南保健福祉事務所".to_owned()),
            visit_access: false,
            must_change_password: false,
        }
    }

    #[test]
    fn a_created_user_is_found_by_login_in_any_case() {
        let mut conn = db();
        let created =
            User::create(&mut conn, &trainer("hanako"), "a long enough password").expect("create");
        let (found, hash) = User::find_for_login(&conn, "HANAKO")
            .expect("query")
            .expect("found");
        assert_eq!(found, created);
        assert!(super::super::verify_password("a long enough password", &hash).expect("verify"));
        assert!(found.team_id.is_some());
    }

    #[test]
    fn a_second_user_with_the_same_login_is_refused() {
        let mut conn = db();
        User::create(&mut conn, &trainer("taro"), "a long enough password").expect("first");
        let second = User::create(&mut conn, &trainer("Taro"), "a long enough password");
        assert!(matches!(second, Err(AccountsError::LoginTaken(_))));
    }

    #[test]
    fn logins_with_spaces_or_symbols_are_refused() {
        let mut conn = db();
        for login in ["", "two words", "a/b", &"x".repeat(65)] {
            let result = User::create(&mut conn, &trainer(login), "a long enough password");
            assert!(
                matches!(result, Err(AccountsError::InvalidLogin)),
                "{login:?}"
            );
        }
    }

    #[test]
    fn users_of_one_team_share_its_id() {
        let mut conn = db();
        let a = User::create(&mut conn, &trainer("a"), "a long enough password").expect("a");
        let b = User::create(&mut conn, &trainer("b"), "a long enough password").expect("b");
        assert_eq!(a.team_id, b.team_id);
    }
}
