//! Single-use WebSocket tickets and the peers they create.
//!
//! A browser cannot put an `Authorization` header on a WebSocket, and a cookie alone would let
//! any page the user visits open a socket (cross-site WebSocket hijacking). So a logged-in client
//! first asks `POST /api/sync/ticket` for a ticket: random, valid for [`TICKET_TTL_MS`], usable
//! once, and bound to a server-assigned peer id. The upgrade redeems it, and samod is told to
//! expect exactly that peer id in the handshake, so the share policy knows who every peer is.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use crate::{
    accounts::{now_ms, random_bytes},
    http::auth::Credential,
};

/// How long a ticket may wait to be redeemed.
pub const TICKET_TTL_MS: i64 = 30_000;

/// Who a sync peer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerOwner {
    /// The user.
    pub user_id: String,
    /// Their device.
    pub device_id: String,
    /// How the ticket was obtained (a cookie session must upgrade from an allowed origin).
    pub credential: Credential,
}

#[derive(Debug)]
struct Pending {
    peer_id: String,
    owner: PeerOwner,
    expires_at: i64,
}

/// Outstanding tickets and the peers they were redeemed for.
#[derive(Clone, Debug, Default)]
pub struct Tickets {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    peers: Arc<RwLock<HashMap<String, PeerOwner>>>,
}

impl Tickets {
    /// Issues a ticket for `owner` and returns it with the peer id it is bound to.
    pub fn issue(&self, owner: PeerOwner) -> (String, String) {
        let ticket = bs58::encode(random_bytes::<32>()).into_string();
        let peer_id = format!("nimo-{}", bs58::encode(random_bytes::<12>()).into_string());
        let now = now_ms();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // Expired tickets are dropped on every issue so the map cannot grow without bound.
        pending.retain(|_, p| p.expires_at > now);
        pending.insert(
            ticket.clone(),
            Pending {
                peer_id: peer_id.clone(),
                owner,
                expires_at: now + TICKET_TTL_MS,
            },
        );
        (ticket, peer_id)
    }

    /// Redeems a ticket once: the peer id and owner, or `None` if unknown, used or expired.
    pub fn redeem(&self, ticket: &str) -> Option<(String, PeerOwner)> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket)?;
        if pending.expires_at <= now_ms() {
            return None;
        }
        self.peers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pending.peer_id.clone(), pending.owner.clone());
        Some((pending.peer_id, pending.owner))
    }

    /// Who `peer_id` is, if it came through a ticket.
    pub fn owner(&self, peer_id: &str) -> Option<PeerOwner> {
        self.peers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(peer_id)
            .cloned()
    }

    /// Forgets a peer whose connection ended.
    pub fn forget(&self, peer_id: &str) {
        self.peers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> PeerOwner {
        PeerOwner {
            user_id: "u1".to_owned(),
            device_id: "d1".to_owned(),
            credential: Credential::Bearer,
        }
    }

    #[test]
    fn a_ticket_redeems_once_to_its_peer() {
        let tickets = Tickets::default();
        let (ticket, peer_id) = tickets.issue(owner());
        let (redeemed_peer, redeemed_owner) = tickets.redeem(&ticket).expect("first use");
        assert_eq!(redeemed_peer, peer_id);
        assert_eq!(redeemed_owner, owner());
        assert_eq!(tickets.owner(&peer_id), Some(owner()));
        assert!(tickets.redeem(&ticket).is_none(), "second use refused");
    }

    #[test]
    fn an_unknown_ticket_is_refused() {
        let tickets = Tickets::default();
        assert!(tickets.redeem("made-up").is_none());
    }

    #[test]
    fn every_ticket_gets_its_own_peer_id() {
        let tickets = Tickets::default();
        let (_, a) = tickets.issue(owner());
        let (_, b) = tickets.issue(owner());
        assert_ne!(a, b);
    }
}
