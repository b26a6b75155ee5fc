//! The dictionary's tests.

use super::data::{DECLARED, MICROSOFT, MIKROTIK};
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

/// Every line of `data.rs` against what `dictionary!` made of it, so that a typo in a line
/// cannot slip: its constant finds the entry of that name and type, the name finds the same
/// entry, the constant's identifier spells the name (`USER_NAME` for `User-Name`,
/// `ms::CHAP2_RESPONSE` for `MS-CHAP2-Response`), its values module is named after it, and
/// each named value's constant and name find each other.
#[test]
fn every_declared_attribute_agrees_with_its_constant_name_and_type() {
    assert_eq!(DECLARED.len(), all().count());
    for line in DECLARED {
        let what = format!("{}::{} ({})", line.module, line.constant, line.name);
        let Some(def) = lookup(line.vendor, line.code) else {
            panic!(
                "{what}: lookup({}, {}) finds nothing",
                line.vendor, line.code
            );
        };
        assert_eq!(def.name, line.name, "{what}: lookup by its constant");
        assert_eq!(def.ty, line.ty, "{what}: type");
        assert_eq!((def.vendor, def.code), (line.vendor, line.code), "{what}");
        assert!(
            by_name(line.name).is_some_and(|d| std::ptr::eq(d, def)),
            "{what}: by_name"
        );

        let (module, prefix) = match line.vendor {
            0 => ("attr", ""),
            vendor::MICROSOFT => ("ms", "MS-"),
            vendor::MIKROTIK => ("mikrotik", "Mikrotik-"),
            other => panic!("{what}: vendor {other} has no module or name prefix here"),
        };
        assert_eq!(line.module, module, "{what}: module");
        let Some(bare) = line.name.strip_prefix(prefix) else {
            panic!("{what}: name lacks the vendor prefix {prefix}");
        };
        assert_eq!(
            bare.to_ascii_uppercase().replace('-', "_"),
            line.constant,
            "{what}: the constant does not spell the name"
        );

        if let Some(set) = line.set {
            assert_eq!(
                line.name.to_ascii_lowercase().replace('-', "_"),
                set,
                "{what}: values module"
            );
        }
        match line.ty {
            ValueType::Enum => assert!(!line.values.is_empty(), "{what}: enum without values"),
            ValueType::TaggedInteger => {}
            _ => assert!(line.values.is_empty(), "{what}: values of a {:?}", line.ty),
        }
        assert_eq!(def.values.len(), line.values.len(), "{what}: values");
        for (constant, number, value_name) in line.values {
            let value = format!("{what} value {number} {value_name} {constant:?}");
            assert_eq!(def.value_name(*number), Some(*value_name), "{value}");
            assert_eq!(def.value_by_name(value_name), Some(*number), "{value}");
            assert_eq!(constant.is_some(), line.set.is_some(), "{value}");
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
