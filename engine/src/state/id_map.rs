//! A map from a dense id (instrument, account) to its state: entries kept in a vector
//! sorted by id (iteration in id order: determinism, and cache-friendly scans) plus a
//! direct index from id to position, so a lookup is two array reads instead of a tree
//! walk. Inserting or removing moves later entries and rewrites their index slots: that
//! happens on definitions, never on the hot path.

use std::ops::Index;

/// An id usable as a vector index (bounded by its named limit, e.g. `INSTRUMENTS_MAX`).
pub trait DenseKey: Copy + Ord {
    fn dense_index(self) -> usize;
}

impl DenseKey for crate::events::InstrumentId {
    fn dense_index(self) -> usize {
        self.0 as usize
    }
}

impl DenseKey for crate::events::AccountId {
    fn dense_index(self) -> usize {
        self.0 as usize
    }
}

const ABSENT: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct IdMap<K, V> {
    entries: Vec<(K, V)>,
    /// Position in `entries` per id (`ABSENT` when not present); as long as the largest id.
    slots: Vec<u32>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap {
            entries: Vec::new(),
            slots: Vec::new(),
        }
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for IdMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<K: DenseKey, V> IdMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &K) -> Option<usize> {
        match self.slots.get(key.dense_index()) {
            Some(&slot) if slot != ABSENT => Some(slot as usize),
            _ => None,
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.position(key) {
            Some(i) => Some(&mut self.entries[i].1),
            None => None,
        }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(i) = self.position(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let at = self.entries.partition_point(|(k, _)| *k < key);
        self.entries.insert(at, (key, value));
        let index = key.dense_index();
        if self.slots.len() <= index {
            self.slots.resize(index + 1, ABSENT);
        }
        self.reindex_from(at);
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.position(key)?;
        let (_, value) = self.entries.remove(at);
        self.slots[key.dense_index()] = ABSENT;
        self.reindex_from(at);
        Some(value)
    }

    fn reindex_from(&mut self, from: usize) {
        for (position, (key, _)) in self.entries.iter().enumerate().skip(from) {
            self.slots[key.dense_index()] = position as u32;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in id order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<K: DenseKey, V> Index<&K> for IdMap<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no entry for this id"),
        }
    }
}

impl<K: DenseKey, V> FromIterator<(K, V)> for IdMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = IdMap::new();
        for (key, value) in iter {
            map.insert(key, value);
        }
        map
    }
}

impl<'a, K: DenseKey, V> IntoIterator for &'a IdMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: DenseKey, V> IntoIterator for IdMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::InstrumentId;

    #[test]
    fn lookups_iteration_and_removal_agree_with_a_btree_map() {
        let mut map = IdMap::new();
        let mut reference = std::collections::BTreeMap::new();
        // A fixed scramble of ids, inserted out of order, some twice, some removed.
        for step in 0..500u32 {
            let id = InstrumentId((step * 7919) % 311);
            if step % 5 == 4 {
                assert_eq!(map.remove(&id), reference.remove(&id), "remove {id:?}");
            } else {
                assert_eq!(map.insert(id, step), reference.insert(id, step));
            }
            assert_eq!(map.len(), reference.len());
        }
        let ours: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
        let theirs: Vec<_> = reference.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(ours, theirs, "same entries in id order");
        for id in 0..320 {
            let id = InstrumentId(id);
            assert_eq!(map.get(&id), reference.get(&id));
        }
        assert_eq!(map.get(&InstrumentId(1 << 20)), None, "beyond the index");
    }
}
