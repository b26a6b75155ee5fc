//! Deciding an Access-Request and encoding the reply.
//!
//! Pure: given the request, its NAS, the subscriber (if known), the plan and the time, it
//! writes a signed Access-Accept or Access-Reject into the caller's buffer. The socket,
//! duplicate detection, Message-Authenticator check and lookups happen before, in
//! `server`; nothing here waits.

use std::sync::Arc;

use bytes::BytesMut;
use proisp_model::{FupAction, Nas, NasVendor, Plan, RateLimit, Status, Subscriber};
use proisp_radius::authenticator::ct_eq;
use proisp_radius::dictionary::{attr, mikrotik, ms, values, vendor};
use proisp_radius::encode::{EncodeError, Encoder};
use proisp_radius::header::Code;
use proisp_radius::mschap::{self, Credential, ErrorCode};
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_radius::secret::SharedSecret;
use proisp_radius::{chap, password};

/// Why an Access-Request was rejected: one Reply-Message and one metric label each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RejectReason {
    /// No such user name (or a deleted one).
    UnknownUser,
    /// The password (PAP, CHAP or MS-CHAP) does not match.
    WrongPassword,
    /// The account is suspended.
    Suspended,
    /// The account is disabled.
    Disabled,
    /// The paid period has ended.
    Expired,
    /// The login comes from a device other than the bound MAC address.
    MacMismatch,
    /// The subscriber already has as many sessions as allowed.
    SimultaneousUse,
    /// No PAP, CHAP or MS-CHAP credentials (EAP is not offered).
    UnsupportedMethod,
    /// The subscriber's plan does not exist (a data error, reported rather than guessed).
    NoPlan,
    /// The plan's quota is spent and the plan disconnects rather than slows down.
    QuotaExhausted,
}

impl RejectReason {
    /// Every reason, in declaration order (metrics index by discriminant).
    pub(crate) const ALL: [RejectReason; 10] = [
        RejectReason::UnknownUser,
        RejectReason::WrongPassword,
        RejectReason::Suspended,
        RejectReason::Disabled,
        RejectReason::Expired,
        RejectReason::MacMismatch,
        RejectReason::SimultaneousUse,
        RejectReason::UnsupportedMethod,
        RejectReason::NoPlan,
        RejectReason::QuotaExhausted,
    ];

    /// The metric label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            RejectReason::UnknownUser => "unknown_user",
            RejectReason::WrongPassword => "wrong_password",
            RejectReason::Suspended => "suspended",
            RejectReason::Disabled => "disabled",
            RejectReason::Expired => "expired",
            RejectReason::MacMismatch => "mac_mismatch",
            RejectReason::SimultaneousUse => "simultaneous_use",
            RejectReason::UnsupportedMethod => "unsupported_method",
            RejectReason::NoPlan => "no_plan",
            RejectReason::QuotaExhausted => "quota_exhausted",
        }
    }

    /// The Reply-Message: what the NAS logs and may show the subscriber's router.
    pub(crate) const fn message(self) -> &'static str {
        match self {
            RejectReason::UnknownUser => "Unknown user",
            RejectReason::WrongPassword => "Wrong password",
            RejectReason::Suspended => "Account suspended",
            RejectReason::Disabled => "Account disabled",
            RejectReason::Expired => "Account expired",
            RejectReason::MacMismatch => "Login from a device not bound to this account",
            RejectReason::SimultaneousUse => "Simultaneous session limit reached",
            RejectReason::UnsupportedMethod => "Unsupported authentication method",
            RejectReason::NoPlan => "Account has no service plan",
            RejectReason::QuotaExhausted => "Data quota for this period is used up",
        }
    }

    /// The MS-CHAP error code a Windows or RouterOS client understands.
    const fn mschap_code(self) -> ErrorCode {
        match self {
            RejectReason::Suspended | RejectReason::Disabled | RejectReason::NoPlan => {
                ErrorCode::AccountDisabled
            }
            RejectReason::Expired => ErrorCode::PasswordExpired,
            RejectReason::MacMismatch
            | RejectReason::SimultaneousUse
            | RejectReason::QuotaExhausted => ErrorCode::NoDialinPermission,
            _ => ErrorCode::AuthenticationFailure,
        }
    }
}

/// Plans by id, with their reply values computed.
pub(crate) type PlanTable = std::collections::HashMap<i64, Arc<PlanEntry>>;

/// A plan with its reply values computed once, when plans are loaded.
#[derive(Debug)]
pub(crate) struct PlanEntry {
    /// The plan.
    pub(crate) plan: Plan,
    /// Mikrotik-Rate-Limit while within quota.
    pub(crate) rate_limit: String,
    /// Mikrotik-Rate-Limit once the quota is spent, when the plan slows down then.
    pub(crate) fup_rate_limit: Option<String>,
}

impl PlanEntry {
    pub(crate) fn new(plan: Plan) -> PlanEntry {
        PlanEntry {
            rate_limit: plan.rate.to_mikrotik(),
            fup_rate_limit: match plan.fup_action {
                FupAction::Throttle => plan.fup_rate.as_ref().map(RateLimit::to_mikrotik),
                FupAction::Disconnect => None,
            },
            plan,
        }
    }

    /// The rate limit `sub` gets now: the fair-usage one while their quota is spent.
    pub(crate) fn rate_limit_for(&self, sub: &Subscriber, now: i64) -> &str {
        match &self.fup_rate_limit {
            Some(fup) if fair_usage(sub, now) => fup,
            _ => &self.rate_limit,
        }
    }
}

/// Whether `sub` has spent their plan's quota for the current billing period.
pub(crate) fn fair_usage(sub: &Subscriber, now: i64) -> bool {
    sub.fup_until.is_some_and(|until| until > now)
}

/// The outcome of a decided request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Access-Accept sent.
    Accept,
    /// Access-Reject sent.
    Reject(RejectReason),
}

/// The credentials an Access-Request carries.
enum Credentials<'a> {
    /// User-Password, still hidden.
    Pap(&'a [u8]),
    /// CHAP-Password and its challenge.
    Chap {
        response: &'a [u8],
        challenge: &'a [u8],
    },
    /// MS-CHAPv2 (RFC 2548 §2.3.2).
    MsChapV2 {
        challenge: &'a [u8; 16],
        response: mschap::Chap2Response<'a>,
    },
    /// MS-CHAPv1 (RFC 2548 §2.1.2).
    MsChapV1 {
        challenge: &'a [u8; 8],
        response: mschap::ChapResponse<'a>,
    },
}

impl<'a> Credentials<'a> {
    /// The credentials of a request, or `None` for none (or malformed ones) we support.
    /// Under RADIUS/1.1 a CHAP challenge must be a CHAP-Challenge: there is no Request
    /// Authenticator to stand for it.
    fn of(req: &Packet<'a>, profile: Profile) -> Option<Credentials<'a>> {
        if let Some(pw) = req.value(attr::USER_PASSWORD) {
            return Some(Credentials::Pap(pw));
        }
        if let Some(response) = req.value(attr::CHAP_PASSWORD) {
            let challenge = chap::challenge_with(profile, req).ok()?;
            return Some(Credentials::Chap {
                response,
                challenge,
            });
        }
        let challenge = req.vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE)?;
        if let Some(r) = req.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE) {
            return Some(Credentials::MsChapV2 {
                challenge: mschap::challenge_v2(challenge).ok()?,
                response: mschap::Chap2Response::parse(r).ok()?,
            });
        }
        let r = req.vendor_value(vendor::MICROSOFT, ms::CHAP_RESPONSE)?;
        Some(Credentials::MsChapV1 {
            challenge: mschap::challenge_v1(challenge).ok()?,
            response: mschap::ChapResponse::parse(r).ok()?,
        })
    }

    /// The MS-CHAP Ident to echo in MS-CHAP-Error, for MS-CHAP requests.
    fn mschap_ident(&self) -> Option<(u8, bool)> {
        match self {
            Credentials::MsChapV2 { response, .. } => Some((response.ident, true)),
            Credentials::MsChapV1 { response, .. } => Some((response.ident, false)),
            _ => None,
        }
    }
}

/// What a successful credential check hands to the reply.
enum Proof {
    /// PAP or CHAP: nothing to add.
    Plain,
    /// MS-CHAPv2: MS-CHAP2-Success and the MPPE keys.
    MsChapV2 {
        success: [u8; mschap::SUCCESS_LEN],
        keys: mschap::MppeKeys,
    },
    /// MS-CHAPv1: MS-CHAP-MPPE-Keys.
    MsChapV1 { keys: mschap::ChapMppeKeys },
}

/// Checks the credentials against the stored password; `None` when they do not match.
/// Under RADIUS/1.1 a User-Password arrives in the clear (TLS protects it).
fn verify(
    creds: &Credentials<'_>,
    req: &Packet<'_>,
    ctx: &Context<'_>,
    user_name: &[u8],
    stored: &[u8],
) -> Option<Proof> {
    match creds {
        Credentials::Pap(hidden) => {
            let secret = ctx.nas.secret.as_bytes();
            let clear =
                password::unhide_with(ctx.profile, hidden, secret, req.authenticator()).ok()?;
            ct_eq(clear.as_bytes(), stored).then_some(Proof::Plain)
        }
        Credentials::Chap {
            response,
            challenge,
        } => chap::verify(response, challenge, stored)
            .ok()?
            .then_some(Proof::Plain),
        Credentials::MsChapV2 {
            challenge,
            response,
        } => {
            let hash = mschap::verify_v2(
                challenge,
                response.peer_challenge,
                user_name,
                response.nt_response,
                Credential::Password(stored),
            )
            .ok()??;
            let s = mschap::authenticator_response(
                &hash,
                response.nt_response,
                response.peer_challenge,
                challenge,
                user_name,
            );
            Some(Proof::MsChapV2 {
                success: mschap::success_value(response.ident, &s),
                keys: mschap::mppe_keys_v2(&hash, response.nt_response),
            })
        }
        Credentials::MsChapV1 {
            challenge,
            response,
        } => {
            let nt = response.nt_response().ok()?;
            let hash = mschap::verify_v1(challenge, nt, Credential::Password(stored)).ok()??;
            Some(Proof::MsChapV1 {
                keys: mschap::mppe_keys_v1(&hash),
            })
        }
    }
}

/// Everything a decision needs besides the request.
pub(crate) struct Context<'a> {
    /// The NAS the request came from.
    pub(crate) nas: &'a Nas,
    /// The subscriber, `None` when the name is unknown.
    pub(crate) subscriber: Option<&'a Subscriber>,
    /// The subscriber's plan, when it exists.
    pub(crate) plan: Option<&'a Arc<PlanEntry>>,
    /// Sessions the subscriber has open now.
    pub(crate) open_sessions: u32,
    /// Seconds since the epoch.
    pub(crate) now: i64,
    /// Classic RADIUS, or RADIUS/1.1 inside TLS (nothing signed or hidden with MD5).
    pub(crate) profile: Profile,
}

/// Decides `req` and appends the reply to `buf`, finished but unsigned: the caller signs
/// it with the NAS's secret ([`authenticator::sign_replies`]), a batch's replies at once.
///
/// [`authenticator::sign_replies`]: proisp_radius::authenticator::sign_replies
pub(crate) fn respond(
    req: &Packet<'_>,
    ctx: &Context<'_>,
    buf: &mut BytesMut,
) -> Result<Verdict, EncodeError> {
    let creds = Credentials::of(req, ctx.profile);
    let user_name = req.value(attr::USER_NAME).unwrap_or_default();
    let decision = match (&creds, ctx.subscriber) {
        (None, _) => Err(RejectReason::UnsupportedMethod),
        (Some(_), None) => Err(RejectReason::UnknownUser),
        (Some(creds), Some(sub)) => {
            // The password first: account state is told only to whoever knows it.
            match verify(creds, req, ctx, user_name, sub.password.as_bytes()) {
                None => Err(RejectReason::WrongPassword),
                Some(proof) => check_account(req, sub, ctx).map(|()| proof),
            }
        }
    };
    match decision {
        Ok(proof) => {
            accept(req, ctx, proof, buf)?;
            Ok(Verdict::Accept)
        }
        Err(reason) => {
            reject(
                req,
                reason,
                creds.and_then(|c| c.mschap_ident()),
                ctx.profile,
                buf,
            )?;
            Ok(Verdict::Reject(reason))
        }
    }
}

/// The checks after the password: status, expiry, MAC binding, simultaneous use.
fn check_account(
    req: &Packet<'_>,
    sub: &Subscriber,
    ctx: &Context<'_>,
) -> Result<(), RejectReason> {
    match sub.status {
        Status::Active => {}
        Status::Suspended => return Err(RejectReason::Suspended),
        Status::Disabled => return Err(RejectReason::Disabled),
    }
    if sub.expires_at.is_some_and(|t| t <= ctx.now) {
        return Err(RejectReason::Expired);
    }
    if let Some(bound) = sub.mac {
        let calling = req
            .attr(attr::CALLING_STATION_ID)
            .and_then(|a| a.as_str())
            .and_then(|s| s.parse().ok());
        if calling != Some(bound) {
            return Err(RejectReason::MacMismatch);
        }
    }
    if sub.simultaneous_use > 0 && ctx.open_sessions >= sub.simultaneous_use {
        return Err(RejectReason::SimultaneousUse);
    }
    let Some(plan) = ctx.plan else {
        return Err(RejectReason::NoPlan);
    };
    if plan.plan.fup_action == FupAction::Disconnect && fair_usage(sub, ctx.now) {
        return Err(RejectReason::QuotaExhausted);
    }
    Ok(())
}

fn accept(
    req: &Packet<'_>,
    ctx: &Context<'_>,
    proof: Proof,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let secret = &ctx.nas.secret;
    let profile = ctx.profile;
    let mut enc = Encoder::reply_with(buf, req, Code::AccessAccept, profile);
    enc.message_authenticator();
    match proof {
        Proof::Plain => {}
        Proof::MsChapV2 { success, keys } => {
            let auth = req.authenticator();
            let send = password::mppe_key_encrypt_with(
                profile,
                &keys.send,
                secret.as_bytes(),
                auth,
                password::random_salt(),
            );
            let recv = password::mppe_key_encrypt_with(
                profile,
                &keys.recv,
                secret.as_bytes(),
                auth,
                password::random_salt(),
            );
            enc.vsa(vendor::MICROSOFT, ms::CHAP2_SUCCESS, &success);
            if let (Ok(send), Ok(recv)) = (send, recv) {
                enc.vsa(vendor::MICROSOFT, ms::MPPE_SEND_KEY, send.as_bytes())
                    .vsa(vendor::MICROSOFT, ms::MPPE_RECV_KEY, recv.as_bytes());
            }
            mppe_policy(&mut enc);
        }
        Proof::MsChapV1 { keys } => {
            if let Ok(hidden) =
                password::hide_with(profile, keys.keys(), secret.as_bytes(), req.authenticator())
            {
                enc.vsa(vendor::MICROSOFT, ms::CHAP_MPPE_KEYS, hidden.as_bytes());
            }
            mppe_policy(&mut enc);
        }
    }
    if let (Some(sub), Some(plan)) = (ctx.subscriber, ctx.plan) {
        let p = &plan.plan;
        if ctx.nas.vendor == NasVendor::Mikrotik {
            enc.vsa(
                vendor::MIKROTIK,
                mikrotik::RATE_LIMIT,
                plan.rate_limit_for(sub, ctx.now).as_bytes(),
            );
        }
        let until_expiry = sub
            .expires_at
            .map(|t| u32::try_from(t.saturating_sub(ctx.now)).unwrap_or(u32::MAX));
        let timeout = match (p.session_timeout_secs, until_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(t) = timeout {
            enc.u32(attr::SESSION_TIMEOUT, t);
        }
        if let Some(t) = p.idle_timeout_secs {
            enc.u32(attr::IDLE_TIMEOUT, t);
        }
        match (sub.ipv4, &p.pool) {
            (Some(ip), _) => {
                enc.ipv4(attr::FRAMED_IP_ADDRESS, ip);
            }
            (None, Some(pool)) => {
                enc.attr(attr::FRAMED_POOL, pool.as_bytes());
            }
            (None, None) => {}
        }
        if let Some(prefix) = &sub.ipv6_prefix {
            enc.ipv6_prefix(attr::FRAMED_IPV6_PREFIX, prefix);
        }
        if let Some(prefix) = &sub.delegated_ipv6_prefix {
            enc.ipv6_prefix(attr::DELEGATED_IPV6_PREFIX, prefix);
        }
        enc.u32(attr::ACCT_INTERIM_INTERVAL, p.interim_interval_secs);
    }
    enc.copy_attrs(req, attr::PROXY_STATE);
    enc.finish_unsigned().map(|_| ())
}

/// MS-MPPE-Encryption-Policy and -Types as FreeRADIUS sends them with MPPE keys: encryption
/// allowed, 40- or 128-bit RC4.
fn mppe_policy(enc: &mut Encoder<'_>) {
    enc.vsa_u32(
        vendor::MICROSOFT,
        ms::MPPE_ENCRYPTION_POLICY,
        values::ms_mppe_encryption_policy::ENCRYPTION_ALLOWED,
    )
    .vsa_u32(
        vendor::MICROSOFT,
        ms::MPPE_ENCRYPTION_TYPES,
        values::ms_mppe_encryption_types::RC4_40OR128_BIT_ALLOWED,
    );
}

fn reject(
    req: &Packet<'_>,
    reason: RejectReason,
    mschap: Option<(u8, bool)>,
    profile: Profile,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut enc = Encoder::reply_with(buf, req, Code::AccessReject, profile);
    enc.message_authenticator();
    enc.attr(attr::REPLY_MESSAGE, reason.message().as_bytes());
    match mschap {
        Some((ident, true)) => {
            let challenge: [u8; 16] = rand::random();
            let value = mschap::error_value_v2(
                ident,
                reason.mschap_code(),
                false,
                &challenge,
                reason.message(),
            );
            enc.vsa(vendor::MICROSOFT, ms::CHAP_ERROR, &value);
        }
        Some((ident, false)) => {
            let challenge: [u8; 8] = rand::random();
            let value = mschap::error_value_v1(ident, reason.mschap_code(), false, &challenge);
            enc.vsa(vendor::MICROSOFT, ms::CHAP_ERROR, &value);
        }
        None => {}
    }
    enc.copy_attrs(req, attr::PROXY_STATE);
    enc.finish_unsigned().map(|_| ())
}

#[cfg(test)]
mod tests {
    use proisp_model::{MacAddr, Nas, Password, QuotaPeriod, RateLimit};
    use proisp_radius::attr::Ipv6Prefix;
    use proisp_radius::authenticator::{self, sign_replies, verify_reply};
    use proisp_radius::secret::Secret;

    use super::*;

    const SECRET: &[u8] = b"testing123";
    const NOW: i64 = 1_800_000_000;

    fn nas(vendor: NasVendor) -> Nas {
        Nas {
            id: 1,
            name: "bras-1".into(),
            network: "127.0.0.1".parse().unwrap(),
            prefix_len: 32,
            secret: Secret::new(SECRET),
            vendor,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: proisp_model::NasTls::default(),
            coa_lane: proisp_model::CoaLane::default(),
            version: 1,
        }
    }

    fn plan() -> Arc<PlanEntry> {
        Arc::new(PlanEntry::new(Plan {
            id: 7,
            name: "home-20".into(),
            rate: RateLimit {
                download_kbps: 20_000,
                upload_kbps: 10_000,
                ..RateLimit::default()
            },
            quota_bytes: None,
            quota_period: QuotaPeriod::Month,
            fup_rate: None,
            fup_action: FupAction::Throttle,
            session_timeout_secs: Some(86_400),
            idle_timeout_secs: Some(600),
            interim_interval_secs: 300,
            pool: Some("residential".into()),
            validity_days: 30,
            price_cents: 1500,
            version: 1,
        }))
    }

    fn subscriber() -> Subscriber {
        Subscriber {
            id: 1,
            username: "user000001".into(),
            password: Password::new("pw000001"),
            status: Status::Active,
            plan_id: 7,
            expires_at: None,
            mac: None,
            ipv4: None,
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use: 1,
            fup_until: None,
            version: 1,
        }
    }

    /// A PAP Access-Request with two Proxy-States.
    fn pap_request(password: &[u8], extra: &[(u8, &[u8])]) -> Vec<u8> {
        let auth = authenticator::random();
        let hidden = password::hide(password, SECRET, &auth).unwrap();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 3, &auth);
        enc.message_authenticator()
            .attr(attr::USER_NAME, b"user000001")
            .attr(attr::USER_PASSWORD, hidden.as_bytes())
            .attr(attr::PROXY_STATE, b"first")
            .attr(attr::PROXY_STATE, b"second");
        for (typ, value) in extra {
            enc.attr(*typ, value);
        }
        enc.finish(SECRET).unwrap().to_vec()
    }

    fn decide(raw: &[u8], sub: Option<&Subscriber>, vendor: NasVendor) -> (Verdict, Vec<u8>) {
        let req = Packet::decode(raw).unwrap();
        let nas = nas(vendor);
        let plan = plan();
        let ctx = Context {
            nas: &nas,
            subscriber: sub,
            plan: Some(&plan),
            open_sessions: 0,
            now: NOW,
            profile: Profile::Classic,
        };
        let mut buf = BytesMut::new();
        let verdict = respond(&req, &ctx, &mut buf).unwrap();
        let len = buf.len();
        sign_replies(&mut buf, &[(0..len, &nas.secret)]);
        let reply = Packet::decode(&buf).unwrap();
        assert_eq!(
            verify_reply(&reply, req.authenticator(), SECRET, true),
            Ok(())
        );
        assert_eq!(
            reply.attrs().next().map(|a| a.typ),
            Some(attr::MESSAGE_AUTHENTICATOR),
            "Message-Authenticator first"
        );
        let states: Vec<&[u8]> = reply.attrs_of(attr::PROXY_STATE).map(|a| a.value).collect();
        if req.attr(attr::PROXY_STATE).is_some() {
            assert_eq!(states, vec![&b"first"[..], &b"second"[..]]);
        }
        (verdict, buf.to_vec())
    }

    fn reply_message(raw: &[u8]) -> String {
        let p = Packet::decode(raw).unwrap();
        p.attr(attr::REPLY_MESSAGE)
            .and_then(|a| a.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn pap_accept_carries_the_plan() {
        let sub = subscriber();
        let (verdict, raw) = decide(
            &pap_request(b"pw000001", &[]),
            Some(&sub),
            NasVendor::Mikrotik,
        );
        assert_eq!(verdict, Verdict::Accept);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.code(), Code::AccessAccept);
        assert_eq!(
            p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
            Some(&b"10M/20M"[..])
        );
        assert_eq!(
            p.attr(attr::SESSION_TIMEOUT).unwrap().as_u32(),
            Some(86_400)
        );
        assert_eq!(p.attr(attr::IDLE_TIMEOUT).unwrap().as_u32(), Some(600));
        assert_eq!(
            p.attr(attr::ACCT_INTERIM_INTERVAL).unwrap().as_u32(),
            Some(300)
        );
        assert_eq!(p.value(attr::FRAMED_POOL), Some(&b"residential"[..]));
        assert!(p.attr(attr::FRAMED_IP_ADDRESS).is_none());
        // A NAS of another make gets no MikroTik attributes.
        let (_, raw) = decide(&pap_request(b"pw000001", &[]), Some(&sub), NasVendor::Cisco);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT), None);
    }

    #[test]
    fn static_addresses_and_expiry_shape_the_reply() {
        let mut sub = subscriber();
        sub.ipv4 = Some("100.64.0.9".parse().unwrap());
        sub.ipv6_prefix = Ipv6Prefix::new("2001:db8:1::".parse().unwrap(), 64);
        sub.delegated_ipv6_prefix = Ipv6Prefix::new("2001:db8:100::".parse().unwrap(), 56);
        sub.expires_at = Some(NOW + 3_600);
        let (verdict, raw) = decide(
            &pap_request(b"pw000001", &[]),
            Some(&sub),
            NasVendor::Mikrotik,
        );
        assert_eq!(verdict, Verdict::Accept);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.attr(attr::FRAMED_IP_ADDRESS).unwrap().as_ipv4(), sub.ipv4);
        assert!(p.attr(attr::FRAMED_POOL).is_none());
        assert_eq!(
            p.attr(attr::FRAMED_IPV6_PREFIX).unwrap().as_ipv6_prefix(),
            sub.ipv6_prefix
        );
        assert_eq!(
            p.attr(attr::DELEGATED_IPV6_PREFIX)
                .unwrap()
                .as_ipv6_prefix(),
            sub.delegated_ipv6_prefix
        );
        // Session-Timeout never runs past the expiry.
        assert_eq!(p.attr(attr::SESSION_TIMEOUT).unwrap().as_u32(), Some(3_600));
    }

    #[test]
    fn each_reject_reason_has_its_message() {
        let sub = subscriber();
        let cases: Vec<(Option<Subscriber>, Vec<u8>, RejectReason)> = vec![
            (
                Some(sub.clone()),
                pap_request(b"wrong", &[]),
                RejectReason::WrongPassword,
            ),
            (
                None,
                pap_request(b"pw000001", &[]),
                RejectReason::UnknownUser,
            ),
            (
                Some(Subscriber {
                    status: Status::Suspended,
                    ..sub.clone()
                }),
                pap_request(b"pw000001", &[]),
                RejectReason::Suspended,
            ),
            (
                Some(Subscriber {
                    status: Status::Disabled,
                    ..sub.clone()
                }),
                pap_request(b"pw000001", &[]),
                RejectReason::Disabled,
            ),
            (
                Some(Subscriber {
                    expires_at: Some(NOW - 1),
                    ..sub.clone()
                }),
                pap_request(b"pw000001", &[]),
                RejectReason::Expired,
            ),
            (
                Some(Subscriber {
                    mac: Some(MacAddr([0x4C, 0x5E, 0x0C, 1, 2, 3])),
                    ..sub.clone()
                }),
                pap_request(
                    b"pw000001",
                    &[(attr::CALLING_STATION_ID, b"4C:5E:0C:01:02:04")],
                ),
                RejectReason::MacMismatch,
            ),
        ];
        for (sub, raw, reason) in cases {
            let (verdict, reply) = decide(&raw, sub.as_ref(), NasVendor::Mikrotik);
            assert_eq!(verdict, Verdict::Reject(reason));
            assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessReject);
            assert_eq!(reply_message(&reply), reason.message());
        }
        // A suspended account with a wrong password is told only "wrong password".
        let suspended = Subscriber {
            status: Status::Suspended,
            ..sub.clone()
        };
        let (verdict, _) = decide(
            &pap_request(b"nope", &[]),
            Some(&suspended),
            NasVendor::Mikrotik,
        );
        assert_eq!(verdict, Verdict::Reject(RejectReason::WrongPassword));
        // The bound MAC, in another notation, is let in.
        let bound = Subscriber {
            mac: Some(MacAddr([0x4C, 0x5E, 0x0C, 1, 2, 3])),
            ..sub
        };
        let raw = pap_request(
            b"pw000001",
            &[(attr::CALLING_STATION_ID, b"4c-5e-0c-01-02-03")],
        );
        assert_eq!(
            decide(&raw, Some(&bound), NasVendor::Mikrotik).0,
            Verdict::Accept
        );
    }

    #[test]
    fn simultaneous_use_counts_open_sessions() {
        let sub = subscriber();
        let raw = pap_request(b"pw000001", &[]);
        let req = Packet::decode(&raw).unwrap();
        let nas = nas(NasVendor::Mikrotik);
        let plan = plan();
        let mut ctx = Context {
            nas: &nas,
            subscriber: Some(&sub),
            plan: Some(&plan),
            open_sessions: 1,
            now: NOW,
            profile: Profile::Classic,
        };
        let mut buf = BytesMut::new();
        assert_eq!(
            respond(&req, &ctx, &mut buf).unwrap(),
            Verdict::Reject(RejectReason::SimultaneousUse)
        );
        ctx.open_sessions = 0;
        buf.clear();
        assert_eq!(respond(&req, &ctx, &mut buf).unwrap(), Verdict::Accept);
    }

    #[test]
    fn a_spent_quota_slows_down_or_refuses_by_plan() {
        let raw = pap_request(b"pw000001", &[]);
        let req = Packet::decode(&raw).unwrap();
        let nas = nas(NasVendor::Mikrotik);
        let mut plan = plan().plan.clone();
        plan.quota_bytes = Some(1 << 30);
        plan.fup_rate = Some(RateLimit {
            download_kbps: 1_000,
            upload_kbps: 512,
            ..RateLimit::default()
        });
        let throttle = Arc::new(PlanEntry::new(plan.clone()));
        plan.fup_action = FupAction::Disconnect;
        let disconnect = Arc::new(PlanEntry::new(plan));
        let mut sub = subscriber();
        let rate = |plan: &Arc<PlanEntry>, sub: &Subscriber| {
            let ctx = Context {
                nas: &nas,
                subscriber: Some(sub),
                plan: Some(plan),
                open_sessions: 0,
                now: NOW,
                profile: Profile::Classic,
            };
            let mut buf = BytesMut::new();
            let verdict = respond(&req, &ctx, &mut buf).unwrap();
            let rate = Packet::decode(&buf)
                .unwrap()
                .vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT)
                .map(|v| String::from_utf8_lossy(v).into_owned());
            (verdict, rate)
        };
        assert_eq!(
            rate(&throttle, &sub),
            (Verdict::Accept, Some("10M/20M".into()))
        );
        sub.fup_until = Some(NOW + 60);
        assert_eq!(
            rate(&throttle, &sub),
            (Verdict::Accept, Some("512k/1M".into()))
        );
        assert_eq!(
            rate(&disconnect, &sub),
            (Verdict::Reject(RejectReason::QuotaExhausted), None)
        );
        // The period is over: full speed again.
        sub.fup_until = Some(NOW);
        assert_eq!(
            rate(&throttle, &sub),
            (Verdict::Accept, Some("10M/20M".into()))
        );
    }

    fn request_with(build: impl FnOnce(&mut Encoder<'_>, &[u8; 16])) -> Vec<u8> {
        let auth = authenticator::random();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 9, &auth);
        enc.message_authenticator()
            .attr(attr::USER_NAME, b"user000001");
        build(&mut enc, &auth);
        enc.finish(SECRET).unwrap().to_vec()
    }

    #[test]
    fn chap_with_and_without_a_challenge_attribute() {
        let sub = subscriber();
        let raw = request_with(|enc, auth| {
            let mut value = vec![7];
            value.extend_from_slice(&chap::response(7, b"pw000001", auth));
            enc.attr(attr::CHAP_PASSWORD, &value);
        });
        assert_eq!(
            decide(&raw, Some(&sub), NasVendor::Mikrotik).0,
            Verdict::Accept
        );
        let raw = request_with(|enc, _| {
            let mut value = vec![7];
            value.extend_from_slice(&chap::response(7, b"pw000002", b"a-chap-challenge"));
            enc.attr(attr::CHAP_PASSWORD, &value)
                .attr(attr::CHAP_CHALLENGE, b"a-chap-challenge");
        });
        assert_eq!(
            decide(&raw, Some(&sub), NasVendor::Mikrotik).0,
            Verdict::Reject(RejectReason::WrongPassword)
        );
    }

    #[test]
    fn mschapv2_success_carries_keys_and_failure_an_error() {
        let sub = subscriber();
        let auth_challenge = [0x11u8; 16];
        let peer = [0x22u8; 16];
        let build = |pw: &[u8]| {
            let hash = mschap::nt_password_hash(pw).unwrap();
            let nt = mschap::generate_nt_response(&auth_challenge, &peer, b"user000001", &hash);
            let mut response = vec![5, 0];
            response.extend_from_slice(&peer);
            response.extend_from_slice(&[0; 8]);
            response.extend_from_slice(&nt);
            request_with(|enc, _| {
                enc.vsa(vendor::MICROSOFT, ms::CHAP_CHALLENGE, &auth_challenge)
                    .vsa(vendor::MICROSOFT, ms::CHAP2_RESPONSE, &response);
            })
        };
        let raw = build(b"pw000001");
        let (verdict, reply) = decide(&raw, Some(&sub), NasVendor::Mikrotik);
        assert_eq!(verdict, Verdict::Accept);
        let req = Packet::decode(&raw).unwrap();
        let p = Packet::decode(&reply).unwrap();
        let success = p
            .vendor_value(vendor::MICROSOFT, ms::CHAP2_SUCCESS)
            .unwrap();
        assert_eq!(success[0], 5);
        assert!(success[1..].starts_with(b"S="));
        let hash = mschap::nt_password_hash(b"pw000001").unwrap();
        let nt = mschap::generate_nt_response(&auth_challenge, &peer, b"user000001", &hash);
        let keys = mschap::mppe_keys_v2(&hash, &nt);
        let send = p
            .vendor_value(vendor::MICROSOFT, ms::MPPE_SEND_KEY)
            .unwrap();
        let clear = password::mppe_key_decrypt(send, SECRET, req.authenticator()).unwrap();
        assert_eq!(clear.as_bytes(), &keys.send);

        let (verdict, reply) = decide(&build(b"wrong"), Some(&sub), NasVendor::Mikrotik);
        assert_eq!(verdict, Verdict::Reject(RejectReason::WrongPassword));
        let p = Packet::decode(&reply).unwrap();
        let error = p.vendor_value(vendor::MICROSOFT, ms::CHAP_ERROR).unwrap();
        assert!(error[1..].starts_with(b"E=691 R=0 C="), "{error:?}");
    }

    #[test]
    fn requests_without_credentials_are_refused() {
        let raw = request_with(|enc, _| {
            enc.attr(attr::EAP_MESSAGE, &[2, 1, 0, 5, 1]);
        });
        let sub = subscriber();
        assert_eq!(
            decide(&raw, Some(&sub), NasVendor::Mikrotik).0,
            Verdict::Reject(RejectReason::UnsupportedMethod)
        );
    }
}
