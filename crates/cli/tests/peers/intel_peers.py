"""The intel tests' peers from PyPI, driven from Rust tests:

  medallion-config DIR PORT          writes medallion's config and data (one writable collection)
  add-objects URL USER PASS FIRST N  adds N indicator objects to medallion's collection (taxii2-client)
  pull-ours URL TOKEN PER_REQUEST    pulls every collection of Watchfloor's TAXII server (taxii2-client,
                                     paged), prints {"title": [object types...]} as JSON
  misp-event DIR FIRST N             adds a MISP event of N to_ids attributes to a feed in DIR (PyMISP),
                                     rewriting manifest.json and hashes.csv
"""

import json
import os
import sys
import uuid

COLLECTION = "2f6fdc7e-4d2a-4b61-9e1c-2d8e8a5b0c11"


def medallion_config(directory, port):
    root = f"http://127.0.0.1:{port}/api1/"
    data = {
        "/discovery": {
            "title": "Test TAXII server",
            "default": root,
            "api_roots": [root],
        },
        "api1": {
            "information": {
                "title": "Test feeds",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9765625,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "Phishing feed",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    with open(os.path.join(directory, "medallion-data.json"), "w") as f:
        json.dump(data, f)
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": os.path.join(directory, "medallion-data.json"),
        },
        "users": {"feeder": "feeder-password"},
        "taxii": {"max_page_size": 100},
    }
    with open(os.path.join(directory, "medallion.json"), "w") as f:
        json.dump(config, f)


def add_objects(url, user, password, first, n):
    from taxii2client.v21 import Collection

    now = "2026-12-01T00:00:00.000Z"
    objects = []
    for i in range(first, first + n):
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": now,
                "modified": now,
                "valid_from": now,
                "name": f"C2 {i}",
                "pattern": f"[domain-name:value = 'c2-{i}.feed.example']",
                "pattern_type": "stix",
                "confidence": 80,
            }
        )
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    collection = Collection(f"{url}collections/{COLLECTION}/", user=user, password=password)
    status = collection.add_objects(json.dumps(bundle))
    if status.failure_count:
        sys.exit(f"medallion refused {status.failure_count} objects")


def pull_ours(url, token, per_request):
    from taxii2client.v21 import Server, as_pages

    server = Server(url, user="any", password=token)
    out = {}
    for root in server.api_roots:
        for collection in root.collections:
            types = []
            for envelope in as_pages(collection.get_objects, per_request=per_request):
                types.extend(o["type"] for o in envelope.get("objects", []))
            out[collection.title] = types
    print(json.dumps(out))


def misp_event(directory, first, n):
    from pymisp import MISPEvent, MISPOrganisation

    event = MISPEvent()
    event.info = f"Phishing wave {first}"
    event.threat_level_id = 1
    org = MISPOrganisation()
    org.name = "Watchfloor tests"
    org.uuid = "5d5e2d44-1c0c-4b1e-8a35-0b5b1c3c5a21"
    event.Orgc = org
    for i in range(first, first + n):
        event.add_attribute("domain", f"lure-{i}.misp.example", to_ids=True)
    event.add_attribute("comment", "context, not an indicator", to_ids=False)
    feed = event.to_feed(with_meta=True)
    meta = feed["Event"]
    manifest_path = os.path.join(directory, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest.update(meta.pop("_manifest"))
    hashes = meta.pop("_hashes")
    with open(os.path.join(directory, f"{meta['uuid']}.json"), "w") as f:
        json.dump(feed, f)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    with open(os.path.join(directory, "hashes.csv"), "a") as f:
        for h in hashes:
            f.write(f"{h},{meta['uuid']}\n")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "medallion-config":
        medallion_config(args[0], int(args[1]))
    elif command == "add-objects":
        add_objects(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif command == "pull-ours":
        pull_ours(args[0], args[1], int(args[2]))
    elif command == "misp-event":
        misp_event(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(f"unknown command {command}")
