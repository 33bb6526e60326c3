//! Accounts as scripts make them: `adduser`, `useradd` and their groups applied to the image's
//! accounts, ids given from the top as useradd allocates them.

use super::Host;
use crate::accounts::Accounts;
use crate::scripts::{AccountChange, Directory};

impl Host<'_> {
    /// Gives a useradd or groupadd account without a fixed id the highest free one.
    pub(super) fn allocate_top_down(&mut self, change: &mut Option<AccountChange>) {
        let free_uid = |accounts: &Accounts| {
            (100..1000)
                .rev()
                .find(|id| !accounts.users.iter().any(|u| u.uid == *id))
        };
        let free_gid = |accounts: &Accounts| {
            (100..1000)
                .rev()
                .find(|id| !accounts.groups.iter().any(|g| g.gid == *id))
        };
        match change {
            Some(AccountChange::User { account, .. })
                if self.accounts.user(&account.name).is_none() =>
            {
                if account.uid.is_none() {
                    account.uid = free_uid(&self.accounts);
                }
                if account.group == crate::accounts::SystemGroup::Own
                    && self.accounts.group(&account.name).is_none()
                    && let Some(gid) = free_gid(&self.accounts)
                {
                    let _ = self.accounts.add_system_group(&account.name, Some(gid));
                }
            }
            Some(AccountChange::Group(name, gid @ None)) if self.accounts.group(name).is_none() => {
                *gid = free_gid(&self.accounts);
            }
            _ => {}
        }
    }
}

/// Applies one account change; a created home becomes a directory to make.
pub(crate) fn apply_account(
    accounts: &mut Accounts,
    change: AccountChange,
) -> (Option<Directory>, Result<(), crate::accounts::AccountError>) {
    match change {
        AccountChange::User {
            account,
            create_home,
        } => {
            let existed = accounts.user(&account.name).is_some();
            let homes = accounts.homes.len();
            if let Err(e) = accounts.add_system_user(&account) {
                return (None, Err(e));
            }
            // `--no-create-home` (`useradd` without `-m`): no home, whatever it names.
            if !create_home {
                accounts.homes.truncate(homes);
            }
            let home = (create_home && !existed)
                .then(|| accounts.user(&account.name).cloned())
                .flatten()
                .map(|user| Directory {
                    group: accounts
                        .groups
                        .iter()
                        .find(|g| g.gid == user.gid)
                        .map(|g| g.name.clone()),
                    path: user.home.clone(),
                    mode: 0o755,
                    owner: Some(user.name.clone()),
                });
            (home, Ok(()))
        }
        AccountChange::Group(name, gid) => {
            (None, accounts.add_system_group(&name, gid).map(|_| ()))
        }
        AccountChange::Member(user, group) => {
            accounts.add_member(&user, &group);
            (None, Ok(()))
        }
    }
}
