//! Identifiers for entries inside records, people and devices.
//!
//! Ids are UUIDs (version 4) built from 16 random bytes that the caller passes in (the app from
//! `crypto.getRandomValues`, the server from the OS), because `shared` has no randomness of its
//! own. They are stored as hyphenated lowercase strings, which is also how they appear as map keys
//! in the roster and visit maps.

use std::fmt;
use std::str::FromStr;

use crate::encoding::string_scalar;
use crate::errors::ParseError;

macro_rules! random_id {
    ($(#[$meta:meta])* $name:ident, $what_ja:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// Builds an id from 16 random bytes (the version and variant bits are set here).
            pub fn from_random_bytes(bytes: [u8; 16]) -> $name {
                $name(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// The 16 bytes of the id.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            /// Parses the hyphenated form.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::try_parse(text)
                    .map($name)
                    .map_err(|_| ParseError::new($what_ja, text))
            }
        }

        string_scalar!($name, "a UUID");
    };
}

random_id!(
    /// An attendee's entry in a training session's roster.
    AttendeeId,
    "参加者ID"
);
random_id!(
    /// A visit inside a visit case.
    VisitId,
    "訪問ID"
);
random_id!(
    /// An activity of a peer-support group.
    ActivityId,
    "活動ID"
);
random_id!(
    /// A person confirmed by the office to be the same across sessions (set when duplicates are
    /// merged), so counts do not rely on the name-based key alone.
    PersonId,
    "個人ID"
);
random_id!(
    /// A field device (one browser profile). Its bytes are also the device's Automerge actor id,
    /// so every change in a document says which device made it.
    DeviceId,
    "端末ID"
);

impl DeviceId {
    /// The Automerge actor id for changes made on this device.
    pub fn actor_id(&self) -> automerge::ActorId {
        automerge::ActorId::from(self.as_bytes().as_slice())
    }
}

/// A user account, as assigned by the server (trainers, visitors, office staff). Opaque to
/// `shared`: any non-empty text without whitespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserId {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(ParseError::new("利用者ID", text));
        }
        Ok(UserId(text.to_owned()))
    }
}

string_scalar!(UserId, "a user id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_the_same_random_bytes_are_equal_and_round_trip_as_text() {
        let id = AttendeeId::from_random_bytes([7; 16]);
        assert_eq!(id, AttendeeId::from_random_bytes([7; 16]));
        let text = id.to_string();
        assert_eq!(text, "07070707-0707-4707-8707-070707070707");
        assert_eq!(text.parse::<AttendeeId>(), Ok(id));
    }

    #[test]
    fn a_device_id_is_its_automerge_actor() {
        let device = DeviceId::from_random_bytes([1; 16]);
        assert_eq!(device.actor_id().to_bytes(), device.as_bytes());
    }

    #[test]
    fn user_ids_must_be_non_empty_without_spaces() {
        assert!("trainer-01".parse::<UserId>().is_ok());
        assert!("".parse::<UserId>().is_err());
        assert!("a b".parse::<UserId>().is_err());
    }
}
