//! SlaveDriver's socket: every reply to a slave goes out here, recorded as the slave's
//! last and told to monitors.

use chrono::{DateTime, Utc};
use piwheels_protocol::auth::ZapHandler;
use piwheels_protocol::monitor::{SlaveEvent, StatusMessage};
use piwheels_protocol::slave::{SlaveProtocol, SlaveReply};
use piwheels_protocol::transport::asynchronous::Router;
use piwheels_protocol::transport::{HandshakeWatch, Identity};
use piwheels_protocol::{Message, ProtocolError};
use tokio::sync::mpsc;

use super::{Answer, Slave};
use crate::error::Result;

/// The slaves' socket: every reply goes out through it.
pub(super) struct Socket {
    pub(super) router: Router<SlaveProtocol>,
    pub(super) endpoint: String,
    /// The endpoint for original (NULL) slaves, if bound.
    pub(super) plain_endpoint: Option<String>,
    /// To monitors, which hear every reply but `CONT`.
    pub(super) status: mpsc::UnboundedSender<StatusMessage>,
    /// The ZAP handler of the socket's context, if its endpoints are checked (dropped
    /// after the socket).
    pub(super) _zap: Option<ZapHandler>,
    /// Logs peers whose connection fails before authentication, if guarded.
    pub(super) _watch: Option<HandshakeWatch>,
}

impl Socket {
    /// Sends a handler's answer, if it has one now (see [`Socket::reply`]).
    pub(super) async fn answer(
        &mut self,
        peer: &Identity,
        slave: &mut Slave,
        answer: Answer,
    ) -> Result<()> {
        match answer {
            Some(reply) => self.reply(peer, slave, reply).await,
            None => Ok(()),
        }
    }

    /// Sends a reply to a known slave, records it, and tells monitors (all but `CONT`).
    pub(super) async fn reply(
        &mut self,
        peer: &Identity,
        slave: &mut Slave,
        reply: SlaveReply,
    ) -> Result<()> {
        slave.state.record_reply(&reply);
        if matches!(
            reply,
            SlaveReply::Done | SlaveReply::Die | SlaveReply::Sleep(_)
        ) {
            slave.build_started = None;
        }
        let id = slave.id();
        tracing::debug!(slave = %id, reply = reply.name(), "reply");
        if reply != SlaveReply::Cont {
            publish(
                &self.status,
                reply_event(id.as_i64(), Utc::now(), &reply, slave.cooling_until),
            );
        }
        self.send_raw(peer, reply).await
    }

    /// Sends a reply without recording it (to a peer that is no known slave).
    pub(super) async fn send_raw(&mut self, peer: &Identity, reply: SlaveReply) -> Result<()> {
        match self.router.send_to(peer, &reply).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_protocol() => {
                tracing::error!(error = %e, "a reply the protocol refuses was not sent");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The monitors' event for a reply sent `when`: a `SLEEP true` to a slave in cool-off
/// says until when ([`SlaveEvent::cooling_off`]).
pub(super) fn reply_event(
    slave_id: i64,
    when: DateTime<Utc>,
    reply: &SlaveReply,
    cooling_until: Option<DateTime<Utc>>,
) -> std::result::Result<SlaveEvent, ProtocolError> {
    match (reply, cooling_until) {
        (SlaveReply::Sleep(true), Some(until)) if until > when => {
            Ok(SlaveEvent::cooling_off(slave_id, when, until))
        }
        _ => SlaveEvent::reply(slave_id, when, reply),
    }
}

/// Tells monitors about a slave, if the event can be described on their socket.
pub(super) fn publish(
    status: &mpsc::UnboundedSender<StatusMessage>,
    event: std::result::Result<SlaveEvent, ProtocolError>,
) {
    match event {
        Ok(event) => {
            let _ = status.send(StatusMessage::Slave(event));
        }
        Err(e) => tracing::warn!(error = %e, "cannot describe a slave event for monitors"),
    }
}
