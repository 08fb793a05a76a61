#!/usr/bin/env python3
"""Checks that the workspace's crates depend on each other only down the flow.

The flow is sources -> model -> detect -> alert -> incident -> respond, with
the server and the command line on top. Each crate has a layer; a crate may
depend (normal, build or dev dependency) only on crates of a lower layer, or
on itself (a dev-dependency that turns on its own `testsuite` feature). A
crate missing from LAYERS is an error too, so a new crate gets a place.

Reads `cargo metadata`; exits 1 naming every edge that goes the wrong way.
"""
import json
import subprocess
import sys

# layer: the crates in it, and why they sit there
LAYERS = {
    "watchfloor-testkit": 0,   # test support: corpus location, synthetic logs
    "watchfloor-model": 0,     # Event, Sample, Alert, Incident types, Clock
    "watchfloor-formats": 1,   # decoders: bytes -> Event
    "watchfloor-ingest": 2,    # sockets, files, HTTP bodies, the write-ahead log
    "watchfloor-sigma": 2,     # detection over Events
    "watchfloor-intel": 2,     # indicators, warninglists, STIX; matching values
    "watchfloor-search": 2,    # the event store and the search language
    "watchfloor-state": 2,     # durable state behind traits (alerts, incidents, ...)
    "watchfloor-tsdb": 2,      # the metric store and PromQL
    "watchfloor-telemetry": 3, # scrape, remote write, SNMP, flows into the metric store
    "watchfloor-monitor": 2,   # NOC checks, topology, check alerting
    "watchfloor-pipeline": 3,  # log -> detection -> alerts, log -> index
    "watchfloor-incident": 3,  # alerts -> incidents, RACI, SLA, escalation
    "watchfloor-hunt": 3,
    "watchfloor-respond": 3,   # playbooks, runs, approvals, connectors      # a rule set over files on all cores (hunt, retro-hunts)
    "watchfloor-server": 4,    # HTTP wiring of the rooms below
    "watchfloor-cli": 5,       # the binary
    "watchfloor-bench": 5,     # benchmarks, not shipped
    "watchfloor-fuzz": 5,      # cargo-fuzz targets, not shipped
}
# Domain logic must not live in the wiring: these crates may not be
# depended on by any other crate but the ones listed.
# (The fuzz targets read the configuration file as the server does.)
TOP = {"watchfloor-server": {"watchfloor-cli", "watchfloor-fuzz"}, "watchfloor-cli": set()}


def main() -> int:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    problems = []
    for package in meta["packages"]:
        name = package["name"]
        if name not in LAYERS:
            problems.append(f"{name}: no layer in tools/check_layers.py; give it one")
            continue
        for dep in package["dependencies"]:
            target = dep["name"]
            if not target.startswith("watchfloor-") or target == name:
                continue
            if target not in LAYERS:
                problems.append(f"{name} -> {target}: {target} has no layer")
            elif LAYERS[target] >= LAYERS[name]:
                problems.append(
                    f"{name} (layer {LAYERS[name]}) -> {target} (layer {LAYERS[target]}):"
                    " a crate may depend only on lower layers"
                )
            elif target in TOP and name not in TOP[target]:
                problems.append(f"{name} -> {target}: only {sorted(TOP[target])} may use it")
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"layering: {len(meta['packages'])} crates, every dependency goes down the flow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
