//! The window of recent trade ids for duplicate detection: a fixed-capacity set that
//! forgets the oldest id first. Both tables are allocated once, at full size (zeroed,
//! so untouched pages cost nothing), and never grow: remembering an id never allocates.
//!
//! Open addressing with linear probing and backward-shift deletion (no tombstones, so
//! the table never degrades); a ring keeps insertion order for eviction and snapshots.

use std::fmt;

/// Sentinel of an empty slot; id 0 itself is tracked by `holds_zero`.
const EMPTY: u64 = 0;

#[derive(Clone)]
pub struct TradeIdWindow {
    /// Slots, a power of two at least twice the capacity (load ≤ 1/2).
    table: Vec<u64>,
    shift: u32,
    /// Insertion order, as a ring of `capacity` ids.
    order: Vec<u64>,
    head: usize,
    len: usize,
    holds_zero: bool,
}

impl TradeIdWindow {
    pub fn with_capacity(capacity: usize) -> TradeIdWindow {
        let capacity = capacity.max(1);
        let slots = (capacity * 2).next_power_of_two();
        TradeIdWindow {
            table: vec![EMPTY; slots],
            shift: 64 - slots.trailing_zeros(),
            order: vec![0; capacity],
            head: 0,
            len: 0,
            holds_zero: false,
        }
    }

    pub fn capacity(&self) -> usize {
        self.order.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn home(&self, id: u64) -> usize {
        // Fibonacci hashing: deterministic, and spreads sequential ids.
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn slot_of(&self, id: u64) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut slot = self.home(id);
        loop {
            match self.table[slot] {
                EMPTY => return Err(slot),
                found if found == id => return Ok(slot),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        if id == EMPTY {
            return self.holds_zero;
        }
        self.slot_of(id).is_ok()
    }

    /// Remembers `id` (a no-op when already held), forgetting the oldest id when full.
    pub fn insert(&mut self, id: u64) {
        if self.contains(id) {
            return;
        }
        if self.len == self.capacity() {
            let oldest = self.order[self.head];
            self.forget(oldest);
            self.head = (self.head + 1) % self.capacity();
            self.len -= 1;
        }
        let tail = (self.head + self.len) % self.capacity();
        self.order[tail] = id;
        self.len += 1;
        if id == EMPTY {
            self.holds_zero = true;
        } else if let Err(slot) = self.slot_of(id) {
            self.table[slot] = id;
        }
    }

    fn forget(&mut self, id: u64) {
        if id == EMPTY {
            self.holds_zero = false;
            return;
        }
        let Ok(mut hole) = self.slot_of(id) else {
            return;
        };
        let mask = self.table.len() - 1;
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let moved = self.table[next];
            if moved == EMPTY {
                break;
            }
            // Move `moved` into the hole unless its home lies cyclically in (hole, next].
            let home = self.home(moved);
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.table[hole] = moved;
                hole = next;
            }
        }
        self.table[hole] = EMPTY;
    }

    /// The ids held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len).map(|i| self.order[(self.head + i) % self.capacity()])
    }
}

/// Equal when they hold the same ids in the same order with the same capacity (the
/// slot layout is an implementation detail).
impl PartialEq for TradeIdWindow {
    fn eq(&self, other: &Self) -> bool {
        self.capacity() == other.capacity() && self.len == other.len && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for TradeIdWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TradeIdWindow({} of {})", self.len, self.capacity())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, VecDeque};

    use proptest::prelude::*;

    use super::TradeIdWindow;

    proptest! {
        /// Against a model (set + FIFO), with ids from a small range so that repeats,
        /// zero, evictions and probe chains all occur.
        #[test]
        fn matches_a_fifo_set(ids in proptest::collection::vec(0u64..64, 0..400), cap in 1usize..20) {
            let mut window = TradeIdWindow::with_capacity(cap);
            let mut order = VecDeque::new();
            let mut set = BTreeSet::new();
            for id in ids {
                prop_assert_eq!(window.contains(id), set.contains(&id));
                window.insert(id);
                if set.insert(id) {
                    order.push_back(id);
                    if order.len() > cap {
                        let oldest = order.pop_front().unwrap();
                        set.remove(&oldest);
                    }
                }
                prop_assert_eq!(window.iter().collect::<Vec<_>>(), order.iter().copied().collect::<Vec<_>>());
                for probe in 0..64 {
                    prop_assert_eq!(window.contains(probe), set.contains(&probe));
                }
            }
        }
    }

    #[test]
    fn large_ids_collide_and_delete_cleanly() {
        let mut window = TradeIdWindow::with_capacity(8);
        let ids: Vec<u64> = (1..=100).map(|i| i << 50).collect();
        for &id in &ids {
            window.insert(id);
        }
        assert_eq!(window.len(), 8);
        assert!(ids[..92].iter().all(|&id| !window.contains(id)));
        assert!(ids[92..].iter().all(|&id| window.contains(id)));
    }
}
