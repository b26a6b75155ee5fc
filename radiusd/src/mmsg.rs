//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)`, with UDP segmentation offload
//! for replies to one NAS.
//!
//! The only module of the workspace with `unsafe` (STYLE.md): both calls take arrays of
//! `mmsghdr` that point into buffers, addresses and `iovec`s, which no safe wrapper we
//! depend on offers for many destinations at once. Under load one `recvmmsg` takes up to
//! [`BATCH`] requests and one `sendmmsg` sends their replies, instead of two system calls
//! (and, on loopback, two trips through the network stack's entry) per request.
//!
//! Replies of one size to one address (a busy NAS sends from one port or a few, and
//! Access-Accepts of one plan are one size) go out as one GSO message (`UDP_SEGMENT`,
//! Linux 4.18+): the kernel runs its output path once for the lot and cuts it into
//! ordinary datagrams on the way out, so the NAS receives exactly what separate sends
//! would have given it. Where the kernel lacks the option the replies go one by one.
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

/// Datagrams received or sent per system call, at most.
pub(crate) const BATCH: usize = 32;

/// Size of each receive buffer: one octet more than the largest RADIUS packet, so an
/// oversized datagram is seen as such instead of silently cut to a valid length.
const SLOT: usize = proisp_radius::header::MAX_PACKET_LEN + 1;

/// `UDP_SEGMENT` from `<linux/udp.h>` (the libc crate has it only for other C libraries).
const UDP_SEGMENT: libc::c_int = 103;

/// Largest reply sent as a GSO segment: one that fits the IPv6 minimum MTU (1280 − 40 −
/// 8), because the kernel refuses a segment that would need fragmenting. Larger replies
/// (rare: an Access-Accept is a few hundred octets) go alone.
const MAX_SEGMENT_LEN: usize = 1232;

/// Room for one control message carrying a `u16` (`CMSG_SPACE(2)`).
// SAFETY: CMSG_SPACE is arithmetic on its argument; it is `unsafe` only by declaration.
const CONTROL_LEN: usize = unsafe { libc::CMSG_SPACE(size_of::<u16>() as libc::c_uint) } as usize;

/// A control-message buffer, aligned as `cmsghdr` must be.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

/// The arrays one call hands the kernel: header `i` points at address slot `i`, at one or
/// more consecutive `iovec`s and, for a GSO message, at control buffer `i`. Filled in
/// place on the caller's stack and used there, never moved after.
struct Headers {
    names: [libc::sockaddr_storage; BATCH],
    iovs: [libc::iovec; BATCH],
    hdrs: [libc::mmsghdr; BATCH],
    controls: [Control; BATCH],
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
        self.message(i, i, 1, name_len);
    }

    /// Points header `i` at address slot `i` (`name_len` octets used) and at the `count`
    /// `iovec`s from `first`, which the caller has filled.
    fn message(&mut self, i: usize, first: usize, count: usize, name_len: libc::socklen_t) {
        let hdr = &mut self.hdrs[i].msg_hdr;
        hdr.msg_name = (&raw mut self.names[i]).cast();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &raw mut self.iovs[first];
        hdr.msg_iovlen = count;
    }

    /// Makes header `i` a GSO message: its payload is cut into datagrams of `segment`
    /// octets (the last may be shorter).
    fn segment(&mut self, i: usize, segment: u16) {
        let control = &raw mut self.controls[i];
        let hdr = &mut self.hdrs[i].msg_hdr;
        hdr.msg_control = control.cast();
        hdr.msg_controllen = CONTROL_LEN;
        // SAFETY: `hdr` now points at control buffer `i`, CONTROL_LEN octets aligned for
        // `cmsghdr`, so CMSG_FIRSTHDR returns its start (non-null: the buffer holds a
        // header) and CMSG_DATA a place with room for the u16, written unaligned.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(hdr);
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as libc::c_uint) as usize;
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = UDP_SEGMENT;
            libc::CMSG_DATA(cmsg).cast::<u16>().write_unaligned(segment);
        }
    }
}

/// Whether the kernel knows `UDP_SEGMENT` on this socket (Linux 4.18+). Asked once per
/// socket: an older kernel would ignore the control message and send a whole group as
/// one datagram.
fn gso_supported(fd: BorrowedFd<'_>) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            UDP_SEGMENT,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    rc == 0
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

/// Where a queued reply's octets are in [`SendBatch::octets`], and where it goes.
#[derive(Debug, Clone, Copy)]
struct Queued {
    start: usize,
    len: usize,
    dst: SocketAddr,
}

/// Replies waiting to be sent in one `sendmmsg`. Their octets are copied into one buffer
/// of the batch's own, reused from batch to batch: queueing a reply allocates nothing.
#[derive(Debug)]
pub(crate) struct SendBatch {
    octets: Vec<u8>,
    queue: Vec<Queued>,
    /// How many of `queue` have been sent.
    sent: usize,
    /// Whether replies to one address may go as one GSO message.
    gso: bool,
    /// Replies before this index of `queue` go one by one: a GSO message of theirs failed.
    alone_until: usize,
}

impl SendBatch {
    /// Replies for `fd`, with GSO where its kernel supports it.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> SendBatch {
        SendBatch::with_gso(gso_supported(fd))
    }

    fn with_gso(gso: bool) -> SendBatch {
        SendBatch {
            octets: Vec::with_capacity(BATCH * 512),
            queue: Vec::with_capacity(BATCH),
            sent: 0,
            gso,
            alone_until: 0,
        }
    }

    /// Queues a copy of `reply` for `dst`.
    pub(crate) fn push(&mut self, reply: &[u8], dst: SocketAddr) {
        self.queue.push(Queued {
            start: self.octets.len(),
            len: reply.len(),
            dst,
        });
        self.octets.extend_from_slice(reply);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.queue.len()
    }

    /// Forgets everything, sent or not.
    pub(crate) fn clear(&mut self) {
        self.octets.clear();
        self.queue.clear();
        self.sent = 0;
        self.alone_until = 0;
    }

    /// Sends what is left, up to [`BATCH`] datagrams per call, without blocking.
    /// `WouldBlock` when the socket buffer is full. A datagram the kernel refuses for
    /// good (an unreachable destination) is skipped and its error returned once, so one
    /// bad destination never holds up the others.
    pub(crate) fn send(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.gso && self.sent == 0 && self.queue.len() > 1 {
            // Neighbours of one address and size make one GSO message. Order between
            // replies is nobody's concern: each answers its own request.
            self.queue.sort_by_key(|q| (q.dst, q.len));
        }
        while !self.is_empty() {
            let mut h = Headers::new();
            let mut groups = [0usize; BATCH];
            let (mut messages, mut taken) = (0, 0);
            let pending = &self.queue[self.sent..];
            while taken < pending.len().min(BATCH) {
                let first = pending[taken];
                let mut count = 1;
                if self.gso && self.sent + taken >= self.alone_until && first.len <= MAX_SEGMENT_LEN
                {
                    while taken + count < pending.len().min(BATCH)
                        && pending[taken + count].dst == first.dst
                        && pending[taken + count].len == first.len
                    {
                        count += 1;
                    }
                }
                for (k, q) in pending[taken..taken + count].iter().enumerate() {
                    let reply = &self.octets[q.start..q.start + q.len];
                    h.iovs[taken + k] = libc::iovec {
                        // The kernel only reads through it (sendmmsg).
                        iov_base: reply.as_ptr().cast_mut().cast(),
                        iov_len: reply.len(),
                    };
                }
                let name_len = to_sockaddr(first.dst, &mut h.names[messages]);
                h.message(messages, taken, count, name_len);
                if count > 1 {
                    // At most MAX_SEGMENT_LEN, so it fits.
                    h.segment(messages, first.len as u16);
                }
                groups[messages] = count;
                messages += 1;
                taken += count;
            }
            // SAFETY: `hdrs[..messages]` point at the `iovs` filled above, each at a live
            // reply (borrowed from `self.octets`, unchanged during the call) with its
            // length, at addresses of the lengths `to_sockaddr` wrote, and, for a GSO
            // message, at its own control buffer of CONTROL_LEN octets.
            let n = unsafe {
                libc::sendmmsg(
                    fd.as_raw_fd(),
                    h.hdrs.as_mut_ptr(),
                    messages as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => return Err(e),
                    // The first message failed for good. A GSO message is retried as
                    // single datagrams (and GSO given up where the device cannot do
                    // it), so only a datagram that fails alone is skipped.
                    _ if groups[0] > 1 => {
                        self.alone_until = self.sent + groups[0];
                        if e.raw_os_error() == Some(libc::EIO) {
                            self.gso = false;
                        }
                    }
                    _ => {
                        self.sent += 1;
                        return Err(e);
                    }
                }
                continue;
            }
            let n = (n as usize).clamp(1, messages);
            self.sent += groups[..n].iter().sum::<usize>();
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

        let mut tx = SendBatch::new(server.as_fd());
        for d in &sent {
            tx.push(d, client.local_addr().unwrap());
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
        for gso in [false, true] {
            let (server, client) = pair("127.0.0.1:0");
            let mut tx = SendBatch::with_gso(gso);
            // An IPv6 destination on an IPv4 socket is refused for good: alone, and as
            // a GSO message of three, retried alone.
            let lost: SocketAddr = "[::1]:9".parse().unwrap();
            tx.push(b"lost", lost);
            tx.push(b"kept", client.local_addr().unwrap());
            tx.push(b"LOST", lost);
            tx.push(b"KEPT", client.local_addr().unwrap());
            tx.push(b"gone", lost);
            let mut errors = 0;
            while !tx.is_empty() {
                errors += usize::from(tx.send(server.as_fd()).is_err());
            }
            assert_eq!(errors, 3, "gso {gso}");
            let mut buf = [0u8; 16];
            let mut got = Vec::new();
            for _ in 0..2 {
                let (len, _) = client.recv_from(&mut buf).unwrap();
                got.push(buf[..len].to_vec());
            }
            got.sort();
            assert_eq!(got, [b"KEPT".to_vec(), b"kept".to_vec()], "gso {gso}");
        }
    }

    #[test]
    fn replies_of_one_size_to_one_address_arrive_as_separate_datagrams() {
        grouped("127.0.0.1:0");
        grouped("[::1]:0");
    }

    fn grouped(addr: &str) {
        let (server, a) = pair(addr);
        let b = UdpSocket::bind(addr).unwrap();
        let mut tx = SendBatch::new(server.as_fd());
        assert!(tx.gso, "this kernel has UDP_SEGMENT");
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut want_a = Vec::new();
        let mut want_b = Vec::new();
        // More than a batch: interleaved, mostly one size, one shorter reply and two
        // too large to be segments.
        for i in 0..(BATCH + 8) as u8 {
            let (dst, want) = if i % 3 == 0 {
                (to_b, &mut want_b)
            } else {
                (to_a, &mut want_a)
            };
            let len = match i {
                5 => 60,
                7 | 9 => MAX_SEGMENT_LEN + 100,
                _ => 120,
            };
            let reply = vec![i; len];
            want.push(reply.clone());
            tx.push(&reply, dst);
        }
        tx.send(server.as_fd()).unwrap();
        assert!(tx.is_empty());
        for (client, want) in [(&a, want_a), (&b, want_b)] {
            client
                .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            let mut buf = [0u8; 2048];
            let mut got = Vec::new();
            for _ in 0..want.len() {
                let (len, from) = client.recv_from(&mut buf).unwrap();
                assert_eq!(from, server.local_addr().unwrap());
                got.push(buf[..len].to_vec());
            }
            // Within one size the order is kept; across sizes it may change.
            let mut sorted = want.clone();
            sorted.sort_by_key(Vec::len);
            got.sort_by_key(Vec::len);
            assert_eq!(got, sorted);
            client.set_nonblocking(true).unwrap();
            assert!(client.recv_from(&mut buf).is_err(), "nothing more");
        }
    }
}
