//! A defensive parser for DNS messages (RFC 1035 section 4): the header,
//! the first question, and the A and AAAA records of the answer section.
//!
//! The bytes come from tracee memory, so any of them may be hostile. Every
//! read is bounds-checked, and a compressed name may only jump to an offset
//! lower than every offset it has visited, so each jump moves strictly
//! backwards and a pointer loop ends with [`ParseError::PointerLoop`].
//! Counts in the header are capped, so a forged count cannot make the parser
//! loop for long.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of the fixed DNS header.
pub const HEADER_LEN: usize = 12;

/// Maximum length of a name on the wire, labels and length bytes included
/// (RFC 1035 section 2.3.4).
const MAX_NAME_WIRE_LEN: usize = 255;

/// Maximum number of compression pointers followed in one name.
const MAX_POINTER_JUMPS: usize = 64;

/// Maximum number of questions skipped before the answer section.
const MAX_QUESTIONS: u16 = 16;

/// Maximum number of answer records read from one response.
const MAX_ANSWERS: u16 = 256;

/// Record type of an IPv4 address.
pub const TYPE_A: u16 = 1;
/// Record type of an IPv6 address.
pub const TYPE_AAAA: u16 = 28;
/// Record class of the Internet.
const CLASS_IN: u16 = 1;

/// Errors from parsing a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message ends before the field at this offset.
    #[error("message truncated at offset {offset}")]
    Truncated {
        /// Offset of the field that does not fit.
        offset: usize,
    },
    /// A compression pointer does not point backwards, or too many follow.
    #[error("compression pointer loop at offset {offset}")]
    PointerLoop {
        /// Offset of the rejected pointer.
        offset: usize,
    },
    /// A name is longer than 255 bytes on the wire.
    #[error("name longer than {MAX_NAME_WIRE_LEN} bytes at offset {offset}")]
    NameTooLong {
        /// Offset where the name starts.
        offset: usize,
    },
    /// A label length byte uses the reserved prefixes 0b01 or 0b10.
    #[error("invalid label type {byte:#04x} at offset {offset}")]
    InvalidLabel {
        /// The length byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
}

/// The question section entry of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Question {
    /// Dotted name, lowercased, without the trailing dot.
    pub name: String,
    /// Query type.
    pub qtype: u16,
    /// Query class.
    pub class: u16,
}

/// An address record of the answer section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRecord {
    /// The address.
    pub ip: IpAddr,
    /// Time to live in seconds.
    pub ttl: u32,
}

/// The parts of a DNS message the tracer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Transaction id.
    pub id: u16,
    /// True for a response (QR bit set).
    pub is_response: bool,
    /// Response code (the low 4 bits of the flags).
    pub rcode: u8,
    /// Number of questions announced in the header.
    pub question_count: u16,
    /// The first question, when the header announces one.
    pub question: Option<Question>,
    /// The A and AAAA records of the answer section, of class IN. A CNAME
    /// chain is not followed: every address answers the question.
    pub addresses: Vec<AddressRecord>,
    /// Size of the message in bytes.
    pub length: usize,
}

/// Parses a whole message. Returns an error when the header or the
/// questions are malformed; a malformed answer section ends the list of
/// addresses early instead.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let mut reader = Reader { bytes, offset: 0 };
    let id = reader.u16()?;
    let flags = reader.u16()?;
    let question_count = reader.u16()?;
    let answer_count = reader.u16()?;
    reader.skip(4)?;
    let mut message = Message {
        id,
        is_response: flags & 0x8000 != 0,
        rcode: (flags & 0x000f) as u8,
        question_count,
        length: bytes.len(),
        ..Message::default()
    };
    for index in 0..question_count.min(MAX_QUESTIONS) {
        let name = read_name(bytes, reader.offset)?;
        reader.offset = name.end;
        let qtype = reader.u16()?;
        let class = reader.u16()?;
        if index == 0 {
            message.question = Some(Question {
                name: name.text,
                qtype,
                class,
            });
        }
    }
    if message.is_response && question_count <= MAX_QUESTIONS {
        message.addresses = read_addresses(&mut reader, answer_count.min(MAX_ANSWERS));
    }
    Ok(message)
}

/// Reads the address records among `count` resource records, stopping at
/// the first malformed one.
fn read_addresses(reader: &mut Reader<'_>, count: u16) -> Vec<AddressRecord> {
    let mut addresses = Vec::new();
    for _ in 0..count {
        let Ok(record) = read_record(reader) else {
            break;
        };
        if let Some(address) = record {
            addresses.push(address);
        }
    }
    addresses
}

/// Reads one resource record; returns the address when it is an A or AAAA
/// record of class IN with data of the right size.
fn read_record(reader: &mut Reader<'_>) -> Result<Option<AddressRecord>, ParseError> {
    let name = read_name(reader.bytes, reader.offset)?;
    reader.offset = name.end;
    let rtype = reader.u16()?;
    let class = reader.u16()?;
    let ttl = reader.u32()?;
    let data_len = usize::from(reader.u16()?);
    let data = reader.take(data_len)?;
    let ip = match (rtype, class, data.len()) {
        (TYPE_A, CLASS_IN, 4) => IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
        (TYPE_AAAA, CLASS_IN, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(data);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Ok(None),
    };
    Ok(Some(AddressRecord { ip, ttl }))
}

/// A bounds-checked cursor over a message.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .offset
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ParseError::Truncated {
                offset: self.offset,
            })?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    fn skip(&mut self, length: usize) -> Result<(), ParseError> {
        self.take(length).map(drop)
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// A decoded name and the offset after it in the record that contains it.
struct Name {
    text: String,
    end: usize,
}

/// Decodes the possibly compressed name at `start`.
fn read_name(bytes: &[u8], start: usize) -> Result<Name, ParseError> {
    let mut text = String::new();
    let mut offset = start;
    // The lowest offset visited: a pointer must jump below it.
    let mut lowest = start;
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 0;
    loop {
        let &length = bytes.get(offset).ok_or(ParseError::Truncated { offset })?;
        match length & 0xc0 {
            0xc0 => {
                let &low = bytes
                    .get(offset + 1)
                    .ok_or(ParseError::Truncated { offset })?;
                let target = usize::from(length & 0x3f) << 8 | usize::from(low);
                jumps += 1;
                if target >= lowest || jumps > MAX_POINTER_JUMPS {
                    return Err(ParseError::PointerLoop { offset });
                }
                end.get_or_insert(offset + 2);
                offset = target;
                lowest = target;
            }
            0x00 if length == 0 => {
                let end = end.unwrap_or(offset + 1);
                return Ok(Name { text, end });
            }
            0x00 => {
                let length = usize::from(length);
                wire_len += length + 1;
                if wire_len + 1 > MAX_NAME_WIRE_LEN {
                    return Err(ParseError::NameTooLong { offset: start });
                }
                let label = bytes
                    .get(offset + 1..offset + 1 + length)
                    .ok_or(ParseError::Truncated { offset })?;
                if !text.is_empty() {
                    text.push('.');
                }
                push_label(&mut text, label);
                offset += 1 + length;
            }
            _ => {
                return Err(ParseError::InvalidLabel {
                    byte: length,
                    offset,
                })
            }
        }
    }
}

/// Appends a label in presentation form: ASCII letters lowercased, and
/// dots, backslashes and bytes outside printable ASCII as `\DDD`.
fn push_label(text: &mut String, label: &[u8]) {
    for &byte in label {
        match byte {
            b'.' | b'\\' => {
                let _ = write!(text, "\\{byte:03}");
            }
            0x21..=0x7e => text.push(char::from(byte.to_ascii_lowercase())),
            _ => {
                let _ = write!(text, "\\{byte:03}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a dotted name without compression.
    fn encode_name(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.').filter(|label| !label.is_empty()) {
            out.push(label.len() as u8);
            out.extend(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend(encode_name(name));
        out.extend(qtype.to_be_bytes());
        out.extend(1u16.to_be_bytes());
        out
    }

    /// Builds a response to `query` with one A record whose name is a
    /// pointer to the question name at offset 12.
    fn response(query: &[u8], ip: [u8; 4], ttl: u32) -> Vec<u8> {
        let mut out = query.to_vec();
        out[2] = 0x81;
        out[3] = 0x80;
        out[7] = 1;
        out.extend([0xc0, 12, 0, 1, 0, 1]);
        out.extend(ttl.to_be_bytes());
        out.extend([0, 4]);
        out.extend(ip);
        out
    }

    #[test]
    fn query_question_is_read() {
        let bytes = query(0x1234, "Example.COM", 28);
        let message = parse(&bytes).unwrap();
        assert_eq!(message.id, 0x1234);
        assert!(!message.is_response);
        assert_eq!(message.question_count, 1);
        assert_eq!(message.length, bytes.len());
        let question = message.question.unwrap();
        assert_eq!(question.name, "example.com");
        assert_eq!(question.qtype, 28);
        assert_eq!(question.class, 1);
    }

    #[test]
    fn response_addresses_follow_pointers() {
        let bytes = response(&query(7, "a.example", 1), [10, 0, 0, 7], 300);
        let message = parse(&bytes).unwrap();
        assert!(message.is_response);
        assert_eq!(message.rcode, 0);
        let expected = AddressRecord {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            ttl: 300,
        };
        assert_eq!(message.addresses, vec![expected]);
    }

    #[test]
    fn every_truncation_is_an_error_or_shorter() {
        let bytes = response(&query(7, "a.example", 1), [10, 0, 0, 7], 300);
        for length in 0..bytes.len() {
            if let Ok(message) = parse(&bytes[..length]) {
                assert!(message.addresses.is_empty(), "length {length}");
            }
        }
    }

    #[test]
    fn pointer_to_itself_is_a_loop() {
        let mut bytes = query(1, "", 1);
        bytes.truncate(HEADER_LEN);
        bytes.extend([0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&bytes), Err(ParseError::PointerLoop { offset: 12 }));
    }

    #[test]
    fn forward_pointer_is_rejected() {
        let mut bytes = query(1, "", 1);
        bytes.truncate(HEADER_LEN);
        bytes.extend([0xc0, 14, 1, b'a', 0, 0, 1, 0, 1]);
        assert_eq!(parse(&bytes), Err(ParseError::PointerLoop { offset: 12 }));
    }

    #[test]
    fn two_pointer_cycle_is_a_loop() {
        // The question name points back into the header, whose bytes read
        // as a label followed by a pointer to the question again.
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, b'x'];
        bytes.extend([0xc0, 10, 0, 1, 0, 1]);
        assert!(matches!(
            parse(&bytes),
            Err(ParseError::PointerLoop { .. } | ParseError::Truncated { .. })
        ));
    }

    #[test]
    fn long_name_is_rejected() {
        let name = vec!["a".repeat(63); 5].join(".");
        let bytes = query(1, &name, 1);
        assert!(matches!(parse(&bytes), Err(ParseError::NameTooLong { .. })));
    }

    #[test]
    fn reserved_label_type_is_rejected() {
        let mut bytes = query(1, "", 1);
        bytes.truncate(HEADER_LEN);
        bytes.extend([0x40, 0, 0, 1, 0, 1]);
        assert!(matches!(
            parse(&bytes),
            Err(ParseError::InvalidLabel { byte: 0x40, .. })
        ));
    }

    #[test]
    fn unusual_bytes_are_escaped() {
        let mut bytes = query(1, "", 1);
        bytes.truncate(HEADER_LEN);
        bytes.extend([3, b'a', b'.', 0xff, 0, 0, 1, 0, 1]);
        let question = parse(&bytes).unwrap().question.unwrap();
        assert_eq!(question.name, "a\\046\\255");
    }

    #[test]
    fn forged_answer_count_stops_at_the_end() {
        let mut bytes = response(&query(7, "a.example", 1), [10, 0, 0, 7], 300);
        bytes[6] = 0xff;
        bytes[7] = 0xff;
        let message = parse(&bytes).unwrap();
        assert_eq!(message.addresses.len(), 1);
    }

    /// Mutates a valid response at random, many times: parsing never
    /// panics, and returns at most [`MAX_ANSWERS`] addresses.
    #[test]
    fn random_mutations_never_panic() {
        let valid = response(&query(7, "a.example", 1), [10, 0, 0, 7], 300);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let mut bytes = valid.clone();
            for _ in 0..1 + next() % 4 {
                let index = (next() % bytes.len() as u64) as usize;
                bytes[index] = next() as u8;
            }
            let length = bytes.len() - (next() % 8) as usize;
            if let Ok(message) = parse(&bytes[..length]) {
                assert!(message.addresses.len() <= usize::from(MAX_ANSWERS));
            }
        }
    }

    #[test]
    fn aaaa_record_is_read() {
        let mut bytes = query(9, "six.example", 28);
        bytes[2] = 0x81;
        bytes[7] = 1;
        bytes.extend([0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        bytes.extend([0x20, 0x01, 0x0d, 0xb8]);
        bytes.extend([0; 11]);
        bytes.push(1);
        let message = parse(&bytes).unwrap();
        assert_eq!(message.addresses.len(), 1);
        assert_eq!(message.addresses[0].ip.to_string(), "2001:db8::1");
        assert_eq!(message.addresses[0].ttl, 60);
    }
}
