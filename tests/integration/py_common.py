"""What tests/integration/py_confluent.py and py_kafka.py share: the messages they produce and
the check of what they consumed against where the producer said each message went."""
import random
import sys
import time

TEXT = b"zero copies from the producer's socket to disk to the consumer's socket. " * 20


def messages(n, seed):
    """n (key, value, headers) triples: binary keys, null and empty values, values with random
    and compressible bytes, and headers with an empty value and a repeated name."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        key = b"key-%d" % (i % 97)
        if i % 5 == 0:
            key += b"\x00\xc3\xa9\xff"
        if i % 11 == 0:
            value = None
        elif i % 13 == 0:
            value = b""
        else:
            value = (b"%06d|" % i + TEXT[: rnd.randrange(0, len(TEXT))] +
                     rnd.randbytes(rnd.randrange(0, 200)))
        headers = [("idx", b"%d" % i)]
        if i % 3 == 0:
            headers += [("empty", b""), ("idx", b"again")]
        out.append((key, value, headers))
    return out


class Checker:
    """Collects problems; fail() exits 1 with them."""

    def __init__(self, name):
        self.name = name
        self.problems = []

    def bad(self, msg):
        self.problems.append(msg)
        print("%s: FAIL: %s" % (self.name, msg), file=sys.stderr, flush=True)
        if len(self.problems) >= 30:
            self.done()

    def ok(self, msg):
        print("  ok: %s" % msg, flush=True)

    def done(self):
        if self.problems:
            print("%s: %d check(s) failed" % (self.name, len(self.problems)), file=sys.stderr)
            sys.exit(1)
        sys.exit(0)

    def placement(self, sent, placed, nparts):
        """placed[i] = (partition, offset) the producer reported for sent[i]. Returns
        {partition: [index of the message at offset 0, 1, ...]} or None."""
        by_part = {p: {} for p in range(nparts)}
        for i, (p, off) in enumerate(placed):
            if p not in by_part or off in by_part[p] or off < 0:
                self.bad("message %d: reported at partition %s offset %s: invalid or taken" %
                         (i, p, off))
                return None
            by_part[p][off] = i
        out = {}
        for p, offs in by_part.items():
            if sorted(offs) != list(range(len(offs))):
                self.bad("partition %d: offsets %s are not 0..%d" % (p, sorted(offs)[:10],
                                                                     len(offs) - 1))
                return None
            out[p] = [offs[o] for o in range(len(offs))]
            if out[p] != sorted(out[p]):
                self.bad("partition %d: offsets do not follow the order of production" % p)
        return out

    def consumed(self, what, sent, layout, got):
        """got: {partition: [(offset, key, value, headers)]} in the order received; each
        partition must hold exactly layout[partition], in order, byte for byte."""
        before = len(self.problems)
        for p, idxs in layout.items():
            recs = got.get(p, [])
            offs = [r[0] for r in recs]
            if offs != list(range(len(idxs))):
                self.bad("%s: partition %d: offsets %s... (%d), expected 0..%d in order" %
                         (what, p, offs[:10], len(offs), len(idxs) - 1))
                continue
            for (off, key, value, headers), i in zip(recs, idxs):
                k, v, h = sent[i]
                if key != k or value != v or list(headers) != h:
                    self.bad("%s: p%d@%d (message %d): got key %r value %r headers %r, "
                             "expected %r %r %r" % (what, p, off, i, key, (value or b"")[:40],
                                                     headers, k, (v or b"")[:40], h))
        n = sum(len(v) for v in got.values())
        if len(self.problems) == before:
            self.ok("%s: %d messages back, byte for byte, in order" % (what, n))


def deadline(seconds):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end
