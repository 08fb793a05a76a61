//! [`AccessStore`](crate::AccessStore): tenants, users, sessions, API
//! tokens and the audit log.

use std::path::Path;

use super::T0;
use crate::{AccessStore, AuditFilter, AuditRecord, NewUser, StateError};

fn new_user(name: &str, tenant: &str) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: name.to_uppercase(),
        email: None,
        role: "viewer".into(),
        tenant: tenant.into(),
        tenants: vec![],
        password_hash: format!("$argon2id$fake${name}"),
    }
}

fn audit(tenant: &str, actor: &str, t: i64) -> AuditRecord {
    AuditRecord {
        id: 0,
        time_ns: T0 + t,
        tenant: tenant.into(),
        actor: actor.into(),
        method: "POST".into(),
        path: "/api/v1/x".into(),
        status: 200,
        remote: None,
    }
}

/// Tenants and usernames are unique, sessions expire and die with their
/// user, audit records stay in their tenant.
pub fn tenants_users_sessions_audit<S: AccessStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_tenant("acme", "Acme").expect("tenant");
    let dup = store
        .create_tenant("acme", "Again")
        .expect_err("duplicate tenant");
    assert!(matches!(dup, StateError::Duplicate(_)), "{dup:?}");
    assert_eq!(store.list_tenants().expect("tenants").len(), 1);

    let ana = store.create_user(&new_user("ana", "acme")).expect("user");
    let dup = store
        .create_user(&new_user("ana", "other"))
        .expect_err("duplicate user");
    assert!(matches!(dup, StateError::Duplicate(_)), "{dup:?}");
    store.create_user(&new_user("bo", "other")).expect("user");
    let (found, hash) = store.find_login("ana").expect("login").expect("ana");
    assert_eq!((found.id, hash.as_str()), (ana.id, "$argon2id$fake$ana"));
    assert_eq!(store.list_users(Some("acme")).expect("users").len(), 1);
    assert_eq!(store.list_users(None).expect("users").len(), 2);

    let mut changed = ana.clone();
    changed.role = "admin".into();
    changed.tenants = vec!["client-a".into(), "client-b".into()];
    store.update_user(&changed).expect("update");
    let read = store.get_user(ana.id).expect("get").expect("ana");
    assert_eq!(read, changed);
    assert!(read.can_act_in("client-b") && !read.can_act_in("client-c"));

    store
        .create_session(ana.id, b"live", T0 - 10, T0 + 100)
        .expect("session");
    store
        .create_session(ana.id, b"old", T0 - 10, T0 - 1)
        .expect("session");
    assert_eq!(
        store.find_session(b"live", T0).expect("find").map(|u| u.id),
        Some(ana.id)
    );
    assert_eq!(
        store.find_session(b"live", T0 + 100).expect("find"),
        None,
        "expired"
    );
    assert_eq!(store.find_session(b"old", T0).expect("find"), None);
    changed.disabled = true;
    store.update_user(&changed).expect("disable");
    assert_eq!(
        store.find_session(b"live", T0).expect("find"),
        None,
        "disabled users have no sessions"
    );
    store.delete_sessions_of(ana.id).expect("delete");
    assert!(!store.delete_session(b"live").expect("delete"));

    store
        .append_audit(&audit("acme", "user:ana", 1))
        .expect("audit");
    store
        .append_audit(&audit("other", "user:bo", 2))
        .expect("audit");
    store
        .append_audit(&audit("acme", "token:ci", 3))
        .expect("audit");
    let list = store
        .list_audit(&AuditFilter {
            tenant: "acme".into(),
            limit: 10,
            ..Default::default()
        })
        .expect("audit");
    let actors: Vec<&str> = list.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(actors, ["token:ci", "user:ana"], "newest first, one tenant");
}

/// Tokens are found by hash only while not revoked; hashes are unique.
pub fn tokens<S: AccessStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = open(dir.path());
    let t = state
        .create_token("ops", "admin", "acme", b"hash-1")
        .expect("token");
    assert_eq!(
        state.find_token(b"hash-1").expect("find").map(|r| r.id),
        Some(t.id)
    );
    assert_eq!(state.find_token(b"hash-2").expect("find"), None);
    assert!(
        state
            .create_token("dup", "admin", "acme", b"hash-1")
            .is_err(),
        "hashes are unique"
    );
    assert!(state.revoke_token(t.id).expect("revoke"));
    assert!(!state.revoke_token(t.id).expect("revoke"));
    assert_eq!(
        state.find_token(b"hash-1").expect("find"),
        None,
        "revoked tokens do not authenticate"
    );
    assert_eq!(state.list_tokens().expect("list").len(), 1);
}
