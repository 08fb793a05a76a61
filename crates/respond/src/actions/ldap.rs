//! `ldap.account`: what IT's password-reset routine needs done to a
//! directory account: `mark_reset` sets the password policy's `pwdReset`
//! (the user must change the password at the next bind; OpenLDAP's ppolicy
//! overlay, draft-behera), `disable` locks it (`pwdAccountLockedTime` of
//! 000001010000Z: locked until an administrator unlocks it), `enable`
//! unlocks it (the compensation of `disable`). The account is found by
//! `[respond.ldap] user_filter` under `base_dn`; the answer carries its DN
//! and `mail` (for the notice that follows). Each operation sets a value,
//! so a repeat changes nothing.

use std::collections::HashSet;

use ldap3::{ldap_escape, LdapConnAsync, Mod, Scope, SearchEntry};
use serde_json::{json, Value};

use super::{secret, string};
use crate::config::RespondConfig;

/// Result code 16: the attribute to delete is not there (unlocking an
/// account that is not locked).
const NO_SUCH_ATTRIBUTE: u32 = 16;

pub async fn account(config: &RespondConfig, input: &Value) -> Result<Value, String> {
    let user = string(input, "user")?;
    let operation = string(input, "operation")?;
    let l = &config.ldap;
    if l.url.is_empty() {
        return Err("no [respond.ldap] url".into());
    }
    let (conn, mut ldap) = LdapConnAsync::new(&l.url)
        .await
        .map_err(|e| format!("LDAP {}: {e}", l.url))?;
    ldap3::drive!(conn);
    if !l.bind_dn.is_empty() {
        let password = match &l.password_secret {
            Some(name) => secret(config, name)?,
            None => String::new(),
        };
        ldap.simple_bind(&l.bind_dn, &password)
            .await
            .and_then(|r| r.success())
            .map_err(|e| format!("LDAP bind as {}: {e}", l.bind_dn))?;
    }
    let filter = l.user_filter.replace("{user}", &ldap_escape(user.as_str()));
    let (entries, _) = ldap
        .search(&l.base_dn, Scope::Subtree, &filter, vec!["mail"])
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("LDAP search {filter} under {}: {e}", l.base_dn))?;
    let entry = match entries.len() {
        1 => SearchEntry::construct(entries.into_iter().next().ok_or("no entry")?),
        0 => {
            return Err(format!(
                "no account {user:?} ({filter} under {})",
                l.base_dn
            ))
        }
        n => return Err(format!("{n} accounts match {filter}; refusing to guess")),
    };
    let change: Mod<&str> = match operation.as_str() {
        "mark_reset" => Mod::Replace("pwdReset", HashSet::from(["TRUE"])),
        "disable" => Mod::Replace("pwdAccountLockedTime", HashSet::from(["000001010000Z"])),
        "enable" => Mod::Delete("pwdAccountLockedTime", HashSet::new()),
        other => {
            return Err(format!(
                "`operation` {other:?}: mark_reset, disable or enable"
            ))
        }
    };
    let result = ldap
        .modify(&entry.dn, vec![change])
        .await
        .map_err(|e| format!("LDAP modify {}: {e}", entry.dn))?;
    if result.rc != 0 && !(operation == "enable" && result.rc == NO_SUCH_ATTRIBUTE) {
        return Err(format!(
            "LDAP modify {} ({operation}): result {} {}",
            entry.dn, result.rc, result.text
        ));
    }
    let _ = ldap.unbind().await;
    Ok(json!({
        "user": user, "dn": entry.dn, "operation": operation,
        "mail": entry.attrs.get("mail").and_then(|m| m.first()),
    }))
}
