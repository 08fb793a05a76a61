//! Debian's Chromium driven through chromedriver (WebDriver, with
//! `fantoccini`), with a blocking face for the end-to-end tests; each
//! screenshot lands under `target/tmp/console-screenshots/` to review.
//!
//! Needs `chromium` and `chromium-driver` (the test command installs
//! them); a machine without them fails here rather than skipping.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::server::{free_port, Server};

/// The password of the users the tests make.
pub const PASSWORD: &str = "correct horse battery";

/// A console user with `role`, made through the API.
pub fn create_user(s: &Server, name: &str, role: &str) {
    let r = s
        .request(reqwest::Method::POST, "/api/v1/users", Some(&s.token))
        .json(&json!({"username": name, "password": PASSWORD, "role": role}))
        .send()
        .expect("create user");
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
}

/// Chromium behind chromedriver, with a blocking face for the test.
pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    base: String,
    shots: std::path::PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(base: &str) -> Browser {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver (tools/test does)"
            );
        }
        // Two TLS back ends are linked in (reqwest's, hyper-rustls'): name one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1440,1000", "--disable-renderer-backgrounding",
                    "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows", format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps: serde_json::Map<String, Value> = caps.as_object().cloned().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("chromedriver session: {e}"),
                }
            }
        });
        let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser {
            rt,
            client: Some(client),
            driver,
            base: base.to_string(),
            shots,
            _profile: profile,
        }
    }

    pub fn c(&self) -> &Client {
        self.client.as_ref().expect("client")
    }

    pub fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(self.c().goto(&url)).expect("goto");
    }

    pub fn path(&self) -> String {
        let url = self.rt.block_on(self.c().current_url()).expect("url");
        url.path().to_string()
    }

    /// The element's text, or "" while it is not there (pages load).
    pub fn text(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.c().find(Locator::Css(css)).await?.text().await })
            .unwrap_or_default()
    }

    pub fn has(&self, css: &str) -> bool {
        self.rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    pub fn has_xpath(&self, xpath: &str) -> bool {
        self.rt
            .block_on(self.c().find_all(Locator::XPath(xpath)))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    pub fn xpath_text(&self, xpath: &str) -> String {
        self.rt
            .block_on(async { self.c().find(Locator::XPath(xpath)).await?.text().await })
            .unwrap_or_default()
    }

    pub fn click_xpath(&self, xpath: &str) {
        self.rt
            .block_on(async { self.c().find(Locator::XPath(xpath)).await?.click().await })
            .unwrap_or_else(|e| panic!("{xpath}: {e}"));
    }

    pub fn fill(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                let e = self.c().find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(value).await
            })
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub fn select(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                self.c()
                    .find(Locator::Css(css))
                    .await?
                    .select_by_value(value)
                    .await
            })
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub fn click(&self, css: &str) {
        self.rt
            .block_on(async { self.c().find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub fn script(&self, js: &str) -> Value {
        self.rt
            .block_on(self.c().execute(js, vec![]))
            .unwrap_or_else(|e| panic!("script: {e}"))
    }

    pub fn async_script(&self, js: &str) -> Value {
        self.rt
            .block_on(self.c().execute_async(js, vec![]))
            .unwrap_or_else(|e| panic!("script: {e}"))
    }

    pub fn screenshot(&self, name: &str) {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub fn wait_until(&self, what: &str, mut f: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f(self) {
            if Instant::now() > deadline {
                self.screenshot("failure");
                let body = self.script("return document.body ? document.body.innerText : '';");
                panic!("timed out waiting for {what} at {}: {body}", self.path());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn login(&self, user: &str) {
        self.rt
            .block_on(self.c().delete_all_cookies())
            .expect("cookies");
        self.goto("/login");
        self.fill("#username", user);
        self.fill("#password", PASSWORD);
        self.click("button[type=submit]");
        self.wait_until("the wallboard after login", |b| b.path() == "/wallboard");
    }

    /// First contentful paint of the current page, in ms (browser's
    /// performance API).
    pub fn first_contentful_paint(&self) -> f64 {
        self.async_script(
            "const done = arguments[arguments.length - 1];
             new PerformanceObserver((list) => {
               const e = list.getEntriesByName('first-contentful-paint')[0];
               if (e) done(e.startTime);
             }).observe({type: 'paint', buffered: true});
             setTimeout(() => done(-1), 2000);",
        )
        .as_f64()
        .unwrap_or(-1.0)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
