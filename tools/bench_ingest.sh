#!/usr/bin/env bash
# Ingest at full speed, builds side by side (docs/BENCHMARKS.md, "Parsing to
# ECS fields"): each binary named serves a fresh data directory with the
# SigmaHQ rules while `loadgen send` writes syslog over TCP as fast as it
# can for 30 s; then the server's CPU per event, in all and by thread, is
# read from /proc (threads that ended during the run, tantivy's indexing
# and compressing ones, are the `exited` column).
#
#   tools/bench_ingest.sh /tmp/wf-before target/release/watchfloor /tmp/wf-before ...
#
# Name each binary several times, alternating: runs on a shared machine
# move by a tenth. LOADGEN picks the load generator (default: the last
# binary), DURATION the seconds of sending.
set -eu
cd "$(dirname "$0")/.."
CORPUS=${WATCHFLOOR_CORPUS:-../shared/corpus}
LOADGEN=${LOADGEN:-${@: -1}}
D=${TMPDIR:-/tmp}/wf-ingest-bench
trap 'kill ${pid:-} 2>/dev/null || true' EXIT

# user+system clock ticks (100 a second) of a process or thread
ticks() { awk '{print $14 + $15}' "$1/stat"; }

for bin in "$@"; do
    rm -rf "$D"
    "$bin" serve --data-dir "$D" --http 127.0.0.1:18484 --syslog-udp "" \
        --syslog-tcp 127.0.0.1:15622 --rules "$CORPUS/sigma/rules" > "$D.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do grep -q ready "$D.log" 2>/dev/null && break; sleep 0.5; done
    declare -A before=() by_thread=()
    for t in /proc/$pid/task/*; do before[${t##*/}]=$(ticks "$t"); done
    start=$(ticks /proc/$pid)
    out=$("$LOADGEN" loadgen send --tcp 127.0.0.1:15622 --rate 0 --duration "${DURATION:-30}" \
        --server http://127.0.0.1:18484 --data-dir "$D")
    total=$(( $(ticks /proc/$pid) - start ))
    for t in /proc/$pid/task/*; do
        name=$(tr ' ' _ < "$t/comm")
        by_thread[$name]=$(( ${by_thread[$name]:-0} + $(ticks "$t") - ${before[${t##*/}]:-0} ))
    done
    kill $pid; wait $pid 2>/dev/null || true
    exited=$total
    for k in "${!by_thread[@]}"; do exited=$(( exited - by_thread[$k] )); done
    threads=$(for k in "${!by_thread[@]}"; do echo "$k ${by_thread[$k]}"; done | sort -k2 -rn | head -4)
    python3 - "$bin" "$total" "$exited" "$threads" <<EOF
import json, sys
run = json.loads('''$out''')
bin, total, exited, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
events = run["events"]
us = lambda ticks: f"{ticks * 10000 / events:.1f}"
cols = [f"{name}={us(int(t))}" for name, t in (l.split() for l in threads.splitlines())]
print(f"{bin}: {run['sustained_per_s']:,.0f}/s, CPU {us(total)} µs/event "
      f"({', '.join(cols)}, exited={us(exited)})")
EOF
    unset before by_thread
done
