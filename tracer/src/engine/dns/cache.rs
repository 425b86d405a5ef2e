//! The resolved-name cache behind `connect.addr.hostname`: which name a
//! traced process resolved to an IP address, for as long as the answer's
//! TTL allows, with a size cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Maximum number of addresses kept. One lookup usually adds one to a few
/// addresses, so this covers thousands of recent lookups.
pub const MAX_ENTRIES: usize = 4096;

/// Shortest time an answer is kept, whatever its TTL. Answers with a TTL
/// of 0 or 1 s are common behind load balancers, and the connect that
/// follows a lookup can come a little later than the answer.
const MIN_TTL: Duration = Duration::from_secs(10);

/// Longest time an answer is kept (one day), whatever its TTL.
const MAX_TTL: Duration = Duration::from_secs(86_400);

/// A bounded map from IP address to the name that resolved to it.
#[derive(Debug, Default)]
pub struct HostnameCache {
    entries: HashMap<IpAddr, Entry>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    expires: Instant,
}

impl HostnameCache {
    /// Records that `name` resolved to `ip` with `ttl` seconds to live. A
    /// newer answer for the same address replaces the older one. When the
    /// cache is full, expired entries go first, then the entry closest to
    /// its expiry.
    pub fn insert(&mut self, ip: IpAddr, name: &str, ttl: u32, now: Instant) {
        let lifetime = Duration::from_secs(u64::from(ttl)).clamp(MIN_TTL, MAX_TTL);
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, entry| entry.expires > now);
            if self.entries.len() >= MAX_ENTRIES {
                self.evict_soonest();
            }
        }
        let entry = Entry {
            name: name.to_string(),
            expires: now + lifetime,
        };
        self.entries.insert(ip, entry);
    }

    /// Returns the name that resolved to `ip`, unless its answer expired.
    pub fn lookup(&self, ip: IpAddr, now: Instant) -> Option<&str> {
        self.entries
            .get(&ip)
            .filter(|entry| entry.expires > now)
            .map(|entry| entry.name.as_str())
    }

    /// Returns the number of entries, expired ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict_soonest(&mut self) {
        let soonest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.expires)
            .map(|(ip, _)| *ip);
        if let Some(ip) = soonest {
            self.entries.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + last))
    }

    #[test]
    fn lookup_finds_name_until_ttl() {
        let mut cache = HostnameCache::default();
        let now = Instant::now();
        cache.insert(ip(1), "a.example", 60, now);
        assert_eq!(cache.lookup(ip(1), now), Some("a.example"));
        assert_eq!(
            cache.lookup(ip(1), now + Duration::from_secs(59)),
            Some("a.example")
        );
        assert_eq!(cache.lookup(ip(1), now + Duration::from_secs(61)), None);
        assert_eq!(cache.lookup(ip(2), now), None);
    }

    #[test]
    fn zero_ttl_lasts_the_minimum() {
        let mut cache = HostnameCache::default();
        let now = Instant::now();
        cache.insert(ip(1), "a.example", 0, now);
        assert_eq!(
            cache.lookup(ip(1), now + Duration::from_secs(5)),
            Some("a.example")
        );
        assert_eq!(cache.lookup(ip(1), now + MIN_TTL), None);
    }

    #[test]
    fn newer_answer_replaces_name() {
        let mut cache = HostnameCache::default();
        let now = Instant::now();
        cache.insert(ip(1), "a.example", 60, now);
        cache.insert(ip(1), "b.example", 60, now);
        assert_eq!(cache.lookup(ip(1), now), Some("b.example"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn size_stays_capped() {
        let mut cache = HostnameCache::default();
        let now = Instant::now();
        for index in 0..(MAX_ENTRIES as u32 + 100) {
            cache.insert(ip(index), "x.example", 60 + index, now);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // The entries closest to expiry (the first inserted) went first.
        assert_eq!(cache.lookup(ip(0), now), None);
        assert_eq!(
            cache.lookup(ip(MAX_ENTRIES as u32 + 99), now),
            Some("x.example")
        );
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let mut cache = HostnameCache::default();
        let start = Instant::now();
        cache.insert(ip(0), "old.example", 0, start);
        for index in 1..MAX_ENTRIES as u32 {
            cache.insert(ip(index), "x.example", 3600, start);
        }
        let later = start + Duration::from_secs(60);
        cache.insert(ip(999_999), "new.example", 60, later);
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert_eq!(cache.lookup(ip(1), later), Some("x.example"));
        assert_eq!(cache.lookup(ip(999_999), later), Some("new.example"));
    }
}
