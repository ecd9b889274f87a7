//! A map kept as a vector sorted by key. Iteration is in key order (determinism), lookups
//! are binary searches, and removal keeps the capacity: once a map has held its working
//! set, opening and closing entries never allocates again (the hot-path rule).

use std::ops::Index;

#[derive(Clone, Debug, PartialEq)]
pub struct SortedVecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedVecMap<K, V> {
    fn default() -> Self {
        SortedVecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord + Copy, V> SortedVecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// The value at `key`, inserted from `make` when absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Empties the map, keeping its storage.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<K: Ord + Copy, V: Copy> SortedVecMap<K, V> {
    /// Makes this map a copy of `other`, reusing its storage (no allocation once it has
    /// held as many entries).
    pub fn copy_from(&mut self, other: &Self) {
        self.entries.clear();
        self.entries.extend_from_slice(&other.entries);
    }
}

impl<K: Ord + Copy, V: Default> SortedVecMap<K, V> {
    pub fn entry_or_default(&mut self, key: K) -> &mut V {
        self.get_or_insert_with(key, V::default)
    }
}

/// Builds from pairs in any order (a later duplicate key replaces an earlier one).
impl<K: Ord + Copy, V> FromIterator<(K, V)> for SortedVecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut map = SortedVecMap::new();
        for (key, value) in pairs {
            map.insert(key, value);
        }
        map
    }
}

impl<'a, K: Ord + Copy, V> IntoIterator for &'a SortedVecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord + Copy, V> Index<&K> for SortedVecMap<K, V> {
    type Output = V;

    /// Panics when absent, like `BTreeMap`'s index (tests and checked lookups only).
    fn index(&self, key: &K) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("SortedVecMap: key not present"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SortedVecMap;

    #[test]
    fn keeps_key_order_and_capacity() {
        let mut map = SortedVecMap::new();
        for key in [5u32, 1, 9, 3] {
            *map.entry_or_default(key) += u64::from(key);
        }
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [1, 3, 5, 9]);
        assert_eq!(map.get(&9), Some(&9));
        assert_eq!(map.remove(&3), Some(3));
        assert_eq!(map.remove(&3), None);
        assert!(!map.contains_key(&3));
        let capacity = map.entries.capacity();
        map.insert(4, 40);
        map.insert(4, 41);
        assert_eq!(map[&4], 41);
        assert_eq!(map.len(), 4);
        assert_eq!(map.entries.capacity(), capacity);
        let mut pairs: Vec<(u32, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        pairs.reverse();
        let rebuilt: SortedVecMap<u32, u64> = pairs.into_iter().collect();
        assert_eq!(rebuilt, map);
    }
}
