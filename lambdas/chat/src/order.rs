//! Delivery in id order per conversation.
//!
//! Each message takes a ticket when its id is assigned (under one lock, so
//! ticket order is id order); it is stored concurrently with its
//! neighbours, then waits for the previous ticket of its conversation to
//! finish before it is fanned out. So recipients of one process see a
//! conversation's messages in id order, while storage calls overlap. A
//! ticket dropped without fan-out (a duplicate, a failed store) releases
//! the next one all the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Conversation -> (sequence of its last ticket, that ticket's "done").
type Tails = Arc<Mutex<HashMap<String, (u64, oneshot::Receiver<()>)>>>;

#[derive(Default)]
pub struct ConversationOrder {
    tails: Tails,
    sequence: std::sync::atomic::AtomicU64,
}

/// One message's place in its conversation's delivery order.
pub struct Ticket {
    previous: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
    conversation: String,
    sequence: u64,
    tails: Tails,
}

impl ConversationOrder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A ticket for the next message of `conversation`, and whatever
    /// `assign` returns (the message id), made under the same lock.
    pub fn take<T>(&self, conversation: &str, assign: impl FnOnce() -> T) -> (Ticket, T) {
        let (done, finished) = oneshot::channel();
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        let sequence = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let assigned = assign();
        let previous = tails
            .insert(conversation.to_owned(), (sequence, finished))
            .map(|(_, rx)| rx);
        (
            Ticket {
                previous,
                done: Some(done),
                conversation: conversation.to_owned(),
                sequence,
                tails: self.tails.clone(),
            },
            assigned,
        )
    }

    /// Conversations with a ticket in flight (for tests of the cleanup).
    pub fn in_flight(&self) -> usize {
        self.tails.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Ticket {
    /// Waits until every earlier message of the conversation was delivered
    /// (or given up).
    pub async fn wait_turn(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error means the previous ticket was dropped: its turn is over.
            let _ = previous.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        if tails
            .get(&self.conversation)
            .is_some_and(|(sequence, _)| *sequence == self.sequence)
        {
            tails.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn later_tickets_wait_for_earlier_ones() {
        let order = Arc::new(ConversationOrder::new());
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..5u64 {
            let (mut ticket, id) = order.take("c", || n);
            let delivered = delivered.clone();
            tasks.push(tokio::spawn(async move {
                // Earlier messages take longer to store.
                tokio::time::sleep(Duration::from_millis(50 - n * 10)).await;
                ticket.wait_turn().await;
                delivered.lock().unwrap().push(id);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*delivered.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(order.in_flight(), 0, "finished conversations are forgotten");
    }

    #[tokio::test]
    async fn a_dropped_ticket_releases_the_next_and_other_conversations_do_not_wait() {
        let order = ConversationOrder::new();
        let (first, _) = order.take("c", || ());
        let (mut second, _) = order.take("c", || ());
        let (mut other, _) = order.take("d", || ());
        tokio::time::timeout(Duration::from_secs(1), other.wait_turn())
            .await
            .expect("another conversation does not wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), second.wait_turn())
            .await
            .expect("released by the drop");
    }
}
