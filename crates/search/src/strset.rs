//! A set of strings kept end to end in one buffer, each followed by a
//! separator: adding a string copies it once and allocates nothing of its
//! own, and the buffer is the set's list, ready to hand over.
//!
//! A block gathers its distinct terms this way: 29 term lookups an event, most of them hits, where a
//! `HashSet<String>` paid an allocation for every new term and a second
//! pass to join them.

use std::hash::BuildHasher;
use std::ops::Range;

use hashbrown::HashTable;

pub struct StrSet {
    /// The strings in insertion order, each followed by `separator`.
    list: String,
    /// Where each string is in `list`.
    index: HashTable<Range<usize>>,
    /// Seeded per process: a sender who could make terms collide would
    /// otherwise turn every lookup into a walk of one long chain.
    hasher: foldhash::fast::RandomState,
    separator: char,
}

impl StrSet {
    /// An empty set whose list ends each string with `separator` (which
    /// the strings must not hold, if the list is to be split again).
    pub fn new(separator: char) -> Self {
        StrSet {
            list: String::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            separator,
        }
    }

    /// Adds `s`; false when it was there already.
    pub fn insert(&mut self, s: &str) -> bool {
        let hash = self.hasher.hash_one(s);
        let list = &self.list;
        if self.index.find(hash, |r| &list[r.clone()] == s).is_some() {
            return false;
        }
        let start = self.list.len();
        self.list.push_str(s);
        let at = start..self.list.len();
        self.list.push(self.separator);
        let (list, hasher) = (&self.list, &self.hasher);
        self.index
            .insert_unique(hash, at, |r| hasher.hash_one(&list[r.clone()]));
        true
    }

    /// The strings, each followed by the separator, leaving the set empty
    /// (its table keeps its room).
    pub fn take_list(&mut self) -> String {
        self.index.clear();
        let capacity = self.list.capacity();
        std::mem::replace(&mut self.list, String::with_capacity(capacity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_string_once_in_insertion_order() {
        let mut set = StrSet::new('\n');
        assert!(set.insert("b"));
        assert!(set.insert("a"));
        assert!(!set.insert("b"));
        assert!(set.insert(""));
        assert_eq!(set.take_list(), "b\na\n\n");
        assert!(set.insert("b"));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_hash_set(items in proptest::collection::vec("[a-c]{0,3}", 0..60)) {
            let mut set = StrSet::new('|');
            let mut model = std::collections::HashSet::new();
            for s in &items {
                proptest::prop_assert_eq!(set.insert(s), model.insert(s.clone()));
            }
            let list = set.take_list();
            let listed: Vec<&str> = list.split_terminator('|').collect();
            proptest::prop_assert_eq!(listed.len(), model.len());
            proptest::prop_assert!(listed.iter().all(|s| model.contains(*s)));
        }
    }
}
