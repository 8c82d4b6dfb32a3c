#!/usr/bin/python3
"""Seed corpus for tests/fuzz/request_fuzz.c: one file per request shape zcq serves, each a
whole frame (int32 size + header + body), a few of them several frames in a row. The fuzzer
mutates from these; the test run replays them all. Run from the repository root:

    /usr/bin/python3 tests/fuzz/gen_request_corpus.py

It rewrites tests/fuzz/corpus/request/seed-*; files the fuzzer added are left alone."""
import os
import struct

OUT = "tests/fuzz/corpus/request"


def crc32c(data):
    poly = 0x82F63B78
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(v):
    v = (v << 1) ^ (v >> 63)  # zigzag
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def uvarint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def string(s):
    if s is None:
        return struct.pack(">h", -1)
    s = s.encode()
    return struct.pack(">h", len(s)) + s


def nbytes(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def array(items, nullable=False):
    if items is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(items)) + b"".join(items)


def batch(records, ts=1700000000000, attributes=0, good_crc=True):
    body = b""
    for i, (k, v) in enumerate(records):
        rec = (bytes([0]) + varint(0) + varint(i) + varint(len(k)) + k + varint(len(v)) + v +
               varint(0))
        body += varint(len(rec)) + rec
    after_crc = (struct.pack(">hiqqqhii", attributes, len(records) - 1, ts, ts, -1, -1, -1,
                             len(records)) + body)
    crc = crc32c(after_crc) if good_crc else 0x12345678
    rest = struct.pack(">ibI", 0, 2, crc) + after_crc  # leader epoch, magic, crc
    return struct.pack(">qi", 0, len(rest)) + rest


def frame(key, version, body, corr=7, client="fuzz", flexible=False):
    hdr = struct.pack(">hhi", key, version, corr) + string(client)
    if flexible:
        hdr += b"\x00"
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


def produce(version, acks, topic="t", part=0, records=None, good_crc=True):
    recs = records or [(b"k1", b"v1"), (b"k2", b"value-2")]
    b = batch(recs, good_crc=good_crc)
    body = (string(None) + struct.pack(">hi", acks, 1000) +
            array([string(topic) + array([struct.pack(">i", part) + nbytes(b)])]))
    return frame(0, version, body)


def fetch(version, offset=0, max_wait=100, min_bytes=1, topic="t", part=0, max_bytes=1 << 20):
    body = struct.pack(">iiii", -1, max_wait, min_bytes, max_bytes)
    body += struct.pack(">b", 0)
    if version >= 7:
        body += struct.pack(">ii", 0, -1)
    p = struct.pack(">i", part)
    if version >= 9:
        p += struct.pack(">i", -1)
    p += struct.pack(">q", offset)
    if version >= 5:
        p += struct.pack(">q", -1)
    p += struct.pack(">i", max_bytes)
    body += array([string(topic) + array([p])])
    if version >= 7:
        body += array([])
    if version >= 11:
        body += string("")
    return frame(1, version, body)


def list_offsets(version, ts):
    body = struct.pack(">i", -1)
    if version >= 2:
        body += struct.pack(">b", 0)
    body += array([string("t") + array([struct.pack(">iq", 0, ts)])])
    return frame(2, version, body)


def metadata(version, topics, allow=True):
    if version == 0:
        body = array([string(t) for t in (topics or [])])
    else:
        body = array(None if topics is None else [string(t) for t in topics])
    if version >= 4:
        body += struct.pack(">?", allow)
    return frame(3, version, body)


def api_versions(version):
    body = b""
    if version >= 3:
        body = uvarint(len("fuzz") + 1) + b"fuzz" + uvarint(len("1.0") + 1) + b"1.0" + b"\x00"
    return frame(18, version, body, flexible=version >= 3)


def create_topics(version, name, parts, configs=()):
    t = (string(name) + struct.pack(">ih", parts, 1) + array([]) +
         array([string(k) + string(v) for k, v in configs]))
    body = array([t]) + struct.pack(">i", 1000)
    if version >= 1:
        body += struct.pack(">?", False)
    return frame(19, version, body)


def delete_topics(version, names):
    return frame(20, version, array([string(n) for n in names]) + struct.pack(">i", 1000))


def create_partitions(count):
    body = array([string("t") + struct.pack(">i", count) + array(None)])
    body += struct.pack(">i?", 1000, False)
    return frame(37, 1, body)


def describe_configs(version, rtype, name, keys=None):
    body = array([struct.pack(">b", rtype) + string(name) +
                  array(None if keys is None else [string(k) for k in keys])])
    if version >= 1:
        body += struct.pack(">?", True)
    return frame(32, version, body)


def join_group(version, group="g", member="", session=10000, protocols=(("range", b"m"),)):
    body = string(group) + struct.pack(">i", session)
    if version >= 1:
        body += struct.pack(">i", 30000)
    body += string(member)
    if version >= 5:
        body += string(None)
    body += string("consumer")
    body += array([string(n) + nbytes(m) for n, m in protocols])
    return frame(11, version, body)


def sync_group(version, group="g", gen=1, member="m", assignments=()):
    body = string(group) + struct.pack(">i", gen) + string(member)
    if version >= 3:
        body += string(None)
    body += array([string(m) + nbytes(a) for m, a in assignments])
    return frame(14, version, body)


def heartbeat(version, group="g", gen=1, member="m"):
    body = string(group) + struct.pack(">i", gen) + string(member)
    if version >= 3:
        body += string(None)
    return frame(12, version, body)


def leave_group(version, group="g", members=("m",)):
    if version < 3:
        return frame(13, version, string(group) + string(members[0]))
    return frame(13, version, string(group) + array([string(m) + string(None) for m in members]))


def offset_commit(version, group="g", gen=-1, member="", parts=((0, 5, "meta"),), topic="t"):
    body = string(group) + struct.pack(">i", gen) + string(member)
    if version >= 7:
        body += string(None)
    if version <= 4:
        body += struct.pack(">q", -1)
    ps = []
    for p, off, meta in parts:
        e = struct.pack(">iq", p, off)
        if version >= 6:
            e += struct.pack(">i", -1)
        ps.append(e + string(meta))
    body += array([string(topic) + array(ps)])
    return frame(8, version, body)


def offset_fetch(version, group="g", topics=(("t", (0, 1)),)):
    if topics is None:
        return frame(9, version, string(group) + struct.pack(">i", -1))
    ts = [string(t) + array([struct.pack(">i", p) for p in ps]) for t, ps in topics]
    return frame(9, version, string(group) + array(ts))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "api-versions-v0": api_versions(0),
        "api-versions-v3": api_versions(3),
        "api-versions-v9": api_versions(9),
        "metadata-v0-all": metadata(0, []),
        "metadata-v1-null": metadata(1, None),
        "metadata-v4-t": metadata(4, ["t"]),
        "metadata-v7-auto": metadata(7, ["auto1", "t", "bad name!"]),
        "produce-v3-acks1": produce(3, 1),
        "produce-v7-acksall": produce(7, -1),
        "produce-v7-acks0": produce(7, 0, part=1),
        "produce-v7-badcrc": produce(7, 1, good_crc=False),
        "produce-v7-unknown": produce(7, 1, topic="nope"),
        "fetch-v4": fetch(4),
        "fetch-v11": fetch(11),
        "fetch-v11-longpoll": fetch(11, offset=2, min_bytes=1 << 20, max_wait=500),
        "fetch-v7-outofrange": fetch(7, offset=1 << 40),
        "list-offsets-v1-earliest": list_offsets(1, -2),
        "list-offsets-v2-latest": list_offsets(2, -1),
        "list-offsets-v3-time": list_offsets(3, 1700000000000),
        "create-topics-v0": create_topics(0, "ct0", 2),
        "create-topics-v4-config": create_topics(4, "ct4", 1, [("retention.ms", "1000"),
                                                                ("segment.bytes", "1048576")]),
        "create-topics-v4-badconfig": create_topics(4, "ct5", 1, [("no.such.key", "1")]),
        "delete-topics-v3": delete_topics(3, ["ct0", "nope"]),
        "create-partitions": create_partitions(3),
        "describe-configs-v0-topic": describe_configs(0, 2, "t"),
        "describe-configs-v3-topic-keys": describe_configs(3, 2, "t", ["retention.ms"]),
        "describe-configs-v1-broker": describe_configs(1, 4, "1"),
        "join-group-v0": join_group(0),
        "join-group-v2": join_group(2, protocols=(("range", b"m"), ("roundrobin", b"r"))),
        "join-group-v5": join_group(5),
        "join-group-v5-badsession": join_group(5, session=1),
        "join-then-sync": join_group(2) + sync_group(1, member="fuzz-x"),
        "sync-group-v3": sync_group(3, assignments=(("m", b"a"),)),
        "heartbeat-v0": heartbeat(0),
        "heartbeat-v3": heartbeat(3),
        "leave-group-v1": leave_group(1),
        "leave-group-v3": leave_group(3, members=("a", "b")),
        "offset-commit-v2": offset_commit(2),
        "offset-commit-v7": offset_commit(7, parts=((0, 1, None), (1, 2, ""), (9, 3, "x"))),
        "offset-commit-then-fetch": offset_commit(5) + offset_fetch(5),
        "offset-fetch-v1": offset_fetch(1),
        "offset-fetch-v5-all": offset_fetch(5, topics=None),
        "list-groups-v2": frame(16, 2, b""),
        "describe-groups-v4": frame(15, 4, array([string("g"), string("nope")]) + b"\x01"),
        "delete-groups-v1": frame(42, 1, array([string("g"), string("")])),
        "unknown-api": frame(99, 0, b""),
        "unsupported-version": frame(0, 99, b""),
        "produce-then-fetch": produce(7, 1) + fetch(11),
        "truncated": produce(7, 1)[:40],
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
