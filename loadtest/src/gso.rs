//! Sending several datagrams to one peer in one system call, with Linux UDP segmentation
//! offload (`UDP_SEGMENT`, kernel 4.18+).
//!
//! On this project's machines a loopback datagram costs a few microseconds of kernel time,
//! most of it the system call and the IP output path, and the receiving socket's
//! processing runs in the sender's context too. With GSO the kernel takes one buffer of
//! equal-sized datagrams, runs the output path once and splits it on delivery: a receiver
//! without `UDP_GRO` still gets ordinary, separate datagrams, so the server under test
//! sees exactly what it would from one-at-a-time sends. This is what lets one core drive
//! well over 150,000 requests/s.
//!
//! The control message is built as bytes (no `unsafe`, no libc): a `cmsghdr` of a
//! 64-bit `cmsg_len`, `cmsg_level = SOL_UDP`, `cmsg_type = UDP_SEGMENT`, then the `u16`
//! segment size, padded to `CMSG_SPACE(2)`. Where that layout does not apply (not Linux,
//! not 64-bit) or the kernel refuses it, datagrams go out one by one.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{MsgHdr, SockAddr, SockRef};

/// Most datagrams per GSO send (the kernel's UDP_MAX_SEGMENTS is 64 on older kernels).
pub(crate) const MAX_SEGMENTS: usize = 32;

/// `SOL_UDP` (= `IPPROTO_UDP`).
const SOL_UDP: i32 = 17;
/// `UDP_SEGMENT` from `<linux/udp.h>`.
const UDP_SEGMENT: i32 = 103;
/// `CMSG_LEN(sizeof(u16))` and `CMSG_SPACE(sizeof(u16))` on 64-bit Linux.
const CMSG_LEN: usize = 16 + 2;
const CMSG_SPACE: usize = 24;

/// Whether GSO is worth trying on this platform; cleared at run time if the kernel
/// refuses it.
static ENABLED: AtomicBool =
    AtomicBool::new(cfg!(all(target_os = "linux", target_pointer_width = "64")));

/// Turns GSO off for the rest of the process (`--no-gso`, or a kernel that refused it).
pub(crate) fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

/// Whether GSO is in use.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn segment_cmsg(size: u16) -> [u8; CMSG_SPACE] {
    let mut c = [0u8; CMSG_SPACE];
    c[0..8].copy_from_slice(&(CMSG_LEN as u64).to_ne_bytes());
    c[8..12].copy_from_slice(&SOL_UDP.to_ne_bytes());
    c[12..16].copy_from_slice(&UDP_SEGMENT.to_ne_bytes());
    c[16..18].copy_from_slice(&size.to_ne_bytes());
    c
}

/// The runs one batch goes out in: consecutive datagrams of one size, at most
/// [`MAX_SEGMENTS`] long, where the last of a run may be shorter (GSO allows that).
/// Returns (first index, count, segment size).
pub(crate) fn runs(lens: &[usize]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let &size = lens.get(i)?;
        let start = i;
        i += 1;
        while i < lens.len() && i - start < MAX_SEGMENTS {
            match lens[i] {
                l if l == size => i += 1,
                // A shorter datagram may close the run.
                l if l < size => {
                    i += 1;
                    break;
                }
                _ => break,
            }
        }
        Some((start, i - start, size))
    })
}

/// Sends the datagrams of `data` (back to back, of lengths `lens`) to `to`, or to the
/// connected peer when `to` is None. Returns how many went out before the first failure
/// and that failure, if any.
pub(crate) fn send_all(
    socket: &UdpSocket,
    to: Option<SocketAddr>,
    data: &[u8],
    lens: &[usize],
) -> (usize, Option<io::Error>) {
    let sock = SockRef::from(socket);
    let addr = to.map(SockAddr::from);
    let mut offset = 0;
    let mut sent = 0;
    for (first, count, size) in runs(lens) {
        let bytes: usize = lens[first..first + count].iter().sum();
        let chunk = &data[offset..offset + bytes];
        let result = if count > 1 && enabled() && size <= usize::from(u16::MAX) {
            let cmsg = segment_cmsg(size as u16);
            let bufs = [IoSlice::new(chunk)];
            let mut msg = MsgHdr::new().with_buffers(&bufs).with_control(&cmsg);
            if let Some(a) = &addr {
                msg = msg.with_addr(a);
            }
            match sock.sendmsg(&msg, 0) {
                // EIO, EINVAL, ENOPROTOOPT: this kernel or device will not segment.
                Err(e) if matches!(e.raw_os_error(), Some(5 | 22 | 92 | 95)) => {
                    disable();
                    send_each(socket, to, chunk, &lens[first..first + count])
                }
                other => other.map(|_| ()),
            }
        } else {
            send_each(socket, to, chunk, &lens[first..first + count])
        };
        if let Err(e) = result {
            return (sent, Some(e));
        }
        sent += count;
        offset += bytes;
    }
    (sent, None)
}

fn send_each(
    socket: &UdpSocket,
    to: Option<SocketAddr>,
    data: &[u8],
    lens: &[usize],
) -> io::Result<()> {
    let mut offset = 0;
    for &len in lens {
        let d = &data[offset..offset + len];
        match to {
            Some(a) => socket.send_to(d, a)?,
            None => socket.send(d)?,
        };
        offset += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn runs_group_equal_sizes_and_may_end_short() {
        let runs_of = |lens: &[usize]| runs(lens).collect::<Vec<_>>();
        assert_eq!(runs_of(&[]), vec![]);
        assert_eq!(runs_of(&[100, 100, 100]), vec![(0, 3, 100)]);
        assert_eq!(
            runs_of(&[100, 100, 60, 100]),
            vec![(0, 3, 100), (3, 1, 100)]
        );
        assert_eq!(runs_of(&[60, 100, 100]), vec![(0, 1, 60), (1, 2, 100)]);
        let many = vec![50; 70];
        assert_eq!(runs_of(&many), vec![(0, 32, 50), (32, 32, 50), (64, 6, 50)]);
    }

    #[test]
    fn the_control_message_is_a_udp_segment_cmsghdr() {
        let c = segment_cmsg(0x0123);
        assert_eq!(u64::from_ne_bytes(c[0..8].try_into().unwrap()), 18);
        assert_eq!(i32::from_ne_bytes(c[8..12].try_into().unwrap()), 17);
        assert_eq!(i32::from_ne_bytes(c[12..16].try_into().unwrap()), 103);
        assert_eq!(u16::from_ne_bytes(c[16..18].try_into().unwrap()), 0x0123);
    }

    #[test]
    fn a_batch_arrives_as_separate_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        let data = b"aaaabbbbccccdd".to_vec();
        let lens = [4, 4, 4, 2];
        assert_eq!(send_all(&tx, None, &data, &lens).0, 4);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        for _ in 0..4 {
            let n = rx.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(
            got,
            vec![
                b"aaaa".to_vec(),
                b"bbbb".to_vec(),
                b"cccc".to_vec(),
                b"dd".to_vec()
            ]
        );
        // Addressed sends (the null server's replies) too.
        let unconnected = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        assert_eq!(send_all(&unconnected, Some(to), b"xyxy", &[2, 2]).0, 2);
        assert_eq!(rx.recv(&mut buf).unwrap(), 2);
        assert_eq!(rx.recv(&mut buf).unwrap(), 2);
    }
}
