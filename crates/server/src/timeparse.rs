//! Time parameters: RFC 3339 (`2026-11-25T10:00:00Z`), epoch seconds, or
//! relative to now (`now`, `now-15m`, `now-2h`, `now-7d`, `now+1h`).

/// Parses a time into ns since the epoch.
pub fn parse_time(text: &str, now_ns: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now_ns);
        }
        let (sign, amount) = match rest.as_bytes()[0] {
            b'-' => (-1, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return Err(format!("{text:?}: expected now-<n><s|m|h|d>")),
        };
        let span = parse_duration(amount).map_err(|e| format!("{text:?}: {e}"))?;
        return now_ns
            .checked_add(sign * span)
            .ok_or_else(|| format!("{text:?}: out of range"));
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .ok_or_else(|| format!("{text:?}: out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map_err(|e| format!("{text:?}: not RFC 3339, epoch seconds or now-<n><unit>: {e}"))?
        .timestamp_nanos_opt()
        .ok_or_else(|| format!("{text:?}: out of range"))
}

/// Parses a span such as `30s`, `1m`, `6h`, `7d`, `1w` into ns.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: i64 = text[..split]
        .parse()
        .map_err(|_| format!("expected a number then s, m, h, d or w in {text:?}"))?;
    let unit: i64 = match &text[split..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => return Err(format!("unknown unit {other:?} (s, m, h, d, w)")),
    };
    n.checked_mul(unit * 1_000_000_000)
        .ok_or_else(|| format!("{text:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_000_000 * 1_000_000_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("now-15m", now), Ok(now - 900 * 1_000_000_000));
        assert_eq!(parse_time("now+1h", now), Ok(now + 3600 * 1_000_000_000));
        assert_eq!(
            parse_time("1700000000", now),
            Ok(1_700_000_000 * 1_000_000_000)
        );
        assert_eq!(
            parse_time("2026-11-25T00:00:00Z", now),
            Ok(1_795_564_800 * 1_000_000_000)
        );
        assert!(parse_time("now-5y", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("now-99999999999999d", now).is_err());
    }
}
