//! Hash maps keyed by thread or process id.
//!
//! The stop loop looks up its tracee and process tables several times per
//! stop, and the standard SipHash cost about a tenth of the tracer's
//! instructions per traced open (callgrind, open/close loop). SipHash
//! protects against keys an attacker picks to collide. Pids are assigned by
//! the kernel, mostly in sequence, so a multiplicative hash is enough here.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// 2^64 divided by the golden ratio, the usual odd multiplier of Fibonacci hashing.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// A map from a thread or process id.
pub type PidMap<V> = HashMap<u32, V, BuildHasherDefault<PidHasher>>;

/// A set of thread or process ids.
pub type PidSet = HashSet<u32, BuildHasherDefault<PidHasher>>;

/// Multiplicative hasher for `u32` ids. The low bits of the product spread
/// consecutive ids over distinct buckets, and the high bits, which the
/// standard map uses as tags, mix every bit of the id.
#[derive(Debug, Default, Clone, Copy)]
pub struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(MULTIPLIER);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0 ^ u64::from(value)).wrapping_mul(MULTIPLIER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_stores_and_finds_ids() {
        let mut map: PidMap<u32> = PidMap::default();
        for pid in 1..5000 {
            map.insert(pid, pid * 2);
        }
        assert_eq!(map.len(), 4999);
        assert_eq!(map.get(&4321), Some(&8642));
        assert_eq!(map.get(&5000), None);
        map.retain(|pid, _| pid % 2 == 0);
        assert_eq!(map.len(), 2499);
        assert!(!map.contains_key(&4321));
    }

    #[test]
    fn consecutive_ids_hash_apart() {
        let hash = |value: u32| {
            let mut hasher = PidHasher::default();
            hasher.write_u32(value);
            hasher.finish()
        };
        assert_ne!(hash(1) & 0xff, hash(2) & 0xff);
        assert_ne!(hash(1) >> 57, hash(2) >> 57);
    }
}
