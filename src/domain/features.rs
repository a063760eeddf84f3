//! What each permission unlocks: one table, read both by the authorization checks in `policy`
//! and by the role editor's "unlocks" lists, so the two cannot drift apart.

use super::permission::Permission::{self, *};
use crate::paths;

pub struct Feature {
    pub name: &'static str,
    pub pages: &'static [&'static str],
    pub api: &'static [&'static str],
    /// All of these are needed.
    pub requires: &'static [Permission],
}

pub const SECURITY_DASHBOARD: Feature = Feature {
    name: "Security Dashboard (counts and charts)",
    pages: &[paths::DASHBOARD],
    api: &[],
    requires: &[ReadDashboardStatistics],
};

pub const SECURITY_INCIDENTS: Feature = Feature {
    name: "Security Incidents, and the dashboard's incident rows",
    pages: &[paths::INCIDENTS, paths::INCIDENTS_CSV],
    api: &[paths::API_INCIDENTS, paths::API_SEVERITY_COUNT],
    requires: &[ReadTicket, ReadDashboardStatistics],
};

pub const SUPPORT_TICKETS: Feature = Feature {
    name: "Support Tickets: the tickets you opened or receive",
    pages: &[paths::TICKETS, paths::TICKETS_CSV],
    api: &[],
    requires: &[ReadTicket],
};

pub const WRITE_TICKETS: Feature = Feature {
    name: "Open tickets, comment, request closure, add recipients",
    pages: &[paths::NEW_TICKET],
    api: &[],
    requires: &[WriteTicket],
};

pub const READ_IDENTITY: Feature = Feature {
    name: "See the account's users and roles",
    pages: &[paths::USERS, paths::ROLES],
    api: &[],
    requires: &[ReadIdentity],
};

pub const WRITE_IDENTITY: Feature = Feature {
    name: "Create, disable and edit users; create, rename and delete roles; change members and permissions",
    pages: &[paths::NEW_USER, paths::ROLES],
    api: &[],
    requires: &[WriteIdentity],
};

pub const OWN_API_KEYS: Feature = Feature {
    name: "Create, see and revoke your own API keys",
    pages: &[paths::API_KEYS],
    api: &[],
    requires: &[ApiKeysSelfManage],
};

pub const ALL_API_KEYS_READ: Feature = Feature {
    name: "See every API key of the account",
    pages: &[paths::API_KEYS],
    api: &[],
    requires: &[ApiKeysAllRead],
};

pub const ALL_API_KEYS_DELETE: Feature = Feature {
    name: "Revoke any API key of the account",
    pages: &[paths::API_KEYS],
    api: &[],
    requires: &[ApiKeysAllDelete],
};

pub const WEBHOOKS: Feature = Feature {
    name: "Webhooks: send the account's ticket events to outside addresses, with their delivery log",
    pages: &[paths::WEBHOOKS],
    api: &[],
    requires: &[ManageWebhooks],
};

pub const ALL: [&Feature; 10] = [
    &SECURITY_DASHBOARD,
    &SECURITY_INCIDENTS,
    &SUPPORT_TICKETS,
    &WRITE_TICKETS,
    &READ_IDENTITY,
    &WRITE_IDENTITY,
    &OWN_API_KEYS,
    &ALL_API_KEYS_READ,
    &ALL_API_KEYS_DELETE,
    &WEBHOOKS,
];

/// The features a permission takes part in unlocking.
pub fn unlocked_by(permission: Permission) -> impl Iterator<Item = &'static Feature> {
    ALL.into_iter().filter(move |f| f.requires.contains(&permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_unlocks_something() {
        for permission in Permission::ALL {
            assert!(unlocked_by(permission).next().is_some(), "{permission}");
        }
    }

    #[test]
    fn read_ticket_unlocks_the_incident_screen_and_its_api() {
        let unlocked: Vec<&str> = unlocked_by(ReadTicket).flat_map(|f| f.api.iter().copied()).collect();
        assert!(unlocked.contains(&paths::API_INCIDENTS));
    }
}
