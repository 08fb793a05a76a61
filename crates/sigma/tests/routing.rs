//! Non-Windows rules run only on events of their product; rules with no
//! product (category rules) run on every non-Windows event.

use watchfloor_model::{Event, SourceRef, Value};
use watchfloor_sigma::{RuleSetBuilder, RuleSetOptions, Scratch};

const RULES: &str = r#"
title: Zeek not-private
id: 00000000-0000-0000-0000-00000000000a
logsource: {product: zeek, service: rdp}
detection:
    sel: {id.orig_h|cidr: '10.0.0.0/8'}
    condition: not sel
---
title: Linux keyword
id: 00000000-0000-0000-0000-00000000000b
logsource: {product: linux}
detection:
    keywords: ['needle']
    condition: keywords
---
title: Proxy category
id: 00000000-0000-0000-0000-00000000000c
logsource: {category: proxy}
detection:
    keywords: ['needle']
    condition: keywords
"#;

fn event(product: Option<&str>) -> Event {
    let mut e = Event::new(SourceRef::default());
    e.push("message", Value::Str("a needle here".into()));
    e.core.product = product.map(Into::into);
    e
}

fn titles(product: Option<&str>) -> Vec<String> {
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    b.add_yaml(RULES, "routing");
    let set = b.build();
    assert!(
        set.report().rejected.is_empty(),
        "{:?}",
        set.report().rejected
    );
    let mut out = Vec::new();
    set.evaluate(&event(product), &mut Scratch::default(), &mut out);
    let mut t: Vec<String> = out
        .iter()
        .map(|r| set.rules()[*r].meta.title.clone())
        .collect();
    t.sort();
    t
}

#[test]
fn product_rules_run_only_on_their_product() {
    assert_eq!(titles(Some("linux")), ["Linux keyword", "Proxy category"]);
    assert_eq!(titles(Some("zeek")), ["Proxy category", "Zeek not-private"]);
    assert_eq!(
        titles(None),
        ["Proxy category"],
        "an event of unknown product gets no product's rules"
    );
}
