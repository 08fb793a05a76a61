#!/usr/bin/env bash
# The console's pages and fragments at a floor's scale (docs/BENCHMARKS.md,
# "The console at a floor's scale"), for one or more builds side by side:
# `loadgen fill` writes one data directory (100,000 incidents, 10,000
# checks, 10 million events over the last day), then each build named on
# the command line serves a fresh copy of it while `loadgen console`
# requests every page and fragment 100 times.
#
#   tools/bench_console.sh new                 (target/release/watchfloor)
#   OLD=/tmp/watchfloor-before tools/bench_console.sh old new
#
# FILL_WITH picks the binary that fills (default: the new one); the data
# directory stays in /tmp/wf-console-bench/data for further runs.
set -eu
cd "$(dirname "$0")/.."
NEW=${NEW:-$PWD/target/release/watchfloor}
OLD=${OLD:-}
B=/tmp/wf-console-bench
# The searched ranges end here: an hour well inside the filled day.
WINDOW_END=${WINDOW_END:-$(date -u -d '-12 hours' +%Y-%m-%dT%H:00:00Z)}
[ -x "$NEW" ] || cargo build --release -q -p watchfloor-cli
if [ ! -d $B/data ]; then
    mkdir -p $B
    "${FILL_WITH:-$NEW}" loadgen fill --data-dir $B/data
    echo 'correct horse battery' | "$NEW" user create --username bench --role admin --data-dir $B/data
fi
trap 'kill ${pid:-} 2>/dev/null || true' EXIT
for name in "$@"; do
    bin=$([ "$name" = old ] && echo "$OLD" || echo "$NEW")
    [ -x "$bin" ] || { echo "no binary for $name (set OLD or NEW)" >&2; exit 2; }
    rm -rf $B/run; cp -a $B/data $B/run
    printf 'data_dir = "%s/run"\n[http]\nlisten = "127.0.0.1:18090"\n[syslog]\nudp = ""\ntcp = ""\n' $B > $B/wf.toml
    "$bin" serve --config $B/wf.toml > "$B/serve-$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do grep -q ready "$B/serve-$name.log" && break; sleep 0.5; done
    echo "== $name ($bin), windows ending $WINDOW_END"
    WATCHFLOOR_PASSWORD='correct horse battery' "$NEW" loadgen console \
        --url http://127.0.0.1:18090 --user bench --rounds 100 --window-end "$WINDOW_END"
    kill $pid; wait $pid 2>/dev/null || true
done
rm -rf $B/run
