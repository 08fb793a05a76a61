//! Fixed-size bit sets over variant and literal ids: the engine combines
//! routing, prefilter and candidate sets word by word.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub fn new(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Empties the set and sizes it for `len` ids, reusing the allocation.
    pub fn reset(&mut self, len: usize) {
        self.words.clear();
        self.words.resize(len.div_ceil(64), 0);
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Adds `i`; returns whether it was already there.
    pub fn insert(&mut self, i: usize) -> bool {
        let (word, mask) = (i / 64, 1u64 << (i % 64));
        let was = self.words[word] & mask != 0;
        self.words[word] |= mask;
        was
    }

    pub fn union_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// Keeps the ids that are in `a` or in `b`.
    pub fn intersect_with_union(&mut self, a: &Bits, b: &Bits) {
        for ((w, x), y) in self.words.iter_mut().zip(&a.words).zip(&b.words) {
            *w &= x | y;
        }
    }

    pub fn intersects(&self, other: &Bits) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    wi * 64 + bit
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = Bits::new(130);
        assert!(!a.insert(3));
        assert!(a.insert(3));
        a.insert(129);
        let mut b = Bits::new(130);
        b.insert(64);
        assert!(!a.intersects(&b));
        a.union_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![3, 64, 129]);
        let mut keep = Bits::new(130);
        keep.insert(129);
        a.intersect_with_union(&keep, &b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![64, 129]);
        a.reset(130);
        assert!(a.is_empty());
    }
}
