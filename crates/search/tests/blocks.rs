//! Finding candidate blocks never loses a match: for random events and
//! random queries, the store answers what checking every event one by
//! one answers, page after page, newest first; and its counts (histogram,
//! top values, distinct values: read from the blocks' tables, or their
//! text where a value is too long for the table) are those of the
//! matching events counted one by one.

use proptest::prelude::*;
use watchfloor_search::aggregate::{Accumulator, AggregateRequest};
use watchfloor_search::matcher::{EventTerms, Matcher};
use watchfloor_search::testsuite::{event, T0};
use watchfloor_search::{EventDoc, EventStore, SearchRequest, TantivyEventStore, TantivyOptions};

const HOSTS: [&str; 3] = ["web1", "web2", "db1"];
const USERS: [&str; 3] = ["root", "alice", "bob"];
// Messages say some of the users (in any case) and ports, as the lines
// parsers read fields from do: the block indexes those values only as the
// message's words, and searches for the fields must still find them.
const WORDS: [&str; 6] = ["failed", "password", "accepted", "for", "root", "Alice"];
const NAMES: [&str; 6] = ["source", "host", "user", "message", "port", "tags"];

fn events() -> impl Strategy<Value = Vec<EventDoc>> {
    let one = (
        0..3usize,
        0..3usize,
        prop::collection::vec(0..6usize, 1..5),
        (0..100i64, any::<bool>()),
        0..40i64,
        prop::collection::vec(0..5usize, 0..3),
        0..4usize,
    );
    prop::collection::vec(one, 1..60).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(
                |(i, (h, u, words, (port, says_port), secs, tags, repeat))| {
                    // Some messages are too long for a block's table.
                    let mut message: Vec<String> = words
                        .iter()
                        .map(|w| WORDS[*w].to_string())
                        .cycle()
                        .take(words.len() * (1 + repeat * repeat * 4))
                        .collect();
                    if says_port {
                        message.push(format!("port {port}"));
                    }
                    let tags: Vec<&str> = tags.iter().map(|w| WORDS[*w]).collect();
                    event(
                        i as u64 + 1,
                        secs,
                        "acme",
                        serde_json::json!({
                            "host": HOSTS[h], "user": USERS[u], "message": message.join(" "),
                            "port": port, "tags": tags,
                        }),
                    )
                },
            )
            .collect()
    })
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..3usize).prop_map(|h| format!("host:{}", HOSTS[h])),
        (0..3usize).prop_map(|u| format!("user:{}", USERS[u])),
        (0..6usize).prop_map(|w| WORDS[w].to_string()),
        (0..6usize, 0..6usize).prop_map(|(a, b)| format!("\"{} {}\"", WORDS[a], WORDS[b])),
        (0..6usize).prop_map(|w| format!("message:{}", WORDS[w])),
        (0..100u32, 0..100u32).prop_map(|(a, b)| format!("port:[{} TO {}]", a.min(b), a.max(b))),
        (0..100u32).prop_map(|p| format!("port:{p}")),
        (1..10u32).prop_map(|p| format!("port:{p}*")),
        Just("user:AL*".to_string()),
        Just("user:[a TO b]".to_string()),
        (0..5usize).prop_map(|w| format!("tags:{}*", &WORDS[w][..2])),
        Just("_exists_:tags".to_string()),
        Just("user:[b TO z]".to_string()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
            inner.prop_map(|a| format!("NOT {a}")),
        ]
    })
}

/// Ids of the events that match, checked one by one, newest first.
fn expected(events: &[EventDoc], query: &str) -> Vec<u64> {
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let q = watchfloor_search::query::parse(query).expect("query");
    let matcher = Matcher::compile(&q, &names).expect("compile");
    let mut terms = EventTerms::default();
    let mut found: Vec<&EventDoc> = events
        .iter()
        .filter(|e| {
            terms.load(e);
            matcher.matches(&terms)
        })
        .collect();
    found.sort_by_key(|e| std::cmp::Reverse((e.time_ns, e.id)));
    found.iter().map(|e| e.id).collect()
}

/// The counts of the matching events, counted one by one.
fn expected_counts(events: &[EventDoc], req: &AggregateRequest) -> String {
    let ids = expected(events, &req.query);
    let mut acc = Accumulator::new(req);
    let window = req.from_ns.unwrap_or(i64::MIN)..req.to_ns.unwrap_or(i64::MAX);
    for ev in events
        .iter()
        .filter(|e| ids.contains(&e.id) && window.contains(&e.time_ns))
    {
        acc.add(ev);
    }
    format!("{:?}", acc.finish(true))
}

fn counts_request(query: &str, top: &str, distinct: &str) -> AggregateRequest {
    AggregateRequest {
        query: query.into(),
        tenant: "acme".into(),
        from_ns: Some(T0 + 5 * 1_000_000_000),
        to_ns: Some(T0 + 40 * 1_000_000_000),
        interval_ns: Some(10 * 1_000_000_000),
        top_field: Some(top.into()),
        top_size: 100,
        distinct_field: Some(distinct.into()),
        max_events: u64::MAX,
    }
}

/// Every page of a search, joined.
fn paged(store: &TantivyEventStore, query: &str, page: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let got = store
            .search(&SearchRequest {
                query: query.into(),
                tenant: "acme".into(),
                limit: page,
                cursor,
                ..Default::default()
            })
            .expect("search");
        out.extend(got.events.iter().map(|e| e.id));
        match got.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn candidate_blocks_lose_no_match(
        mut evs in events(),
        queries in prop::collection::vec(query(), 1..8),
        block in 1..6usize,
        page in 1..9usize,
    ) {
        // Every field name present, as free text looks them up per bucket.
        evs[0].fields.insert("tags".into(), serde_json::json!(["for"]));
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TantivyEventStore::open(dir.path(), TantivyOptions {
            writer_memory: 15 << 20,
            block_events: block,
            ..TantivyOptions::default()
        }).expect("open");
        store.append(&evs).expect("append");
        store.commit(evs.len() as u64).expect("commit");
        for (i, q) in queries.iter().enumerate() {
            prop_assert_eq!(paged(&store, q, page), expected(&evs, q), "query {}", q);
            let req = counts_request(q, NAMES[i % NAMES.len()], NAMES[(i + 3) % NAMES.len()]);
            let got = format!("{:?}", store.aggregate(&req).expect("aggregate"));
            prop_assert_eq!(got, expected_counts(&evs, &req), "counts of {}", q);
        }
    }
}
