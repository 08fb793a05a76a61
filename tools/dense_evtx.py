#!/usr/bin/env python3
"""Builds dense EVTX files for the hunt benchmark from the regression corpus.

The regression corpus holds 202 EVTX files of one 64 KiB chunk each with a
handful of records, so its megabytes are mostly empty chunk space. Real logs
fill their chunks. This script refills each corpus chunk with copies of its
own records (a copy of a record that defines its template inline is turned
into a reference to that definition, which stays in place), giving chunks
as full as a live log's, and writes them into files of the requested size.
Every record is a real corpus record; the chunk's string and template
offsets stay valid because the original records are kept where they were.

usage: tools/dense_evtx.py CORPUS/sigma/regression_data OUT_DIR MEGABYTES [FILES]
"""
import os
import struct
import sys

FILE_HEADER = 4096
CHUNK = 65536
CHUNK_HEADER = 512


def records(chunk):
    """(offset, bytes) of each record in the chunk's live area."""
    free = struct.unpack_from("<I", chunk, 48)[0]
    out, off = [], CHUNK_HEADER
    while off + 24 <= min(free, CHUNK):
        if chunk[off:off + 4] != b"\x2a\x2a\x00\x00":
            break
        size = struct.unpack_from("<I", chunk, off + 4)[0]
        if size < 28 or off + size > CHUNK:
            break
        out.append((off, bytes(chunk[off:off + size])))
        off += size
    return out


def defines_inline(offset, rec, start):
    """Whether the record defines something (a name, a nested template) in
    place after `start`: a 32-bit chunk offset pointing just past itself.
    Such a copy would read its own definition as data, so it is not used."""
    for p in range(start, len(rec) - 4):
        if struct.unpack_from("<I", rec, p)[0] == offset + p + 4:
            return True
    return False


def as_reference(offset, rec):
    """A copy of the record whose template instance refers to the template
    instead of defining it inline; None if the record cannot be copied."""
    body = 24
    if rec[body:body + 1] != b"\x0f" or rec[body + 4:body + 5] != b"\x0c":
        return None
    def_offset = struct.unpack_from("<I", rec, body + 10)[0]
    after = offset + body + 14
    cut = 0
    if def_offset == after:
        data_size = struct.unpack_from("<I", rec, body + 14 + 20)[0]
        cut = 24 + data_size
    if defines_inline(offset, rec, body + 14 + cut):
        return None
    out = bytearray(rec[:body + 14] + rec[body + 14 + cut:])
    struct.pack_into("<I", out, 4, len(out))
    struct.pack_into("<I", out, len(out) - 4, len(out))
    return bytes(out)


def dense_chunk(chunk, first_id):
    """The chunk refilled with copies of its records, ids from first_id."""
    recs = records(chunk)
    copies = [c for c in (as_reference(o, r) for o, r in recs) if c]
    if not recs or not copies:
        return None
    out = bytearray(chunk[:recs[-1][0] + len(recs[-1][1])])
    next_id = first_id
    for off, rec in recs:
        struct.pack_into("<Q", out, off + 8, next_id)
        next_id += 1
    last_offset = recs[-1][0]
    i = 0
    while len(out) + len(copies[i % len(copies)]) <= CHUNK:
        rec = bytearray(copies[i % len(copies)])
        struct.pack_into("<Q", rec, 8, next_id)
        last_offset = len(out)
        out += rec
        next_id += 1
        i += 1
    free = len(out)
    out += bytes(CHUNK - len(out))
    struct.pack_into("<QQQQ", out, 8, first_id, next_id - 1, first_id, next_id - 1)
    struct.pack_into("<II", out, 44, last_offset, free)
    return bytes(out), next_id


def corpus_chunks(root):
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if name.endswith(".evtx"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    data = f.read()
                for c in range(FILE_HEADER, len(data) - CHUNK + 1, CHUNK):
                    if data[c:c + 8] == b"ElfChnk\x00":
                        yield data[:FILE_HEADER], data[c:c + CHUNK]


def main():
    root, out_dir, megabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
    files = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    sources = list(corpus_chunks(root))
    os.makedirs(out_dir, exist_ok=True)
    per_file = max(1, int(megabytes * 1e6 / files / CHUNK))
    n = 0
    total_records = 0
    for f in range(files):
        header = bytearray(sources[0][0])
        chunks, next_id = [], 1
        while len(chunks) < per_file:
            built = dense_chunk(sources[n % len(sources)][1], next_id)
            n += 1
            if built:
                chunks.append(built[0])
                total_records += built[1] - next_id
                next_id = built[1]
        struct.pack_into("<QQQ", header, 8, 0, len(chunks) - 1, next_id)
        struct.pack_into("<H", header, 42, len(chunks) if len(chunks) < 65536 else 0xFFFF)
        with open(os.path.join(out_dir, f"dense-{f:03}.evtx"), "wb") as out:
            out.write(header)
            for c in chunks:
                out.write(c)
    print(f"{files} files, {files * per_file} chunks, {total_records} records, "
          f"{(FILE_HEADER + per_file * CHUNK) * files / 1e6:.1f} MB in {out_dir}")


if __name__ == "__main__":
    main()
