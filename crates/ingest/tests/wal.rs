//! The write-ahead log on real files: order, restarts, torn tails,
//! segment rotation and removal, backpressure.

use std::io::Write;
use std::time::Duration;

use watchfloor_ingest::{Kind, RawRecord, Wal, WalError, WalOptions};

fn rec(i: u64) -> RawRecord {
    RawRecord {
        received_ns: i as i64,
        kind: Kind::Syslog,
        source: "test".into(),
        tenant: "t".into(),
        peer: "".into(),
        truncated: false,
        body: format!("message {i}").into_bytes(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn append_all(wal: &Wal, from: u64, to: u64, per_batch: u64) {
    let appender = wal.appender();
    rt().block_on(async {
        let mut i = from;
        while i <= to {
            let batch: Vec<RawRecord> = (i..=(i + per_batch - 1).min(to)).map(rec).collect();
            let n = batch.len() as u64;
            let range = appender.append(batch).await.expect("append");
            assert_eq!(range.last - range.first + 1, n);
            i += n;
        }
    });
}

fn read_all(wal: &Wal, from: u64) -> Vec<(u64, String)> {
    let mut reader = wal.reader(from);
    let mut out = Vec::new();
    loop {
        let batch = reader
            .next_batch(1000, Duration::from_millis(50))
            .expect("read");
        if batch.is_empty() {
            return out;
        }
        out.extend(
            batch
                .into_iter()
                .map(|(lsn, r)| (lsn, String::from_utf8(r.body).unwrap())),
        );
    }
}

#[test]
fn appends_read_back_in_order_and_lsns_continue_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default(), 1).unwrap();
        append_all(&wal, 1, 100, 7);
        assert_eq!(wal.durable(), 100);
        let got = read_all(&wal, 1);
        assert_eq!(got.len(), 100);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, (lsn, body))| *lsn == i as u64 + 1 && *body == format!("message {lsn}")));
        wal.shutdown();
    }
    let wal = Wal::open(dir.path(), WalOptions::default(), 1).unwrap();
    assert_eq!(wal.recovery.next_lsn, 101);
    append_all(&wal, 101, 150, 10);
    let got = read_all(&wal, 95);
    assert_eq!(got.first().map(|g| g.0), Some(95));
    assert_eq!(got.last().map(|g| g.0), Some(150));
    assert_eq!(got.len(), 56);
}

#[test]
fn a_torn_tail_is_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default(), 1).unwrap();
        append_all(&wal, 1, 20, 5);
        wal.shutdown();
    }
    // A crash mid-write leaves half a frame.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 21, 0, 0]).unwrap();
    drop(f);
    let wal = Wal::open(dir.path(), WalOptions::default(), 1).unwrap();
    assert_eq!(wal.recovery.truncated_bytes, 11);
    assert_eq!(wal.recovery.next_lsn, 21);
    append_all(&wal, 21, 25, 5);
    assert_eq!(read_all(&wal, 1).len(), 25);
}

#[test]
fn segments_rotate_and_old_ones_are_removed_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        segment_bytes: 1_000,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), options, 1).unwrap();
    append_all(&wal, 1, 300, 10);
    let segments = || std::fs::read_dir(dir.path()).unwrap().count();
    let before = segments();
    assert!(before > 5, "{before} segments");
    assert_eq!(read_all(&wal, 1).len(), 300, "the reader crosses segments");
    let removed = wal.remove_through(200).unwrap();
    assert!(removed > 0, "nothing removed of {before}");
    assert!(segments() < before);
    let rest = read_all(&wal, 201);
    assert_eq!(rest.len(), 100);
    assert_eq!(rest[0].0, 201);
    // The numbering survives even when every older segment is gone.
    wal.remove_through(300).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), WalOptions::default(), 1).unwrap();
    assert_eq!(wal.recovery.next_lsn, 301);
    let wal2_next = Wal::open(
        tempfile::tempdir().unwrap().path(),
        WalOptions::default(),
        500,
    )
    .unwrap();
    assert_eq!(
        wal2_next.recovery.next_lsn, 500,
        "never below the checkpoint"
    );
}

#[test]
fn appends_are_refused_when_processing_lags() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        max_unprocessed: 10,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), options, 1).unwrap();
    append_all(&wal, 1, 10, 10);
    let appender = wal.appender();
    assert!(matches!(
        appender.try_append(vec![rec(11)]),
        Err(WalError::Full)
    ));
    wal.set_processed(5);
    assert_eq!(wal.backlog(), 5);
    let ack = match appender.try_append(vec![rec(11)]) {
        Ok(ack) => ack,
        Err(e) => panic!("room again: {e}"),
    };
    let range = rt().block_on(ack).unwrap();
    assert_eq!(range.first, 11);
}
