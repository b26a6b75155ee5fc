//! The RADIUS protocol, sans-IO.
//!
//! | module | what it implements |
//! | --- | --- |
//! | [`header`] | codes and the fixed 20-octet header (RFC 2865 §3) |
//! | [`profile`] | classic RADIUS and RADIUS/1.1 (RFC 9765): ALPN names, the Token |
//! | [`packet`] | validated, zero-copy decode of a datagram |
//! | [`attr`] | attributes and their value encodings (RFC 2865 §5) |
//! | [`vsa`] | Vendor-Specific attributes (RFC 2865 §5.26) |
//! | [`encode`] | encoding into a caller's `BytesMut`, with Length and Message-Authenticator back-patched |
//! | [`authenticator`] | Request/Response Authenticators and Message-Authenticator (RFC 2865, 2866, 3579, 5176) |
//! | `md5x` | multi-buffer MD5: the digests of a batch's packets side by side in SIMD lanes |
//! | [`secret`] | shared secrets, keyed once for HMAC-MD5 |
//! | [`password`] | User-Password hiding (RFC 2865 §5.2) and salt encryption (RFC 2868, RFC 2548) |
//! | [`chap`] | CHAP verification (RFC 2865 §2.2, RFC 1994) |
//! | [`mschap`] | MS-CHAPv1 (RFC 2433), MS-CHAPv2 (RFC 2759) and MPPE keys (RFC 3079) |
//! | [`dictionary`] | attribute numbers, names and value types |
//! | [`acct`] | accounting helpers (64-bit octet counters) |
//! | [`dynauth`] | CoA- and Disconnect-Requests and their ACK/NAK answers (RFC 5176) |
//! | [`fuzz`] | the entry point of the fuzz target and its corpus replay |
//!
//! Nothing here performs I/O or reads the clock: callers pass bytes, secrets and buffers.
#![forbid(unsafe_code)]

pub mod acct;
pub mod attr;
pub mod authenticator;
pub mod chap;
pub mod dictionary;
pub mod dynauth;
pub mod encode;
pub mod fuzz;
pub mod header;
mod md5x;
pub mod mschap;
pub mod packet;
pub mod password;
pub mod profile;
pub mod secret;
pub mod vsa;
