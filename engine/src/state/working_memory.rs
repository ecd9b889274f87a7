//! Working memory kept inside a value (the shard state, a what-if answer) so that reusing
//! the value allocates nothing. It is not part of the value: any two compare equal, a
//! clone starts afresh (`T::default()`), and `Debug` names it only.

use std::ops::{Deref, DerefMut};

#[derive(Default)]
pub struct WorkingMemory<T>(T);

impl<T: Default> Clone for WorkingMemory<T> {
    fn clone(&self) -> Self {
        WorkingMemory::default()
    }
}

impl<T> PartialEq for WorkingMemory<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for WorkingMemory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkingMemory")
    }
}

impl<T> Deref for WorkingMemory<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for WorkingMemory<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
