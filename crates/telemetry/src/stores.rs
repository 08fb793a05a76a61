//! One metric store per tenant (a directory each, so tenant data never
//! shares a file), with what the sources said about each metric family.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use watchfloor_tsdb::{
    AppendReport, DiskStore, MetricStore, SeriesSamples, StoreError, StoreOptions,
};

use crate::exposition::Metadata;

pub struct Stores {
    dir: PathBuf,
    options: StoreOptions,
    open: Mutex<HashMap<String, Arc<DiskStore>>>,
    metadata: Mutex<HashMap<String, BTreeMap<String, Metadata>>>,
}

/// A tenant's directory name: safe characters kept, the rest (dots
/// included, so no `..`) percent-encoded.
pub fn tenant_dir_name(tenant: &str) -> String {
    let mut out = String::with_capacity(tenant.len());
    for b in tenant.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    out
}

fn tenant_from_dir_name(name: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut it = name.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stores {
    /// Opens every tenant's store found under `dir`.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Stores, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let stores = Stores {
            dir: dir.to_path_buf(),
            options,
            open: Mutex::new(HashMap::new()),
            metadata: Mutex::new(HashMap::new()),
        };
        let entries = std::fs::read_dir(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        for entry in entries.flatten() {
            if let Some(tenant) = entry.file_name().to_str().and_then(tenant_from_dir_name) {
                stores.tenant(&tenant)?;
            }
        }
        Ok(stores)
    }

    /// The tenant's store, opened (or created) on first use.
    pub fn tenant(&self, tenant: &str) -> Result<Arc<DiskStore>, StoreError> {
        let mut open = lock(&self.open);
        if let Some(s) = open.get(tenant) {
            return Ok(s.clone());
        }
        let store = Arc::new(DiskStore::open(
            &self.dir.join(tenant_dir_name(tenant)),
            self.options.clone(),
        )?);
        open.insert(tenant.to_string(), store.clone());
        Ok(store)
    }

    pub fn append(
        &self,
        tenant: &str,
        batch: &[SeriesSamples],
    ) -> Result<AppendReport, StoreError> {
        self.tenant(tenant)?.append(batch)
    }

    pub fn tenants(&self) -> Vec<(String, Arc<DiskStore>)> {
        lock(&self.open)
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect()
    }

    /// Compaction, retention and downsampling of every tenant's store.
    pub fn maintain(&self, now_ms: i64) {
        for (tenant, store) in self.tenants() {
            if let Err(e) = store.maintain(now_ms) {
                tracing::error!(tenant, error = %e, "metric store maintenance failed");
            }
        }
    }

    pub fn record_metadata(
        &self,
        tenant: &str,
        families: impl IntoIterator<Item = (String, Metadata)>,
    ) {
        let mut all = lock(&self.metadata);
        let map = all.entry(tenant.to_string()).or_default();
        for (family, meta) in families {
            let entry = map.entry(family).or_default();
            for (field, new) in [
                (&mut entry.kind, meta.kind),
                (&mut entry.help, meta.help),
                (&mut entry.unit, meta.unit),
            ] {
                if !new.is_empty() {
                    *field = new;
                }
            }
        }
    }

    pub fn metadata(&self, tenant: &str) -> BTreeMap<String, Metadata> {
        lock(&self.metadata)
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_never_escape_the_directory() {
        for t in ["acme", "..", "a/b", "é", ""] {
            let dir = tenant_dir_name(t);
            assert!(
                !dir.contains('/') && !dir.contains('.') && !dir.is_empty(),
                "{t}: {dir}"
            );
            if !t.is_empty() {
                assert_eq!(tenant_from_dir_name(&dir).as_deref(), Some(t));
            }
        }
    }

    #[test]
    fn tenants_have_separate_stores_that_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let batch = vec![SeriesSamples {
            labels: watchfloor_tsdb::Labels::from_pairs([("__name__", "up")]),
            samples: vec![(1, 1.0)],
        }];
        {
            let stores = Stores::open(dir.path(), StoreOptions::default()).expect("open");
            stores.append("a", &batch).expect("append");
        }
        let stores = Stores::open(dir.path(), StoreOptions::default()).expect("open");
        assert_eq!(stores.tenant("a").expect("a").stats().samples, 1);
        assert_eq!(stores.tenant("b").expect("b").stats().samples, 0);
    }
}
