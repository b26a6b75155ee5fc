//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)`.
//!
//! The only module of the workspace with `unsafe` (STYLE.md): both calls take arrays of
//! `mmsghdr` that point into buffers, addresses and `iovec`s, which no safe wrapper we
//! depend on offers for many destinations at once. Under load one `recvmmsg` takes up to
//! [`BATCH`] requests and one `sendmmsg` sends their replies, instead of two system calls
//! (and, on loopback, two trips through the network stack's entry) per request.
//!
//! Safety rests on three things, each checked where it is used: every pointer handed to
//! the kernel points into memory borrowed for the whole call (the buffers live in
//! `self`, the headers on the stack of the call); every length given is the length of
//! what it points at; and what the kernel writes back (`msg_len`, `msg_namelen`) is
//! clamped to those lengths before it is used to slice.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::Bytes;

/// Datagrams received or sent per system call, at most.
pub(crate) const BATCH: usize = 32;

/// Size of each receive buffer: one octet more than the largest RADIUS packet, so an
/// oversized datagram is seen as such instead of silently cut to a valid length.
const SLOT: usize = proisp_shared::radius::header::MAX_PACKET_LEN + 1;

/// The arrays one call hands the kernel: each header points at its own address slot and
/// `iovec`. Filled in place on the caller's stack and used there, never moved after.
struct Headers {
    names: [libc::sockaddr_storage; BATCH],
    iovs: [libc::iovec; BATCH],
    hdrs: [libc::mmsghdr; BATCH],
}

impl Headers {
    fn new() -> Headers {
        // SAFETY: all-zero is a valid value for these plain C structs (null pointers,
        // zero lengths).
        unsafe { mem::zeroed() }
    }

    /// Points header `i` at `len` octets from `base` and at address slot `i`, of which
    /// `name_len` octets are used.
    fn point(&mut self, i: usize, base: *mut libc::c_void, len: usize, name_len: libc::socklen_t) {
        self.iovs[i] = libc::iovec {
            iov_base: base,
            iov_len: len,
        };
        let hdr = &mut self.hdrs[i].msg_hdr;
        hdr.msg_name = (&raw mut self.names[i]).cast();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &raw mut self.iovs[i];
        hdr.msg_iovlen = 1;
    }
}

/// Receive buffers for one socket, reused for every batch.
pub(crate) struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    lens: [usize; BATCH],
    addrs: [Option<SocketAddr>; BATCH],
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch").finish_non_exhaustive()
    }
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![[0u8; SLOT]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            addrs: [None; BATCH],
        }
    }

    /// Receives up to [`BATCH`] datagrams without blocking. `WouldBlock` when none is
    /// queued; otherwise the number received, at least one.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let mut h = Headers::new();
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            let name_len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.point(i, buf.as_mut_ptr().cast(), SLOT, name_len);
        }
        // SAFETY: `hdrs` holds BATCH headers, each pointing at its own live buffer of
        // SLOT octets (in `self.bufs`) and its own `sockaddr_storage` (in `names`), all
        // borrowed until the call returns; the kernel writes at most those lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                h.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(BATCH);
        for i in 0..n {
            self.lens[i] = (h.hdrs[i].msg_len as usize).min(SLOT);
            let len = h.hdrs[i].msg_hdr.msg_namelen as usize;
            self.addrs[i] = from_sockaddr(&h.names[i], len);
        }
        Ok(n)
    }

    /// Datagram `i` of the last batch and its source (`None` for an address family
    /// other than IPv4 and IPv6, which a UDP/IP socket does not produce).
    pub(crate) fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        (&self.bufs[i][..self.lens[i]], self.addrs[i])
    }
}

/// Replies waiting to be sent in one `sendmmsg`.
#[derive(Debug, Default)]
pub(crate) struct SendBatch {
    queue: Vec<(Bytes, SocketAddr)>,
    /// How many of `queue` have been sent.
    sent: usize,
}

impl SendBatch {
    pub(crate) fn push(&mut self, reply: Bytes, dst: SocketAddr) {
        self.queue.push((reply, dst));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.queue.len()
    }

    /// Forgets everything, sent or not.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.sent = 0;
    }

    /// Sends what is left, up to [`BATCH`] datagrams per call, without blocking.
    /// `WouldBlock` when the socket buffer is full. A datagram the kernel refuses for
    /// good (an unreachable destination) is skipped and its error returned once, so one
    /// bad destination never holds up the others.
    pub(crate) fn send(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        while !self.is_empty() {
            let pending = &self.queue[self.sent..];
            let count = pending.len().min(BATCH);
            let mut h = Headers::new();
            for (i, (reply, dst)) in pending.iter().take(count).enumerate() {
                let name_len = to_sockaddr(*dst, &mut h.names[i]);
                // The kernel only reads through it (sendmmsg).
                let base = reply.as_ptr().cast_mut().cast();
                h.point(i, base, reply.len(), name_len);
            }
            // SAFETY: `hdrs[..count]` point at `count` live replies (borrowed from
            // `self.queue`, unchanged during the call) with their lengths, and at
            // addresses of the lengths `to_sockaddr` wrote.
            let n = unsafe {
                libc::sendmmsg(
                    fd.as_raw_fd(),
                    h.hdrs.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => return Err(e),
                    // The first datagram failed for good: skip it, report it.
                    _ => {
                        self.sent += 1;
                        return Err(e);
                    }
                }
            }
            self.sent += (n as usize).clamp(1, count);
        }
        Ok(())
    }
}

fn from_sockaddr(storage: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET, length checked);
            // sockaddr_storage is large and aligned enough for every sockaddr type.
            let sin = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(&raw const *storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into `storage`; returns its length.
fn to_sockaddr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in,
            // and all-zero was a valid value of it before.
            let sin = unsafe { &mut *(&raw mut *storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut *storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    use super::*;

    fn pair(addr: &str) -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind(addr).unwrap();
        let b = UdpSocket::bind(addr).unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn round_trip(addr: &str) {
        let (server, client) = pair(addr);
        let server_addr = server.local_addr().unwrap();
        let mut rx = RecvBatch::new();
        assert_eq!(
            rx.recv(server.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let sent: Vec<Vec<u8>> = (0..BATCH + 3).map(|i| vec![i as u8; 20 + i]).collect();
        for d in &sent {
            client.send_to(d, server_addr).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let n = rx.recv(server.as_fd()).unwrap();
            assert!(n <= BATCH);
            for i in 0..n {
                let (data, src) = rx.get(i);
                assert_eq!(src, Some(client.local_addr().unwrap()));
                got.push(data.to_vec());
            }
        }
        assert_eq!(got, sent);

        let mut tx = SendBatch::default();
        for d in &sent {
            tx.push(Bytes::from(d.clone()), client.local_addr().unwrap());
        }
        tx.send(server.as_fd()).unwrap();
        assert!(tx.is_empty());
        let mut buf = [0u8; 256];
        for d in &sent {
            let (len, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..len], &d[..]);
            assert_eq!(from, server_addr);
        }
    }

    #[test]
    fn batches_round_trip_over_ipv4_and_ipv6() {
        round_trip("127.0.0.1:0");
        round_trip("[::1]:0");
    }

    #[test]
    fn an_oversized_datagram_is_seen_longer_than_any_packet() {
        let (server, client) = pair("127.0.0.1:0");
        client
            .send_to(&vec![7u8; SLOT + 100], server.local_addr().unwrap())
            .unwrap();
        let mut rx = RecvBatch::new();
        assert_eq!(rx.recv(server.as_fd()).unwrap(), 1);
        assert_eq!(rx.get(0).0.len(), SLOT);
    }

    #[test]
    fn an_unsendable_datagram_is_skipped_and_the_rest_go_out() {
        let (server, client) = pair("127.0.0.1:0");
        let mut tx = SendBatch::default();
        // An IPv6 destination on an IPv4 socket is refused for good.
        tx.push(Bytes::from_static(b"lost"), "[::1]:9".parse().unwrap());
        tx.push(Bytes::from_static(b"kept"), client.local_addr().unwrap());
        assert!(tx.send(server.as_fd()).is_err());
        assert!(!tx.is_empty());
        tx.send(server.as_fd()).unwrap();
        assert!(tx.is_empty());
        let mut buf = [0u8; 16];
        let (len, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"kept");
    }
}
