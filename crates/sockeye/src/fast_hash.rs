//! A small, fast hasher for maps whose keys the server chooses (handler names, ack ids).
//!
//! FNV-1a: a multiply and a xor per byte, no per-map random state (so such a map is 16 bytes
//! smaller than with `RandomState`). It is not resistant to chosen collisions; keys that
//! clients choose and that grow a map (room names, say) keep the standard hasher. Looking up a
//! client's key in a map the server filled is fine: the client cannot add colliding keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, 64 bits.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        // One round for an integer key: spread it with a multiply (ack ids are sequential).
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`Fnv`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_spread_keys() {
        let mut m: FastMap<Box<str>, usize> = FastMap::default();
        for i in 0..1000 {
            m.insert(format!("event-{i}").into(), i);
        }
        assert_eq!(m.get("event-500"), Some(&500));
        assert_eq!(m.get("event-1000"), None);
        let mut acks: FastMap<u64, u64> = FastMap::default();
        for i in 0..1000 {
            acks.insert(i, i * 2);
        }
        assert_eq!(acks.get(&999), Some(&1998));
        // Sequential ids land in different buckets (the high bits differ).
        let hashes: std::collections::HashSet<u64> = (0..1000u64)
            .map(|i| {
                let mut h = Fnv::default();
                h.write_u64(i);
                h.finish() >> 57
            })
            .collect();
        assert!(hashes.len() > 64);
    }
}
