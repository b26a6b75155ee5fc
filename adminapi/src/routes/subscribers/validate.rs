//! What a subscriber body must satisfy beyond its types, and the conversions between the
//! bodies and the store's records.

use super::*;

/// `p` as the RADIUS attribute holds it (bits past the length cleared); `::/0` is 422.
fn prefix(field: &str, p: Option<Ipv6Net>) -> Result<Option<Ipv6Prefix>, ApiError> {
    let Some(p) = p.and_then(|p| Ipv6Prefix::new(p.addr(), p.prefix_len())) else {
        return Ok(None);
    };
    if p.is_empty() {
        return Err(ApiError::invalid(field, "::/0 is not a subscriber prefix"));
    }
    Ok(Some(p))
}

/// `p` as the API shows it.
fn net(p: Ipv6Prefix) -> Option<Ipv6Net> {
    Ipv6Net::new(p.addr(), p.len()).ok()
}

/// `None` for an absent or blank optional text; too long or with control characters
/// (line breaks allowed in `address`) is 422.
fn text(field: &str, v: Option<&String>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(v) = v.map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !(field == "address" && c == '\n'))
    {
        return Err(ApiError::invalid(field, "contains control characters"));
    }
    Ok(Some(v.to_owned()))
}

/// A password an admin chose for subscriber `username`: 1 to 128 octets, not easy to
/// guess ([`password::check_guessable`]).
pub(super) fn check_password(username: &str, p: &str) -> Result<(), ApiError> {
    if p.is_empty() || p.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::invalid(
            "password",
            format!("1 to {MAX_PASSWORD_LEN} octets"),
        ));
    }
    password::check_guessable(username, p).map_err(|why| ApiError::invalid("password", why))
}

impl SubscriberInput {
    /// Validates and converts; `current` is the password kept when none is given.
    pub fn to_new(&self, current: Option<&Password>) -> Result<NewSubscriber, ApiError> {
        let u = &self.username;
        if u.is_empty() || u.len() > MAX_USERNAME_LEN {
            return Err(ApiError::invalid(
                "username",
                format!("1 to {MAX_USERNAME_LEN} octets"),
            ));
        }
        if u.trim() != u || u.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "username",
                "no control characters or leading/trailing spaces",
            ));
        }
        let password = match (&self.password, current) {
            (Some(p), _) => {
                check_password(u, p)?;
                Password::new(p.as_bytes())
            }
            (None, Some(p)) => p.clone(),
            (None, None) => return Err(ApiError::invalid("password", "required")),
        };
        let status = Status::parse(&self.status)
            .ok_or_else(|| ApiError::invalid("status", "must be active, suspended or disabled"))?;
        if self.plan_id <= 0 {
            return Err(ApiError::invalid("plan_id", "no such plan"));
        }
        if let Some(ip) = self.ipv4
            && (ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
        {
            return Err(ApiError::invalid("ipv4", "not a host address"));
        }
        let phone = text("phone", self.phone.as_ref(), 32)?;
        if phone.as_deref().is_some_and(|p| {
            !p.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        }) {
            return Err(ApiError::invalid(
                "phone",
                "digits, spaces and + - ( ) . only",
            ));
        }
        let email = text("email", self.email.as_ref(), 254)?;
        if email
            .as_deref()
            .is_some_and(|e| !matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !e.contains(' ')))
        {
            return Err(ApiError::invalid("email", "not an e-mail address"));
        }
        if i32::try_from(self.simultaneous_use).is_err() {
            return Err(ApiError::invalid("simultaneous_use", "too large"));
        }
        Ok(NewSubscriber {
            username: u.clone(),
            password,
            status,
            plan_id: self.plan_id,
            expires_at: self.expires_at.map(Timestamp::unix),
            mac: self.mac,
            ipv4: self.ipv4,
            ipv6_prefix: prefix("ipv6_prefix", self.ipv6_prefix)?,
            delegated_ipv6_prefix: prefix("delegated_ipv6_prefix", self.delegated_ipv6_prefix)?,
            simultaneous_use: self.simultaneous_use,
            name: text("name", self.name.as_ref(), 200)?,
            phone,
            email,
            address: text("address", self.address.as_ref(), 500)?,
        })
    }
}

impl From<&SubscriberRecord> for SubscriberInput {
    fn from(r: &SubscriberRecord) -> SubscriberInput {
        let s = &r.subscriber;
        SubscriberInput {
            username: s.username.clone(),
            password: None,
            status: s.status.as_str().to_owned(),
            plan_id: s.plan_id,
            expires_at: s.expires_at.map(Timestamp::from_unix),
            mac: s.mac,
            ipv4: s.ipv4,
            ipv6_prefix: s.ipv6_prefix.and_then(net),
            delegated_ipv6_prefix: s.delegated_ipv6_prefix.and_then(net),
            simultaneous_use: s.simultaneous_use,
            name: r.name.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            address: r.address.clone(),
        }
    }
}

impl From<&SubscriberRecord> for SubscriberView {
    fn from(r: &SubscriberRecord) -> SubscriberView {
        let s = &r.subscriber;
        SubscriberView {
            id: s.id,
            username: s.username.clone(),
            status: s.status.as_str().to_owned(),
            plan_id: s.plan_id,
            plan: r.plan_name.clone(),
            expires_at: s.expires_at.map(Timestamp::from_unix),
            mac: s.mac,
            ipv4: s.ipv4,
            ipv6_prefix: s.ipv6_prefix.and_then(net),
            delegated_ipv6_prefix: s.delegated_ipv6_prefix.and_then(net),
            simultaneous_use: s.simultaneous_use,
            name: r.name.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            address: r.address.clone(),
            online: r.online,
            fup_until: s.fup_until.map(Timestamp::from_unix),
            created_at: Timestamp::from_unix(r.created_at),
            updated_at: Timestamp::from_unix(r.updated_at),
            version: s.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = SubscriberInput {
            username: "alice".to_owned(),
            password: Some("pw".to_owned()),
            status: default_status(),
            plan_id: 1,
            expires_at: None,
            mac: Some("4c5e.0c12.3456".parse().unwrap()),
            ipv4: None,
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use: 1,
            name: None,
            phone: None,
            email: None,
            address: None,
        };
        assert_eq!(
            ok.to_new(None).unwrap().mac.unwrap().to_string(),
            "4C:5E:0C:12:34:56"
        );
        let field = |f: fn(&mut SubscriberInput)| {
            let mut i = ok.clone();
            f(&mut i);
            match i.to_new(None).unwrap_err() {
                ApiError::Invalid { field, .. } => field,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(field(|i| i.username = " alice".into()), "username");
        assert_eq!(field(|i| i.password = None), "password");
        assert_eq!(field(|i| i.status = "gone".into()), "status");
        assert_eq!(field(|i| i.ipv4 = Some(Ipv4Addr::BROADCAST)), "ipv4");
        assert_eq!(
            field(|i| i.ipv6_prefix = Some("::/0".parse().unwrap())),
            "ipv6_prefix"
        );
        assert_eq!(field(|i| i.phone = Some("call me".into())), "phone");
        assert_eq!(field(|i| i.email = Some("nobody".into())), "email");
    }

    #[test]
    fn typed_fields_name_the_field() {
        let parse = |extra: Value| {
            let mut v = json!({"username": "alice", "password": "pw", "plan_id": 1});
            body::merge(&mut v, extra);
            body::parse::<SubscriberInput>(v)
        };
        let field = |extra: Value| match parse(extra).unwrap_err() {
            ApiError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"mac": "zz"})), "mac");
        assert_eq!(field(json!({"ipv4": "10.0.0.256"})), "ipv4");
        assert_eq!(field(json!({"ipv4": 167_772_161})), "ipv4");
        assert_eq!(field(json!({"ipv6_prefix": "2001:db8::"})), "ipv6_prefix");
        assert_eq!(
            field(json!({"delegated_ipv6_prefix": "2001:db8::/129"})),
            "delegated_ipv6_prefix"
        );
        assert_eq!(field(json!({"expires_at": "soon"})), "expires_at");
        // Blank is absent, surrounding spaces are ignored, as before the fields were typed.
        let blank =
            parse(json!({"mac": "", "ipv4": " ", "expires_at": "", "ipv6_prefix": ""})).unwrap();
        assert_eq!(
            (blank.mac, blank.ipv4, blank.expires_at, blank.ipv6_prefix),
            (None, None, None, None)
        );
        let typed = parse(json!({"ipv4": " 10.0.0.1 ", "expires_at": "1970-01-02"})).unwrap();
        assert_eq!(typed.ipv4, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(typed.expires_at, Some(Timestamp::from_unix(86_400)));
    }
}
