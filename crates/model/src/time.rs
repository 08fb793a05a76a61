use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses the timestamp forms found in logs into nanoseconds since the epoch:
/// RFC 3339 (`2025-11-26T05:11:27.927693Z`), the space-separated form Sysmon
/// writes (`2025-11-26 05:11:27.908`, taken as UTC) and Unix seconds or
/// milliseconds as numbers.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt();
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f UTC",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Utc.from_utc_datetime(&naive).timestamp_nanos_opt();
        }
    }
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return dt.timestamp_nanos_opt();
    }
    None
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with microseconds.
pub fn format_rfc3339(nanos: i64) -> String {
    let dt = Utc.timestamp_nanos(nanos);
    dt.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        let a = parse_timestamp("2025-11-26T05:11:27.927693Z").unwrap();
        assert_eq!(format_rfc3339(a), "2025-11-26T05:11:27.927693Z");
        assert!(parse_timestamp("2025-11-26 05:11:27.908").is_some());
        assert!(parse_timestamp("2025-11-26T05:11:27+02:00").is_some());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
