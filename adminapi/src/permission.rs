//! Roles and what they may do.
//!
//! Every handler names the one [`Permission`] it needs (`session.require(Permission::…)`,
//! see [`crate::session::Session`]); [`Role::allows`] is the only table of who has what.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An admin's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including admin management and revealing passwords.
    Superadmin,
    /// Everything but admin management and revealing passwords.
    Admin,
    /// Support desk: read, kick sessions, reset subscriber passwords.
    Support,
    /// Read only.
    Viewer,
}

/// One thing an endpoint may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// Read subscribers, plans, NAS devices, sessions, usage, the dashboard.
    Read,
    /// Create, change and delete plans.
    PlanWrite,
    /// Create, change, suspend, renew and delete subscribers.
    SubscriberWrite,
    /// Create, change and delete NAS devices.
    NasWrite,
    /// Disconnect live sessions (RFC 5176).
    SessionKick,
    /// Set a subscriber's password to a new value.
    PasswordReset,
    /// See a subscriber's password in clear text (every use audited).
    PasswordReveal,
    /// Read the audit log.
    AuditRead,
    /// Create, change and delete admins.
    AdminManage,
    /// Register, change, test and delete webhooks; list and redeliver their deliveries
    /// (a webhook sends subscriber data out of the network: support and viewers may not,
    /// nor see the URLs, which may carry the receiver's token).
    WebhookManage,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 10] = [
        Permission::Read,
        Permission::PlanWrite,
        Permission::SubscriberWrite,
        Permission::NasWrite,
        Permission::SessionKick,
        Permission::PasswordReset,
        Permission::PasswordReveal,
        Permission::AuditRead,
        Permission::AdminManage,
        Permission::WebhookManage,
    ];

    /// The name `/auth/me` lists.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::PlanWrite => "plan_write",
            Permission::SubscriberWrite => "subscriber_write",
            Permission::NasWrite => "nas_write",
            Permission::SessionKick => "session_kick",
            Permission::PasswordReset => "password_reset",
            Permission::PasswordReveal => "password_reveal",
            Permission::AuditRead => "audit_read",
            Permission::AdminManage => "admin_manage",
            Permission::WebhookManage => "webhook_manage",
        }
    }
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Superadmin, Role::Admin, Role::Support, Role::Viewer];

    /// Whether this role has `p`.
    pub const fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Superadmin => true,
            Role::Admin => !matches!(p, P::AdminManage | P::PasswordReveal),
            Role::Support => matches!(p, P::Read | P::SessionKick | P::PasswordReset),
            Role::Viewer => matches!(p, P::Read),
        }
    }

    /// The name stored in PostgreSQL and used in tokens and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Viewer => "viewer",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table() {
        use Permission as P;
        let all = Permission::ALL;
        let has = |r: Role| -> Vec<P> { all.into_iter().filter(|p| r.allows(*p)).collect() };
        assert_eq!(has(Role::Superadmin), all);
        assert!(!Role::Admin.allows(P::AdminManage));
        assert!(!Role::Admin.allows(P::PasswordReveal));
        assert!(Role::Admin.allows(P::WebhookManage));
        assert!(Role::Admin.allows(P::PlanWrite));
        assert!(Role::Admin.allows(P::AuditRead));
        assert_eq!(
            has(Role::Support),
            [P::Read, P::SessionKick, P::PasswordReset]
        );
        assert_eq!(has(Role::Viewer), [P::Read]);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
