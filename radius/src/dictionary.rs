//! The RADIUS dictionary: attribute numbers, names, value types and named values.
//!
//! Code refers to attributes through the constants in [`attr`], [`ms`] and [`mikrotik`] and
//! to enumerated values through [`values`]; logs name them through [`lookup`], [`name`] and
//! [`display_value`]. Nothing is loaded at run time: the tables are `static` and checked at
//! compile time (a duplicate standard code or an unsorted vendor table fails the build), so
//! a standard lookup is an array index and a vendor lookup a binary search over a few dozen
//! entries.
//!
//! Names and types follow FreeRADIUS's `share/dictionary.*` files, so a log line reads like
//! the one an operator already knows from `radiusd -X`. Departures from FreeRADIUS, each
//! documented at its entry:
//!
//! - MS-MPPE-Encryption-Types names the values the RFC 2548 §2.4.5 bit layout gives
//!   (2, 4, 6); FreeRADIUS names 1, 2 and 6, although its own rlm_mschap sends 4 and 6.
//! - Mikrotik 25 is spelt `Mikrotik-DHCP-Option-Param-STR2` and 27
//!   `Mikrotik-Wireless-VLANID-Type`; FreeRADIUS's spellings (`Mikortik-…`, `…VLANIDtype`)
//!   and its singular `MS-MPPE-Encryption-Type` are accepted by [`by_name`] as aliases.
//! - Only the Microsoft attributes of RFC 2548 are listed, not the later MS-RNAP ones (34+).
//!
//! Coverage: RFC 2865, 2866, 2867 (tunnel accounting), 2868 (tunnel attributes), 2869, 3162,
//! 4372 (Chargeable-User-Identity), 4818, 5176 (Error-Cause), 6911, RFC 2548 (Microsoft) and
//! MikroTik's vendor attributes 1–30.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Standard attribute type numbers (the Type octet of RFC 2865 §5).
pub mod attr {
    /// RFC 2865 §5.1.
    pub const USER_NAME: u8 = 1;
    /// RFC 2865 §5.2; hidden with the shared secret (RFC 2865 §5.2).
    pub const USER_PASSWORD: u8 = 2;
    /// RFC 2865 §5.3: CHAP Ident followed by the 16-octet response.
    pub const CHAP_PASSWORD: u8 = 3;
    /// RFC 2865 §5.4.
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// RFC 2865 §5.5.
    pub const NAS_PORT: u8 = 5;
    /// RFC 2865 §5.6; values in [`super::values::service_type`].
    pub const SERVICE_TYPE: u8 = 6;
    /// RFC 2865 §5.7; values in [`super::values::framed_protocol`].
    pub const FRAMED_PROTOCOL: u8 = 7;
    /// RFC 2865 §5.8.
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    /// RFC 2865 §5.9.
    pub const FRAMED_IP_NETMASK: u8 = 9;
    /// RFC 2865 §5.10; values in [`super::values::framed_routing`].
    pub const FRAMED_ROUTING: u8 = 10;
    /// RFC 2865 §5.11.
    pub const FILTER_ID: u8 = 11;
    /// RFC 2865 §5.12.
    pub const FRAMED_MTU: u8 = 12;
    /// RFC 2865 §5.13; values in [`super::values::framed_compression`].
    pub const FRAMED_COMPRESSION: u8 = 13;
    /// RFC 2865 §5.14.
    pub const LOGIN_IP_HOST: u8 = 14;
    /// RFC 2865 §5.15; values in [`super::values::login_service`].
    pub const LOGIN_SERVICE: u8 = 15;
    /// RFC 2865 §5.16.
    pub const LOGIN_TCP_PORT: u8 = 16;
    /// RFC 2865 §5.18.
    pub const REPLY_MESSAGE: u8 = 18;
    /// RFC 2865 §5.19.
    pub const CALLBACK_NUMBER: u8 = 19;
    /// RFC 2865 §5.20.
    pub const CALLBACK_ID: u8 = 20;
    /// RFC 2865 §5.22.
    pub const FRAMED_ROUTE: u8 = 22;
    /// RFC 2865 §5.23.
    pub const FRAMED_IPX_NETWORK: u8 = 23;
    /// RFC 2865 §5.24.
    pub const STATE: u8 = 24;
    /// RFC 2865 §5.25.
    pub const CLASS: u8 = 25;
    /// RFC 2865 §5.26: Vendor-Id followed by the vendor's own attributes.
    pub const VENDOR_SPECIFIC: u8 = 26;
    /// RFC 2865 §5.27.
    pub const SESSION_TIMEOUT: u8 = 27;
    /// RFC 2865 §5.28.
    pub const IDLE_TIMEOUT: u8 = 28;
    /// RFC 2865 §5.29; values in [`super::values::termination_action`].
    pub const TERMINATION_ACTION: u8 = 29;
    /// RFC 2865 §5.30.
    pub const CALLED_STATION_ID: u8 = 30;
    /// RFC 2865 §5.31.
    pub const CALLING_STATION_ID: u8 = 31;
    /// RFC 2865 §5.32.
    pub const NAS_IDENTIFIER: u8 = 32;
    /// RFC 2865 §5.33.
    pub const PROXY_STATE: u8 = 33;
    /// RFC 2865 §5.34.
    pub const LOGIN_LAT_SERVICE: u8 = 34;
    /// RFC 2865 §5.35.
    pub const LOGIN_LAT_NODE: u8 = 35;
    /// RFC 2865 §5.36.
    pub const LOGIN_LAT_GROUP: u8 = 36;
    /// RFC 2865 §5.37.
    pub const FRAMED_APPLETALK_LINK: u8 = 37;
    /// RFC 2865 §5.38.
    pub const FRAMED_APPLETALK_NETWORK: u8 = 38;
    /// RFC 2865 §5.39.
    pub const FRAMED_APPLETALK_ZONE: u8 = 39;
    /// RFC 2866 §5.1; values in [`super::values::acct_status_type`].
    pub const ACCT_STATUS_TYPE: u8 = 40;
    /// RFC 2866 §5.2.
    pub const ACCT_DELAY_TIME: u8 = 41;
    /// RFC 2866 §5.3: low 32 bits; the high bits are in [`ACCT_INPUT_GIGAWORDS`].
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    /// RFC 2866 §5.4: low 32 bits; the high bits are in [`ACCT_OUTPUT_GIGAWORDS`].
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    /// RFC 2866 §5.5.
    pub const ACCT_SESSION_ID: u8 = 44;
    /// RFC 2866 §5.6; values in [`super::values::acct_authentic`].
    pub const ACCT_AUTHENTIC: u8 = 45;
    /// RFC 2866 §5.7.
    pub const ACCT_SESSION_TIME: u8 = 46;
    /// RFC 2866 §5.8.
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    /// RFC 2866 §5.9.
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    /// RFC 2866 §5.10; values in [`super::values::acct_terminate_cause`].
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    /// RFC 2866 §5.11.
    pub const ACCT_MULTI_SESSION_ID: u8 = 50;
    /// RFC 2866 §5.12.
    pub const ACCT_LINK_COUNT: u8 = 51;
    /// RFC 2869 §5.1: how many times [`ACCT_INPUT_OCTETS`] wrapped past 2^32.
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    /// RFC 2869 §5.2: how many times [`ACCT_OUTPUT_OCTETS`] wrapped past 2^32.
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    /// RFC 2869 §5.3: seconds since 1970-01-01 UTC.
    pub const EVENT_TIMESTAMP: u8 = 55;
    /// RFC 2865 §5.40.
    pub const CHAP_CHALLENGE: u8 = 60;
    /// RFC 2865 §5.41; values in [`super::values::nas_port_type`].
    pub const NAS_PORT_TYPE: u8 = 61;
    /// RFC 2865 §5.42.
    pub const PORT_LIMIT: u8 = 62;
    /// RFC 2865 §5.43.
    pub const LOGIN_LAT_PORT: u8 = 63;
    /// RFC 2868 §3.1 (tagged); values in [`super::values::tunnel_type`].
    pub const TUNNEL_TYPE: u8 = 64;
    /// RFC 2868 §3.2 (tagged); values in [`super::values::tunnel_medium_type`].
    pub const TUNNEL_MEDIUM_TYPE: u8 = 65;
    /// RFC 2868 §3.3 (tagged).
    pub const TUNNEL_CLIENT_ENDPOINT: u8 = 66;
    /// RFC 2868 §3.4 (tagged).
    pub const TUNNEL_SERVER_ENDPOINT: u8 = 67;
    /// RFC 2867 §4.1.
    pub const ACCT_TUNNEL_CONNECTION: u8 = 68;
    /// RFC 2868 §3.5 (tagged); salt-encrypted with the shared secret.
    pub const TUNNEL_PASSWORD: u8 = 69;
    /// RFC 2869 §5.4.
    pub const ARAP_PASSWORD: u8 = 70;
    /// RFC 2869 §5.5.
    pub const ARAP_FEATURES: u8 = 71;
    /// RFC 2869 §5.6.
    pub const ARAP_ZONE_ACCESS: u8 = 72;
    /// RFC 2869 §5.7.
    pub const ARAP_SECURITY: u8 = 73;
    /// RFC 2869 §5.8.
    pub const ARAP_SECURITY_DATA: u8 = 74;
    /// RFC 2869 §5.9.
    pub const PASSWORD_RETRY: u8 = 75;
    /// RFC 2869 §5.10; values in [`super::values::prompt`].
    pub const PROMPT: u8 = 76;
    /// RFC 2869 §5.11.
    pub const CONNECT_INFO: u8 = 77;
    /// RFC 2869 §5.12.
    pub const CONFIGURATION_TOKEN: u8 = 78;
    /// RFC 2869 §5.13, superseded by RFC 3579 §3.1.
    pub const EAP_MESSAGE: u8 = 79;
    /// RFC 2869 §5.14, superseded by RFC 3579 §3.2: HMAC-MD5 over the whole packet.
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    /// RFC 2868 §3.6 (tagged).
    pub const TUNNEL_PRIVATE_GROUP_ID: u8 = 81;
    /// RFC 2868 §3.7 (tagged).
    pub const TUNNEL_ASSIGNMENT_ID: u8 = 82;
    /// RFC 2868 §3.8 (tagged).
    pub const TUNNEL_PREFERENCE: u8 = 83;
    /// RFC 2869 §5.15.
    pub const ARAP_CHALLENGE_RESPONSE: u8 = 84;
    /// RFC 2869 §5.16.
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    /// RFC 2867 §4.2.
    pub const ACCT_TUNNEL_PACKETS_LOST: u8 = 86;
    /// RFC 2869 §5.17.
    pub const NAS_PORT_ID: u8 = 87;
    /// RFC 2869 §5.18.
    pub const FRAMED_POOL: u8 = 88;
    /// RFC 4372 (Chargeable User Identity).
    pub const CHARGEABLE_USER_IDENTITY: u8 = 89;
    /// RFC 2868 §3.9 (tagged).
    pub const TUNNEL_CLIENT_AUTH_ID: u8 = 90;
    /// RFC 2868 §3.10 (tagged).
    pub const TUNNEL_SERVER_AUTH_ID: u8 = 91;
    /// RFC 3162 §2.1.
    pub const NAS_IPV6_ADDRESS: u8 = 95;
    /// RFC 3162 §2.2: the 8-octet IPv6 interface identifier.
    pub const FRAMED_INTERFACE_ID: u8 = 96;
    /// RFC 3162 §2.3.
    pub const FRAMED_IPV6_PREFIX: u8 = 97;
    /// RFC 3162 §2.4.
    pub const LOGIN_IPV6_HOST: u8 = 98;
    /// RFC 3162 §2.5.
    pub const FRAMED_IPV6_ROUTE: u8 = 99;
    /// RFC 3162 §2.6.
    pub const FRAMED_IPV6_POOL: u8 = 100;
    /// RFC 5176 §3.5; values in [`super::values::error_cause`].
    pub const ERROR_CAUSE: u8 = 101;
    /// RFC 4818 §3: the prefix delegated to the user (DHCPv6-PD).
    pub const DELEGATED_IPV6_PREFIX: u8 = 123;
    /// RFC 6911 §3.1.
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
    /// RFC 6911 §3.2.
    pub const DNS_SERVER_IPV6_ADDRESS: u8 = 169;
    /// RFC 6911 §3.3.
    pub const ROUTE_IPV6_INFORMATION: u8 = 170;
    /// RFC 6911 §3.4.
    pub const DELEGATED_IPV6_PREFIX_POOL: u8 = 171;
    /// RFC 6911 §3.5.
    pub const STATEFUL_IPV6_ADDRESS_POOL: u8 = 172;
}

/// Vendor ids: SMI Network Management Private Enterprise Codes (RFC 2865 §5.26).
pub mod vendor {
    /// Microsoft, whose attributes RFC 2548 documents.
    pub const MICROSOFT: u32 = 311;
    /// MikroTik (RouterOS).
    pub const MIKROTIK: u32 = 14988;

    /// The FreeRADIUS name of a vendor this dictionary knows.
    pub const fn name(vendor: u32) -> Option<&'static str> {
        match vendor {
            MICROSOFT => Some("Microsoft"),
            MIKROTIK => Some("Mikrotik"),
            _ => None,
        }
    }
}

/// Microsoft vendor attribute types (vendor [`vendor::MICROSOFT`]), RFC 2548.
pub mod ms {
    /// RFC 2548 §2.1.3: Ident, Flags, LM-Response and NT-Response (MS-CHAPv1).
    pub const CHAP_RESPONSE: u8 = 1;
    /// RFC 2548 §2.1.5: Ident followed by the MS-CHAP failure text (`E=691 R=0 …`).
    pub const CHAP_ERROR: u8 = 2;
    /// RFC 2548 §2.1.6.
    pub const CHAP_CPW_1: u8 = 3;
    /// RFC 2548 §2.1.7.
    pub const CHAP_CPW_2: u8 = 4;
    /// RFC 2548 §2.1.8.
    pub const CHAP_LM_ENC_PW: u8 = 5;
    /// RFC 2548 §2.2 (numbered so in the RFC, though it belongs with §2.1).
    pub const CHAP_NT_ENC_PW: u8 = 6;
    /// RFC 2548 §2.4.4; values in [`super::values::ms_mppe_encryption_policy`].
    pub const MPPE_ENCRYPTION_POLICY: u8 = 7;
    /// RFC 2548 §2.4.5, a bit set; values in [`super::values::ms_mppe_encryption_types`].
    pub const MPPE_ENCRYPTION_TYPES: u8 = 8;
    /// RFC 2548 §2.7.1: the SMI enterprise code of the NAS vendor.
    pub const RAS_VENDOR: u8 = 9;
    /// RFC 2548 §2.1.4: Ident followed by the Windows NT domain.
    pub const CHAP_DOMAIN: u8 = 10;
    /// RFC 2548 §2.1.2: the challenge the NAS sent (MS-CHAPv1 and v2).
    pub const CHAP_CHALLENGE: u8 = 11;
    /// RFC 2548 §2.4.1: LM and NT keys, hidden as User-Password is.
    pub const CHAP_MPPE_KEYS: u8 = 12;
    /// RFC 2548 §2.5.1.
    pub const BAP_USAGE: u8 = 13;
    /// RFC 2548 §2.5.2.
    pub const LINK_UTILIZATION_THRESHOLD: u8 = 14;
    /// RFC 2548 §2.5.3.
    pub const LINK_DROP_TIME_LIMIT: u8 = 15;
    /// RFC 2548 §2.4.2: salt-encrypted session key, NAS to peer.
    pub const MPPE_SEND_KEY: u8 = 16;
    /// RFC 2548 §2.4.3: salt-encrypted session key, peer to NAS.
    pub const MPPE_RECV_KEY: u8 = 17;
    /// RFC 2548 §2.7.2.
    pub const RAS_VERSION: u8 = 18;
    /// RFC 2548 §2.6.1.
    pub const OLD_ARAP_PASSWORD: u8 = 19;
    /// RFC 2548 §2.6.2.
    pub const NEW_ARAP_PASSWORD: u8 = 20;
    /// RFC 2548 §2.6.3 (MS-ARAP-Password-Change-Reason; FreeRADIUS shortens it).
    pub const ARAP_PW_CHANGE_REASON: u8 = 21;
    /// RFC 2548 §2.7.3.
    pub const FILTER: u8 = 22;
    /// RFC 2548 §2.7.4.
    pub const ACCT_AUTH_TYPE: u8 = 23;
    /// RFC 2548 §2.7.5.
    pub const ACCT_EAP_TYPE: u8 = 24;
    /// RFC 2548 §2.3.2: Ident, Flags, Peer-Challenge, Reserved and NT-Response (MS-CHAPv2).
    pub const CHAP2_RESPONSE: u8 = 25;
    /// RFC 2548 §2.3.3: Ident followed by the 42-octet authenticator response `S=…`.
    pub const CHAP2_SUCCESS: u8 = 26;
    /// RFC 2548 §2.3.4.
    pub const CHAP2_CPW: u8 = 27;
    /// RFC 2548 §2.7.6.
    pub const PRIMARY_DNS_SERVER: u8 = 28;
    /// RFC 2548 §2.7.7.
    pub const SECONDARY_DNS_SERVER: u8 = 29;
    /// RFC 2548 §2.7.8.
    pub const PRIMARY_NBNS_SERVER: u8 = 30;
    /// RFC 2548 §2.7.9.
    pub const SECONDARY_NBNS_SERVER: u8 = 31;
    /// RFC 2548 §2.6.4 (FreeRADIUS leaves it commented out).
    pub const ARAP_CHALLENGE: u8 = 33;
}

/// MikroTik vendor attribute types (vendor [`vendor::MIKROTIK`]), from RouterOS's RADIUS
/// client documentation and FreeRADIUS's `dictionary.mikrotik`.
///
/// MikroTik's types are not always what the name suggests: the rate limit is a *string*
/// (`rx-rate[/tx-rate] [rx-burst-rate[/tx-burst-rate] …]`, seen from the router), the byte
/// limits are 32-bit *integers* whose high bits travel in the matching `…-Gigawords`
/// attribute, the signal bounds are strings (`-75`), and Host-IP is an IPv4 address. The
/// wireless keys (Enc-Key, PSK, MPKey) travel in clear text: RADIUS does not hide them.
pub mod mikrotik {
    /// Mikrotik-Recv-Limit (integer): bytes the client may send, low 32 bits.
    pub const RECV_LIMIT: u8 = 1;
    /// Mikrotik-Xmit-Limit (integer): bytes the client may receive, low 32 bits.
    pub const XMIT_LIMIT: u8 = 2;
    /// Mikrotik-Group (string): the RouterOS user group (login users only).
    pub const GROUP: u8 = 3;
    /// Mikrotik-Wireless-Forward (integer): 0 stops forwarding between wireless clients.
    pub const WIRELESS_FORWARD: u8 = 4;
    /// Mikrotik-Wireless-Skip-Dot1x (integer).
    pub const WIRELESS_SKIP_DOT1X: u8 = 5;
    /// Mikrotik-Wireless-Enc-Algo (integer, enumerated).
    pub const WIRELESS_ENC_ALGO: u8 = 6;
    /// Mikrotik-Wireless-Enc-Key (string, clear text).
    pub const WIRELESS_ENC_KEY: u8 = 7;
    /// Mikrotik-Rate-Limit (string, not integer): `rx/tx [burst …] [priority] [min]`.
    pub const RATE_LIMIT: u8 = 8;
    /// Mikrotik-Realm (string).
    pub const REALM: u8 = 9;
    /// Mikrotik-Host-IP (ipaddr): the hotspot client's original address.
    pub const HOST_IP: u8 = 10;
    /// Mikrotik-Mark-Id (string): firewall mangle chain name.
    pub const MARK_ID: u8 = 11;
    /// Mikrotik-Advertise-URL (string).
    pub const ADVERTISE_URL: u8 = 12;
    /// Mikrotik-Advertise-Interval (integer, seconds).
    pub const ADVERTISE_INTERVAL: u8 = 13;
    /// Mikrotik-Recv-Limit-Gigawords (integer): high 32 bits of [`RECV_LIMIT`].
    pub const RECV_LIMIT_GIGAWORDS: u8 = 14;
    /// Mikrotik-Xmit-Limit-Gigawords (integer): high 32 bits of [`XMIT_LIMIT`].
    pub const XMIT_LIMIT_GIGAWORDS: u8 = 15;
    /// Mikrotik-Wireless-PSK (string, clear text).
    pub const WIRELESS_PSK: u8 = 16;
    /// Mikrotik-Total-Limit (integer): bytes in both directions, low 32 bits.
    pub const TOTAL_LIMIT: u8 = 17;
    /// Mikrotik-Total-Limit-Gigawords (integer): high 32 bits of [`TOTAL_LIMIT`].
    pub const TOTAL_LIMIT_GIGAWORDS: u8 = 18;
    /// Mikrotik-Address-List (string): firewall address list to add the client to.
    pub const ADDRESS_LIST: u8 = 19;
    /// Mikrotik-Wireless-MPKey (string, clear text).
    pub const WIRELESS_MPKEY: u8 = 20;
    /// Mikrotik-Wireless-Comment (string).
    pub const WIRELESS_COMMENT: u8 = 21;
    /// Mikrotik-Delegated-IPv6-Pool (string): pool name, not a prefix.
    pub const DELEGATED_IPV6_POOL: u8 = 22;
    /// Mikrotik-DHCP-Option-Set (string).
    pub const DHCP_OPTION_SET: u8 = 23;
    /// Mikrotik-DHCP-Option-Param-STR1 (string).
    pub const DHCP_OPTION_PARAM_STR1: u8 = 24;
    /// Mikrotik-DHCP-Option-Param-STR2 (string; FreeRADIUS misspells it `Mikortik-…`).
    pub const DHCP_OPTION_PARAM_STR2: u8 = 25;
    /// Mikrotik-Wireless-VLANID (integer).
    pub const WIRELESS_VLANID: u8 = 26;
    /// Mikrotik-Wireless-VLANID-Type (integer): 0 802.1q, 1 802.1ad.
    pub const WIRELESS_VLANID_TYPE: u8 = 27;
    /// Mikrotik-Wireless-Minsignal (string, though numeric: `-75`).
    pub const WIRELESS_MINSIGNAL: u8 = 28;
    /// Mikrotik-Wireless-Maxsignal (string, though numeric).
    pub const WIRELESS_MAXSIGNAL: u8 = 29;
    /// Mikrotik-Switching-Filter (string): dynamic switch rules for a dot1x client.
    pub const SWITCHING_FILTER: u8 = 30;
}

/// Enumerated values of the integer attributes a server uses in code.
///
/// The names in the dictionary tables (and so in logs) are FreeRADIUS's; the constant names
/// follow the RFC's wording.
pub mod values {
    /// Service-Type (RFC 2865 §5.6).
    pub mod service_type {
        /// RFC 2865 §5.6: Login (FreeRADIUS `Login-User`).
        pub const LOGIN: u32 = 1;
        /// RFC 2865 §5.6: Framed (FreeRADIUS `Framed-User`), what PPP users get.
        pub const FRAMED: u32 = 2;
        /// RFC 2865 §5.6.
        pub const CALLBACK_LOGIN: u32 = 3;
        /// RFC 2865 §5.6.
        pub const CALLBACK_FRAMED: u32 = 4;
        /// RFC 2865 §5.6.
        pub const OUTBOUND: u32 = 5;
        /// RFC 2865 §5.6.
        pub const ADMINISTRATIVE: u32 = 6;
        /// RFC 2865 §5.6.
        pub const NAS_PROMPT: u32 = 7;
        /// RFC 2865 §5.6: authenticate, return no authorization.
        pub const AUTHENTICATE_ONLY: u32 = 8;
        /// RFC 2865 §5.6.
        pub const CALLBACK_NAS_PROMPT: u32 = 9;
        /// RFC 2865 §5.6: MAC-based pre-authentication by some NASes.
        pub const CALL_CHECK: u32 = 10;
        /// RFC 2865 §5.6.
        pub const CALLBACK_ADMINISTRATIVE: u32 = 11;
        /// RFC 5176 §3.2: a CoA-Request carrying only authorization changes.
        pub const AUTHORIZE_ONLY: u32 = 17;
    }

    /// Framed-Protocol (RFC 2865 §5.7).
    pub mod framed_protocol {
        /// RFC 2865 §5.7.
        pub const PPP: u32 = 1;
        /// RFC 2865 §5.7.
        pub const SLIP: u32 = 2;
        /// RFC 2865 §5.7: AppleTalk Remote Access Protocol.
        pub const ARAP: u32 = 3;
        /// RFC 2865 §5.7: Gandalf proprietary SingleLink/MultiLink.
        pub const GANDALF_SLML: u32 = 4;
        /// RFC 2865 §5.7.
        pub const XYLOGICS_IPX_SLIP: u32 = 5;
        /// RFC 2865 §5.7.
        pub const X75_SYNCHRONOUS: u32 = 6;
    }

    /// Framed-Routing (RFC 2865 §5.10).
    pub mod framed_routing {
        /// RFC 2865 §5.10.
        pub const NONE: u32 = 0;
        /// RFC 2865 §5.10: send routing packets.
        pub const BROADCAST: u32 = 1;
        /// RFC 2865 §5.10: listen for routing packets.
        pub const LISTEN: u32 = 2;
        /// RFC 2865 §5.10: send and listen.
        pub const BROADCAST_LISTEN: u32 = 3;
    }

    /// Framed-Compression (RFC 2865 §5.13).
    pub mod framed_compression {
        /// RFC 2865 §5.13.
        pub const NONE: u32 = 0;
        /// RFC 2865 §5.13: VJ TCP/IP header compression.
        pub const VAN_JACOBSON_TCP_IP: u32 = 1;
        /// RFC 2865 §5.13.
        pub const IPX_HEADER_COMPRESSION: u32 = 2;
        /// RFC 2865 §5.13.
        pub const STAC_LZS: u32 = 3;
    }

    /// Login-Service (RFC 2865 §5.15).
    pub mod login_service {
        /// RFC 2865 §5.15.
        pub const TELNET: u32 = 0;
        /// RFC 2865 §5.15.
        pub const RLOGIN: u32 = 1;
        /// RFC 2865 §5.15.
        pub const TCP_CLEAR: u32 = 2;
        /// RFC 2865 §5.15.
        pub const PORTMASTER: u32 = 3;
        /// RFC 2865 §5.15.
        pub const LAT: u32 = 4;
        /// RFC 2865 §5.15.
        pub const X25_PAD: u32 = 5;
        /// RFC 2865 §5.15.
        pub const X25_T3POS: u32 = 6;
        /// RFC 2865 §5.15.
        pub const TCP_CLEAR_QUIET: u32 = 8;
    }

    /// Termination-Action (RFC 2865 §5.29).
    pub mod termination_action {
        /// RFC 2865 §5.29: end the session.
        pub const DEFAULT: u32 = 0;
        /// RFC 2865 §5.29: send a new Access-Request before ending the session.
        pub const RADIUS_REQUEST: u32 = 1;
    }

    /// NAS-Port-Type (RFC 2865 §5.41 and later registrations).
    pub mod nas_port_type {
        /// RFC 2865 §5.41.
        pub const ASYNC: u32 = 0;
        /// RFC 2865 §5.41.
        pub const SYNC: u32 = 1;
        /// RFC 2865 §5.41: ISDN Sync.
        pub const ISDN: u32 = 2;
        /// RFC 2865 §5.41: ISDN Async V.120.
        pub const ISDN_V120: u32 = 3;
        /// RFC 2865 §5.41: ISDN Async V.110.
        pub const ISDN_V110: u32 = 4;
        /// RFC 2865 §5.41: a connection over a transport protocol, e.g. L2TP or PPPoE.
        pub const VIRTUAL: u32 = 5;
        /// RFC 2865 §5.41.
        pub const PIAFS: u32 = 6;
        /// RFC 2865 §5.41.
        pub const HDLC_CLEAR_CHANNEL: u32 = 7;
        /// RFC 2865 §5.41.
        pub const X25: u32 = 8;
        /// RFC 2865 §5.41.
        pub const X75: u32 = 9;
        /// RFC 2865 §5.41.
        pub const G3_FAX: u32 = 10;
        /// RFC 2865 §5.41.
        pub const SDSL: u32 = 11;
        /// RFC 2865 §5.41.
        pub const ADSL_CAP: u32 = 12;
        /// RFC 2865 §5.41.
        pub const ADSL_DMT: u32 = 13;
        /// RFC 2865 §5.41.
        pub const IDSL: u32 = 14;
        /// RFC 2865 §5.41.
        pub const ETHERNET: u32 = 15;
        /// RFC 2865 §5.41: DSL of unknown type.
        pub const XDSL: u32 = 16;
        /// RFC 2865 §5.41.
        pub const CABLE: u32 = 17;
        /// RFC 2865 §5.41.
        pub const WIRELESS_OTHER: u32 = 18;
        /// RFC 2865 §5.41.
        pub const WIRELESS_802_11: u32 = 19;
        /// RFC 3580.
        pub const TOKEN_RING: u32 = 20;
        /// RFC 3580.
        pub const FDDI: u32 = 21;
        /// IANA RADIUS registry.
        pub const WIRELESS_CDMA2000: u32 = 22;
        /// IANA RADIUS registry.
        pub const WIRELESS_UMTS: u32 = 23;
        /// IANA RADIUS registry.
        pub const WIRELESS_1X_EV: u32 = 24;
        /// IANA RADIUS registry.
        pub const IAPP: u32 = 25;
        /// IANA RADIUS registry: fibre to the premises.
        pub const FTTP: u32 = 26;
        /// IANA RADIUS registry.
        pub const WIRELESS_802_16: u32 = 27;
        /// IANA RADIUS registry.
        pub const WIRELESS_802_20: u32 = 28;
        /// IANA RADIUS registry.
        pub const WIRELESS_802_22: u32 = 29;
        /// RFC 4603: PPP over ATM.
        pub const PPPOA: u32 = 30;
        /// RFC 4603: PPPoE over ATM.
        pub const PPPOEOA: u32 = 31;
        /// RFC 4603: PPPoE over Ethernet.
        pub const PPPOEOE: u32 = 32;
        /// RFC 4603: PPPoE over VLAN.
        pub const PPPOEOVLAN: u32 = 33;
        /// RFC 4603: PPPoE over IEEE 802.1QinQ.
        pub const PPPOEOQINQ: u32 = 34;
        /// IANA RADIUS registry: passive optical network.
        pub const XPON: u32 = 35;
        /// IANA RADIUS registry.
        pub const WIRELESS_XGP: u32 = 36;
    }

    /// Acct-Status-Type (RFC 2866 §5.1).
    pub mod acct_status_type {
        /// RFC 2866 §5.1.
        pub const START: u32 = 1;
        /// RFC 2866 §5.1.
        pub const STOP: u32 = 2;
        /// RFC 2866 §5.1 (FreeRADIUS also calls it `Alive`).
        pub const INTERIM_UPDATE: u32 = 3;
        /// RFC 2866 §5.1: the NAS (re)started; its earlier sessions are gone.
        pub const ACCOUNTING_ON: u32 = 7;
        /// RFC 2866 §5.1: the NAS is shutting down; its sessions are ending.
        pub const ACCOUNTING_OFF: u32 = 8;
        /// RFC 2867 §3.1.
        pub const TUNNEL_START: u32 = 9;
        /// RFC 2867 §3.1.
        pub const TUNNEL_STOP: u32 = 10;
        /// RFC 2867 §3.1.
        pub const TUNNEL_REJECT: u32 = 11;
        /// RFC 2867 §3.1.
        pub const TUNNEL_LINK_START: u32 = 12;
        /// RFC 2867 §3.1.
        pub const TUNNEL_LINK_STOP: u32 = 13;
        /// RFC 2867 §3.1.
        pub const TUNNEL_LINK_REJECT: u32 = 14;
        /// IANA RADIUS registry.
        pub const FAILED: u32 = 15;
    }

    /// Acct-Authentic (RFC 2866 §5.6).
    pub mod acct_authentic {
        /// RFC 2866 §5.6.
        pub const RADIUS: u32 = 1;
        /// RFC 2866 §5.6.
        pub const LOCAL: u32 = 2;
        /// RFC 2866 §5.6.
        pub const REMOTE: u32 = 3;
        /// IANA RADIUS registry.
        pub const DIAMETER: u32 = 4;
    }

    /// Acct-Terminate-Cause (RFC 2866 §5.10, RFC 3580).
    pub mod acct_terminate_cause {
        /// RFC 2866 §5.10: e.g. LCP Terminate or logging out.
        pub const USER_REQUEST: u32 = 1;
        /// RFC 2866 §5.10: DCD dropped, PPPoE PADT lost, echo failure.
        pub const LOST_CARRIER: u32 = 2;
        /// RFC 2866 §5.10.
        pub const LOST_SERVICE: u32 = 3;
        /// RFC 2866 §5.10.
        pub const IDLE_TIMEOUT: u32 = 4;
        /// RFC 2866 §5.10.
        pub const SESSION_TIMEOUT: u32 = 5;
        /// RFC 2866 §5.10: what a NAS reports after a Disconnect-Request.
        pub const ADMIN_RESET: u32 = 6;
        /// RFC 2866 §5.10.
        pub const ADMIN_REBOOT: u32 = 7;
        /// RFC 2866 §5.10.
        pub const PORT_ERROR: u32 = 8;
        /// RFC 2866 §5.10.
        pub const NAS_ERROR: u32 = 9;
        /// RFC 2866 §5.10.
        pub const NAS_REQUEST: u32 = 10;
        /// RFC 2866 §5.10.
        pub const NAS_REBOOT: u32 = 11;
        /// RFC 2866 §5.10.
        pub const PORT_UNNEEDED: u32 = 12;
        /// RFC 2866 §5.10.
        pub const PORT_PREEMPTED: u32 = 13;
        /// RFC 2866 §5.10.
        pub const PORT_SUSPENDED: u32 = 14;
        /// RFC 2866 §5.10.
        pub const SERVICE_UNAVAILABLE: u32 = 15;
        /// RFC 2866 §5.10.
        pub const CALLBACK: u32 = 16;
        /// RFC 2866 §5.10.
        pub const USER_ERROR: u32 = 17;
        /// RFC 2866 §5.10.
        pub const HOST_REQUEST: u32 = 18;
        /// RFC 3580 (IEEE 802.1X).
        pub const SUPPLICANT_RESTART: u32 = 19;
        /// RFC 3580 (IEEE 802.1X).
        pub const REAUTHENTICATION_FAILURE: u32 = 20;
        /// RFC 3580 (IEEE 802.1X; FreeRADIUS `Port-Reinit`).
        pub const PORT_REINITIALIZED: u32 = 21;
        /// RFC 3580 (IEEE 802.1X; FreeRADIUS `Port-Disabled`).
        pub const PORT_ADMINISTRATIVELY_DISABLED: u32 = 22;
    }

    /// Prompt (RFC 2869 §5.10).
    pub mod prompt {
        /// RFC 2869 §5.10.
        pub const NO_ECHO: u32 = 0;
        /// RFC 2869 §5.10.
        pub const ECHO: u32 = 1;
    }

    /// Tunnel-Type (RFC 2868 §3.1), a 24-bit value after the tag.
    pub mod tunnel_type {
        /// RFC 2868 §3.1.
        pub const PPTP: u32 = 1;
        /// RFC 2868 §3.1.
        pub const L2F: u32 = 2;
        /// RFC 2868 §3.1.
        pub const L2TP: u32 = 3;
        /// RFC 2868 §3.1.
        pub const ATMP: u32 = 4;
        /// RFC 2868 §3.1.
        pub const VTP: u32 = 5;
        /// RFC 2868 §3.1: IP Authentication Header in tunnel mode.
        pub const AH: u32 = 6;
        /// RFC 2868 §3.1: IP-in-IP encapsulation.
        pub const IP_IP: u32 = 7;
        /// RFC 2868 §3.1: minimal IP-in-IP encapsulation.
        pub const MIN_IP_IP: u32 = 8;
        /// RFC 2868 §3.1: IP Encapsulating Security Payload in tunnel mode.
        pub const ESP: u32 = 9;
        /// RFC 2868 §3.1.
        pub const GRE: u32 = 10;
        /// RFC 2868 §3.1: Bay Dial Virtual Services.
        pub const DVS: u32 = 11;
        /// RFC 2868 §3.1: IP-in-IP tunnelling.
        pub const IP_IN_IP: u32 = 12;
        /// RFC 3580: dynamic VLAN assignment, with Tunnel-Private-Group-Id as the VLAN id.
        pub const VLAN: u32 = 13;
    }

    /// Tunnel-Medium-Type (RFC 2868 §3.2), a 24-bit value after the tag.
    pub mod tunnel_medium_type {
        /// RFC 2868 §3.2.
        pub const IPV4: u32 = 1;
        /// RFC 2868 §3.2.
        pub const IPV6: u32 = 2;
        /// RFC 2868 §3.2.
        pub const NSAP: u32 = 3;
        /// RFC 2868 §3.2: HDLC (8-bit multidrop).
        pub const HDLC: u32 = 4;
        /// RFC 2868 §3.2.
        pub const BBN_1822: u32 = 5;
        /// RFC 2868 §3.2: IEEE 802, including Ethernet (the one dynamic VLANs use).
        pub const IEEE_802: u32 = 6;
        /// RFC 2868 §3.2.
        pub const E163: u32 = 7;
        /// RFC 2868 §3.2.
        pub const E164: u32 = 8;
        /// RFC 2868 §3.2.
        pub const F69: u32 = 9;
        /// RFC 2868 §3.2.
        pub const X121: u32 = 10;
        /// RFC 2868 §3.2.
        pub const IPX: u32 = 11;
        /// RFC 2868 §3.2.
        pub const APPLETALK: u32 = 12;
        /// RFC 2868 §3.2.
        pub const DECNET_IV: u32 = 13;
        /// RFC 2868 §3.2.
        pub const BANYAN_VINES: u32 = 14;
        /// RFC 2868 §3.2: E.164 with NSAP format subaddress.
        pub const E164_NSAP: u32 = 15;
    }

    /// Error-Cause (RFC 5176 §3.5).
    pub mod error_cause {
        /// RFC 5176 §3.5 (success): the session context was removed.
        pub const RESIDUAL_SESSION_CONTEXT_REMOVED: u32 = 201;
        /// RFC 5176 §3.5 (success): an EAP packet was ignored.
        pub const INVALID_EAP_PACKET: u32 = 202;
        /// RFC 5176 §3.5 (client error).
        pub const UNSUPPORTED_ATTRIBUTE: u32 = 401;
        /// RFC 5176 §3.5 (client error).
        pub const MISSING_ATTRIBUTE: u32 = 402;
        /// RFC 5176 §3.5 (client error).
        pub const NAS_IDENTIFICATION_MISMATCH: u32 = 403;
        /// RFC 5176 §3.5 (client error).
        pub const INVALID_REQUEST: u32 = 404;
        /// RFC 5176 §3.5 (client error).
        pub const UNSUPPORTED_SERVICE: u32 = 405;
        /// RFC 5176 §3.5 (client error).
        pub const UNSUPPORTED_EXTENSION: u32 = 406;
        /// RFC 5176 §3.5 (client error).
        pub const INVALID_ATTRIBUTE_VALUE: u32 = 407;
        /// RFC 5176 §3.5 (NAS error).
        pub const ADMINISTRATIVELY_PROHIBITED: u32 = 501;
        /// RFC 5176 §3.5 (NAS error): request not routable by a proxy.
        pub const REQUEST_NOT_ROUTABLE: u32 = 502;
        /// RFC 5176 §3.5 (NAS error): no session matched the identification attributes.
        pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;
        /// RFC 5176 §3.5 (NAS error).
        pub const SESSION_CONTEXT_NOT_REMOVABLE: u32 = 504;
        /// RFC 5176 §3.5 (NAS error).
        pub const OTHER_PROXY_PROCESSING_ERROR: u32 = 505;
        /// RFC 5176 §3.5 (NAS error).
        pub const RESOURCES_UNAVAILABLE: u32 = 506;
        /// RFC 5176 §3.5 (NAS error).
        pub const REQUEST_INITIATED: u32 = 507;
        /// RFC 5176 §3.5 (NAS error).
        pub const MULTIPLE_SESSION_SELECTION_UNSUPPORTED: u32 = 508;
    }

    /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).
    pub mod ms_mppe_encryption_policy {
        /// RFC 2548 §2.4.4.
        pub const ENCRYPTION_ALLOWED: u32 = 1;
        /// RFC 2548 §2.4.4.
        pub const ENCRYPTION_REQUIRED: u32 = 2;
    }

    /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5), a bit set: L (0x2) allows 40-bit RC4
    /// keys, S (0x4) 128-bit ones.
    ///
    /// FreeRADIUS's dictionary names 1 and 2 for the single-key values, which matches
    /// neither the RFC's bit layout nor what NASes and FreeRADIUS's own rlm_mschap send
    /// (4 and 6); these follow the RFC.
    pub mod ms_mppe_encryption_types {
        /// RFC 2548 §2.4.5: the L bit.
        pub const RC4_40BIT_ALLOWED: u32 = 2;
        /// RFC 2548 §2.4.5: the S bit.
        pub const RC4_128BIT_ALLOWED: u32 = 4;
        /// RFC 2548 §2.4.5: both bits.
        pub const RC4_40OR128_BIT_ALLOWED: u32 = 6;
    }
}

/// How an attribute's value is encoded, and so how it is decoded and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// A 32-bit unsigned integer, big-endian (RFC 2865 §5).
    Integer,
    /// An [`ValueType::Integer`] whose values have names ([`AttrDef::values`]).
    Enum,
    /// An IPv4 address, 4 octets (RFC 2865 §5).
    IpAddr,
    /// An IPv6 address, 16 octets (RFC 3162 §2.1; RFC 6911 §3.1 Framed-IPv6-Address etc.).
    Ipv6Addr,
    /// An IPv6 prefix (RFC 3162 §2.3): Reserved octet, Prefix-Length octet, then 0–16
    /// octets of prefix.
    Ipv6Prefix,
    /// Seconds since 1970-01-01 UTC, 32 bits (RFC 2865 §5).
    Date,
    /// Text, meant to be UTF-8 but not checked (RFC 2865 §5 "text" and "string").
    String,
    /// Opaque octets.
    Octets,
    /// An IPv6 interface identifier, 8 octets (RFC 3162 §2.2 Framed-Interface-Id).
    Ifid,
    /// A tag octet then a 24-bit integer (RFC 2868 §3.1, e.g. Tunnel-Type). Values may be
    /// named as for [`ValueType::Enum`].
    TaggedInteger,
    /// An optional tag octet (0x00–0x1F) then a string (RFC 2868 §3.3, e.g.
    /// Tunnel-Private-Group-Id).
    TaggedString,
    /// Attribute 26 itself: a 4-octet Vendor-Id then vendor data (RFC 2865 §5.26).
    Vsa,
}

impl ValueType {
    /// The type's name as FreeRADIUS dictionaries spell it, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Integer | ValueType::Enum => "integer",
            ValueType::IpAddr => "ipaddr",
            ValueType::Ipv6Addr => "ipv6addr",
            ValueType::Ipv6Prefix => "ipv6prefix",
            ValueType::Date => "date",
            ValueType::String => "string",
            ValueType::Octets => "octets",
            ValueType::Ifid => "ifid",
            ValueType::TaggedInteger => "tagged integer",
            ValueType::TaggedString => "tagged string",
            ValueType::Vsa => "vsa",
        }
    }
}

/// How an attribute's value is hidden on the wire. Such values are never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encryption {
    /// MD5 stream keyed with the secret and Request Authenticator (RFC 2865 §5.2).
    UserPassword,
    /// As User-Password with a 2-octet salt after the tag (RFC 2868 §3.5).
    TunnelPassword,
    /// As User-Password with a 2-octet salt (RFC 2548 §2.4.2, MS-MPPE-Send/Recv-Key).
    MsMppeKey,
    /// As User-Password, no salt (RFC 2548 §2.4.1, MS-CHAP-MPPE-Keys).
    MsChapMppeKeys,
}

/// One dictionary entry: what an attribute is called and how its value is encoded.
#[derive(Debug)]
pub struct AttrDef {
    /// FreeRADIUS name, e.g. `User-Name`, `MS-CHAP2-Response`, `Mikrotik-Rate-Limit`.
    pub name: &'static str,
    /// Vendor id for a vendor attribute, 0 for a standard one.
    pub vendor: u32,
    /// Attribute type: the Type octet, or the Vendor-Type inside attribute 26.
    pub code: u8,
    /// Value encoding.
    pub ty: ValueType,
    /// Named values of an enumerated attribute, empty otherwise.
    pub values: &'static [(u32, &'static str)],
    /// How the value is hidden on the wire, if it is.
    pub encrypted: Option<Encryption>,
    /// Whether the value must never reach a log: every encrypted attribute, and clear ones
    /// from which a password can be recovered offline (CHAP and MS-CHAP responses next to
    /// their challenge) or that are keys themselves (MikroTik wireless keys).
    pub sensitive: bool,
}

impl AttrDef {
    /// The name of value `v` of an enumerated attribute.
    pub fn value_name(&self, v: u32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, name)| *name)
    }

    /// The number of a named value, case-insensitively (`Framed-User` → 2).
    pub fn value_by_name(&self, name: &str) -> Option<u32> {
        self.values
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(v, _)| *v)
    }

    const fn hidden(mut self, how: Encryption) -> AttrDef {
        self.encrypted = Some(how);
        self.sensitive = true;
        self
    }

    const fn sensitive(mut self) -> AttrDef {
        self.sensitive = true;
        self
    }
}

/// The entry for standard attribute `code`, or for `code` of a known `vendor`.
pub fn lookup(vendor: u32, code: u8) -> Option<&'static AttrDef> {
    let table = match vendor {
        0 => return STANDARD_INDEX[usize::from(code)],
        vendor::MICROSOFT => MICROSOFT,
        vendor::MIKROTIK => MIKROTIK,
        _ => return None,
    };
    let at = table.binary_search_by_key(&code, |d| d.code).ok()?;
    table.get(at)
}

/// The entry called `name`, compared case-insensitively. FreeRADIUS's alternative
/// spellings noted in the module docs are accepted too.
pub fn by_name(name: &str) -> Option<&'static AttrDef> {
    all()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            let (_, vendor, code) = ALIASES
                .iter()
                .find(|(alias, _, _)| alias.eq_ignore_ascii_case(name))?;
            lookup(*vendor, *code)
        })
}

/// The name of standard attribute `code`, or of `code` of a known `vendor`.
pub fn name(vendor: u32, code: u8) -> Option<&'static str> {
    lookup(vendor, code).map(|d| d.name)
}

/// Every entry: standard attributes by code, then Microsoft's, then MikroTik's.
pub fn all() -> impl Iterator<Item = &'static AttrDef> {
    STANDARD.iter().chain(MICROSOFT).chain(MIKROTIK)
}

/// A log-friendly rendering of `value` as attribute `def` encodes it.
///
/// Integers print as decimal, with the name when the value has one (`Framed-User (2)`);
/// addresses as `192.0.2.1` and `2001:db8::1`; prefixes as `2001:db8::/32`; interface ids as
/// `0011:2233:4455:6677`; dates as seconds since the epoch; strings as UTF-8 (invalid
/// sequences become U+FFFD) with control, bidi-override and line-separator characters and
/// `\` escaped, so a value cannot forge a log line; octets (and unknown attributes) as
/// `0x…` hex; tagged values with `, tag N`. Sensitive attributes (passwords, CHAP and
/// MS-CHAP responses, keys) print as `<hidden>`.
/// A value the type cannot decode prints as hex followed by `(malformed <type>)`.
/// Never panics, whatever the bytes.
pub fn display_value<'a>(def: Option<&'static AttrDef>, value: &'a [u8]) -> impl fmt::Display + 'a {
    ValueDisplay { def, value }
}

/// What [`display_value`] returns.
#[derive(Debug, Clone, Copy)]
struct ValueDisplay<'a> {
    def: Option<&'static AttrDef>,
    value: &'a [u8],
}

impl fmt::Display for ValueDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.value;
        let Some(def) = self.def else {
            return write_hex(f, v);
        };
        // Not even as hex: the ciphertext next to a logged Request Authenticator is an
        // offline dictionary attack on the shared secret.
        if def.sensitive {
            return f.write_str("<hidden>");
        }
        let written = match def.ty {
            ValueType::Integer | ValueType::Date => be_u32(v).map(|n| write!(f, "{n}")),
            ValueType::Enum => be_u32(v).map(|n| write_enum(f, def, n)),
            ValueType::IpAddr => <[u8; 4]>::try_from(v)
                .ok()
                .map(|a| write!(f, "{}", Ipv4Addr::from(a))),
            ValueType::Ipv6Addr => <[u8; 16]>::try_from(v)
                .ok()
                .map(|a| write!(f, "{}", Ipv6Addr::from(a))),
            ValueType::Ipv6Prefix => ipv6_prefix(v).map(|(addr, len)| write!(f, "{addr}/{len}")),
            ValueType::Ifid => <[u8; 8]>::try_from(v).ok().map(|a| {
                write!(
                    f,
                    "{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}",
                    a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
                )
            }),
            ValueType::String => Some(write_text(f, v)),
            ValueType::Octets => Some(write_hex(f, v)),
            ValueType::TaggedInteger => match *v {
                [tag, a, b, c] => Some(
                    write_enum(f, def, u32::from_be_bytes([0, a, b, c]))
                        .and_then(|()| write_tag(f, tag)),
                ),
                _ => None,
            },
            ValueType::TaggedString => Some(match v.split_first() {
                // RFC 2868 §3.3: a first octet above 0x1F is data, not a tag.
                Some((&tag, rest)) if tag <= 0x1f => {
                    write_text(f, rest).and_then(|()| write_tag(f, tag))
                }
                _ => write_text(f, v),
            }),
            ValueType::Vsa => v
                .split_first_chunk::<4>()
                .map(|(id, data)| write_vsa(f, u32::from_be_bytes(*id), data)),
        };
        match written {
            Some(result) => result,
            None => {
                write_hex(f, v)?;
                write!(f, " (malformed {})", def.ty.name())
            }
        }
    }
}

fn be_u32(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

/// Decodes the RFC 3162 §2.3 layout, which RFC 4818 §3 and RFC 6911 §3.3 reuse:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |  Reserved     | Prefix-Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///                                 Prefix
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The prefix field holds at least the octets the length covers and at most 16. Bits past
/// the prefix length are kept as sent, so a log shows exactly what the peer put there.
fn ipv6_prefix(v: &[u8]) -> Option<(Ipv6Addr, u8)> {
    let [_reserved, len, prefix @ ..] = v else {
        return None;
    };
    if *len > 128 || prefix.len() > 16 || prefix.len() < usize::from(len.div_ceil(8)) {
        return None;
    }
    let mut octets = [0u8; 16];
    octets
        .iter_mut()
        .zip(prefix)
        .for_each(|(dst, src)| *dst = *src);
    Some((Ipv6Addr::from(octets), *len))
}

fn write_enum(f: &mut fmt::Formatter<'_>, def: &AttrDef, n: u32) -> fmt::Result {
    match def.value_name(n) {
        Some(name) => write!(f, "{name} ({n})"),
        None => write!(f, "{n}"),
    }
}

fn write_tag(f: &mut fmt::Formatter<'_>, tag: u8) -> fmt::Result {
    if tag == 0 {
        Ok(())
    } else {
        write!(f, ", tag {tag}")
    }
}

fn write_vsa(f: &mut fmt::Formatter<'_>, id: u32, data: &[u8]) -> fmt::Result {
    write!(f, "vendor {id}")?;
    if let Some(name) = vendor::name(id) {
        write!(f, " ({name})")?;
    }
    f.write_str(" ")?;
    write_hex(f, data)
}

fn write_hex(f: &mut fmt::Formatter<'_>, v: &[u8]) -> fmt::Result {
    f.write_str("0x")?;
    v.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

fn write_text(f: &mut fmt::Formatter<'_>, v: &[u8]) -> fmt::Result {
    for chunk in v.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                f.write_str("\\\\")?;
            } else if forges_log_lines(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        if !chunk.invalid().is_empty() {
            f.write_char(char::REPLACEMENT_CHARACTER)?;
        }
    }
    Ok(())
}

/// Characters that would let an attribute value start a new log line or make a terminal
/// show text in a different order than it is stored ("Trojan Source", CVE-2021-42574).
fn forges_log_lines(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// FreeRADIUS's other spellings, accepted by [`by_name`] so configuration copied from a
/// FreeRADIUS `users` file still resolves.
static ALIASES: &[(&str, u32, u8)] = &[
    (
        "MS-MPPE-Encryption-Type",
        vendor::MICROSOFT,
        ms::MPPE_ENCRYPTION_TYPES,
    ),
    (
        "MS-ARAP-Password-Change-Reason",
        vendor::MICROSOFT,
        ms::ARAP_PW_CHANGE_REASON,
    ),
    (
        "Mikortik-DHCP-Option-ParamSTR2",
        vendor::MIKROTIK,
        mikrotik::DHCP_OPTION_PARAM_STR2,
    ),
    (
        "Mikortik-DHCP-Option-Param-STR2",
        vendor::MIKROTIK,
        mikrotik::DHCP_OPTION_PARAM_STR2,
    ),
    (
        "Mikrotik-Wireless-VLANIDtype",
        vendor::MIKROTIK,
        mikrotik::WIRELESS_VLANID_TYPE,
    ),
];

const fn standard(code: u8, name: &'static str, ty: ValueType) -> AttrDef {
    AttrDef {
        name,
        vendor: 0,
        code,
        ty,
        values: &[],
        encrypted: None,
        sensitive: false,
    }
}

const fn standard_enum(
    code: u8,
    name: &'static str,
    values: &'static [(u32, &'static str)],
) -> AttrDef {
    AttrDef {
        name,
        vendor: 0,
        code,
        ty: ValueType::Enum,
        values,
        encrypted: None,
        sensitive: false,
    }
}

const fn tagged_enum(
    code: u8,
    name: &'static str,
    values: &'static [(u32, &'static str)],
) -> AttrDef {
    AttrDef {
        name,
        vendor: 0,
        code,
        ty: ValueType::TaggedInteger,
        values,
        encrypted: None,
        sensitive: false,
    }
}

const fn vendor_attr(vendor: u32, code: u8, name: &'static str, ty: ValueType) -> AttrDef {
    AttrDef {
        name,
        vendor,
        code,
        ty,
        values: &[],
        encrypted: None,
        sensitive: false,
    }
}

const fn vendor_enum(
    vendor: u32,
    code: u8,
    name: &'static str,
    values: &'static [(u32, &'static str)],
) -> AttrDef {
    AttrDef {
        name,
        vendor,
        code,
        ty: ValueType::Enum,
        values,
        encrypted: None,
        sensitive: false,
    }
}

const SERVICE_TYPE_NAMES: &[(u32, &str)] = {
    use values::service_type::*;
    &[
        (LOGIN, "Login-User"),
        (FRAMED, "Framed-User"),
        (CALLBACK_LOGIN, "Callback-Login-User"),
        (CALLBACK_FRAMED, "Callback-Framed-User"),
        (OUTBOUND, "Outbound-User"),
        (ADMINISTRATIVE, "Administrative-User"),
        (NAS_PROMPT, "NAS-Prompt-User"),
        (AUTHENTICATE_ONLY, "Authenticate-Only"),
        (CALLBACK_NAS_PROMPT, "Callback-NAS-Prompt"),
        (CALL_CHECK, "Call-Check"),
        (CALLBACK_ADMINISTRATIVE, "Callback-Administrative"),
        (AUTHORIZE_ONLY, "Authorize-Only"),
    ]
};

const FRAMED_PROTOCOL_NAMES: &[(u32, &str)] = {
    use values::framed_protocol::*;
    &[
        (PPP, "PPP"),
        (SLIP, "SLIP"),
        (ARAP, "ARAP"),
        (GANDALF_SLML, "Gandalf-SLML"),
        (XYLOGICS_IPX_SLIP, "Xylogics-IPX-SLIP"),
        (X75_SYNCHRONOUS, "X.75-Synchronous"),
    ]
};

const FRAMED_ROUTING_NAMES: &[(u32, &str)] = {
    use values::framed_routing::*;
    &[
        (NONE, "None"),
        (BROADCAST, "Broadcast"),
        (LISTEN, "Listen"),
        (BROADCAST_LISTEN, "Broadcast-Listen"),
    ]
};

const FRAMED_COMPRESSION_NAMES: &[(u32, &str)] = {
    use values::framed_compression::*;
    &[
        (NONE, "None"),
        (VAN_JACOBSON_TCP_IP, "Van-Jacobson-TCP-IP"),
        (IPX_HEADER_COMPRESSION, "IPX-Header-Compression"),
        (STAC_LZS, "Stac-LZS"),
    ]
};

const LOGIN_SERVICE_NAMES: &[(u32, &str)] = {
    use values::login_service::*;
    &[
        (TELNET, "Telnet"),
        (RLOGIN, "Rlogin"),
        (TCP_CLEAR, "TCP-Clear"),
        (PORTMASTER, "PortMaster"),
        (LAT, "LAT"),
        (X25_PAD, "X25-PAD"),
        (X25_T3POS, "X25-T3POS"),
        (TCP_CLEAR_QUIET, "TCP-Clear-Quiet"),
    ]
};

/// Well-known ports FreeRADIUS names for Login-TCP-Port (RFC 2865 §5.16).
const LOGIN_TCP_PORT_NAMES: &[(u32, &str)] = &[(23, "Telnet"), (513, "Rlogin"), (514, "Rsh")];

const TERMINATION_ACTION_NAMES: &[(u32, &str)] = {
    use values::termination_action::*;
    &[(DEFAULT, "Default"), (RADIUS_REQUEST, "RADIUS-Request")]
};

const NAS_PORT_TYPE_NAMES: &[(u32, &str)] = {
    use values::nas_port_type::*;
    &[
        (ASYNC, "Async"),
        (SYNC, "Sync"),
        (ISDN, "ISDN"),
        (ISDN_V120, "ISDN-V120"),
        (ISDN_V110, "ISDN-V110"),
        (VIRTUAL, "Virtual"),
        (PIAFS, "PIAFS"),
        (HDLC_CLEAR_CHANNEL, "HDLC-Clear-Channel"),
        (X25, "X.25"),
        (X75, "X.75"),
        (G3_FAX, "G.3-Fax"),
        (SDSL, "SDSL"),
        (ADSL_CAP, "ADSL-CAP"),
        (ADSL_DMT, "ADSL-DMT"),
        (IDSL, "IDSL"),
        (ETHERNET, "Ethernet"),
        (XDSL, "xDSL"),
        (CABLE, "Cable"),
        (WIRELESS_OTHER, "Wireless-Other"),
        (WIRELESS_802_11, "Wireless-802.11"),
        (TOKEN_RING, "Token-Ring"),
        (FDDI, "FDDI"),
        (WIRELESS_CDMA2000, "Wireless-CDMA2000"),
        (WIRELESS_UMTS, "Wireless-UMTS"),
        (WIRELESS_1X_EV, "Wireless-1X-EV"),
        (IAPP, "IAPP"),
        (FTTP, "FTTP"),
        (WIRELESS_802_16, "Wireless-802.16"),
        (WIRELESS_802_20, "Wireless-802.20"),
        (WIRELESS_802_22, "Wireless-802.22"),
        (PPPOA, "PPPoA"),
        (PPPOEOA, "PPPoEoA"),
        (PPPOEOE, "PPPoEoE"),
        (PPPOEOVLAN, "PPPoEoVLAN"),
        (PPPOEOQINQ, "PPPoEoQinQ"),
        (XPON, "xPON"),
        (WIRELESS_XGP, "Wireless-XGP"),
    ]
};

const ACCT_STATUS_TYPE_NAMES: &[(u32, &str)] = {
    use values::acct_status_type::*;
    &[
        (START, "Start"),
        (STOP, "Stop"),
        (INTERIM_UPDATE, "Interim-Update"),
        (ACCOUNTING_ON, "Accounting-On"),
        (ACCOUNTING_OFF, "Accounting-Off"),
        (TUNNEL_START, "Tunnel-Start"),
        (TUNNEL_STOP, "Tunnel-Stop"),
        (TUNNEL_REJECT, "Tunnel-Reject"),
        (TUNNEL_LINK_START, "Tunnel-Link-Start"),
        (TUNNEL_LINK_STOP, "Tunnel-Link-Stop"),
        (TUNNEL_LINK_REJECT, "Tunnel-Link-Reject"),
        (FAILED, "Failed"),
    ]
};

const ACCT_AUTHENTIC_NAMES: &[(u32, &str)] = {
    use values::acct_authentic::*;
    &[
        (RADIUS, "RADIUS"),
        (LOCAL, "Local"),
        (REMOTE, "Remote"),
        (DIAMETER, "Diameter"),
    ]
};

const ACCT_TERMINATE_CAUSE_NAMES: &[(u32, &str)] = {
    use values::acct_terminate_cause::*;
    &[
        (USER_REQUEST, "User-Request"),
        (LOST_CARRIER, "Lost-Carrier"),
        (LOST_SERVICE, "Lost-Service"),
        (IDLE_TIMEOUT, "Idle-Timeout"),
        (SESSION_TIMEOUT, "Session-Timeout"),
        (ADMIN_RESET, "Admin-Reset"),
        (ADMIN_REBOOT, "Admin-Reboot"),
        (PORT_ERROR, "Port-Error"),
        (NAS_ERROR, "NAS-Error"),
        (NAS_REQUEST, "NAS-Request"),
        (NAS_REBOOT, "NAS-Reboot"),
        (PORT_UNNEEDED, "Port-Unneeded"),
        (PORT_PREEMPTED, "Port-Preempted"),
        (PORT_SUSPENDED, "Port-Suspended"),
        (SERVICE_UNAVAILABLE, "Service-Unavailable"),
        (CALLBACK, "Callback"),
        (USER_ERROR, "User-Error"),
        (HOST_REQUEST, "Host-Request"),
        (SUPPLICANT_RESTART, "Supplicant-Restart"),
        (REAUTHENTICATION_FAILURE, "Reauthentication-Failure"),
        (PORT_REINITIALIZED, "Port-Reinit"),
        (PORT_ADMINISTRATIVELY_DISABLED, "Port-Disabled"),
    ]
};

/// RFC 2869 §5.6.
const ARAP_ZONE_ACCESS_NAMES: &[(u32, &str)] = &[
    (1, "Default-Zone"),
    (2, "Zone-Filter-Inclusive"),
    (4, "Zone-Filter-Exclusive"),
];

const PROMPT_NAMES: &[(u32, &str)] = {
    use values::prompt::*;
    &[(NO_ECHO, "No-Echo"), (ECHO, "Echo")]
};

const TUNNEL_TYPE_NAMES: &[(u32, &str)] = {
    use values::tunnel_type::*;
    &[
        (PPTP, "PPTP"),
        (L2F, "L2F"),
        (L2TP, "L2TP"),
        (ATMP, "ATMP"),
        (VTP, "VTP"),
        (AH, "AH"),
        (IP_IP, "IP"),
        (MIN_IP_IP, "MIN-IP"),
        (ESP, "ESP"),
        (GRE, "GRE"),
        (DVS, "DVS"),
        (IP_IN_IP, "IP-in-IP"),
        (VLAN, "VLAN"),
    ]
};

const TUNNEL_MEDIUM_TYPE_NAMES: &[(u32, &str)] = {
    use values::tunnel_medium_type::*;
    &[
        (IPV4, "IPv4"),
        (IPV6, "IPv6"),
        (NSAP, "NSAP"),
        (HDLC, "HDLC"),
        (BBN_1822, "BBN-1822"),
        (IEEE_802, "IEEE-802"),
        (E163, "E.163"),
        (E164, "E.164"),
        (F69, "F.69"),
        (X121, "X.121"),
        (IPX, "IPX"),
        (APPLETALK, "Appletalk"),
        (DECNET_IV, "DecNet-IV"),
        (BANYAN_VINES, "Banyan-Vines"),
        (E164_NSAP, "E.164-NSAP"),
    ]
};

const ERROR_CAUSE_NAMES: &[(u32, &str)] = {
    use values::error_cause::*;
    &[
        (RESIDUAL_SESSION_CONTEXT_REMOVED, "Residual-Context-Removed"),
        (INVALID_EAP_PACKET, "Invalid-EAP-Packet"),
        (UNSUPPORTED_ATTRIBUTE, "Unsupported-Attribute"),
        (MISSING_ATTRIBUTE, "Missing-Attribute"),
        (NAS_IDENTIFICATION_MISMATCH, "NAS-Identification-Mismatch"),
        (INVALID_REQUEST, "Invalid-Request"),
        (UNSUPPORTED_SERVICE, "Unsupported-Service"),
        (UNSUPPORTED_EXTENSION, "Unsupported-Extension"),
        (INVALID_ATTRIBUTE_VALUE, "Invalid-Attribute-Value"),
        (ADMINISTRATIVELY_PROHIBITED, "Administratively-Prohibited"),
        (REQUEST_NOT_ROUTABLE, "Proxy-Request-Not-Routable"),
        (SESSION_CONTEXT_NOT_FOUND, "Session-Context-Not-Found"),
        (
            SESSION_CONTEXT_NOT_REMOVABLE,
            "Session-Context-Not-Removable",
        ),
        (OTHER_PROXY_PROCESSING_ERROR, "Proxy-Processing-Error"),
        (RESOURCES_UNAVAILABLE, "Resources-Unavailable"),
        (REQUEST_INITIATED, "Request-Initiated"),
        (
            MULTIPLE_SESSION_SELECTION_UNSUPPORTED,
            "Multiple-Session-Selection-Unsupported",
        ),
    ]
};

const MS_MPPE_ENCRYPTION_POLICY_NAMES: &[(u32, &str)] = {
    use values::ms_mppe_encryption_policy::*;
    &[
        (ENCRYPTION_ALLOWED, "Encryption-Allowed"),
        (ENCRYPTION_REQUIRED, "Encryption-Required"),
    ]
};

const MS_MPPE_ENCRYPTION_TYPES_NAMES: &[(u32, &str)] = {
    use values::ms_mppe_encryption_types::*;
    &[
        (RC4_40BIT_ALLOWED, "RC4-40bit-Allowed"),
        (RC4_128BIT_ALLOWED, "RC4-128bit-Allowed"),
        (RC4_40OR128_BIT_ALLOWED, "RC4-40or128-bit-Allowed"),
    ]
};

/// RFC 2548 §2.5.1.
const MS_BAP_USAGE_NAMES: &[(u32, &str)] = &[(0, "Not-Allowed"), (1, "Allowed"), (2, "Required")];

/// RFC 2548 §2.6.3.
const MS_ARAP_PW_CHANGE_REASON_NAMES: &[(u32, &str)] = &[
    (1, "Just-Change-Password"),
    (2, "Expired-Password"),
    (3, "Admin-Requires-Password-Change"),
    (4, "Password-Too-Short"),
];

/// RFC 2548 §2.7.4.
const MS_ACCT_AUTH_TYPE_NAMES: &[(u32, &str)] = &[
    (1, "PAP"),
    (2, "CHAP"),
    (3, "MS-CHAP-1"),
    (4, "MS-CHAP-2"),
    (5, "EAP"),
];

/// RFC 2548 §2.7.5 (EAP method numbers).
const MS_ACCT_EAP_TYPE_NAMES: &[(u32, &str)] = &[
    (4, "MD5"),
    (5, "OTP"),
    (6, "Generic-Token-Card"),
    (13, "TLS"),
];

/// RouterOS wireless encryption algorithms.
const MIKROTIK_WIRELESS_ENC_ALGO_NAMES: &[(u32, &str)] = &[
    (0, "No-encryption"),
    (1, "40-bit-WEP"),
    (2, "104-bit-WEP"),
    (3, "AES-CCM"),
    (4, "TKIP"),
];

/// RouterOS wireless VLAN tag types.
const MIKROTIK_WIRELESS_VLANID_TYPE_NAMES: &[(u32, &str)] = &[(0, "802.1q"), (1, "802.1ad")];

/// Standard attributes, in code order. Attribute 54 is left out: RFC 2869 lists it only
/// as unused.
static STANDARD: &[AttrDef] = {
    use ValueType as Ty;
    use attr::*;
    &[
        standard(USER_NAME, "User-Name", Ty::String),
        standard(USER_PASSWORD, "User-Password", Ty::String).hidden(Encryption::UserPassword),
        standard(CHAP_PASSWORD, "CHAP-Password", Ty::Octets).sensitive(),
        standard(NAS_IP_ADDRESS, "NAS-IP-Address", Ty::IpAddr),
        standard(NAS_PORT, "NAS-Port", Ty::Integer),
        standard_enum(SERVICE_TYPE, "Service-Type", SERVICE_TYPE_NAMES),
        standard_enum(FRAMED_PROTOCOL, "Framed-Protocol", FRAMED_PROTOCOL_NAMES),
        standard(FRAMED_IP_ADDRESS, "Framed-IP-Address", Ty::IpAddr),
        standard(FRAMED_IP_NETMASK, "Framed-IP-Netmask", Ty::IpAddr),
        standard_enum(FRAMED_ROUTING, "Framed-Routing", FRAMED_ROUTING_NAMES),
        standard(FILTER_ID, "Filter-Id", Ty::String),
        standard(FRAMED_MTU, "Framed-MTU", Ty::Integer),
        standard_enum(
            FRAMED_COMPRESSION,
            "Framed-Compression",
            FRAMED_COMPRESSION_NAMES,
        ),
        standard(LOGIN_IP_HOST, "Login-IP-Host", Ty::IpAddr),
        standard_enum(LOGIN_SERVICE, "Login-Service", LOGIN_SERVICE_NAMES),
        standard_enum(LOGIN_TCP_PORT, "Login-TCP-Port", LOGIN_TCP_PORT_NAMES),
        standard(REPLY_MESSAGE, "Reply-Message", Ty::String),
        standard(CALLBACK_NUMBER, "Callback-Number", Ty::String),
        standard(CALLBACK_ID, "Callback-Id", Ty::String),
        standard(FRAMED_ROUTE, "Framed-Route", Ty::String),
        // An IPX network number; FreeRADIUS shows it as a dotted quad.
        standard(FRAMED_IPX_NETWORK, "Framed-IPX-Network", Ty::IpAddr),
        standard(STATE, "State", Ty::Octets),
        standard(CLASS, "Class", Ty::Octets),
        standard(VENDOR_SPECIFIC, "Vendor-Specific", Ty::Vsa),
        standard(SESSION_TIMEOUT, "Session-Timeout", Ty::Integer),
        standard(IDLE_TIMEOUT, "Idle-Timeout", Ty::Integer),
        standard_enum(
            TERMINATION_ACTION,
            "Termination-Action",
            TERMINATION_ACTION_NAMES,
        ),
        standard(CALLED_STATION_ID, "Called-Station-Id", Ty::String),
        standard(CALLING_STATION_ID, "Calling-Station-Id", Ty::String),
        standard(NAS_IDENTIFIER, "NAS-Identifier", Ty::String),
        standard(PROXY_STATE, "Proxy-State", Ty::Octets),
        standard(LOGIN_LAT_SERVICE, "Login-LAT-Service", Ty::String),
        standard(LOGIN_LAT_NODE, "Login-LAT-Node", Ty::String),
        standard(LOGIN_LAT_GROUP, "Login-LAT-Group", Ty::Octets),
        standard(FRAMED_APPLETALK_LINK, "Framed-AppleTalk-Link", Ty::Integer),
        standard(
            FRAMED_APPLETALK_NETWORK,
            "Framed-AppleTalk-Network",
            Ty::Integer,
        ),
        standard(FRAMED_APPLETALK_ZONE, "Framed-AppleTalk-Zone", Ty::String),
        standard_enum(ACCT_STATUS_TYPE, "Acct-Status-Type", ACCT_STATUS_TYPE_NAMES),
        standard(ACCT_DELAY_TIME, "Acct-Delay-Time", Ty::Integer),
        standard(ACCT_INPUT_OCTETS, "Acct-Input-Octets", Ty::Integer),
        standard(ACCT_OUTPUT_OCTETS, "Acct-Output-Octets", Ty::Integer),
        standard(ACCT_SESSION_ID, "Acct-Session-Id", Ty::String),
        standard_enum(ACCT_AUTHENTIC, "Acct-Authentic", ACCT_AUTHENTIC_NAMES),
        standard(ACCT_SESSION_TIME, "Acct-Session-Time", Ty::Integer),
        standard(ACCT_INPUT_PACKETS, "Acct-Input-Packets", Ty::Integer),
        standard(ACCT_OUTPUT_PACKETS, "Acct-Output-Packets", Ty::Integer),
        standard_enum(
            ACCT_TERMINATE_CAUSE,
            "Acct-Terminate-Cause",
            ACCT_TERMINATE_CAUSE_NAMES,
        ),
        standard(ACCT_MULTI_SESSION_ID, "Acct-Multi-Session-Id", Ty::String),
        standard(ACCT_LINK_COUNT, "Acct-Link-Count", Ty::Integer),
        standard(ACCT_INPUT_GIGAWORDS, "Acct-Input-Gigawords", Ty::Integer),
        standard(ACCT_OUTPUT_GIGAWORDS, "Acct-Output-Gigawords", Ty::Integer),
        standard(EVENT_TIMESTAMP, "Event-Timestamp", Ty::Date),
        standard(CHAP_CHALLENGE, "CHAP-Challenge", Ty::Octets),
        standard_enum(NAS_PORT_TYPE, "NAS-Port-Type", NAS_PORT_TYPE_NAMES),
        standard(PORT_LIMIT, "Port-Limit", Ty::Integer),
        standard(LOGIN_LAT_PORT, "Login-LAT-Port", Ty::String),
        tagged_enum(TUNNEL_TYPE, "Tunnel-Type", TUNNEL_TYPE_NAMES),
        tagged_enum(
            TUNNEL_MEDIUM_TYPE,
            "Tunnel-Medium-Type",
            TUNNEL_MEDIUM_TYPE_NAMES,
        ),
        standard(
            TUNNEL_CLIENT_ENDPOINT,
            "Tunnel-Client-Endpoint",
            Ty::TaggedString,
        ),
        standard(
            TUNNEL_SERVER_ENDPOINT,
            "Tunnel-Server-Endpoint",
            Ty::TaggedString,
        ),
        standard(ACCT_TUNNEL_CONNECTION, "Acct-Tunnel-Connection", Ty::String),
        standard(TUNNEL_PASSWORD, "Tunnel-Password", Ty::TaggedString)
            .hidden(Encryption::TunnelPassword),
        standard(ARAP_PASSWORD, "ARAP-Password", Ty::Octets).sensitive(),
        standard(ARAP_FEATURES, "ARAP-Features", Ty::Octets),
        standard_enum(ARAP_ZONE_ACCESS, "ARAP-Zone-Access", ARAP_ZONE_ACCESS_NAMES),
        standard(ARAP_SECURITY, "ARAP-Security", Ty::Integer),
        standard(ARAP_SECURITY_DATA, "ARAP-Security-Data", Ty::String),
        standard(PASSWORD_RETRY, "Password-Retry", Ty::Integer),
        standard_enum(PROMPT, "Prompt", PROMPT_NAMES),
        standard(CONNECT_INFO, "Connect-Info", Ty::String),
        standard(CONFIGURATION_TOKEN, "Configuration-Token", Ty::String),
        standard(EAP_MESSAGE, "EAP-Message", Ty::Octets),
        standard(MESSAGE_AUTHENTICATOR, "Message-Authenticator", Ty::Octets),
        standard(
            TUNNEL_PRIVATE_GROUP_ID,
            "Tunnel-Private-Group-Id",
            Ty::TaggedString,
        ),
        standard(
            TUNNEL_ASSIGNMENT_ID,
            "Tunnel-Assignment-Id",
            Ty::TaggedString,
        ),
        standard(TUNNEL_PREFERENCE, "Tunnel-Preference", Ty::TaggedInteger),
        standard(
            ARAP_CHALLENGE_RESPONSE,
            "ARAP-Challenge-Response",
            Ty::Octets,
        ),
        standard(ACCT_INTERIM_INTERVAL, "Acct-Interim-Interval", Ty::Integer),
        standard(
            ACCT_TUNNEL_PACKETS_LOST,
            "Acct-Tunnel-Packets-Lost",
            Ty::Integer,
        ),
        standard(NAS_PORT_ID, "NAS-Port-Id", Ty::String),
        standard(FRAMED_POOL, "Framed-Pool", Ty::String),
        standard(
            CHARGEABLE_USER_IDENTITY,
            "Chargeable-User-Identity",
            Ty::Octets,
        ),
        standard(
            TUNNEL_CLIENT_AUTH_ID,
            "Tunnel-Client-Auth-Id",
            Ty::TaggedString,
        ),
        standard(
            TUNNEL_SERVER_AUTH_ID,
            "Tunnel-Server-Auth-Id",
            Ty::TaggedString,
        ),
        standard(NAS_IPV6_ADDRESS, "NAS-IPv6-Address", Ty::Ipv6Addr),
        standard(FRAMED_INTERFACE_ID, "Framed-Interface-Id", Ty::Ifid),
        standard(FRAMED_IPV6_PREFIX, "Framed-IPv6-Prefix", Ty::Ipv6Prefix),
        standard(LOGIN_IPV6_HOST, "Login-IPv6-Host", Ty::Ipv6Addr),
        standard(FRAMED_IPV6_ROUTE, "Framed-IPv6-Route", Ty::String),
        standard(FRAMED_IPV6_POOL, "Framed-IPv6-Pool", Ty::String),
        standard_enum(ERROR_CAUSE, "Error-Cause", ERROR_CAUSE_NAMES),
        standard(
            DELEGATED_IPV6_PREFIX,
            "Delegated-IPv6-Prefix",
            Ty::Ipv6Prefix,
        ),
        standard(FRAMED_IPV6_ADDRESS, "Framed-IPv6-Address", Ty::Ipv6Addr),
        standard(
            DNS_SERVER_IPV6_ADDRESS,
            "DNS-Server-IPv6-Address",
            Ty::Ipv6Addr,
        ),
        standard(
            ROUTE_IPV6_INFORMATION,
            "Route-IPv6-Information",
            Ty::Ipv6Prefix,
        ),
        standard(
            DELEGATED_IPV6_PREFIX_POOL,
            "Delegated-IPv6-Prefix-Pool",
            Ty::String,
        ),
        standard(
            STATEFUL_IPV6_ADDRESS_POOL,
            "Stateful-IPv6-Address-Pool",
            Ty::String,
        ),
    ]
};

/// Microsoft attributes (RFC 2548), in code order.
static MICROSOFT: &[AttrDef] = {
    use ValueType as Ty;
    use ms::*;
    const fn m(code: u8, name: &'static str, ty: ValueType) -> AttrDef {
        vendor_attr(vendor::MICROSOFT, code, name, ty)
    }
    const fn e(code: u8, name: &'static str, values: &'static [(u32, &'static str)]) -> AttrDef {
        vendor_enum(vendor::MICROSOFT, code, name, values)
    }
    &[
        m(CHAP_RESPONSE, "MS-CHAP-Response", Ty::Octets).sensitive(),
        m(CHAP_ERROR, "MS-CHAP-Error", Ty::String),
        m(CHAP_CPW_1, "MS-CHAP-CPW-1", Ty::Octets).sensitive(),
        m(CHAP_CPW_2, "MS-CHAP-CPW-2", Ty::Octets).sensitive(),
        m(CHAP_LM_ENC_PW, "MS-CHAP-LM-Enc-PW", Ty::Octets).sensitive(),
        m(CHAP_NT_ENC_PW, "MS-CHAP-NT-Enc-PW", Ty::Octets).sensitive(),
        e(
            MPPE_ENCRYPTION_POLICY,
            "MS-MPPE-Encryption-Policy",
            MS_MPPE_ENCRYPTION_POLICY_NAMES,
        ),
        e(
            MPPE_ENCRYPTION_TYPES,
            "MS-MPPE-Encryption-Types",
            MS_MPPE_ENCRYPTION_TYPES_NAMES,
        ),
        m(RAS_VENDOR, "MS-RAS-Vendor", Ty::Integer),
        m(CHAP_DOMAIN, "MS-CHAP-Domain", Ty::String),
        m(CHAP_CHALLENGE, "MS-CHAP-Challenge", Ty::Octets),
        m(CHAP_MPPE_KEYS, "MS-CHAP-MPPE-Keys", Ty::Octets).hidden(Encryption::MsChapMppeKeys),
        e(BAP_USAGE, "MS-BAP-Usage", MS_BAP_USAGE_NAMES),
        m(
            LINK_UTILIZATION_THRESHOLD,
            "MS-Link-Utilization-Threshold",
            Ty::Integer,
        ),
        m(LINK_DROP_TIME_LIMIT, "MS-Link-Drop-Time-Limit", Ty::Integer),
        m(MPPE_SEND_KEY, "MS-MPPE-Send-Key", Ty::Octets).hidden(Encryption::MsMppeKey),
        m(MPPE_RECV_KEY, "MS-MPPE-Recv-Key", Ty::Octets).hidden(Encryption::MsMppeKey),
        m(RAS_VERSION, "MS-RAS-Version", Ty::String),
        m(OLD_ARAP_PASSWORD, "MS-Old-ARAP-Password", Ty::Octets).sensitive(),
        m(NEW_ARAP_PASSWORD, "MS-New-ARAP-Password", Ty::Octets).sensitive(),
        e(
            ARAP_PW_CHANGE_REASON,
            "MS-ARAP-PW-Change-Reason",
            MS_ARAP_PW_CHANGE_REASON_NAMES,
        ),
        m(FILTER, "MS-Filter", Ty::Octets),
        e(ACCT_AUTH_TYPE, "MS-Acct-Auth-Type", MS_ACCT_AUTH_TYPE_NAMES),
        e(ACCT_EAP_TYPE, "MS-Acct-EAP-Type", MS_ACCT_EAP_TYPE_NAMES),
        m(CHAP2_RESPONSE, "MS-CHAP2-Response", Ty::Octets).sensitive(),
        m(CHAP2_SUCCESS, "MS-CHAP2-Success", Ty::Octets),
        m(CHAP2_CPW, "MS-CHAP2-CPW", Ty::Octets),
        m(PRIMARY_DNS_SERVER, "MS-Primary-DNS-Server", Ty::IpAddr),
        m(SECONDARY_DNS_SERVER, "MS-Secondary-DNS-Server", Ty::IpAddr),
        m(PRIMARY_NBNS_SERVER, "MS-Primary-NBNS-Server", Ty::IpAddr),
        m(
            SECONDARY_NBNS_SERVER,
            "MS-Secondary-NBNS-Server",
            Ty::IpAddr,
        ),
        m(ARAP_CHALLENGE, "MS-ARAP-Challenge", Ty::Octets),
    ]
};

/// MikroTik attributes, in code order.
static MIKROTIK: &[AttrDef] = {
    use ValueType as Ty;
    use mikrotik::*;
    const fn m(code: u8, name: &'static str, ty: ValueType) -> AttrDef {
        vendor_attr(vendor::MIKROTIK, code, name, ty)
    }
    const fn e(code: u8, name: &'static str, values: &'static [(u32, &'static str)]) -> AttrDef {
        vendor_enum(vendor::MIKROTIK, code, name, values)
    }
    &[
        m(RECV_LIMIT, "Mikrotik-Recv-Limit", Ty::Integer),
        m(XMIT_LIMIT, "Mikrotik-Xmit-Limit", Ty::Integer),
        m(GROUP, "Mikrotik-Group", Ty::String),
        m(WIRELESS_FORWARD, "Mikrotik-Wireless-Forward", Ty::Integer),
        m(
            WIRELESS_SKIP_DOT1X,
            "Mikrotik-Wireless-Skip-Dot1x",
            Ty::Integer,
        ),
        e(
            WIRELESS_ENC_ALGO,
            "Mikrotik-Wireless-Enc-Algo",
            MIKROTIK_WIRELESS_ENC_ALGO_NAMES,
        ),
        m(WIRELESS_ENC_KEY, "Mikrotik-Wireless-Enc-Key", Ty::String).sensitive(),
        m(RATE_LIMIT, "Mikrotik-Rate-Limit", Ty::String),
        m(REALM, "Mikrotik-Realm", Ty::String),
        m(HOST_IP, "Mikrotik-Host-IP", Ty::IpAddr),
        m(MARK_ID, "Mikrotik-Mark-Id", Ty::String),
        m(ADVERTISE_URL, "Mikrotik-Advertise-URL", Ty::String),
        m(
            ADVERTISE_INTERVAL,
            "Mikrotik-Advertise-Interval",
            Ty::Integer,
        ),
        m(
            RECV_LIMIT_GIGAWORDS,
            "Mikrotik-Recv-Limit-Gigawords",
            Ty::Integer,
        ),
        m(
            XMIT_LIMIT_GIGAWORDS,
            "Mikrotik-Xmit-Limit-Gigawords",
            Ty::Integer,
        ),
        m(WIRELESS_PSK, "Mikrotik-Wireless-PSK", Ty::String).sensitive(),
        m(TOTAL_LIMIT, "Mikrotik-Total-Limit", Ty::Integer),
        m(
            TOTAL_LIMIT_GIGAWORDS,
            "Mikrotik-Total-Limit-Gigawords",
            Ty::Integer,
        ),
        m(ADDRESS_LIST, "Mikrotik-Address-List", Ty::String),
        m(WIRELESS_MPKEY, "Mikrotik-Wireless-MPKey", Ty::String).sensitive(),
        m(WIRELESS_COMMENT, "Mikrotik-Wireless-Comment", Ty::String),
        m(
            DELEGATED_IPV6_POOL,
            "Mikrotik-Delegated-IPv6-Pool",
            Ty::String,
        ),
        m(DHCP_OPTION_SET, "Mikrotik-DHCP-Option-Set", Ty::String),
        m(
            DHCP_OPTION_PARAM_STR1,
            "Mikrotik-DHCP-Option-Param-STR1",
            Ty::String,
        ),
        m(
            DHCP_OPTION_PARAM_STR2,
            "Mikrotik-DHCP-Option-Param-STR2",
            Ty::String,
        ),
        m(WIRELESS_VLANID, "Mikrotik-Wireless-VLANID", Ty::Integer),
        e(
            WIRELESS_VLANID_TYPE,
            "Mikrotik-Wireless-VLANID-Type",
            MIKROTIK_WIRELESS_VLANID_TYPE_NAMES,
        ),
        m(
            WIRELESS_MINSIGNAL,
            "Mikrotik-Wireless-Minsignal",
            Ty::String,
        ),
        m(
            WIRELESS_MAXSIGNAL,
            "Mikrotik-Wireless-Maxsignal",
            Ty::String,
        ),
        m(SWITCHING_FILTER, "Mikrotik-Switching-Filter", Ty::String),
    ]
};

/// Standard attributes by code. Built at compile time; a duplicate code or a vendor entry
/// in [`STANDARD`] fails the build.
static STANDARD_INDEX: [Option<&AttrDef>; 256] = index_standard(STANDARD);

const fn index_standard(defs: &'static [AttrDef]) -> [Option<&'static AttrDef>; 256] {
    let mut index: [Option<&'static AttrDef>; 256] = [None; 256];
    let mut i = 0;
    while i < defs.len() {
        let def = &defs[i];
        assert!(def.vendor == 0, "vendor attribute in the standard table");
        let slot = def.code as usize;
        assert!(index[slot].is_none(), "duplicate standard attribute code");
        index[slot] = Some(def);
        i += 1;
    }
    index
}

/// Whether a vendor table is strictly ascending by code (so binary search finds every
/// entry and no code appears twice) and all of one vendor.
const fn is_vendor_table(defs: &[AttrDef], vendor: u32) -> bool {
    let mut i = 0;
    while i < defs.len() {
        if defs[i].vendor != vendor || (i > 0 && defs[i - 1].code >= defs[i].code) {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(is_vendor_table(MICROSOFT, vendor::MICROSOFT));
const _: () = assert!(is_vendor_table(MIKROTIK, vendor::MIKROTIK));

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn show(vendor: u32, code: u8, value: &[u8]) -> String {
        let def = lookup(vendor, code);
        assert!(def.is_some(), "no entry for {vendor}/{code}");
        display_value(def, value).to_string()
    }

    #[test]
    fn vendor_and_code_are_unique() {
        let mut seen = HashSet::new();
        for def in all() {
            assert!(seen.insert((def.vendor, def.code)), "{} repeats", def.name);
        }
        assert_eq!(
            seen.len(),
            STANDARD.len() + MICROSOFT.len() + MIKROTIK.len()
        );
    }

    #[test]
    fn names_are_unique_ignoring_case() {
        let mut seen = HashSet::new();
        for def in all() {
            assert!(
                seen.insert(def.name.to_ascii_lowercase()),
                "{} repeats",
                def.name
            );
        }
        for (alias, _, _) in ALIASES {
            assert!(
                !seen.contains(&alias.to_ascii_lowercase()),
                "{alias} shadows an entry"
            );
        }
    }

    #[test]
    fn lookup_and_by_name_round_trip() {
        for def in all() {
            let found = lookup(def.vendor, def.code);
            assert!(
                found.is_some_and(|d| std::ptr::eq(d, def)),
                "lookup {}",
                def.name
            );
            assert_eq!(name(def.vendor, def.code), Some(def.name));
            for spelling in [
                def.name.to_string(),
                def.name.to_ascii_lowercase(),
                def.name.to_ascii_uppercase(),
            ] {
                let found = by_name(&spelling);
                assert!(
                    found.is_some_and(|d| std::ptr::eq(d, def)),
                    "by_name {spelling}"
                );
            }
        }
    }

    #[test]
    fn aliases_resolve() {
        for (alias, vendor, code) in ALIASES {
            let def = by_name(alias);
            assert!(
                def.is_some_and(|d| d.vendor == *vendor && d.code == *code),
                "{alias}"
            );
        }
        assert_eq!(by_name("ms-mppe-encryption-type").map(|d| d.code), Some(8));
        assert_eq!(by_name("Tunnel-Private-Group-ID").map(|d| d.code), Some(81));
    }

    #[test]
    fn unknown_attributes_are_none() {
        assert!(lookup(0, 0).is_none());
        assert!(lookup(0, 17).is_none());
        assert!(lookup(0, 54).is_none());
        assert!(lookup(0, 255).is_none());
        assert!(lookup(vendor::MICROSOFT, 32).is_none());
        assert!(lookup(vendor::MIKROTIK, 31).is_none());
        assert!(lookup(9, 1).is_none());
        assert!(by_name("No-Such-Attribute").is_none());
        assert!(by_name("").is_none());
        assert_eq!(name(0, 200), None);
    }

    #[test]
    fn known_numbers() {
        assert_eq!(attr::USER_NAME, 1);
        assert_eq!(attr::USER_PASSWORD, 2);
        assert_eq!(attr::CHAP_PASSWORD, 3);
        assert_eq!(attr::VENDOR_SPECIFIC, 26);
        assert_eq!(attr::ACCT_STATUS_TYPE, 40);
        assert_eq!(attr::ACCT_TERMINATE_CAUSE, 49);
        assert_eq!(attr::EVENT_TIMESTAMP, 55);
        assert_eq!(attr::NAS_PORT_TYPE, 61);
        assert_eq!(attr::TUNNEL_PASSWORD, 69);
        assert_eq!(attr::EAP_MESSAGE, 79);
        assert_eq!(attr::MESSAGE_AUTHENTICATOR, 80);
        assert_eq!(attr::NAS_PORT_ID, 87);
        assert_eq!(attr::CHARGEABLE_USER_IDENTITY, 89);
        assert_eq!(attr::FRAMED_IPV6_PREFIX, 97);
        assert_eq!(attr::ERROR_CAUSE, 101);
        assert_eq!(attr::DELEGATED_IPV6_PREFIX, 123);
        assert_eq!(attr::FRAMED_IPV6_ADDRESS, 168);
        assert_eq!(attr::STATEFUL_IPV6_ADDRESS_POOL, 172);
        assert_eq!(vendor::MICROSOFT, 311);
        assert_eq!(vendor::MIKROTIK, 14988);
        assert_eq!(ms::CHAP_RESPONSE, 1);
        assert_eq!(ms::CHAP_CHALLENGE, 11);
        assert_eq!(ms::CHAP_MPPE_KEYS, 12);
        assert_eq!(ms::MPPE_SEND_KEY, 16);
        assert_eq!(ms::MPPE_RECV_KEY, 17);
        assert_eq!(ms::CHAP2_RESPONSE, 25);
        assert_eq!(ms::CHAP2_SUCCESS, 26);
        assert_eq!(ms::SECONDARY_DNS_SERVER, 29);
        assert_eq!(mikrotik::RATE_LIMIT, 8);
        assert_eq!(mikrotik::ADDRESS_LIST, 19);
        assert_eq!(mikrotik::SWITCHING_FILTER, 30);
        assert_eq!(values::service_type::FRAMED, 2);
        assert_eq!(values::service_type::AUTHORIZE_ONLY, 17);
        assert_eq!(values::acct_status_type::INTERIM_UPDATE, 3);
        assert_eq!(values::acct_status_type::ACCOUNTING_OFF, 8);
        assert_eq!(values::nas_port_type::WIRELESS_802_11, 19);
        assert_eq!(values::error_cause::SESSION_CONTEXT_NOT_FOUND, 503);

        assert_eq!(name(0, attr::USER_NAME), Some("User-Name"));
        assert_eq!(
            name(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
            Some("Mikrotik-Rate-Limit")
        );
        assert_eq!(
            name(vendor::MICROSOFT, ms::CHAP2_RESPONSE),
            Some("MS-CHAP2-Response")
        );
        let rate = by_name("mikrotik-rate-limit");
        assert!(rate.is_some_and(|d| d.ty == ValueType::String && d.vendor == 14988));
        let recv = by_name("Mikrotik-Recv-Limit");
        assert!(recv.is_some_and(|d| d.ty == ValueType::Integer && d.code == 1));
    }

    #[test]
    fn value_tables_are_consistent() {
        for def in all() {
            match def.ty {
                ValueType::Enum => assert!(!def.values.is_empty(), "{} has no values", def.name),
                ValueType::TaggedInteger => {}
                _ => assert!(def.values.is_empty(), "{} has values", def.name),
            }
            let mut numbers = HashSet::new();
            let mut names = HashSet::new();
            for (n, value_name) in def.values {
                assert!(numbers.insert(*n), "{} repeats {n}", def.name);
                assert!(
                    names.insert(value_name.to_ascii_lowercase()),
                    "{} repeats {value_name}",
                    def.name
                );
                assert_eq!(def.value_name(*n), Some(*value_name));
                assert_eq!(def.value_by_name(value_name), Some(*n));
                if def.ty == ValueType::TaggedInteger {
                    assert!(*n < 1 << 24, "{} value {n} does not fit 24 bits", def.name);
                }
            }
        }
        let service = lookup(0, attr::SERVICE_TYPE);
        assert_eq!(service.and_then(|d| d.value_name(2)), Some("Framed-User"));
        assert_eq!(
            service.and_then(|d| d.value_by_name("call-check")),
            Some(10)
        );
        assert_eq!(service.and_then(|d| d.value_name(99)), None);
        let cause = lookup(0, attr::ACCT_TERMINATE_CAUSE);
        assert!(cause.is_some_and(|d| (1..=22).all(|n| d.value_name(n).is_some())));
        let error = lookup(0, attr::ERROR_CAUSE);
        assert_eq!(error.map(|d| d.values.len()), Some(17));
    }

    #[test]
    fn only_the_secret_attributes_are_encrypted() {
        let hidden: Vec<_> = all()
            .filter(|d| d.encrypted.is_some())
            .map(|d| d.name)
            .collect();
        assert_eq!(
            hidden,
            [
                "User-Password",
                "Tunnel-Password",
                "MS-CHAP-MPPE-Keys",
                "MS-MPPE-Send-Key",
                "MS-MPPE-Recv-Key"
            ]
        );
    }

    #[test]
    fn displays_integers_and_enums() {
        assert_eq!(
            show(0, attr::SESSION_TIMEOUT, &3600u32.to_be_bytes()),
            "3600"
        );
        assert_eq!(
            show(0, attr::SERVICE_TYPE, &[0, 0, 0, 2]),
            "Framed-User (2)"
        );
        assert_eq!(show(0, attr::SERVICE_TYPE, &[0, 0, 0, 99]), "99");
        assert_eq!(
            show(0, attr::ERROR_CAUSE, &503u32.to_be_bytes()),
            "Session-Context-Not-Found (503)"
        );
        assert_eq!(show(0, attr::ACCT_INPUT_OCTETS, &[0xff; 4]), "4294967295");
        assert_eq!(
            show(0, attr::SESSION_TIMEOUT, &[0, 1]),
            "0x0001 (malformed integer)"
        );
        assert_eq!(
            show(0, attr::SERVICE_TYPE, &[0, 0, 0, 0, 2]),
            "0x0000000002 (malformed integer)"
        );
        assert_eq!(show(0, attr::SERVICE_TYPE, &[]), "0x (malformed integer)");
        assert_eq!(
            show(vendor::MICROSOFT, ms::MPPE_ENCRYPTION_TYPES, &[0, 0, 0, 6]),
            "RC4-40or128-bit-Allowed (6)"
        );
    }

    #[test]
    fn displays_dates_as_epoch_seconds() {
        assert_eq!(
            show(0, attr::EVENT_TIMESTAMP, &1_700_000_000u32.to_be_bytes()),
            "1700000000"
        );
        assert_eq!(
            show(0, attr::EVENT_TIMESTAMP, &[1, 2, 3]),
            "0x010203 (malformed date)"
        );
    }

    #[test]
    fn displays_addresses() {
        assert_eq!(
            show(0, attr::FRAMED_IP_ADDRESS, &[192, 0, 2, 1]),
            "192.0.2.1"
        );
        assert_eq!(
            show(0, attr::FRAMED_IP_ADDRESS, &[192, 0, 2]),
            "0xc00002 (malformed ipaddr)"
        );
        assert_eq!(
            show(vendor::MICROSOFT, ms::PRIMARY_DNS_SERVER, &[8, 8, 8, 8]),
            "8.8.8.8"
        );
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 1;
        assert_eq!(show(0, attr::FRAMED_IPV6_ADDRESS, &v6), "2001:db8::1");
        assert!(show(0, attr::NAS_IPV6_ADDRESS, &v6[..15]).ends_with("(malformed ipv6addr)"));
        assert_eq!(
            show(
                0,
                attr::FRAMED_INTERFACE_ID,
                &[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]
            ),
            "0011:2233:4455:6677"
        );
        assert_eq!(
            show(0, attr::FRAMED_INTERFACE_ID, &[1; 9]),
            "0x010101010101010101 (malformed ifid)"
        );
    }

    #[test]
    fn displays_ipv6_prefixes() {
        let prefix = [0, 32, 0x20, 0x01, 0x0d, 0xb8];
        assert_eq!(show(0, attr::FRAMED_IPV6_PREFIX, &prefix), "2001:db8::/32");
        assert_eq!(
            show(
                0,
                attr::DELEGATED_IPV6_PREFIX,
                &[0, 56, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12]
            ),
            "2001:db8:0:1200::/56"
        );
        assert_eq!(show(0, attr::ROUTE_IPV6_INFORMATION, &[0, 0]), "::/0");
        let full: Vec<u8> = [0, 128].into_iter().chain([0xff; 16]).collect();
        assert_eq!(
            show(0, attr::FRAMED_IPV6_PREFIX, &full),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
        );
        // Prefix length past 128, prefix shorter than its length, or longer than 16 octets.
        assert_eq!(
            show(0, attr::FRAMED_IPV6_PREFIX, &[0, 200, 0x20, 0x01]),
            "0x00c82001 (malformed ipv6prefix)"
        );
        assert_eq!(
            show(0, attr::FRAMED_IPV6_PREFIX, &[0, 64, 0x20, 0x01]),
            "0x00402001 (malformed ipv6prefix)"
        );
        let long: Vec<u8> = [0, 64].into_iter().chain([0; 17]).collect();
        assert!(show(0, attr::FRAMED_IPV6_PREFIX, &long).ends_with("(malformed ipv6prefix)"));
        assert_eq!(
            show(0, attr::FRAMED_IPV6_PREFIX, &[0]),
            "0x00 (malformed ipv6prefix)"
        );
    }

    #[test]
    fn displays_strings_escaped() {
        assert_eq!(
            show(0, attr::USER_NAME, b"alice@example.net"),
            "alice@example.net"
        );
        assert_eq!(show(0, attr::USER_NAME, "jürgen".as_bytes()), "jürgen");
        assert_eq!(
            show(0, attr::USER_NAME, b"bob\nFAKE LOG LINE"),
            "bob\\nFAKE LOG LINE"
        );
        assert_eq!(show(0, attr::USER_NAME, b"a\\nb"), "a\\\\nb");
        assert_eq!(
            show(0, attr::USER_NAME, b"\x1b[31mred\x00"),
            "\\u{1b}[31mred\\u{0}"
        );
        assert_eq!(
            show(0, attr::USER_NAME, "x\u{202e}y\u{2028}".as_bytes()),
            "x\\u{202e}y\\u{2028}"
        );
        assert_eq!(
            show(0, attr::USER_NAME, b"ok\xff\xfeok"),
            "ok\u{fffd}\u{fffd}ok"
        );
        assert_eq!(show(0, attr::USER_NAME, b""), "");
        assert_eq!(
            show(vendor::MIKROTIK, mikrotik::RATE_LIMIT, b"10M/20M"),
            "10M/20M"
        );
    }

    #[test]
    fn displays_octets_as_hex() {
        assert_eq!(
            show(0, attr::STATE, &[0xde, 0xad, 0xbe, 0xef]),
            "0xdeadbeef"
        );
        assert_eq!(show(0, attr::CLASS, &[]), "0x");
        assert_eq!(display_value(None, &[1, 2, 0xab]).to_string(), "0x0102ab");
        assert_eq!(display_value(lookup(0, 250), b"\n").to_string(), "0x0a");
    }

    #[test]
    fn displays_tagged_values() {
        let vlan = values::tunnel_type::VLAN.to_be_bytes();
        assert_eq!(
            show(0, attr::TUNNEL_TYPE, &[0, vlan[1], vlan[2], vlan[3]]),
            "VLAN (13)"
        );
        assert_eq!(
            show(0, attr::TUNNEL_TYPE, &[1, 0, 0, 13]),
            "VLAN (13), tag 1"
        );
        assert_eq!(
            show(0, attr::TUNNEL_MEDIUM_TYPE, &[0, 0, 0, 6]),
            "IEEE-802 (6)"
        );
        assert_eq!(
            show(0, attr::TUNNEL_PREFERENCE, &[2, 0, 1, 0]),
            "256, tag 2"
        );
        assert_eq!(
            show(0, attr::TUNNEL_TYPE, &[0, 0, 13]),
            "0x00000d (malformed tagged integer)"
        );
        assert_eq!(
            show(0, attr::TUNNEL_PRIVATE_GROUP_ID, b"\x01100"),
            "100, tag 1"
        );
        assert_eq!(show(0, attr::TUNNEL_PRIVATE_GROUP_ID, b"\x00100"), "100");
        assert_eq!(show(0, attr::TUNNEL_PRIVATE_GROUP_ID, b"100"), "100");
        assert_eq!(show(0, attr::TUNNEL_CLIENT_ENDPOINT, b"\x1f"), ", tag 31");
    }

    #[test]
    fn displays_vendor_specific() {
        let mut vsa = 14988u32.to_be_bytes().to_vec();
        vsa.extend_from_slice(&[8, 9, b'1', b'M', b'/', b'2', b'M', 0, 0]);
        assert_eq!(
            show(0, attr::VENDOR_SPECIFIC, &vsa),
            "vendor 14988 (Mikrotik) 0x0809314d2f324d0000"
        );
        assert_eq!(show(0, attr::VENDOR_SPECIFIC, &[0, 0, 0, 9]), "vendor 9 0x");
        assert_eq!(
            show(0, attr::VENDOR_SPECIFIC, &[0, 0, 1]),
            "0x000001 (malformed vsa)"
        );
    }

    #[test]
    fn hides_clear_values_a_password_can_be_recovered_from() {
        for (vendor, code) in [
            (0, attr::CHAP_PASSWORD),
            (vendor::MICROSOFT, ms::CHAP_RESPONSE),
            (vendor::MICROSOFT, ms::CHAP2_RESPONSE),
            (vendor::MIKROTIK, mikrotik::WIRELESS_PSK),
        ] {
            assert_eq!(show(vendor, code, b"0123456789abcdef0"), "<hidden>");
        }
        let sensitive = all().filter(|d| d.sensitive).count();
        assert_eq!(sensitive, 5 + 13);
        assert!(all().filter(|d| d.encrypted.is_some()).all(|d| d.sensitive));
    }

    #[test]
    fn hides_encrypted_values() {
        let secret = b"hunter2-hunter2!";
        for (vendor, code) in [
            (0, attr::USER_PASSWORD),
            (0, attr::TUNNEL_PASSWORD),
            (vendor::MICROSOFT, ms::CHAP_MPPE_KEYS),
            (vendor::MICROSOFT, ms::MPPE_SEND_KEY),
            (vendor::MICROSOFT, ms::MPPE_RECV_KEY),
        ] {
            assert_eq!(show(vendor, code, secret), "<hidden>");
            assert_eq!(show(vendor, code, &[]), "<hidden>");
        }
    }

    #[test]
    fn type_names() {
        assert_eq!(ValueType::Enum.name(), "integer");
        assert_eq!(ValueType::Ipv6Prefix.name(), "ipv6prefix");
        assert_eq!(vendor::name(311), Some("Microsoft"));
        assert_eq!(vendor::name(0), None);
    }

    /// Every length around the fixed sizes (4, 8, 16, 18) and a few long ones, for every
    /// entry, with fill bytes that hit the interesting branches (zero tags and prefix
    /// lengths, high tags, prefix length 200, invalid UTF-8).
    #[test]
    fn display_never_panics_on_any_length() {
        let fills = [0x00, 0x01, 0x1f, 0x20, 0x80, 0xc8, 0xff];
        for def in all() {
            for len in (0..=24).chain([32, 64, 253]) {
                for fill in fills {
                    let value = vec![fill; len];
                    let shown = display_value(Some(def), &value).to_string();
                    assert!(!shown.contains('\n'), "{} rendered a newline", def.name);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn display_never_panics(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            for def in all() {
                let shown = display_value(Some(def), &value).to_string();
                prop_assert!(!shown.contains(['\n', '\r']));
            }
            let _ = display_value(None, &value).to_string();
        }
    }
}
