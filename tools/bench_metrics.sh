#!/usr/bin/env bash
# Metric store and flow benchmarks (docs/BENCHMARKS.md, "Metrics and flows").
#
# 1. The same remote-write stream - 10,000 series (half counters, half
#    gauges) over the last 24 hours at 60 s, 14.4 million samples - into
#    Watchfloor, Debian's VictoriaMetrics 1.79 and Debian's Prometheus 2.42,
#    one system at a time; then bytes on disk per sample after a 90 s
#    settle; then the same four range queries over the day (5 runs each;
#    the last one reads all 10,000 series).
# 2. Flows: our decoder in process, then 1.5 million NetFlow v9 records at
#    100k, 300k and 500k records/s to serve's collector and to nfcapd, and how many each
#    kept.
#
#   tools/bench_metrics.sh            (builds the release binaries first)
#   ONLY=flows tools/bench_metrics.sh (part 2 only)
#   ONLY=store tools/bench_metrics.sh (part 1 only)
#
# Needs root: installs Debian's victoria-metrics, prometheus and nfdump when
# missing (and stops the services the packages start).
set -eu
cd "$(dirname "$0")/.."
for tool in victoria-metrics:victoria-metrics prometheus:prometheus nfcapd:nfdump; do
    command -v "${tool%%:*}" >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
        systemctl stop "${tool#*:}" 2>/dev/null || true
    }
done
cargo build --release -q -p watchfloor-cli
cargo build --release -q -p watchfloor-telemetry --example metrics_bench
W=$PWD/target/release/watchfloor
B=$PWD/target/release/examples/metrics_bench
R=/tmp/wf-metrics-bench
SERIES=${SERIES:-10000}
HOURS=${HOURS:-24}
STEP=${STEP:-60}
rm -rf "$R"; mkdir -p "$R"
QUERIES=('sum(rate(bench_requests_total[5m]))' 'avg by (shard) (bench_load)' 'bench_load{instance="host-0001:9100"}'
    'count by (shard) ({__name__=~"bench_.+"})')

wait_http() { for _ in $(seq 1 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
samples() { echo $((SERIES * (HOURS * 3600 / STEP + 1))); }
per_sample() { python3 -c "import sys; print('%.2f' % ($1 / $(samples)))"; }

bench_one() {
    local name=$1 write_url=$2 query_url=$3 token=$4 dir=$5
    echo "== $name"
    $B write "$write_url" $token "$SERIES" "$HOURS" "$STEP"
    sleep 90
    local bytes; bytes=$(du -sb "$dir" | cut -f1)
    echo "$name: $bytes bytes on disk, $(per_sample "$bytes") bytes/sample"
    for q in "${QUERIES[@]}"; do $B query "$query_url" $token "$q" "$HOURS" "$STEP" 5; done
}

# Watchfloor
mkdir -p "$R/wf"
cat > "$R/wf.toml" <<EOF
data_dir = "$R/wf"
[http]
listen = "127.0.0.1:18490"
[syslog]
udp = ""
tcp = ""
[metrics]
self_scrape_secs = 0
[telemetry.flows]
listen = "127.0.0.1:19995"
store_records = false
flush_secs = 1
EOF
"$W" serve --config "$R/wf.toml" > "$R/wf.log" 2>&1 &
WF=$!
# Whatever ends the run, no server is left holding the ports.
trap 'kill $WF ${VM:-} ${PROM:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q ready "$R/wf.log" && break; sleep 0.2; done
TOKEN=$(cat "$R/wf/initial-admin-token")
if [ "${ONLY:-}" != flows ]; then
bench_one watchfloor http://127.0.0.1:18490/api/v1/write http://127.0.0.1:18490/api/v1/query_range "$TOKEN" "$R/wf/metrics"

# VictoriaMetrics
victoria-metrics -storageDataPath "$R/vm" -httpListenAddr 127.0.0.1:18428 -retentionPeriod 30d > "$R/vm.log" 2>&1 &
VM=$!
wait_http http://127.0.0.1:18428/health
bench_one victoria-metrics http://127.0.0.1:18428/api/v1/write http://127.0.0.1:18428/api/v1/query_range "" "$R/vm"
kill $VM; wait $VM 2>/dev/null || true

# Prometheus
printf 'global:\n  scrape_interval: 1h\n' > "$R/prom.yml"
prometheus --config.file="$R/prom.yml" --storage.tsdb.path="$R/prom" --web.listen-address=127.0.0.1:18090 \
    --web.enable-remote-write-receiver --storage.tsdb.retention.time=30d > "$R/prom.log" 2>&1 &
PROM=$!
wait_http http://127.0.0.1:18090/-/ready
bench_one prometheus http://127.0.0.1:18090/api/v1/write http://127.0.0.1:18090/api/v1/query_range "" "$R/prom"
kill $PROM; wait $PROM 2>/dev/null || true
fi

[ "${ONLY:-}" = store ] && exit 0

# Flows: the decoder in process, then 1.5 million records offered at each
# rate to serve's collector and to nfcapd (a fresh one per rate), and how
# many each kept.
echo "== flows"
$B decode 3000000
records_total() { curl -s -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:18490/api/v1/query?query=sum(flow_records_total)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
for rate in 100000 300000 500000; do
    before=$(records_total)
    $B flows 127.0.0.1:19995 1500000 $rate
    sleep 3
    echo "watchfloor at $rate records/s offered kept $(python3 -c "print(int(float('$(records_total)') - float('$before')))") of 1500000"
    rm -rf "$R/nfcapd"; mkdir -p "$R/nfcapd"
    nfcapd -b 127.0.0.1 -p 19996 -w "$R/nfcapd" -t 3600 -B 33554432 > "$R/nfcapd.log" 2>&1 &
    NF=$!
    sleep 1
    $B flows 127.0.0.1:19996 1500000 $rate
    sleep 3
    kill -TERM $NF; wait $NF 2>/dev/null || true
    echo "nfcapd at $rate records/s offered kept $(nfdump -R "$R/nfcapd" -q -N -o 'fmt:%pkt' | wc -l) of 1500000"
done
kill $WF; wait $WF 2>/dev/null || true
