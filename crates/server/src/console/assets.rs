//! The console's static files, embedded in the binary (no CDN, nothing
//! fetched at run time). Each is served gzip-compressed when the browser
//! accepts it (compressed once, at first use), with an ETag, and cached
//! for a year: page URLs carry a hash of the content (`?v=`), so a new
//! binary's files are fetched anew.
//!
//! Vendored: htmx 2.0.11 (0BSD), its SSE extension 2.2.4 (0BSD), uPlot
//! 1.6.32 (MIT); versions and licences in `assets/VENDORED.md` and
//! `assets/licenses/`.

use std::io::Write;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/console.js"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "sse.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx-ext-sse-2.2.4.min.js"),
    },
    Asset {
        name: "uPlot.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/uPlot-1.6.32.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/uPlot-1.6.32.min.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/favicon.svg"),
    },
];

/// One file ready to serve.
struct Prepared {
    etag: String,
    gzip: Vec<u8>,
}

fn prepared() -> &'static Vec<Prepared> {
    static P: OnceLock<Vec<Prepared>> = OnceLock::new();
    P.get_or_init(|| {
        FILES
            .iter()
            .map(|a| {
                let hash = Sha256::digest(a.bytes);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let _ = gz.write_all(a.bytes);
                Prepared {
                    etag: format!("\"{}\"", hex8(&hash)),
                    gzip: gz.finish().unwrap_or_default(),
                }
            })
            .collect()
    })
}

fn hex8(hash: &[u8]) -> String {
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The versioned URL of every asset, for templates.
pub struct Urls {
    pub css: String,
    pub js: String,
    pub htmx: String,
    pub sse: String,
    pub uplot: String,
    pub uplot_css: String,
    pub favicon: String,
}

pub fn urls() -> &'static Urls {
    static U: OnceLock<Urls> = OnceLock::new();
    U.get_or_init(|| {
        let url = |name: &str| {
            let i = FILES.iter().position(|a| a.name == name).unwrap_or(0);
            let etag = prepared()[i].etag.trim_matches('"').to_string();
            format!("/assets/{name}?v={etag}")
        };
        Urls {
            css: url("console.css"),
            js: url("console.js"),
            htmx: url("htmx.min.js"),
            sse: url("sse.min.js"),
            uplot: url("uPlot.min.js"),
            uplot_css: url("uPlot.min.css"),
            favicon: url("favicon.svg"),
        }
    })
}

/// Bytes sent for every asset, compressed: the page weight budget.
pub fn compressed_total() -> usize {
    prepared().iter().map(|p| p.gzip.len()).sum()
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (asset, ready) = (&FILES[i], &prepared()[i]);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == ready.etag);
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(&headers) {
        let mut r = ready.gzip.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&ready.etag) {
        h.insert(header::ETAG, v);
    }
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_within_the_page_weight_budget() {
        let total = compressed_total();
        assert!(total > 30_000, "the vendored files are there: {total}");
        assert!(
            total < 300_000,
            "assets: {total} bytes compressed, budget 300 KB"
        );
    }

    #[test]
    fn urls_carry_the_content_hash() {
        assert!(urls().htmx.starts_with("/assets/htmx.min.js?v="));
        assert_ne!(urls().css, urls().js);
    }
}
