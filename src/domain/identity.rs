//! The rules that keep an account administrable: every user keeps a role, and an account keeps an
//! enabled administrator. The store checks them inside the transaction that makes a change.

/// Why a change to users or roles is refused; each message is shown to the administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRule {
    #[error("Every user keeps at least one role; this change would leave {0} without any.")]
    LastRole(String),
    #[error(
        "The account must keep at least one enabled user with the Admin role, so that someone can still administer it."
    )]
    LastAdmin,
    #[error("The provider-defined roles (Admin, Technical, Billing) cannot be renamed, re-permissioned or deleted.")]
    BuiltinRole,
    #[error("A role with that name already exists in the account.")]
    DuplicateName,
    #[error("You cannot disable your own user; ask another administrator.")]
    SelfDisable,
    /// A set-password link handed to an administrator would let them become the user and read
    /// what the visibility rule keeps from them; once a user has signed in, the password is theirs.
    #[error(
        "This user has signed in before, so only they can change their password (on My profile). If you suspect misuse, disable the user; Armor Support can help them regain access."
    )]
    SignedInBefore,
}

/// Users who would be left without a role, by name.
pub fn check_roles_left(users_without_roles: &[String]) -> Result<(), IdentityRule> {
    if users_without_roles.is_empty() { Ok(()) } else { Err(IdentityRule::LastRole(users_without_roles.join(", "))) }
}

/// The number of enabled administrators the account would have after the change.
pub fn check_admins_left(enabled_admins: i64) -> Result<(), IdentityRule> {
    if enabled_admins > 0 { Ok(()) } else { Err(IdentityRule::LastAdmin) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_without_roles_is_named() {
        assert!(check_roles_left(&[]).is_ok());
        let error = check_roles_left(&["Dana Brooks".into()]).unwrap_err();
        assert!(error.to_string().contains("Dana Brooks"));
    }

    #[test]
    fn an_account_keeps_an_administrator() {
        assert!(check_admins_left(1).is_ok());
        assert_eq!(check_admins_left(0), Err(IdentityRule::LastAdmin));
    }
}
