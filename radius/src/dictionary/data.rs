//! The dictionary's data: every attribute, in one `dictionary!` invocation, once.
//!
//! Each line is an attribute's code, constant, FreeRADIUS name and value type, then whether
//! it is hidden on the wire or sensitive, then its named values; its doc comment lands on
//! its constant (see the macro in `macros.rs` for the shape). Keep each block in code order:
//! the build fails otherwise. Attribute 54 is left out of the standard block: RFC 2869
//! lists it only as unused.

use super::macros::dictionary;

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

dictionary! {
    /// Enumerated values of the integer attributes a server uses in code.
    ///
    /// The names in the dictionary tables (and so in logs) are FreeRADIUS's; the constant names
    /// follow the RFC's wording.
    pub mod values;

    /// Standard attribute type numbers (the Type octet of RFC 2865 §5).
    pub mod attr (vendor = 0) in STANDARD {
        /// RFC 2865 §5.1.
        1 USER_NAME "User-Name" String;
        /// RFC 2865 §5.2; hidden with the shared secret (RFC 2865 §5.2).
        2 USER_PASSWORD "User-Password" String, hidden(UserPassword);
        /// RFC 2865 §5.3: CHAP Ident followed by the 16-octet response.
        3 CHAP_PASSWORD "CHAP-Password" Octets, sensitive;
        /// RFC 2865 §5.4.
        4 NAS_IP_ADDRESS "NAS-IP-Address" IpAddr;
        /// RFC 2865 §5.5.
        5 NAS_PORT "NAS-Port" Integer;
        /// RFC 2865 §5.6; values in [`super::values::service_type`].
        6 SERVICE_TYPE "Service-Type" Enum values service_type {
            //! Service-Type (RFC 2865 §5.6).

            /// RFC 2865 §5.6: Login (FreeRADIUS `Login-User`).
            1 LOGIN "Login-User";
            /// RFC 2865 §5.6: Framed (FreeRADIUS `Framed-User`), what PPP users get.
            2 FRAMED "Framed-User";
            /// RFC 2865 §5.6.
            3 CALLBACK_LOGIN "Callback-Login-User";
            /// RFC 2865 §5.6.
            4 CALLBACK_FRAMED "Callback-Framed-User";
            /// RFC 2865 §5.6.
            5 OUTBOUND "Outbound-User";
            /// RFC 2865 §5.6.
            6 ADMINISTRATIVE "Administrative-User";
            /// RFC 2865 §5.6.
            7 NAS_PROMPT "NAS-Prompt-User";
            /// RFC 2865 §5.6: authenticate, return no authorization.
            8 AUTHENTICATE_ONLY "Authenticate-Only";
            /// RFC 2865 §5.6.
            9 CALLBACK_NAS_PROMPT "Callback-NAS-Prompt";
            /// RFC 2865 §5.6: MAC-based pre-authentication by some NASes.
            10 CALL_CHECK "Call-Check";
            /// RFC 2865 §5.6.
            11 CALLBACK_ADMINISTRATIVE "Callback-Administrative";
            /// RFC 5176 §3.2: a CoA-Request carrying only authorization changes.
            17 AUTHORIZE_ONLY "Authorize-Only";
        };
        /// RFC 2865 §5.7; values in [`super::values::framed_protocol`].
        7 FRAMED_PROTOCOL "Framed-Protocol" Enum values framed_protocol {
            //! Framed-Protocol (RFC 2865 §5.7).

            /// RFC 2865 §5.7.
            1 PPP "PPP";
            /// RFC 2865 §5.7.
            2 SLIP "SLIP";
            /// RFC 2865 §5.7: AppleTalk Remote Access Protocol.
            3 ARAP "ARAP";
            /// RFC 2865 §5.7: Gandalf proprietary SingleLink/MultiLink.
            4 GANDALF_SLML "Gandalf-SLML";
            /// RFC 2865 §5.7.
            5 XYLOGICS_IPX_SLIP "Xylogics-IPX-SLIP";
            /// RFC 2865 §5.7.
            6 X75_SYNCHRONOUS "X.75-Synchronous";
        };
        /// RFC 2865 §5.8.
        8 FRAMED_IP_ADDRESS "Framed-IP-Address" IpAddr;
        /// RFC 2865 §5.9.
        9 FRAMED_IP_NETMASK "Framed-IP-Netmask" IpAddr;
        /// RFC 2865 §5.10; values in [`super::values::framed_routing`].
        10 FRAMED_ROUTING "Framed-Routing" Enum values framed_routing {
            //! Framed-Routing (RFC 2865 §5.10).

            /// RFC 2865 §5.10.
            0 NONE "None";
            /// RFC 2865 §5.10: send routing packets.
            1 BROADCAST "Broadcast";
            /// RFC 2865 §5.10: listen for routing packets.
            2 LISTEN "Listen";
            /// RFC 2865 §5.10: send and listen.
            3 BROADCAST_LISTEN "Broadcast-Listen";
        };
        /// RFC 2865 §5.11.
        11 FILTER_ID "Filter-Id" String;
        /// RFC 2865 §5.12.
        12 FRAMED_MTU "Framed-MTU" Integer;
        /// RFC 2865 §5.13; values in [`super::values::framed_compression`].
        13 FRAMED_COMPRESSION "Framed-Compression" Enum values framed_compression {
            //! Framed-Compression (RFC 2865 §5.13).

            /// RFC 2865 §5.13.
            0 NONE "None";
            /// RFC 2865 §5.13: VJ TCP/IP header compression.
            1 VAN_JACOBSON_TCP_IP "Van-Jacobson-TCP-IP";
            /// RFC 2865 §5.13.
            2 IPX_HEADER_COMPRESSION "IPX-Header-Compression";
            /// RFC 2865 §5.13.
            3 STAC_LZS "Stac-LZS";
        };
        /// RFC 2865 §5.14.
        14 LOGIN_IP_HOST "Login-IP-Host" IpAddr;
        /// RFC 2865 §5.15; values in [`super::values::login_service`].
        15 LOGIN_SERVICE "Login-Service" Enum values login_service {
            //! Login-Service (RFC 2865 §5.15).

            /// RFC 2865 §5.15.
            0 TELNET "Telnet";
            /// RFC 2865 §5.15.
            1 RLOGIN "Rlogin";
            /// RFC 2865 §5.15.
            2 TCP_CLEAR "TCP-Clear";
            /// RFC 2865 §5.15.
            3 PORTMASTER "PortMaster";
            /// RFC 2865 §5.15.
            4 LAT "LAT";
            /// RFC 2865 §5.15.
            5 X25_PAD "X25-PAD";
            /// RFC 2865 §5.15.
            6 X25_T3POS "X25-T3POS";
            /// RFC 2865 §5.15.
            8 TCP_CLEAR_QUIET "TCP-Clear-Quiet";
        };
        /// RFC 2865 §5.16.
        16 LOGIN_TCP_PORT "Login-TCP-Port" Enum values {
            // Well-known ports FreeRADIUS names for Login-TCP-Port (RFC 2865 §5.16).
            23 "Telnet";
            513 "Rlogin";
            514 "Rsh";
        };
        /// RFC 2865 §5.18.
        18 REPLY_MESSAGE "Reply-Message" String;
        /// RFC 2865 §5.19.
        19 CALLBACK_NUMBER "Callback-Number" String;
        /// RFC 2865 §5.20.
        20 CALLBACK_ID "Callback-Id" String;
        /// RFC 2865 §5.22.
        22 FRAMED_ROUTE "Framed-Route" String;
        /// RFC 2865 §5.23.
        // An IPX network number; FreeRADIUS shows it as a dotted quad.
        23 FRAMED_IPX_NETWORK "Framed-IPX-Network" IpAddr;
        /// RFC 2865 §5.24.
        24 STATE "State" Octets;
        /// RFC 2865 §5.25.
        25 CLASS "Class" Octets;
        /// RFC 2865 §5.26: Vendor-Id followed by the vendor's own attributes.
        26 VENDOR_SPECIFIC "Vendor-Specific" Vsa;
        /// RFC 2865 §5.27.
        27 SESSION_TIMEOUT "Session-Timeout" Integer;
        /// RFC 2865 §5.28.
        28 IDLE_TIMEOUT "Idle-Timeout" Integer;
        /// RFC 2865 §5.29; values in [`super::values::termination_action`].
        29 TERMINATION_ACTION "Termination-Action" Enum values termination_action {
            //! Termination-Action (RFC 2865 §5.29).

            /// RFC 2865 §5.29: end the session.
            0 DEFAULT "Default";
            /// RFC 2865 §5.29: send a new Access-Request before ending the session.
            1 RADIUS_REQUEST "RADIUS-Request";
        };
        /// RFC 2865 §5.30.
        30 CALLED_STATION_ID "Called-Station-Id" String;
        /// RFC 2865 §5.31.
        31 CALLING_STATION_ID "Calling-Station-Id" String;
        /// RFC 2865 §5.32.
        32 NAS_IDENTIFIER "NAS-Identifier" String;
        /// RFC 2865 §5.33.
        33 PROXY_STATE "Proxy-State" Octets;
        /// RFC 2865 §5.34.
        34 LOGIN_LAT_SERVICE "Login-LAT-Service" String;
        /// RFC 2865 §5.35.
        35 LOGIN_LAT_NODE "Login-LAT-Node" String;
        /// RFC 2865 §5.36.
        36 LOGIN_LAT_GROUP "Login-LAT-Group" Octets;
        /// RFC 2865 §5.37.
        37 FRAMED_APPLETALK_LINK "Framed-AppleTalk-Link" Integer;
        /// RFC 2865 §5.38.
        38 FRAMED_APPLETALK_NETWORK "Framed-AppleTalk-Network" Integer;
        /// RFC 2865 §5.39.
        39 FRAMED_APPLETALK_ZONE "Framed-AppleTalk-Zone" String;
        /// RFC 2866 §5.1; values in [`super::values::acct_status_type`].
        40 ACCT_STATUS_TYPE "Acct-Status-Type" Enum values acct_status_type {
            //! Acct-Status-Type (RFC 2866 §5.1).

            /// RFC 2866 §5.1.
            1 START "Start";
            /// RFC 2866 §5.1.
            2 STOP "Stop";
            /// RFC 2866 §5.1 (FreeRADIUS also calls it `Alive`).
            3 INTERIM_UPDATE "Interim-Update";
            /// RFC 2866 §5.1: the NAS (re)started; its earlier sessions are gone.
            7 ACCOUNTING_ON "Accounting-On";
            /// RFC 2866 §5.1: the NAS is shutting down; its sessions are ending.
            8 ACCOUNTING_OFF "Accounting-Off";
            /// RFC 2867 §3.1.
            9 TUNNEL_START "Tunnel-Start";
            /// RFC 2867 §3.1.
            10 TUNNEL_STOP "Tunnel-Stop";
            /// RFC 2867 §3.1.
            11 TUNNEL_REJECT "Tunnel-Reject";
            /// RFC 2867 §3.1.
            12 TUNNEL_LINK_START "Tunnel-Link-Start";
            /// RFC 2867 §3.1.
            13 TUNNEL_LINK_STOP "Tunnel-Link-Stop";
            /// RFC 2867 §3.1.
            14 TUNNEL_LINK_REJECT "Tunnel-Link-Reject";
            /// IANA RADIUS registry.
            15 FAILED "Failed";
        };
        /// RFC 2866 §5.2.
        41 ACCT_DELAY_TIME "Acct-Delay-Time" Integer;
        /// RFC 2866 §5.3: low 32 bits; the high bits are in [`ACCT_INPUT_GIGAWORDS`].
        42 ACCT_INPUT_OCTETS "Acct-Input-Octets" Integer;
        /// RFC 2866 §5.4: low 32 bits; the high bits are in [`ACCT_OUTPUT_GIGAWORDS`].
        43 ACCT_OUTPUT_OCTETS "Acct-Output-Octets" Integer;
        /// RFC 2866 §5.5.
        44 ACCT_SESSION_ID "Acct-Session-Id" String;
        /// RFC 2866 §5.6; values in [`super::values::acct_authentic`].
        45 ACCT_AUTHENTIC "Acct-Authentic" Enum values acct_authentic {
            //! Acct-Authentic (RFC 2866 §5.6).

            /// RFC 2866 §5.6.
            1 RADIUS "RADIUS";
            /// RFC 2866 §5.6.
            2 LOCAL "Local";
            /// RFC 2866 §5.6.
            3 REMOTE "Remote";
            /// IANA RADIUS registry.
            4 DIAMETER "Diameter";
        };
        /// RFC 2866 §5.7.
        46 ACCT_SESSION_TIME "Acct-Session-Time" Integer;
        /// RFC 2866 §5.8.
        47 ACCT_INPUT_PACKETS "Acct-Input-Packets" Integer;
        /// RFC 2866 §5.9.
        48 ACCT_OUTPUT_PACKETS "Acct-Output-Packets" Integer;
        /// RFC 2866 §5.10; values in [`super::values::acct_terminate_cause`].
        49 ACCT_TERMINATE_CAUSE "Acct-Terminate-Cause" Enum values acct_terminate_cause {
            //! Acct-Terminate-Cause (RFC 2866 §5.10, RFC 3580).

            /// RFC 2866 §5.10: e.g. LCP Terminate or logging out.
            1 USER_REQUEST "User-Request";
            /// RFC 2866 §5.10: DCD dropped, PPPoE PADT lost, echo failure.
            2 LOST_CARRIER "Lost-Carrier";
            /// RFC 2866 §5.10.
            3 LOST_SERVICE "Lost-Service";
            /// RFC 2866 §5.10.
            4 IDLE_TIMEOUT "Idle-Timeout";
            /// RFC 2866 §5.10.
            5 SESSION_TIMEOUT "Session-Timeout";
            /// RFC 2866 §5.10: what a NAS reports after a Disconnect-Request.
            6 ADMIN_RESET "Admin-Reset";
            /// RFC 2866 §5.10.
            7 ADMIN_REBOOT "Admin-Reboot";
            /// RFC 2866 §5.10.
            8 PORT_ERROR "Port-Error";
            /// RFC 2866 §5.10.
            9 NAS_ERROR "NAS-Error";
            /// RFC 2866 §5.10.
            10 NAS_REQUEST "NAS-Request";
            /// RFC 2866 §5.10.
            11 NAS_REBOOT "NAS-Reboot";
            /// RFC 2866 §5.10.
            12 PORT_UNNEEDED "Port-Unneeded";
            /// RFC 2866 §5.10.
            13 PORT_PREEMPTED "Port-Preempted";
            /// RFC 2866 §5.10.
            14 PORT_SUSPENDED "Port-Suspended";
            /// RFC 2866 §5.10.
            15 SERVICE_UNAVAILABLE "Service-Unavailable";
            /// RFC 2866 §5.10.
            16 CALLBACK "Callback";
            /// RFC 2866 §5.10.
            17 USER_ERROR "User-Error";
            /// RFC 2866 §5.10.
            18 HOST_REQUEST "Host-Request";
            /// RFC 3580 (IEEE 802.1X).
            19 SUPPLICANT_RESTART "Supplicant-Restart";
            /// RFC 3580 (IEEE 802.1X).
            20 REAUTHENTICATION_FAILURE "Reauthentication-Failure";
            /// RFC 3580 (IEEE 802.1X; FreeRADIUS `Port-Reinit`).
            21 PORT_REINITIALIZED "Port-Reinit";
            /// RFC 3580 (IEEE 802.1X; FreeRADIUS `Port-Disabled`).
            22 PORT_ADMINISTRATIVELY_DISABLED "Port-Disabled";
        };
        /// RFC 2866 §5.11.
        50 ACCT_MULTI_SESSION_ID "Acct-Multi-Session-Id" String;
        /// RFC 2866 §5.12.
        51 ACCT_LINK_COUNT "Acct-Link-Count" Integer;
        /// RFC 2869 §5.1: how many times [`ACCT_INPUT_OCTETS`] wrapped past 2^32.
        52 ACCT_INPUT_GIGAWORDS "Acct-Input-Gigawords" Integer;
        /// RFC 2869 §5.2: how many times [`ACCT_OUTPUT_OCTETS`] wrapped past 2^32.
        53 ACCT_OUTPUT_GIGAWORDS "Acct-Output-Gigawords" Integer;
        /// RFC 2869 §5.3: seconds since 1970-01-01 UTC.
        55 EVENT_TIMESTAMP "Event-Timestamp" Date;
        /// RFC 2865 §5.40.
        60 CHAP_CHALLENGE "CHAP-Challenge" Octets;
        /// RFC 2865 §5.41; values in [`super::values::nas_port_type`].
        61 NAS_PORT_TYPE "NAS-Port-Type" Enum values nas_port_type {
            //! NAS-Port-Type (RFC 2865 §5.41 and later registrations).

            /// RFC 2865 §5.41.
            0 ASYNC "Async";
            /// RFC 2865 §5.41.
            1 SYNC "Sync";
            /// RFC 2865 §5.41: ISDN Sync.
            2 ISDN "ISDN";
            /// RFC 2865 §5.41: ISDN Async V.120.
            3 ISDN_V120 "ISDN-V120";
            /// RFC 2865 §5.41: ISDN Async V.110.
            4 ISDN_V110 "ISDN-V110";
            /// RFC 2865 §5.41: a connection over a transport protocol, e.g. L2TP or PPPoE.
            5 VIRTUAL "Virtual";
            /// RFC 2865 §5.41.
            6 PIAFS "PIAFS";
            /// RFC 2865 §5.41.
            7 HDLC_CLEAR_CHANNEL "HDLC-Clear-Channel";
            /// RFC 2865 §5.41.
            8 X25 "X.25";
            /// RFC 2865 §5.41.
            9 X75 "X.75";
            /// RFC 2865 §5.41.
            10 G3_FAX "G.3-Fax";
            /// RFC 2865 §5.41.
            11 SDSL "SDSL";
            /// RFC 2865 §5.41.
            12 ADSL_CAP "ADSL-CAP";
            /// RFC 2865 §5.41.
            13 ADSL_DMT "ADSL-DMT";
            /// RFC 2865 §5.41.
            14 IDSL "IDSL";
            /// RFC 2865 §5.41.
            15 ETHERNET "Ethernet";
            /// RFC 2865 §5.41: DSL of unknown type.
            16 XDSL "xDSL";
            /// RFC 2865 §5.41.
            17 CABLE "Cable";
            /// RFC 2865 §5.41.
            18 WIRELESS_OTHER "Wireless-Other";
            /// RFC 2865 §5.41.
            19 WIRELESS_802_11 "Wireless-802.11";
            /// RFC 3580.
            20 TOKEN_RING "Token-Ring";
            /// RFC 3580.
            21 FDDI "FDDI";
            /// IANA RADIUS registry.
            22 WIRELESS_CDMA2000 "Wireless-CDMA2000";
            /// IANA RADIUS registry.
            23 WIRELESS_UMTS "Wireless-UMTS";
            /// IANA RADIUS registry.
            24 WIRELESS_1X_EV "Wireless-1X-EV";
            /// IANA RADIUS registry.
            25 IAPP "IAPP";
            /// IANA RADIUS registry: fibre to the premises.
            26 FTTP "FTTP";
            /// IANA RADIUS registry.
            27 WIRELESS_802_16 "Wireless-802.16";
            /// IANA RADIUS registry.
            28 WIRELESS_802_20 "Wireless-802.20";
            /// IANA RADIUS registry.
            29 WIRELESS_802_22 "Wireless-802.22";
            /// RFC 4603: PPP over ATM.
            30 PPPOA "PPPoA";
            /// RFC 4603: PPPoE over ATM.
            31 PPPOEOA "PPPoEoA";
            /// RFC 4603: PPPoE over Ethernet.
            32 PPPOEOE "PPPoEoE";
            /// RFC 4603: PPPoE over VLAN.
            33 PPPOEOVLAN "PPPoEoVLAN";
            /// RFC 4603: PPPoE over IEEE 802.1QinQ.
            34 PPPOEOQINQ "PPPoEoQinQ";
            /// IANA RADIUS registry: passive optical network.
            35 XPON "xPON";
            /// IANA RADIUS registry.
            36 WIRELESS_XGP "Wireless-XGP";
        };
        /// RFC 2865 §5.42.
        62 PORT_LIMIT "Port-Limit" Integer;
        /// RFC 2865 §5.43.
        63 LOGIN_LAT_PORT "Login-LAT-Port" String;
        /// RFC 2868 §3.1 (tagged); values in [`super::values::tunnel_type`].
        64 TUNNEL_TYPE "Tunnel-Type" TaggedInteger values tunnel_type {
            //! Tunnel-Type (RFC 2868 §3.1), a 24-bit value after the tag.

            /// RFC 2868 §3.1.
            1 PPTP "PPTP";
            /// RFC 2868 §3.1.
            2 L2F "L2F";
            /// RFC 2868 §3.1.
            3 L2TP "L2TP";
            /// RFC 2868 §3.1.
            4 ATMP "ATMP";
            /// RFC 2868 §3.1.
            5 VTP "VTP";
            /// RFC 2868 §3.1: IP Authentication Header in tunnel mode.
            6 AH "AH";
            /// RFC 2868 §3.1: IP-in-IP encapsulation.
            7 IP_IP "IP";
            /// RFC 2868 §3.1: minimal IP-in-IP encapsulation.
            8 MIN_IP_IP "MIN-IP";
            /// RFC 2868 §3.1: IP Encapsulating Security Payload in tunnel mode.
            9 ESP "ESP";
            /// RFC 2868 §3.1.
            10 GRE "GRE";
            /// RFC 2868 §3.1: Bay Dial Virtual Services.
            11 DVS "DVS";
            /// RFC 2868 §3.1: IP-in-IP tunnelling.
            12 IP_IN_IP "IP-in-IP";
            /// RFC 3580: dynamic VLAN assignment, with Tunnel-Private-Group-Id as the VLAN id.
            13 VLAN "VLAN";
        };
        /// RFC 2868 §3.2 (tagged); values in [`super::values::tunnel_medium_type`].
        65 TUNNEL_MEDIUM_TYPE "Tunnel-Medium-Type" TaggedInteger values tunnel_medium_type {
            //! Tunnel-Medium-Type (RFC 2868 §3.2), a 24-bit value after the tag.

            /// RFC 2868 §3.2.
            1 IPV4 "IPv4";
            /// RFC 2868 §3.2.
            2 IPV6 "IPv6";
            /// RFC 2868 §3.2.
            3 NSAP "NSAP";
            /// RFC 2868 §3.2: HDLC (8-bit multidrop).
            4 HDLC "HDLC";
            /// RFC 2868 §3.2.
            5 BBN_1822 "BBN-1822";
            /// RFC 2868 §3.2: IEEE 802, including Ethernet (the one dynamic VLANs use).
            6 IEEE_802 "IEEE-802";
            /// RFC 2868 §3.2.
            7 E163 "E.163";
            /// RFC 2868 §3.2.
            8 E164 "E.164";
            /// RFC 2868 §3.2.
            9 F69 "F.69";
            /// RFC 2868 §3.2.
            10 X121 "X.121";
            /// RFC 2868 §3.2.
            11 IPX "IPX";
            /// RFC 2868 §3.2.
            12 APPLETALK "Appletalk";
            /// RFC 2868 §3.2.
            13 DECNET_IV "DecNet-IV";
            /// RFC 2868 §3.2.
            14 BANYAN_VINES "Banyan-Vines";
            /// RFC 2868 §3.2: E.164 with NSAP format subaddress.
            15 E164_NSAP "E.164-NSAP";
        };
        /// RFC 2868 §3.3 (tagged).
        66 TUNNEL_CLIENT_ENDPOINT "Tunnel-Client-Endpoint" TaggedString;
        /// RFC 2868 §3.4 (tagged).
        67 TUNNEL_SERVER_ENDPOINT "Tunnel-Server-Endpoint" TaggedString;
        /// RFC 2867 §4.1.
        68 ACCT_TUNNEL_CONNECTION "Acct-Tunnel-Connection" String;
        /// RFC 2868 §3.5 (tagged); salt-encrypted with the shared secret.
        69 TUNNEL_PASSWORD "Tunnel-Password" TaggedString, hidden(TunnelPassword);
        /// RFC 2869 §5.4.
        70 ARAP_PASSWORD "ARAP-Password" Octets, sensitive;
        /// RFC 2869 §5.5.
        71 ARAP_FEATURES "ARAP-Features" Octets;
        /// RFC 2869 §5.6.
        72 ARAP_ZONE_ACCESS "ARAP-Zone-Access" Enum values {
            // RFC 2869 §5.6.
            1 "Default-Zone";
            2 "Zone-Filter-Inclusive";
            4 "Zone-Filter-Exclusive";
        };
        /// RFC 2869 §5.7.
        73 ARAP_SECURITY "ARAP-Security" Integer;
        /// RFC 2869 §5.8.
        74 ARAP_SECURITY_DATA "ARAP-Security-Data" String;
        /// RFC 2869 §5.9.
        75 PASSWORD_RETRY "Password-Retry" Integer;
        /// RFC 2869 §5.10; values in [`super::values::prompt`].
        76 PROMPT "Prompt" Enum values prompt {
            //! Prompt (RFC 2869 §5.10).

            /// RFC 2869 §5.10.
            0 NO_ECHO "No-Echo";
            /// RFC 2869 §5.10.
            1 ECHO "Echo";
        };
        /// RFC 2869 §5.11.
        77 CONNECT_INFO "Connect-Info" String;
        /// RFC 2869 §5.12.
        78 CONFIGURATION_TOKEN "Configuration-Token" String;
        /// RFC 2869 §5.13, superseded by RFC 3579 §3.1.
        79 EAP_MESSAGE "EAP-Message" Octets;
        /// RFC 2869 §5.14, superseded by RFC 3579 §3.2: HMAC-MD5 over the whole packet.
        80 MESSAGE_AUTHENTICATOR "Message-Authenticator" Octets;
        /// RFC 2868 §3.6 (tagged).
        81 TUNNEL_PRIVATE_GROUP_ID "Tunnel-Private-Group-Id" TaggedString;
        /// RFC 2868 §3.7 (tagged).
        82 TUNNEL_ASSIGNMENT_ID "Tunnel-Assignment-Id" TaggedString;
        /// RFC 2868 §3.8 (tagged).
        83 TUNNEL_PREFERENCE "Tunnel-Preference" TaggedInteger;
        /// RFC 2869 §5.15.
        84 ARAP_CHALLENGE_RESPONSE "ARAP-Challenge-Response" Octets;
        /// RFC 2869 §5.16.
        85 ACCT_INTERIM_INTERVAL "Acct-Interim-Interval" Integer;
        /// RFC 2867 §4.2.
        86 ACCT_TUNNEL_PACKETS_LOST "Acct-Tunnel-Packets-Lost" Integer;
        /// RFC 2869 §5.17.
        87 NAS_PORT_ID "NAS-Port-Id" String;
        /// RFC 2869 §5.18.
        88 FRAMED_POOL "Framed-Pool" String;
        /// RFC 4372 (Chargeable User Identity).
        89 CHARGEABLE_USER_IDENTITY "Chargeable-User-Identity" Octets;
        /// RFC 2868 §3.9 (tagged).
        90 TUNNEL_CLIENT_AUTH_ID "Tunnel-Client-Auth-Id" TaggedString;
        /// RFC 2868 §3.10 (tagged).
        91 TUNNEL_SERVER_AUTH_ID "Tunnel-Server-Auth-Id" TaggedString;
        /// RFC 3162 §2.1.
        95 NAS_IPV6_ADDRESS "NAS-IPv6-Address" Ipv6Addr;
        /// RFC 3162 §2.2: the 8-octet IPv6 interface identifier.
        96 FRAMED_INTERFACE_ID "Framed-Interface-Id" Ifid;
        /// RFC 3162 §2.3.
        97 FRAMED_IPV6_PREFIX "Framed-IPv6-Prefix" Ipv6Prefix;
        /// RFC 3162 §2.4.
        98 LOGIN_IPV6_HOST "Login-IPv6-Host" Ipv6Addr;
        /// RFC 3162 §2.5.
        99 FRAMED_IPV6_ROUTE "Framed-IPv6-Route" String;
        /// RFC 3162 §2.6.
        100 FRAMED_IPV6_POOL "Framed-IPv6-Pool" String;
        /// RFC 5176 §3.5; values in [`super::values::error_cause`].
        101 ERROR_CAUSE "Error-Cause" Enum values error_cause {
            //! Error-Cause (RFC 5176 §3.5).

            /// RFC 5176 §3.5 (success): the session context was removed.
            201 RESIDUAL_SESSION_CONTEXT_REMOVED "Residual-Context-Removed";
            /// RFC 5176 §3.5 (success): an EAP packet was ignored.
            202 INVALID_EAP_PACKET "Invalid-EAP-Packet";
            /// RFC 5176 §3.5 (client error).
            401 UNSUPPORTED_ATTRIBUTE "Unsupported-Attribute";
            /// RFC 5176 §3.5 (client error).
            402 MISSING_ATTRIBUTE "Missing-Attribute";
            /// RFC 5176 §3.5 (client error).
            403 NAS_IDENTIFICATION_MISMATCH "NAS-Identification-Mismatch";
            /// RFC 5176 §3.5 (client error).
            404 INVALID_REQUEST "Invalid-Request";
            /// RFC 5176 §3.5 (client error).
            405 UNSUPPORTED_SERVICE "Unsupported-Service";
            /// RFC 5176 §3.5 (client error).
            406 UNSUPPORTED_EXTENSION "Unsupported-Extension";
            /// RFC 5176 §3.5 (client error).
            407 INVALID_ATTRIBUTE_VALUE "Invalid-Attribute-Value";
            /// RFC 5176 §3.5 (NAS error).
            501 ADMINISTRATIVELY_PROHIBITED "Administratively-Prohibited";
            /// RFC 5176 §3.5 (NAS error): request not routable by a proxy.
            502 REQUEST_NOT_ROUTABLE "Proxy-Request-Not-Routable";
            /// RFC 5176 §3.5 (NAS error): no session matched the identification attributes.
            503 SESSION_CONTEXT_NOT_FOUND "Session-Context-Not-Found";
            /// RFC 5176 §3.5 (NAS error).
            504 SESSION_CONTEXT_NOT_REMOVABLE "Session-Context-Not-Removable";
            /// RFC 5176 §3.5 (NAS error).
            505 OTHER_PROXY_PROCESSING_ERROR "Proxy-Processing-Error";
            /// RFC 5176 §3.5 (NAS error).
            506 RESOURCES_UNAVAILABLE "Resources-Unavailable";
            /// RFC 5176 §3.5 (NAS error).
            507 REQUEST_INITIATED "Request-Initiated";
            /// RFC 5176 §3.5 (NAS error).
            508 MULTIPLE_SESSION_SELECTION_UNSUPPORTED "Multiple-Session-Selection-Unsupported";
        };
        /// RFC 4818 §3: the prefix delegated to the user (DHCPv6-PD).
        123 DELEGATED_IPV6_PREFIX "Delegated-IPv6-Prefix" Ipv6Prefix;
        /// RFC 6911 §3.1.
        168 FRAMED_IPV6_ADDRESS "Framed-IPv6-Address" Ipv6Addr;
        /// RFC 6911 §3.2.
        169 DNS_SERVER_IPV6_ADDRESS "DNS-Server-IPv6-Address" Ipv6Addr;
        /// RFC 6911 §3.3.
        170 ROUTE_IPV6_INFORMATION "Route-IPv6-Information" Ipv6Prefix;
        /// RFC 6911 §3.4.
        171 DELEGATED_IPV6_PREFIX_POOL "Delegated-IPv6-Prefix-Pool" String;
        /// RFC 6911 §3.5.
        172 STATEFUL_IPV6_ADDRESS_POOL "Stateful-IPv6-Address-Pool" String;
    }

    /// Microsoft vendor attribute types (vendor [`vendor::MICROSOFT`]), RFC 2548.
    pub mod ms (vendor = vendor::MICROSOFT) in MICROSOFT {
        /// RFC 2548 §2.1.3: Ident, Flags, LM-Response and NT-Response (MS-CHAPv1).
        1 CHAP_RESPONSE "MS-CHAP-Response" Octets, sensitive;
        /// RFC 2548 §2.1.5: Ident followed by the MS-CHAP failure text (`E=691 R=0 …`).
        2 CHAP_ERROR "MS-CHAP-Error" String;
        /// RFC 2548 §2.1.6.
        3 CHAP_CPW_1 "MS-CHAP-CPW-1" Octets, sensitive;
        /// RFC 2548 §2.1.7.
        4 CHAP_CPW_2 "MS-CHAP-CPW-2" Octets, sensitive;
        /// RFC 2548 §2.1.8.
        5 CHAP_LM_ENC_PW "MS-CHAP-LM-Enc-PW" Octets, sensitive;
        /// RFC 2548 §2.2 (numbered so in the RFC, though it belongs with §2.1).
        6 CHAP_NT_ENC_PW "MS-CHAP-NT-Enc-PW" Octets, sensitive;
        /// RFC 2548 §2.4.4; values in [`super::values::ms_mppe_encryption_policy`].
        7 MPPE_ENCRYPTION_POLICY "MS-MPPE-Encryption-Policy" Enum values ms_mppe_encryption_policy {
            //! MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).

            /// RFC 2548 §2.4.4.
            1 ENCRYPTION_ALLOWED "Encryption-Allowed";
            /// RFC 2548 §2.4.4.
            2 ENCRYPTION_REQUIRED "Encryption-Required";
        };
        /// RFC 2548 §2.4.5, a bit set; values in [`super::values::ms_mppe_encryption_types`].
        8 MPPE_ENCRYPTION_TYPES "MS-MPPE-Encryption-Types" Enum values ms_mppe_encryption_types {
            //! MS-MPPE-Encryption-Types (RFC 2548 §2.4.5), a bit set: L (0x2) allows 40-bit RC4
            //! keys, S (0x4) 128-bit ones.
            //!
            //! FreeRADIUS's dictionary names 1 and 2 for the single-key values, which matches
            //! neither the RFC's bit layout nor what NASes and FreeRADIUS's own rlm_mschap send
            //! (4 and 6); these follow the RFC.

            /// RFC 2548 §2.4.5: the L bit.
            2 RC4_40BIT_ALLOWED "RC4-40bit-Allowed";
            /// RFC 2548 §2.4.5: the S bit.
            4 RC4_128BIT_ALLOWED "RC4-128bit-Allowed";
            /// RFC 2548 §2.4.5: both bits.
            6 RC4_40OR128_BIT_ALLOWED "RC4-40or128-bit-Allowed";
        };
        /// RFC 2548 §2.7.1: the SMI enterprise code of the NAS vendor.
        9 RAS_VENDOR "MS-RAS-Vendor" Integer;
        /// RFC 2548 §2.1.4: Ident followed by the Windows NT domain.
        10 CHAP_DOMAIN "MS-CHAP-Domain" String;
        /// RFC 2548 §2.1.2: the challenge the NAS sent (MS-CHAPv1 and v2).
        11 CHAP_CHALLENGE "MS-CHAP-Challenge" Octets;
        /// RFC 2548 §2.4.1: LM and NT keys, hidden as User-Password is.
        12 CHAP_MPPE_KEYS "MS-CHAP-MPPE-Keys" Octets, hidden(MsChapMppeKeys);
        /// RFC 2548 §2.5.1.
        13 BAP_USAGE "MS-BAP-Usage" Enum values {
            // RFC 2548 §2.5.1.
            0 "Not-Allowed";
            1 "Allowed";
            2 "Required";
        };
        /// RFC 2548 §2.5.2.
        14 LINK_UTILIZATION_THRESHOLD "MS-Link-Utilization-Threshold" Integer;
        /// RFC 2548 §2.5.3.
        15 LINK_DROP_TIME_LIMIT "MS-Link-Drop-Time-Limit" Integer;
        /// RFC 2548 §2.4.2: salt-encrypted session key, NAS to peer.
        16 MPPE_SEND_KEY "MS-MPPE-Send-Key" Octets, hidden(MsMppeKey);
        /// RFC 2548 §2.4.3: salt-encrypted session key, peer to NAS.
        17 MPPE_RECV_KEY "MS-MPPE-Recv-Key" Octets, hidden(MsMppeKey);
        /// RFC 2548 §2.7.2.
        18 RAS_VERSION "MS-RAS-Version" String;
        /// RFC 2548 §2.6.1.
        19 OLD_ARAP_PASSWORD "MS-Old-ARAP-Password" Octets, sensitive;
        /// RFC 2548 §2.6.2.
        20 NEW_ARAP_PASSWORD "MS-New-ARAP-Password" Octets, sensitive;
        /// RFC 2548 §2.6.3 (MS-ARAP-Password-Change-Reason; FreeRADIUS shortens it).
        21 ARAP_PW_CHANGE_REASON "MS-ARAP-PW-Change-Reason" Enum values {
            // RFC 2548 §2.6.3.
            1 "Just-Change-Password";
            2 "Expired-Password";
            3 "Admin-Requires-Password-Change";
            4 "Password-Too-Short";
        };
        /// RFC 2548 §2.7.3.
        22 FILTER "MS-Filter" Octets;
        /// RFC 2548 §2.7.4.
        23 ACCT_AUTH_TYPE "MS-Acct-Auth-Type" Enum values {
            // RFC 2548 §2.7.4.
            1 "PAP";
            2 "CHAP";
            3 "MS-CHAP-1";
            4 "MS-CHAP-2";
            5 "EAP";
        };
        /// RFC 2548 §2.7.5.
        24 ACCT_EAP_TYPE "MS-Acct-EAP-Type" Enum values {
            // RFC 2548 §2.7.5 (EAP method numbers).
            4 "MD5";
            5 "OTP";
            6 "Generic-Token-Card";
            13 "TLS";
        };
        /// RFC 2548 §2.3.2: Ident, Flags, Peer-Challenge, Reserved and NT-Response (MS-CHAPv2).
        25 CHAP2_RESPONSE "MS-CHAP2-Response" Octets, sensitive;
        /// RFC 2548 §2.3.3: Ident followed by the 42-octet authenticator response `S=…`.
        26 CHAP2_SUCCESS "MS-CHAP2-Success" Octets;
        /// RFC 2548 §2.3.4.
        27 CHAP2_CPW "MS-CHAP2-CPW" Octets;
        /// RFC 2548 §2.7.6.
        28 PRIMARY_DNS_SERVER "MS-Primary-DNS-Server" IpAddr;
        /// RFC 2548 §2.7.7.
        29 SECONDARY_DNS_SERVER "MS-Secondary-DNS-Server" IpAddr;
        /// RFC 2548 §2.7.8.
        30 PRIMARY_NBNS_SERVER "MS-Primary-NBNS-Server" IpAddr;
        /// RFC 2548 §2.7.9.
        31 SECONDARY_NBNS_SERVER "MS-Secondary-NBNS-Server" IpAddr;
        /// RFC 2548 §2.6.4 (FreeRADIUS leaves it commented out).
        33 ARAP_CHALLENGE "MS-ARAP-Challenge" Octets;
    }

    /// MikroTik vendor attribute types (vendor [`vendor::MIKROTIK`]), from RouterOS's RADIUS
    /// client documentation and FreeRADIUS's `dictionary.mikrotik`.
    ///
    /// MikroTik's types are not always what the name suggests: the rate limit is a *string*
    /// (`rx-rate[/tx-rate] [rx-burst-rate[/tx-burst-rate] …]`, seen from the router), the byte
    /// limits are 32-bit *integers* whose high bits travel in the matching `…-Gigawords`
    /// attribute, the signal bounds are strings (`-75`), and Host-IP is an IPv4 address. The
    /// wireless keys (Enc-Key, PSK, MPKey) travel in clear text: RADIUS does not hide them.
    pub mod mikrotik (vendor = vendor::MIKROTIK) in MIKROTIK {
        /// Mikrotik-Recv-Limit (integer): bytes the client may send, low 32 bits.
        1 RECV_LIMIT "Mikrotik-Recv-Limit" Integer;
        /// Mikrotik-Xmit-Limit (integer): bytes the client may receive, low 32 bits.
        2 XMIT_LIMIT "Mikrotik-Xmit-Limit" Integer;
        /// Mikrotik-Group (string): the RouterOS user group (login users only).
        3 GROUP "Mikrotik-Group" String;
        /// Mikrotik-Wireless-Forward (integer): 0 stops forwarding between wireless clients.
        4 WIRELESS_FORWARD "Mikrotik-Wireless-Forward" Integer;
        /// Mikrotik-Wireless-Skip-Dot1x (integer).
        5 WIRELESS_SKIP_DOT1X "Mikrotik-Wireless-Skip-Dot1x" Integer;
        /// Mikrotik-Wireless-Enc-Algo (integer, enumerated).
        6 WIRELESS_ENC_ALGO "Mikrotik-Wireless-Enc-Algo" Enum values {
            // RouterOS wireless encryption algorithms.
            0 "No-encryption";
            1 "40-bit-WEP";
            2 "104-bit-WEP";
            3 "AES-CCM";
            4 "TKIP";
        };
        /// Mikrotik-Wireless-Enc-Key (string, clear text).
        7 WIRELESS_ENC_KEY "Mikrotik-Wireless-Enc-Key" String, sensitive;
        /// Mikrotik-Rate-Limit (string, not integer): `rx/tx [burst …] [priority] [min]`.
        8 RATE_LIMIT "Mikrotik-Rate-Limit" String;
        /// Mikrotik-Realm (string).
        9 REALM "Mikrotik-Realm" String;
        /// Mikrotik-Host-IP (ipaddr): the hotspot client's original address.
        10 HOST_IP "Mikrotik-Host-IP" IpAddr;
        /// Mikrotik-Mark-Id (string): firewall mangle chain name.
        11 MARK_ID "Mikrotik-Mark-Id" String;
        /// Mikrotik-Advertise-URL (string).
        12 ADVERTISE_URL "Mikrotik-Advertise-URL" String;
        /// Mikrotik-Advertise-Interval (integer, seconds).
        13 ADVERTISE_INTERVAL "Mikrotik-Advertise-Interval" Integer;
        /// Mikrotik-Recv-Limit-Gigawords (integer): high 32 bits of [`RECV_LIMIT`].
        14 RECV_LIMIT_GIGAWORDS "Mikrotik-Recv-Limit-Gigawords" Integer;
        /// Mikrotik-Xmit-Limit-Gigawords (integer): high 32 bits of [`XMIT_LIMIT`].
        15 XMIT_LIMIT_GIGAWORDS "Mikrotik-Xmit-Limit-Gigawords" Integer;
        /// Mikrotik-Wireless-PSK (string, clear text).
        16 WIRELESS_PSK "Mikrotik-Wireless-PSK" String, sensitive;
        /// Mikrotik-Total-Limit (integer): bytes in both directions, low 32 bits.
        17 TOTAL_LIMIT "Mikrotik-Total-Limit" Integer;
        /// Mikrotik-Total-Limit-Gigawords (integer): high 32 bits of [`TOTAL_LIMIT`].
        18 TOTAL_LIMIT_GIGAWORDS "Mikrotik-Total-Limit-Gigawords" Integer;
        /// Mikrotik-Address-List (string): firewall address list to add the client to.
        19 ADDRESS_LIST "Mikrotik-Address-List" String;
        /// Mikrotik-Wireless-MPKey (string, clear text).
        20 WIRELESS_MPKEY "Mikrotik-Wireless-MPKey" String, sensitive;
        /// Mikrotik-Wireless-Comment (string).
        21 WIRELESS_COMMENT "Mikrotik-Wireless-Comment" String;
        /// Mikrotik-Delegated-IPv6-Pool (string): pool name, not a prefix.
        22 DELEGATED_IPV6_POOL "Mikrotik-Delegated-IPv6-Pool" String;
        /// Mikrotik-DHCP-Option-Set (string).
        23 DHCP_OPTION_SET "Mikrotik-DHCP-Option-Set" String;
        /// Mikrotik-DHCP-Option-Param-STR1 (string).
        24 DHCP_OPTION_PARAM_STR1 "Mikrotik-DHCP-Option-Param-STR1" String;
        /// Mikrotik-DHCP-Option-Param-STR2 (string; FreeRADIUS misspells it `Mikortik-…`).
        25 DHCP_OPTION_PARAM_STR2 "Mikrotik-DHCP-Option-Param-STR2" String;
        /// Mikrotik-Wireless-VLANID (integer).
        26 WIRELESS_VLANID "Mikrotik-Wireless-VLANID" Integer;
        /// Mikrotik-Wireless-VLANID-Type (integer): 0 802.1q, 1 802.1ad.
        27 WIRELESS_VLANID_TYPE "Mikrotik-Wireless-VLANID-Type" Enum values {
            // RouterOS wireless VLAN tag types.
            0 "802.1q";
            1 "802.1ad";
        };
        /// Mikrotik-Wireless-Minsignal (string, though numeric: `-75`).
        28 WIRELESS_MINSIGNAL "Mikrotik-Wireless-Minsignal" String;
        /// Mikrotik-Wireless-Maxsignal (string, though numeric).
        29 WIRELESS_MAXSIGNAL "Mikrotik-Wireless-Maxsignal" String;
        /// Mikrotik-Switching-Filter (string): dynamic switch rules for a dot1x client.
        30 SWITCHING_FILTER "Mikrotik-Switching-Filter" String;
    }
}

/// FreeRADIUS's other spellings, accepted by [`by_name`](super::by_name) so configuration
/// copied from a FreeRADIUS `users` file still resolves.
pub(super) static ALIASES: &[(&str, u32, u8)] = &[
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
