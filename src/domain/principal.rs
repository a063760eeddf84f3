//! Who is making a request, as the rules in `policy` need to know them.

use chrono_tz::Tz;

use super::permission::{Permission, PermissionSet};

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// "First Last".
    pub display_name: String,
    pub time_zone: Tz,
    pub role: PrincipalRole,
    pub two_factor: TwoFactor,
}

/// Where the user stands with two-factor sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TwoFactor {
    pub enrolled: bool,
    /// Support staff always; customers when their account requires it.
    pub required: bool,
}

impl TwoFactor {
    /// Signed in with a password only, but must enrol before using the portal.
    pub fn must_enrol(self) -> bool {
        self.required && !self.enrolled
    }
}

#[derive(Debug, Clone)]
pub enum PrincipalRole {
    /// A user of a customer account; what they may do is the union of their roles' permissions.
    Customer { account: AccountRef, permissions: PermissionSet },
    /// The provider's own staff ("Armor Support"), who belong to no customer account.
    Support { admin: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    pub id: i64,
    pub number: i64,
    pub name: String,
    /// The account administrator allowed FH-AUTH (tokens from a user's email and password).
    pub fh_auth_enabled: bool,
    /// The account administrator requires API keys to sign the query string (the documented
    /// signing form); calls signed the original way are refused.
    pub query_signing_required: bool,
}

impl Principal {
    pub fn is_support(&self) -> bool {
        matches!(self.role, PrincipalRole::Support { .. })
    }

    pub fn is_support_admin(&self) -> bool {
        matches!(self.role, PrincipalRole::Support { admin: true })
    }

    pub fn account(&self) -> Option<&AccountRef> {
        match &self.role {
            PrincipalRole::Customer { account, .. } => Some(account),
            PrincipalRole::Support { .. } => None,
        }
    }

    /// A customer's permissions; support staff hold none of these (their powers are separate).
    pub fn permissions(&self) -> PermissionSet {
        match &self.role {
            PrincipalRole::Customer { permissions, .. } => *permissions,
            PrincipalRole::Support { .. } => PermissionSet::default(),
        }
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions().contains(permission)
    }
}
