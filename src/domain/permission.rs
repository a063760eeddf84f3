//! The permissions a customer user can hold, and the built-in roles that bundle them.
//!
//! This table is the single source of truth: the checks in `policy`, the role editor and the
//! "what does this unlock" text all read it, so they cannot drift apart.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ReadDashboardStatistics,
    ReadTicket,
    WriteTicket,
    ReadIdentity,
    WriteIdentity,
    ApiKeysSelfManage,
    ApiKeysAllRead,
    ApiKeysAllDelete,
    ManageWebhooks,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::ReadDashboardStatistics,
        Permission::ReadTicket,
        Permission::WriteTicket,
        Permission::ReadIdentity,
        Permission::WriteIdentity,
        Permission::ApiKeysSelfManage,
        Permission::ApiKeysAllRead,
        Permission::ApiKeysAllDelete,
        Permission::ManageWebhooks,
    ];

    /// The exact name shown in the UI (and in the original portal).
    pub fn name(self) -> &'static str {
        match self {
            Permission::ReadDashboardStatistics => "Read Dashboard Statistics",
            Permission::ReadTicket => "Read Ticket",
            Permission::WriteTicket => "Write Ticket",
            Permission::ReadIdentity => "Read Identity",
            Permission::WriteIdentity => "Write Identity",
            Permission::ApiKeysSelfManage => "API Keys Self Manage",
            Permission::ApiKeysAllRead => "API Keys All Read",
            Permission::ApiKeysAllDelete => "API Keys All Delete",
            Permission::ManageWebhooks => "Manage Webhooks",
        }
    }

    /// The stable identifier stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            Permission::ReadDashboardStatistics => "read_dashboard_statistics",
            Permission::ReadTicket => "read_ticket",
            Permission::WriteTicket => "write_ticket",
            Permission::ReadIdentity => "read_identity",
            Permission::WriteIdentity => "write_identity",
            Permission::ApiKeysSelfManage => "api_keys_self_manage",
            Permission::ApiKeysAllRead => "api_keys_all_read",
            Permission::ApiKeysAllDelete => "api_keys_all_delete",
            Permission::ManageWebhooks => "manage_webhooks",
        }
    }

    pub fn from_code(code: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn description(self) -> &'static str {
        match self {
            Permission::ReadDashboardStatistics => {
                "See the Security Dashboard and, together with Read Ticket, the Security Incidents screen."
            }
            Permission::ReadTicket => "See the tickets and incidents you opened or are a recipient on.",
            Permission::WriteTicket => {
                "Open tickets, comment on them, request closure of incidents and add recipients."
            }
            Permission::ReadIdentity => "See the account's users and roles.",
            Permission::WriteIdentity => {
                "Create, disable and edit users; create, rename and delete roles; change members and permissions."
            }
            Permission::ApiKeysSelfManage => "Create and revoke your own API keys.",
            Permission::ApiKeysAllRead => "See every API key of the account.",
            Permission::ApiKeysAllDelete => "Revoke any API key of the account.",
            Permission::ManageWebhooks => {
                "Send the account's ticket events to outside addresses (webhooks), including events of tickets \
                 you are not on, and see their delivery log. Grant it as you would reading every ticket."
            }
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions, the union over a user's roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub fn all() -> Self {
        Permission::ALL.into_iter().collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// Those of `required` that this set lacks, in the order given.
    pub fn missing(self, required: &[Permission]) -> Vec<Permission> {
        required.iter().copied().filter(|p| !self.contains(*p)).collect()
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::default();
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

/// The provider-defined roles present in every account. Their permissions live here, not in the
/// database, so that Admin gains every permission added later without a data migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Admin,
    Technical,
    Billing,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 3] = [BuiltinRole::Admin, BuiltinRole::Technical, BuiltinRole::Billing];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "Admin",
            BuiltinRole::Technical => "Technical",
            BuiltinRole::Billing => "Billing",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::Technical => "technical",
            BuiltinRole::Billing => "billing",
        }
    }

    pub fn from_code(code: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            BuiltinRole::Admin => PermissionSet::all(),
            BuiltinRole::Technical => {
                [ReadDashboardStatistics, ReadTicket, WriteTicket, ApiKeysSelfManage].into_iter().collect()
            }
            BuiltinRole::Billing => [ReadTicket].into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_holds_every_permission() {
        for permission in Permission::ALL {
            assert!(BuiltinRole::Admin.permissions().contains(permission), "{permission}");
        }
    }

    #[test]
    fn billing_only_reads_tickets() {
        let billing = BuiltinRole::Billing.permissions();
        assert_eq!(billing.iter().collect::<Vec<_>>(), vec![Permission::ReadTicket]);
    }

    #[test]
    fn missing_lists_the_absent_permissions() {
        let set: PermissionSet = [Permission::ReadTicket].into_iter().collect();
        assert_eq!(
            set.missing(&[Permission::ReadTicket, Permission::ReadDashboardStatistics]),
            vec![Permission::ReadDashboardStatistics]
        );
    }

    #[test]
    fn codes_round_trip() {
        for permission in Permission::ALL {
            assert_eq!(Permission::from_code(permission.code()), Some(permission));
        }
        assert_eq!(Permission::from_code("bogus"), None);
    }
}
