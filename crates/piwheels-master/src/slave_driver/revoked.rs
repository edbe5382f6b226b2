//! Slaves whose CURVE key was revoked (its file deleted from the allow-list) after their
//! handshake: ZAP admitted their connection, so SlaveDriver checks every message's key
//! again ([`crate::queue_auth::revoked_key`]) and stops them here.

use chrono::Utc;
use piwheels_protocol::monitor::SlaveEvent;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::slave::SlaveReply;
use piwheels_protocol::transport::Identity;

use super::{Slave, SlaveDriver};
use crate::error::Result;

impl SlaveDriver {
    /// A message from a slave whose key was removed from the allow-list since its
    /// handshake: it is forgotten (its job back in the queue) and told `DIE` (unless it
    /// said `BYE`), so it stops; the log says so once a minute per key.
    pub(super) async fn revoked(&mut self, peer: Identity, key: String, bye: bool) -> Result<()> {
        let slave = self.slaves.remove(&peer);
        if self.core.revoked.allow(&key) {
            tracing::warn!(key = %Quoted::str(&key), slave = ?slave.as_ref().map(Slave::id),
                "message from a slave whose key is no longer in the allow-list; telling it to die");
        }
        if let Some(s) = slave {
            let id = s.id();
            self.core.lost(s);
            self.core
                .publish(SlaveEvent::reply(id.as_i64(), Utc::now(), &SlaveReply::Die));
        }
        self.parked.retain(|(p, _)| *p != peer);
        if bye {
            return Ok(());
        }
        self.socket.send_raw(&peer, SlaveReply::Die).await
    }
}
