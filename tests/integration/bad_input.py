"""Hostile and malformed requests against a running broker (bad_input.sh starts it with
socket.request.max.bytes=1048576 and message.max.bytes=10000): each must get the Kafka error
code the protocol has for it, or a closed connection, and the broker must keep serving.
Usage: bad_input.py HOST:PORT BROKER_PID. Exits 1 with the failed checks listed."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire as kw  # noqa: E402

broker, pid = sys.argv[1], int(sys.argv[2])
failures = []


def check(cond, what):
    print(("  ok: " if cond else "  FAIL: ") + what)
    if not cond:
        failures.append(what)


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def expect_close(data, what):
    c = kw.Conn(broker)
    c.send(data)
    check(c.closed_by_peer(), what + ": connection closed")
    c.close()


# ApiVersions at a version the broker does not know: error 35 and its own range (KIP-511),
# and the connection stays usable.
c = kw.Conn(broker)
c.send(kw.frame(18, 9, b"\x00", corr=5))  # header v2: an empty tag section
r = c.recv_frame()
check(r is not None and struct.unpack_from(">ih", r) == (5, 35), "ApiVersions v9 -> error 35")
check(r is not None and r[6:] == struct.pack(">ihhh", 1, 18, 0, 3), "... with ApiVersions 0..3")
c.send(kw.frame(18, 0, b"", corr=6))
r = c.recv_frame()
check(r is not None and struct.unpack_from(">ih", r) == (6, 0), "then ApiVersions v0 answered")
c.close()

# Framing.
expect_close(struct.pack(">i", 2 << 20) + b"x" * 100, "frame over socket.request.max.bytes")
expect_close(struct.pack(">i", -1) + b"x" * 10, "negative frame size")
expect_close(struct.pack(">i", 5) + b"x" * 5, "frame too short for a header")
c = kw.Conn(broker)
c.send(kw.produce("t", 0, kw.batch([(b"k", b"v")]))[:30])
c.close()  # a truncated frame, then gone: nothing to answer, nothing to crash

# Unknown API and version: closed, as Kafka does.
expect_close(kw.frame(12345, 0, b""), "unknown api key")
expect_close(kw.frame(0, 99, b""), "Produce v99")
expect_close(kw.frame(1, 3, b"\0" * 40), "Fetch v3 (below the advertised range)")

# Lying counts: an array count far past what the frame holds, a negative one.
expect_close(kw.frame(0, 7, kw.string(None) + struct.pack(">hii", 1, 1000, 0x7FFFFFFF)),
             "Produce with 2^31-1 topics in a tiny frame")
expect_close(kw.frame(0, 7, kw.string(None) + struct.pack(">hii", 1, 1000, -5)),
             "Produce with -5 topics")
expect_close(kw.frame(3, 4, struct.pack(">i", 0x7FFFFFFF)), "Metadata with 2^31-1 topics")
expect_close(kw.frame(1, 11, struct.pack(">iiii", 3, 100, 1, 1000) + b"\0" * 60),
             "Fetch claiming to be replica 3")

# Batches: each a Kafka error code, and the connection stays open.
c = kw.Conn(broker)
c.send(kw.metadata(["t"], corr=1))  # auto-creates t
check(c.recv_frame() is not None, "Metadata creates t")
cases = [
    ("bad CRC", kw.batch([(b"k", b"v")], good_crc=False), 1, 2),
    ("batch over message.max.bytes", kw.batch([(b"k", b"v" * 20000)]), 1, 10),
    ("two batches in one partition", kw.batch([(b"a", b"1")]) + kw.batch([(b"b", b"2")]), 1, 87),
    ("baseOffset not 0", kw.batch([(b"k", b"v")], base_offset=7), 1, 87),
    ("acks=7", kw.batch([(b"k", b"v")]), 7, 21),
    ("garbage bytes", b"\x00\x01\x02" * 30, 1, 2),
]
for i, (what, b, acks, want) in enumerate(cases):
    c.send(kw.produce("t", 0, b, acks=acks, corr=10 + i))
    r = c.recv_frame()
    errs = kw.produce_errors(r) if r else None
    check(errs is not None and errs[0][2] == want, "%s -> error %d (got %s)" % (what, want, errs))
c.send(kw.produce("nope", 0, kw.batch([(b"k", b"v")]), corr=30))
r = c.recv_frame()
check(r is not None and kw.produce_errors(r)[0][2] == 3, "unknown topic -> error 3")
c.send(kw.produce("t", 9, kw.batch([(b"k", b"v")]), corr=31))
r = c.recv_frame()
check(r is not None and kw.produce_errors(r)[0][2] == 3, "unknown partition -> error 3")

# Produce v0-2 (message format v0/v1) is advertised, for librdkafka's codec checks, and
# refused per partition with UNSUPPORTED_FOR_MESSAGE_FORMAT.
old = kw.frame(0, 2, struct.pack(">hi", 1, 1000) +
               kw.array([kw.string("t") + kw.array([struct.pack(">i", 0) + kw.nbytes(b"x" * 40)])]),
               corr=32)
c.send(old)
r = c.recv_frame()
ok = r is not None and struct.unpack_from(">i", r, 4)[0] == 1
if ok:
    off = 8 + 2 + 1 + 4  # topics count, name "t", partitions count
    part, err = struct.unpack_from(">ih", r, off)
    ok = part == 0 and err == 43
check(ok, "Produce v2 -> error 43 per partition")
# FindCoordinator: this broker, for groups; none for transactions.
c.send(kw.frame(10, 0, kw.string("group-x"), corr=33))
r = c.recv_frame()
check(r is not None and struct.unpack_from(">ihi", r) == (33, 0, 1), "FindCoordinator v0 -> node 1")
c.send(kw.frame(10, 2, kw.string("txn-x") + b"\x01", corr=34))
r = c.recv_frame()
check(r is not None and struct.unpack_from(">iih", r) == (34, 0, 15),
      "FindCoordinator v2 for a transaction -> error 15")

# Pipelined requests are answered in order; acks=0 gets no response.
c.send(kw.produce("t", 0, kw.batch([(b"p", b"1")]), corr=40) +
       kw.produce("t", 0, kw.batch([(b"p", b"2")]), acks=0, corr=41) +
       kw.frame(18, 0, b"", corr=42) +
       kw.produce("t", 0, kw.batch([(b"p", b"3")]), corr=43))
got = []
for _ in range(3):
    r = c.recv_frame()
    got.append(struct.unpack_from(">i", r)[0] if r else None)
check(got == [40, 42, 43], "pipelined answers in order, none for acks=0: %s" % got)
c.close()
# acks=0 with an error: no response to carry it, so the connection closes.
expect_close(kw.produce("t", 0, kw.batch([(b"k", b"v")], good_crc=False), acks=0),
             "acks=0 Produce with a bad batch")

# Frames that claim more than they send cost memory by the bytes sent, not by the claim:
# 200 connections each claiming 900 KB and sending 1 KB.
before = rss_kb()
conns = []
for _ in range(200):
    s = kw.Conn(broker)
    s.send(struct.pack(">i", 900000) + struct.pack(">hhi", 0, 7, 1) + b"z" * 1016)
    conns.append(s)
c = kw.Conn(broker)
c.send(kw.frame(18, 0, b"", corr=77))  # the broker has read them all when this is answered
r = c.recv_frame()
after = rss_kb()
check(r is not None, "broker still answers with 200 half-sent frames open")
print("  broker RSS: %d KB before, %d KB with 200 connections each holding a partial frame"
      % (before, after))
check(after - before < 64 * 1024, "RSS grew %d KB (a claimed-size allocation would be 176 MB)"
      % (after - before))
for s in conns:
    s.close()
c.close()

# ApiVersions v9 without even the tag section a flexible header has: still answered.
c = kw.Conn(broker)
c.send(kw.frame(18, 9, b"", corr=8))
r = c.recv_frame()
check(r is not None and struct.unpack_from(">ih", r) == (8, 35), "ApiVersions v9, no tags -> 35")
c.close()

# Still serving: a produce through a fresh connection.
c = kw.Conn(broker)
c.send(kw.produce("t", 0, kw.batch([(b"final", b"ok")]), corr=90))
r = c.recv_frame()
errs = kw.produce_errors(r) if r else None
check(errs is not None and errs[0][2] == 0, "a good produce still succeeds: %s" % errs)
c.close()

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
