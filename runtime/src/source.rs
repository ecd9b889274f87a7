//! Where the pipeline's producer takes events from: an iterator (files, generators), or a
//! live source that can also be idle (a feed read on another thread, and the shared-memory
//! clients). Each event carries its origin, journaled with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::{Receiver, TryRecvError};
use keel_engine::events::Event;

use crate::embed::{ClientInput, EmbedPoller};

/// Who sent an event: 0 the run's own input, 1 + K the shared-memory client in slot K.
pub type Origin = u8;
pub const ORIGIN_INPUT: Origin = 0;

/// What a source has now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Polled {
    Event(Event, Origin),
    /// A what-if waits in client slot `slot`'s mailbox.
    WhatIf {
        slot: u8,
    },
    /// Nothing right now; more may come.
    Idle,
    /// Nothing more, ever.
    End,
}

pub trait EventSource {
    fn poll(&mut self) -> Polled;
}

/// An iterator as a source: never idle, ends when the iterator does.
pub struct IterSource<I>(pub I);

impl<I: Iterator<Item = Event>> EventSource for IterSource<I> {
    fn poll(&mut self) -> Polled {
        match self.0.next() {
            Some(event) => Polled::Event(event, ORIGIN_INPUT),
            None => Polled::End,
        }
    }
}

/// A live engine's input: the run's own input (read on another thread, handed over by a
/// channel) and the shared-memory clients, taken in turn, until `stop` is set.
pub struct LiveSource {
    input: Option<Receiver<Event>>,
    clients: Option<EmbedPoller>,
    stop: Arc<AtomicBool>,
    clients_first: bool,
}

impl LiveSource {
    pub fn new(
        input: Option<Receiver<Event>>,
        clients: Option<EmbedPoller>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        LiveSource {
            input,
            clients,
            stop,
            clients_first: true,
        }
    }

    fn poll_clients(&mut self) -> Option<Polled> {
        match self.clients.as_mut()?.poll()? {
            ClientInput::Event { event, slot } => Some(Polled::Event(event, 1 + slot as Origin)),
            ClientInput::WhatIf { slot } => Some(Polled::WhatIf { slot: slot as u8 }),
        }
    }

    fn poll_input(&mut self) -> Option<Polled> {
        match self.input.as_ref()?.try_recv() {
            Ok(event) => Some(Polled::Event(event, ORIGIN_INPUT)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.input = None;
                None
            }
        }
    }
}

impl EventSource for LiveSource {
    fn poll(&mut self) -> Polled {
        // Alternate which side goes first, so neither starves the other.
        self.clients_first = !self.clients_first;
        let found = if self.clients_first {
            self.poll_clients().or_else(|| self.poll_input())
        } else {
            self.poll_input().or_else(|| self.poll_clients())
        };
        if let Some(polled) = found {
            return polled;
        }
        // Stop once asked to, or once the input ended when there are no clients to serve.
        if self.stop.load(Ordering::Acquire) || (self.input.is_none() && self.clients.is_none()) {
            Polled::End
        } else {
            Polled::Idle
        }
    }
}
