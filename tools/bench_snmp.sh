#!/usr/bin/env bash
# SNMP polling side by side (docs/BENCHMARKS.md, "SNMP"): one simulated
# device with N interfaces (snmpsim from PyPI, the 18 IF-MIB columns the
# poller reads), polled whole over v2c by `serve` and by Debian's
# prometheus-snmp-exporter walking the same two tables with the same
# GetBulk size. Prints each one's wall time and the CPU seconds the
# collector itself spent (from /proc/PID/stat), one system at a time.
#
#   tools/bench_snmp.sh                 (20,000 interfaces)
#   INTERFACES=5000 tools/bench_snmp.sh
#
# Needs root (snmpsim drops to nobody), apt's prometheus-snmp-exporter
# (installed when missing) and snmpsim in target/snmpsim-venv (tools/test
# installs it).
set -eu
cd "$(dirname "$0")/.."
N=${INTERFACES:-20000}
SIM=${WATCHFLOOR_SNMPSIM_VENV:-$PWD/target/snmpsim-venv}/bin/snmpsim-command-responder
[ -x "$SIM" ] || { echo "snmpsim missing at $SIM: run tools/test once" >&2; exit 2; }
[ -x /usr/bin/prometheus-snmp-exporter ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-snmp-exporter >/dev/null
}
systemctl stop prometheus-snmp-exporter 2>/dev/null || true
cargo build --release -q -p watchfloor-cli
W=$PWD/target/release/watchfloor
R=/tmp/wf-snmp-bench
rm -rf "$R"; mkdir -p "$R/data" "$R/cache"
chmod 755 "$R" "$R/data"; chmod 777 "$R/cache"
PORT=19161

# The device: the records in OID order, as snmpsim wants them.
python3 - "$N" > "$R/data/public.snmprec" <<'EOF'
import sys
n = int(sys.argv[1])
columns = [("1.3.6.1.2.1.2.2.1.%d" % c, k) for c, k in
           [(2, 4), (3, 2), (5, 66), (7, 2), (8, 2), (10, 65), (13, 65), (14, 65), (16, 65), (19, 65), (20, 65)]]
columns += [("1.3.6.1.2.1.31.1.1.1.%d" % c, k) for c, k in
            [(1, 4), (6, 70), (7, 70), (10, 70), (11, 70), (15, 66), (18, 4)]]
lines = [("1.3.6.1.2.1.1.3.0", 67, "123456"), ("1.3.6.1.2.1.1.5.0", 4, "core-switch")]
for oid, kind in columns:
    for i in range(1, n + 1):
        value = {4: "Gi%d/%d" % (i // 48, i % 48), 2: "1", 66: "1000"}.get(kind, str(i * 1000))
        lines.append(("%s.%d" % (oid, i), kind, value))
lines.sort(key=lambda l: [int(p) for p in l[0].split(".")])
for oid, kind, value in lines:
    print("%s|%d|%s" % (oid, kind, value))
EOF
chmod 644 "$R/data/public.snmprec"
"$SIM" --data-dir="$R/data" --agent-udpv4-endpoint=127.0.0.1:$PORT --cache-dir="$R/cache" \
    --process-user=nobody --process-group=nogroup > "$R/snmpsim.log" 2>&1 &
SIMPID=$!
trap 'kill $SIMPID 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
    snmpget -v2c -c public -t 1 -r 0 127.0.0.1:$PORT 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break
    sleep 0.5
done
# A first walk warms snmpsim's index so that neither collector pays for it.
snmpbulkwalk -v2c -c public -Cr50 -t 30 127.0.0.1:$PORT 1.3.6.1.2.1.31.1.1.1.18 | wc -l | sed 's/^/warm-up walk: /'

cpu_secs() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

echo "== prometheus-snmp-exporter $(prometheus-snmp-exporter --version 2>&1 | head -1 | awk '{print $3}')"
{
    # snmp_exporter 0.21's layout (Debian 12): modules at the top level,
    # each with its own version and community.
    echo "wf_if:"
    echo "  walk: [1.3.6.1.2.1.2.2, 1.3.6.1.2.1.31.1.1]"
    echo "  max_repetitions: 50"
    echo "  timeout: 10s"
    echo "  retries: 2"
    echo "  version: 2"
    echo "  auth: {community: public}"
    echo "  metrics:"
    for m in ifDescr:1.3.6.1.2.1.2.2.1.2:DisplayString ifType:1.3.6.1.2.1.2.2.1.3:gauge \
        ifSpeed:1.3.6.1.2.1.2.2.1.5:gauge ifAdminStatus:1.3.6.1.2.1.2.2.1.7:gauge \
        ifOperStatus:1.3.6.1.2.1.2.2.1.8:gauge ifInOctets:1.3.6.1.2.1.2.2.1.10:counter \
        ifInDiscards:1.3.6.1.2.1.2.2.1.13:counter ifInErrors:1.3.6.1.2.1.2.2.1.14:counter \
        ifOutOctets:1.3.6.1.2.1.2.2.1.16:counter ifOutDiscards:1.3.6.1.2.1.2.2.1.19:counter \
        ifOutErrors:1.3.6.1.2.1.2.2.1.20:counter ifName:1.3.6.1.2.1.31.1.1.1.1:DisplayString \
        ifHCInOctets:1.3.6.1.2.1.31.1.1.1.6:counter ifHCInUcastPkts:1.3.6.1.2.1.31.1.1.1.7:counter \
        ifHCOutOctets:1.3.6.1.2.1.31.1.1.1.10:counter ifHCOutUcastPkts:1.3.6.1.2.1.31.1.1.1.11:counter \
        ifHighSpeed:1.3.6.1.2.1.31.1.1.1.15:gauge ifAlias:1.3.6.1.2.1.31.1.1.1.18:DisplayString; do
        IFS=: read -r name oid type <<< "$m"
        echo "    - {name: $name, oid: $oid, type: $type, indexes: [{labelname: ifIndex, type: gauge}]}"
    done
} > "$R/snmp.yml"
prometheus-snmp-exporter --config.file="$R/snmp.yml" --web.listen-address=127.0.0.1:19116 > "$R/exporter.log" 2>&1 &
EXP=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null http://127.0.0.1:19116/ && break; sleep 0.2; done
before=$(cpu_secs $EXP)
start=$(date +%s.%N)
curl -sf -H 'X-Prometheus-Scrape-Timeout-Seconds: 600' \
    "http://127.0.0.1:19116/snmp?module=wf_if&target=127.0.0.1:$PORT" > "$R/exporter.out"
end=$(date +%s.%N)
after=$(cpu_secs $EXP)
got=$(grep -c '^ifHCInOctets{' "$R/exporter.out" || true)
python3 -c "w=$end-$start; print('snmp_exporter: %d interfaces in %.1f s (%.0f interfaces/s), exporter CPU %.2f s' % ($got, w, $got / w, $after - $before))"
kill $EXP; wait $EXP 2>/dev/null || true

echo "== watchfloor serve"
cat > "$R/wf.toml" <<EOF
data_dir = "$R/wf"
[http]
listen = "127.0.0.1:18491"
[syslog]
udp = ""
tcp = ""
[metrics]
self_scrape_secs = 0
[[telemetry.snmp]]
job = "big"
targets = ["127.0.0.1:$PORT"]
interval_secs = 3600
timeout_secs = 10
max_repetitions = 50
EOF
"$W" serve --config "$R/wf.toml" > "$R/wf.log" 2>&1 &
WF=$!
for _ in $(seq 1 100); do grep -q ready "$R/wf.log" && break; sleep 0.1; done
ready_cpu=$(cpu_secs $WF)
TOKEN=$(cat "$R/wf/initial-admin-token")
q() { curl -s -H "Authorization: Bearer $TOKEN" --data-urlencode "query=$1" http://127.0.0.1:18491/api/v1/query \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }
for _ in $(seq 1 1200); do [ -n "$(q 'snmp_interfaces{job="big"}')" ] && break; sleep 0.5; done
done_cpu=$(cpu_secs $WF)
polled=$(q 'scrape_duration_seconds{job="big"}')
got=$(q 'count(ifHCInOctets{job="big"})')
python3 -c "w=float('$polled'); print('watchfloor: %d interfaces in %.1f s (%.0f interfaces/s), serve CPU %.2f s (its whole process, from ready to the poll stored)' % (int('$got'), w, int('$got') / w, $done_cpu - $ready_cpu))"
kill $WF; wait $WF 2>/dev/null || true
