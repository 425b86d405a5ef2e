//! Globs and IP ranges, prepared once at load time.
//!
//! In a path field `*` matches within one path component and `**` matches
//! across `/`; in any other field `*` matches any text. A glob is translated
//! to an anchored regular expression, and every glob of one `in [...]` list
//! shares one expression, so that matching a value against the whole list is
//! a single automaton pass.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use protocol::PatternSet;
use regex::Regex;

/// Translates a SECL glob to an anchored regular expression body.
pub fn glob_to_regex(pattern: &str, path: bool) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '*' {
            out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            continue;
        }
        let double = chars.peek() == Some(&'*');
        if double {
            while chars.peek() == Some(&'*') {
                chars.next();
            }
        }
        // A file name may contain any byte but `/` and NUL, newlines included.
        if path && !double {
            out.push_str("[^/]*");
        } else {
            out.push_str("(?s:.*)");
        }
    }
    out
}

/// FNV-1a, faster than SipHash on short keys; the keys are policy strings,
/// not input an attacker chooses freely, so flooding is not a concern.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Sets at most this large are compared one by one instead of hashed.
const LINEAR_LIMIT: usize = 8;

/// A set of strings and globs, matched as a whole.
#[derive(Debug, Clone)]
pub struct StrSet {
    exact: HashSet<String, BuildHasherDefault<Fnv>>,
    /// The exact values when there are few, compared without hashing.
    few: Vec<String>,
    patterns: Option<Regex>,
    /// The literal start of every value and glob, `None` when a regular
    /// expression is present (see [`StrSet::prefixes`]).
    prefixes: Option<Vec<String>>,
    /// The strings, globs and regular expressions the set was built from.
    source: PatternSet,
}

impl StrSet {
    /// Builds the set; fails when a regular expression is invalid.
    pub fn new(
        exact: Vec<String>,
        globs: &[String],
        regexes: &[String],
        path: bool,
    ) -> Result<StrSet, String> {
        let mut alternatives: Vec<String> =
            globs.iter().map(|glob| glob_to_regex(glob, path)).collect();
        alternatives.extend(regexes.iter().map(|regex| format!("(?:{regex})")));
        let patterns = if alternatives.is_empty() {
            None
        } else {
            let text = if regexes.is_empty() {
                format!("^(?:{})$", alternatives.join("|"))
            } else {
                // Regular expressions are searched, not anchored, as in SECL;
                // globs keep their own anchors.
                let anchored: Vec<String> = alternatives
                    .iter()
                    .enumerate()
                    .map(|(index, alt)| {
                        if index < globs.len() {
                            format!("^{alt}$")
                        } else {
                            alt.clone()
                        }
                    })
                    .collect();
                anchored.join("|")
            };
            let regex = regex::RegexBuilder::new(&text)
                .size_limit(32 << 20)
                .build()
                .map_err(|error| error.to_string())?;
            Some(regex)
        };
        let prefixes = regexes.is_empty().then(|| {
            let glob_prefixes = globs
                .iter()
                .map(|glob| glob.split('*').next().unwrap_or_default().to_string());
            exact.iter().cloned().chain(glob_prefixes).collect()
        });
        let source = PatternSet {
            exact: exact.clone(),
            globs: globs.to_vec(),
            regexes: regexes.to_vec(),
        };
        let few = if exact.len() <= LINEAR_LIMIT {
            exact.clone()
        } else {
            Vec::new()
        };
        let exact = if exact.len() > LINEAR_LIMIT {
            exact.into_iter().collect()
        } else {
            HashSet::default()
        };
        Ok(StrSet {
            exact,
            few,
            patterns,
            prefixes,
            source,
        })
    }

    /// Builds the set of a [`PatternSet`], as [`StrSet::new`] does.
    #[cfg(test)]
    pub fn from_source(source: &PatternSet, path: bool) -> Result<StrSet, String> {
        StrSet::new(source.exact.clone(), &source.globs, &source.regexes, path)
    }

    /// Returns the strings, globs and regular expressions of the set.
    pub fn source(&self) -> &PatternSet {
        &self.source
    }

    /// Returns true when `value` equals one of the strings or matches a glob.
    pub fn contains(&self, value: &str) -> bool {
        let exact = if self.exact.is_empty() {
            self.few.iter().any(|item| item == value)
        } else {
            self.exact.contains(value)
        };
        exact
            || self
                .patterns
                .as_ref()
                .is_some_and(|regex| regex.is_match(value))
    }

    /// Returns the literal prefix of each string and glob: a value in the
    /// set starts with one of them. `None` when the set has a regular
    /// expression, which has no such prefix.
    pub fn prefixes(&self) -> Option<Vec<String>> {
        self.prefixes.clone()
    }
}

/// An IP address range (`10.0.0.0/8`, `::1/128`); a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Parses an address or CIDR range.
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let network: IpAddr = address.parse().ok()?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some(Cidr { network, prefix })
}

impl Cidr {
    /// Returns true when `address` lies in the range.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(address)) => address
                .to_ipv4_mapped()
                .is_some_and(|mapped| self.contains(IpAddr::V4(mapped))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob_matches(glob: &str, path: bool, value: &str) -> bool {
        StrSet::new(Vec::new(), &[glob.to_string()], &[], path)
            .unwrap()
            .contains(value)
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("/etc/*", true, "/etc/passwd", true),
            ("/etc/*", true, "/etc/ssh/sshd_config", false),
            ("/etc/**", true, "/etc/ssh/sshd_config", true),
            ("/home/*/.ssh/id_rsa", true, "/home/alice/.ssh/id_rsa", true),
            ("/home/*/.ssh/id_rsa", true, "/home/a/b/.ssh/id_rsa", false),
            ("*id_rsa*", false, "/root/.ssh/id_rsa.pub", true),
            ("*id_rsa*", true, "/root/.ssh/id_rsa.pub", false),
            ("*.minexmr.com", false, "pool.minexmr.com", true),
            ("*.minexmr.com", false, "minexmr.com", false),
            ("/usr/bin/*", true, "/usr/bin/", true),
            ("a.b", false, "axb", false),
            (
                "/var/run/secrets/**/token",
                true,
                "/var/run/secrets/x/y/token",
                true,
            ),
            ("(x)+", false, "(x)+", true),
            ("/tmp/**", true, "/tmp/a\nb", true),
            ("/tmp/*", true, "/tmp/a\nb", true),
            ("*curl*", false, "x\ncurl", true),
            ("/tmp/*", true, "/tmp/a\n/b", false),
        ];
        for (glob, path, value, expected) in cases {
            assert_eq!(
                glob_matches(glob, path, value),
                expected,
                "{glob} on {value} (path {path})"
            );
        }
    }

    #[test]
    fn set_mixes_exact_and_globs() {
        let set = StrSet::new(
            vec!["sh".into(), "bash".into()],
            &["*sh".into()],
            &[],
            false,
        )
        .unwrap();
        assert!(set.contains("bash"));
        assert!(set.contains("zsh"));
        assert!(!set.contains("python"));
    }

    #[test]
    fn large_sets_and_prefixes() {
        let exact: Vec<String> = (0..20).map(|i| format!("/bin/tool{i}")).collect();
        let set = StrSet::new(exact, &["/etc/*".into()], &[], true).unwrap();
        assert!(set.contains("/bin/tool19"));
        assert!(!set.contains("/bin/tool20"));
        let prefixes = set.prefixes().unwrap();
        assert!(prefixes.contains(&"/etc/".to_string()));
        assert_eq!(prefixes.len(), 21);
        assert!(StrSet::new(Vec::new(), &[], &["x".into()], false)
            .unwrap()
            .prefixes()
            .is_none());
    }

    #[test]
    fn regexes_are_searched() {
        let set = StrSet::new(Vec::new(), &[], &["xmr.g".into()], false).unwrap();
        assert!(set.contains("run-xmrig-now"));
        assert!(StrSet::new(Vec::new(), &[], &["(".into()], false).is_err());
    }

    #[test]
    fn cidr_table() {
        let cases = [
            ("169.254.169.254/32", "169.254.169.254", true),
            ("169.254.169.254", "169.254.169.253", false),
            ("10.0.0.0/8", "10.200.1.1", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("fd00::/8", "fd00::1", true),
            ("fd00::/8", "fe80::1", false),
            ("127.0.0.0/8", "::ffff:127.0.0.1", true),
        ];
        for (range, address, expected) in cases {
            let cidr = parse_cidr(range).unwrap();
            assert_eq!(
                cidr.contains(address.parse().unwrap()),
                expected,
                "{address} in {range}"
            );
        }
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("1.2.3").is_none());
    }
}
