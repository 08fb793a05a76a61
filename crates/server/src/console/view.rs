//! What every page shares: the layout (navigation, user, tenant switcher,
//! CSRF token), rendering an askama template into a response, and the
//! small formatting helpers templates use (times, durations, URLs).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::assets;
use super::session::{ConsoleError, Viewer};
use crate::auth::Action;

/// The navigation entries: path, label, access key.
pub const NAV: &[(&str, &str)] = &[
    ("/wallboard", "Wallboard"),
    ("/incidents", "Incidents"),
    ("/alerts", "Alerts"),
    ("/search", "Search"),
    ("/rules", "Rules"),
    ("/intel", "Intel"),
    ("/checks", "Checks"),
    ("/topology", "Topology"),
    ("/availability", "Availability"),
    ("/telemetry", "Telemetry"),
    ("/approvals", "Response"),
    ("/oncall", "On-call"),
    ("/admin", "Admin"),
];

/// The frame around every signed-in page.
pub struct Layout {
    pub title: String,
    pub active: &'static str,
    pub user: String,
    pub role: &'static str,
    pub tenant: String,
    pub tenants: Vec<String>,
    pub csrf: String,
    pub nav: Vec<(&'static str, &'static str)>,
    pub assets: &'static assets::Urls,
    /// What the role may do (pages show only the allowed controls).
    pub may_work: bool,
    pub may_checks: bool,
    pub may_rules: bool,
    pub may_admin: bool,
    pub may_oncall: bool,
}

impl Layout {
    pub fn new(viewer: &Viewer, title: impl Into<String>, active: &'static str) -> Layout {
        let p = &viewer.principal;
        let may_admin = viewer.may(Action::ManageUsers);
        Layout {
            title: title.into(),
            active,
            user: p.name.clone(),
            role: p.role.as_str(),
            tenant: p.tenant.clone(),
            tenants: viewer.tenants.clone(),
            csrf: viewer.csrf.clone(),
            nav: NAV
                .iter()
                .copied()
                .filter(|(path, _)| *path != "/admin" || may_admin)
                .collect(),
            assets: assets::urls(),
            may_work: viewer.may(Action::WorkIncidents),
            may_checks: viewer.may(Action::ManageChecks),
            may_rules: viewer.may(Action::ReloadRules),
            may_admin,
            may_oncall: viewer.may(Action::ManageOnCall),
        }
    }

    /// The `hx-headers` value that carries the CSRF token on htmx requests.
    pub fn hx_headers(&self) -> String {
        format!("{{\"X-CSRF-Token\": \"{}\"}}", self.csrf)
    }
}

/// Renders a template as an HTML response.
pub fn render(t: &impl Template) -> Result<Response, ConsoleError> {
    match t.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => {
            tracing::error!("console template: {e}");
            Err(ConsoleError::Internal)
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    assets: &'static assets::Urls,
}

/// A small page for an error (no layout: the viewer may be unknown).
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or(""),
        message,
        assets: assets::urls(),
    };
    Html(page.render().unwrap_or_else(|_| message.to_string()))
}

/// `2026-12-02 05:14:03` (UTC).
pub fn time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Milliseconds since the epoch, for countdowns in the browser.
pub fn epoch_ms(ns: i64) -> i64 {
    ns / 1_000_000
}

/// `3d 4h`, `2h 05m`, `4m 10s`, `12s`.
pub fn span(ns: i64) -> String {
    let s = (ns / 1_000_000_000).abs();
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let text = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    };
    if ns < 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query string from pairs, leaving out empty values.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// An SVG polyline's points for a sparkline of `values` in a `w` x `h` box
/// (no script needed, drawn by the server).
pub fn sparkline(values: &[f64], w: f64, h: f64) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let range = (max - min).max(f64::EPSILON);
    let step = w / (values.len() - 1) as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 1.0 - (v - min) / range * (h - 2.0)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        let s = 1_000_000_000;
        assert_eq!(span(12 * s), "12s");
        assert_eq!(span(250 * s), "4m 10s");
        assert_eq!(span(7500 * s), "2h 05m");
        assert_eq!(span(-90 * s), "-1m 30s");
        assert_eq!(span(3 * 86_400 * s + 4 * 3600 * s), "3d 4h");
    }

    #[test]
    fn query_strings_encode_and_skip_empty() {
        assert_eq!(
            query_string(&[("q", "host:a b"), ("from", ""), ("x", "&")]),
            "?q=host%3Aa%20b&x=%26"
        );
        assert_eq!(query_string(&[("q", "")]), "");
    }

    #[test]
    fn sparkline_fits_its_box() {
        let points = sparkline(&[1.0, 3.0, 2.0], 100.0, 20.0);
        assert_eq!(points, "0.0,19.0 50.0,1.0 100.0,10.0");
        assert!(sparkline(&[1.0], 10.0, 10.0).is_empty());
    }
}
