"""Input and check for tests/integration/kcat.sh (run with /usr/bin/python3).

  kcat_msgs.py gen FILE N
      writes N lines "key<TAB>value" for `kcat -P -K<TAB>`: every line distinct, keys and
      values hold any byte but TAB and LF (NUL and bytes >= 0x80 included), some values empty,
      some long and compressible, some random.
  kcat_msgs.py check INPUT OUTPUT HEADERS PARTITIONS
      OUTPUT is `kcat -C -f '%p\\t%o\\t%k\\t%s\\t%h\\n'`. Checks that every input message came
      back exactly once with its key and value byte for byte and the headers HEADERS (kcat's
      %h rendering), on the partition librdkafka's default partitioner picks for its key
      (CRC-32 of the key modulo PARTITIONS), with each partition's offsets 0, 1, 2, ... and its
      messages in input order. Prints one line per problem (at most 20) and exits 1 on any.
  kcat_msgs.py codecs SEGMENT...
      prints "CODEC=BATCHES ..." for the record batches in the broker's segment files (kept
      byte for byte as producers sent them, docs/storage.md): which compression the producer
      really used. Uncompressed batches of 4 records or fewer are left out: librdkafka sends a
      batch uncompressed when compression would not make it smaller.
"""
import os
import random
import struct
import sys
import zlib

TEXT = (b"The quick brown fox jumps over the lazy dog; zero copies from socket to disk to "
        b"socket. ") * 8


def gen(path, n):
    rnd = random.Random(20261130)
    alphabet = bytes(b for b in range(256) if b not in (0x09, 0x0A))
    with open(path, "wb") as f:
        for i in range(n):
            if i % 1000 == 999:
                key, value = b"empty-%d" % i, b""  # an empty (not null) value, a unique key
            else:
                key = b"key-%d" % (i % 1009)
                if i % 7 == 0:
                    key += b"\x00\xc3\xa9\xff"
                if i % 5 == 0:
                    body = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 200)))
                else:
                    body = TEXT[: i % len(TEXT)]
                value = b"%07d|" % i + body
            f.write(key + b"\t" + value + b"\n")


def check(inp, out, headers, nparts):
    problems = []

    def bad(msg):
        problems.append(msg)

    with open(inp, "rb") as f:
        expected = [tuple(line.split(b"\t", 1)) for line in f.read().split(b"\n")[:-1]]
    index = {kv: i for i, kv in enumerate(expected)}
    if len(index) != len(expected):
        bad("input lines are not distinct")
    with open(out, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    else:
        bad("output does not end with a newline")
    seen = set()
    last = {}  # partition -> (offset, input index)
    for n, line in enumerate(lines, 1):
        fields = line.split(b"\t")
        if len(fields) != 5:
            bad("output line %d: %d fields, expected 5: %r" % (n, len(fields), line[:100]))
            continue
        part, off, key, value, hdrs = fields
        part, off = int(part), int(off)
        i = index.get((key, value))
        if i is None:
            bad("p%d@%d: not a produced message: key %r value %r" % (part, off, key, value[:60]))
            continue
        if i in seen:
            bad("p%d@%d: input line %d consumed twice" % (part, off, i + 1))
        seen.add(i)
        if hdrs != headers:
            bad("p%d@%d: headers %r, expected %r" % (part, off, hdrs, headers))
        want = zlib.crc32(key) % nparts
        if part != want:
            bad("p%d@%d: key %r should be on partition %d" % (part, off, key, want))
        poff, pidx = last.get(part, (-1, -1))
        if off != poff + 1:
            bad("p%d: offset %d follows %d" % (part, off, poff))
        if i < pidx:
            bad("p%d@%d: input line %d comes after line %d (order lost)" % (part, off, i + 1,
                                                                              pidx + 1))
        last[part] = (off, i)
    missing = len(expected) - len(seen)
    if missing:
        first = min(set(range(len(expected))) - seen)
        bad("%d of %d messages missing (first: input line %d)" % (missing, len(expected),
                                                                   first + 1))
    for p in problems[:20]:
        print("  " + p)
    if len(problems) > 20:
        print("  ... and %d more problems" % (len(problems) - 20))
    counts = ", ".join("p%d: %d" % (p, last[p][0] + 1) for p in sorted(last))
    print("  %d messages consumed (%s)" % (len(lines), counts))
    return 1 if problems else 0


CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def codecs(paths):
    count = {}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        # baseOffset i64, batchLength i32, leaderEpoch i32, magic i8, crc u32, attributes i16
        while pos + 23 <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            if length <= 0 or pos + 12 + length > len(data):
                break
            attrs = struct.unpack_from(">h", data, pos + 21)[0]
            records = struct.unpack_from(">i", data, pos + 57)[0] if pos + 61 <= len(data) else 0
            name = CODECS[attrs & 7] if attrs & 7 < len(CODECS) else "codec%d" % (attrs & 7)
            # librdkafka sends a batch uncompressed when compressing does not make it smaller,
            # which happens to batches of a record or two: not the fallback this looks for.
            if name != "none" or records > 4:
                count[name] = count.get(name, 0) + 1
            pos += 12 + length
    print(" ".join("%s=%d" % kv for kv in sorted(count.items())))
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) == 6 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3], os.fsencode(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) >= 2 and sys.argv[1] == "codecs":
        return codecs(sys.argv[2:])
    print("usage: kcat_msgs.py gen FILE N | check INPUT OUTPUT HEADERS PARTITIONS | "
          "codecs SEGMENT...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
