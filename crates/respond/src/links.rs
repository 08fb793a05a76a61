//! Answer links: a notification tells each approver of a run a link that
//! answers the approval as them, without a login (PagerDuty's and
//! Opsgenie's action links). The link carries who, which run and step,
//! and until when, signed with the server's key (HMAC-SHA-256), so nothing
//! is stored per link; a link for another run, another person, or past
//! its time is refused, and the run itself refuses a second answer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a link lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub tenant: String,
    pub run: i64,
    pub step: String,
    /// The approver, as a Watchfloor user name.
    pub user: String,
    /// Refused from this time on (ns).
    pub until_ns: i64,
}

fn mac(key: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this cannot fail.
        unreachable!("hmac key")
    });
    m.update(payload);
    m
}

/// The link's secret part: the claims and their signature.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let tag = mac(key, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The claims of a link, if it is ours, whole, and still valid at `now_ns`.
pub fn verify(key: &[u8], token: &str, now_ns: i64) -> Result<Claims, &'static str> {
    let (payload, tag) = token.split_once('.').ok_or("not an answer link")?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "not an answer link")?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| "not an answer link")?;
    mac(key, &payload)
        .verify_slice(&tag)
        .map_err(|_| "this link was not made here, or was changed")?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| "not an answer link")?;
    if now_ns >= claims.until_ns {
        return Err("this link has expired");
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            tenant: "acme".into(),
            run: 7,
            step: "approve".into(),
            user: "sam".into(),
            until_ns: 1_000,
        }
    }

    #[test]
    fn links_verify_only_whole_ours_and_in_time() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = sign(key, &claims());
        assert_eq!(verify(key, &token, 999), Ok(claims()));
        assert_eq!(verify(key, &token, 1_000), Err("this link has expired"));
        assert!(verify(b"another key", &token, 0).is_err());
        // Another person's claims under the same signature.
        let (_, tag) = token.split_once('.').unwrap();
        let mut forged = claims();
        forged.user = "mallory".into();
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
        );
        assert!(verify(key, &forged, 0).is_err());
        assert!(verify(key, "garbage", 0).is_err());
        assert!(verify(key, "a.b.c", 0).is_err());
    }
}
