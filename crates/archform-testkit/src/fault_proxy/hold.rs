//! Holding one call, so a test can kill the client at an exact moment.
//!
//! The proxy counts the mutating calls that match a [`Hold`]; the Nth one
//! is either forwarded to the emulator, which acts on it, and its answer
//! then kept from the client ([`HoldPoint::AfterForwarding`]: the request
//! was sent, its answer never arrives), or kept from the emulator
//! altogether ([`HoldPoint::BeforeForwarding`]). Either way the proxy tells
//! the test through [`HeldCall::held`] and keeps the call until released
//! (or the proxy stops): the client is provably still waiting on it when
//! the test kills it.

use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};

/// One call as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The signing service (`s3`, `lambda`, `sqs`, ...).
    pub service: String,
    /// As counted in [`super::ProxyStats::calls`]: `sqs:CreateQueue`,
    /// `lambda:POST /2015-03-31/functions`.
    pub operation: String,
    pub method: String,
    /// The whole path (REST operations differ only there:
    /// `/2015-03-31/functions` vs `/2015-03-31/functions/NAME/policy`).
    pub path: String,
    /// The query string, empty when there is none (`tagging` tells
    /// S3's PutBucketTagging from CreateBucket).
    pub query: String,
}

/// Where the held call stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldPoint {
    /// Forwarded and answered by the emulator; the answer is kept from the
    /// client.
    AfterForwarding,
    /// Never forwarded: the emulator does not see it.
    BeforeForwarding,
}

type Filter = Arc<dyn Fn(&Call) -> bool + Send + Sync>;

/// Which call to hold: the `nth` (1-based) mutating call for which
/// `matching` is true, counted from when the hold is armed.
#[derive(Clone)]
pub struct Hold {
    pub nth: u64,
    pub point: HoldPoint,
    matching: Filter,
}

impl Hold {
    pub fn nth_matching(
        nth: u64,
        point: HoldPoint,
        matching: impl Fn(&Call) -> bool + Send + Sync + 'static,
    ) -> Hold {
        Hold {
            nth,
            point,
            matching: Arc::new(matching),
        }
    }

    /// The `nth` mutating call, whatever its operation.
    pub fn nth_mutation(nth: u64, point: HoldPoint) -> Hold {
        Hold::nth_matching(nth, point, |_| true)
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("nth", &self.nth)
            .field("point", &self.point)
            .finish_non_exhaustive()
    }
}

/// What the proxy is holding.
#[derive(Clone, Debug)]
pub struct Held {
    pub call: Call,
    /// The emulator's answer status; `None` when the call was not forwarded.
    pub upstream_status: Option<u16>,
    /// Mutating calls seen since the hold was armed, this one included.
    pub mutations_seen: u64,
}

/// The test's side of an armed hold.
#[derive(Debug)]
pub struct HeldCall {
    rx: oneshot::Receiver<Held>,
}

impl HeldCall {
    /// Resolves once the call is held (answer kept, client still waiting);
    /// `None` when the hold was replaced or the proxy stopped first. Wait
    /// on it together with the client's exit: a client that finishes
    /// before making the call never resolves it.
    pub async fn held(self) -> Option<Held> {
        self.rx.await.ok()
    }
}

struct Armed {
    hold: Hold,
    matched: u64,
    seen: u64,
    tx: Option<oneshot::Sender<Held>>,
}

/// A call picked to be held, on its way to being kept.
pub(super) struct Ticket {
    pub(super) point: HoldPoint,
    seen: u64,
    tx: oneshot::Sender<Held>,
}

pub(super) struct Holds {
    armed: Mutex<Option<Armed>>,
    /// Bumped to let every kept call go.
    release: watch::Sender<u64>,
}

impl Default for Holds {
    fn default() -> Self {
        Holds {
            armed: Mutex::new(None),
            release: watch::channel(0).0,
        }
    }
}

impl Holds {
    pub(super) fn arm(&self, hold: Hold) -> HeldCall {
        let (tx, rx) = oneshot::channel();
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Armed {
            hold,
            matched: 0,
            seen: 0,
            tx: Some(tx),
        });
        HeldCall { rx }
    }

    /// Counts a mutating call; `Some` when it is the one to hold.
    pub(super) fn pick(&self, call: &Call) -> Option<Ticket> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let a = armed.as_mut()?;
        a.seen += 1;
        if a.tx.is_none() || !(a.hold.matching)(call) {
            return None;
        }
        a.matched += 1;
        if a.matched != a.hold.nth {
            return None;
        }
        Some(Ticket {
            point: a.hold.point,
            seen: a.seen,
            tx: a.tx.take()?,
        })
    }

    /// Tells the test the call is held, then keeps it until released.
    pub(super) async fn keep(&self, ticket: Ticket, call: Call, upstream_status: Option<u16>) {
        let mut released = self.release.subscribe();
        let generation = *released.borrow_and_update();
        let _ = ticket.tx.send(Held {
            call,
            upstream_status,
            mutations_seen: ticket.seen,
        });
        let _ = released.wait_for(|g| *g != generation).await;
    }

    pub(super) fn release(&self) {
        self.release.send_modify(|g| *g += 1);
    }
}
