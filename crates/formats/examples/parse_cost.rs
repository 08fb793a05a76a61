use std::time::Instant;
use watchfloor_formats::parsers::Parsers;
use watchfloor_model::{Event, Value};

fn main() {
    let parsers = Parsers::shipped();
    let lines = [
        ("sshd", "Accepted publickey for deploy from 10.1.2.3 port 51234 ssh2: ED25519 SHA256:abcdef0123456789"),
        ("sshd", "Connection closed by 10.1.2.3 port 51234 [preauth]"),
        ("CRON", "(root) CMD (run-parts /etc/cron.hourly) job 12345"),
        ("kernel", "[UFW BLOCK] IN=eth0 OUT= SRC=10.1.2.3 DST=10.4.5.6 LEN=60 PROTO=TCP SPT=51234 DPT=22 SYN"),
        ("nginx", "10.1.2.3 - - \"GET /api/v1/items/12345 HTTP/1.1\" 200 1234 \"-\" \"Mozilla/5.0\""),
        ("systemd", "Started Session 123 of user alice."),
        ("sudo", "alice : TTY=pts/1 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"),
    ];
    let only = std::env::var("ONLY").ok();
    for (program, line) in lines {
        if only.as_deref().is_some_and(|o| o != program) {
            continue;
        }
        let n = 200_000;
        let mut base = Event::new(Default::default());
        base.push("message", Value::Str(line.into()));
        base.core.provider = Some(program.into());
        let t = Instant::now();
        for _ in 0..n {
            let mut e = base.clone();
            std::hint::black_box(parsers.apply(&mut e));
        }
        let with = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            let e = base.clone();
            std::hint::black_box(e);
        }
        let clone = t.elapsed().as_nanos() as f64 / n as f64;
        println!("{program:8} {:6.0} ns  ({line})", with - clone);
    }
}
