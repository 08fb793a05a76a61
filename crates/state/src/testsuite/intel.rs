//! [`IntelStore`](crate::IntelStore): indicators survive reopening, per
//! scope; writing one again replaces it.

use std::path::Path;

use watchfloor_model::{Indicator, IndicatorKind, Tlp};

use crate::IntelStore;

fn indicator(kind: IndicatorKind, value: &str, sightings: u64) -> Indicator {
    Indicator {
        kind,
        value: value.into(),
        source: "feed".into(),
        confidence: 75,
        tlp: Tlp::AmberStrict,
        labels: vec!["c2".into(), "botnet".into()],
        first_seen_ns: 1,
        last_seen_ns: 2,
        valid_until_ns: Some(3),
        sightings,
    }
}

pub fn indicators_survive_reopen_per_scope<S: IntelStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ip = indicator(IndicatorKind::Ip, "203.0.113.0/24", 0);
    let domain = indicator(IndicatorKind::Domain, "evil.example", 0);
    {
        let state = open(dir.path());
        state
            .put_indicators("*", &[ip.clone(), domain.clone()])
            .expect("put");
        state
            .put_indicators("acme", std::slice::from_ref(&ip))
            .expect("put");
        let mut sighted = domain.clone();
        sighted.sightings = 4;
        sighted.valid_until_ns = None;
        state.put_indicators("*", &[sighted]).expect("replace");
    }
    let state = open(dir.path());
    let mut all = Vec::new();
    let n = state
        .for_each_indicator(&mut |scope, ind| all.push((scope.to_string(), ind)))
        .expect("read");
    assert_eq!(n, 3);
    all.sort_by(|a, b| (&a.0, &a.1.value).cmp(&(&b.0, &b.1.value)));
    let mut sighted = domain;
    sighted.sightings = 4;
    sighted.valid_until_ns = None;
    assert_eq!(
        all,
        [
            ("*".to_string(), ip.clone()),
            ("*".to_string(), sighted),
            ("acme".to_string(), ip),
        ]
    );
}
