//! RADIUS over a stream (RFC 6613 §2.1, which RFC 6614 uses inside TLS): no framing of
//! its own; each packet's Length field says where it ends.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use proisp_radius::header::{HEADER_LEN, MAX_PACKET_LEN};

/// The stream carries a Length no RADIUS packet can have: the packets after it cannot be
/// found, so the connection must be closed (RFC 6613 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadLength(pub(crate) usize);

/// The length of the packet at the front of `buf` if it has arrived whole, `None` while
/// more octets are needed.
pub(crate) fn complete(buf: &[u8]) -> Result<Option<usize>, BadLength> {
    let Some(&[hi, lo]) = buf.get(2..4) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
        return Err(BadLength(len));
    }
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_end_where_their_length_says() {
        let mut two = vec![2, 7, 0, 20];
        two.extend([0; 16]);
        two.extend([3, 8, 0, 22]);
        assert_eq!(complete(&two), Ok(Some(20)));
        assert_eq!(complete(&two[20..]), Ok(None), "second packet incomplete");
        assert_eq!(complete(&two[..19]), Ok(None));
        assert_eq!(complete(&two[..3]), Ok(None));
        assert_eq!(complete(&[]), Ok(None));
    }

    #[test]
    fn impossible_lengths_end_the_stream() {
        assert_eq!(complete(&[2, 7, 0, 19]), Err(BadLength(19)));
        assert_eq!(complete(&[2, 7, 0x10, 1]), Err(BadLength(4097)));
        assert_eq!(complete(&[2, 7, 0, 0]), Err(BadLength(0)));
        assert!(complete(&[2, 7, 0x10, 0]).is_ok(), "4096 is allowed");
    }
}
