#!/usr/bin/env bash
# Ingest with and without a million indicators (docs/BENCHMARKS.md, "Threat
# intelligence in the pipeline"): writes /tmp/million.txt, then alternates
# four 20-second load runs against a fresh release server, importing the
# million through the API before the runs that have them.
#
#   cargo build --release && tools/bench_intel_ingest.sh
set -u
cd "$(dirname "$0")/.."
W=$PWD/target/release/watchfloor
D=/tmp/wf-ib
python3 - <<'PY'
import random
random.seed(7)
def first_octet():
    while True:
        o = random.randrange(1, 224)
        if o not in (10, 127):
            return o
with open('/tmp/million.txt', 'w') as f:
    for _ in range(700000):
        f.write("%d.%d.%d.%d\n" % (first_octet(), random.randrange(256), random.randrange(256), random.randrange(1, 255)))
    for _ in range(50000):
        f.write("%d.%d.%d.0/24\n" % (first_octet(), random.randrange(256), random.randrange(256)))
    for i in range(200000):
        f.write("c2-%d.bad%d.example\n" % (i, random.randrange(1000)))
    for _ in range(50000):
        f.write("%064x\n" % random.getrandbits(256))
PY
run() {
    local intel=$1
    rm -rf "$D"; mkdir -p "$D"
    "$W" serve --data-dir "$D" --http 127.0.0.1:18484 --syslog-udp "" --syslog-tcp 127.0.0.1:15622 > "$D.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do grep -q "ready" "$D.log" && break; sleep 0.2; done
    local token; token=$(cat "$D/initial-admin-token")
    if [ "$intel" = on ]; then
        local t0 t1; t0=$(date +%s.%N)
        "$W" intel import /tmp/million.txt --server http://127.0.0.1:18484 --token "$token" | tail -1
        t1=$(date +%s.%N)
        echo "import of the million through the API: $(python3 -c "print(round($t1 - $t0, 1))") s"
    fi
    "$W" loadgen send --tcp 127.0.0.1:15622 --rate 0 --duration 20 \
        --server http://127.0.0.1:18484 --data-dir "$D" > "$D.out" 2>/dev/null
    echo "indicators $intel: $(grep -o '"sustained_per_s": [0-9.]*' "$D.out")"
    kill "$pid"; wait "$pid" 2>/dev/null
}
for r in off on off on; do run "$r"; done
