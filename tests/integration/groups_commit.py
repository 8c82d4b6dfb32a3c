"""A confluent-kafka group member with explicit commits, for groups_restart.sh.

  groups_commit.py consume HOST:PORT GROUP TOPIC PARTS COUNT OUT [--hold]
      subscribe, read COUNT records, commit synchronously, and write the acknowledged
      committed offset of every partition ("PARTITION OFFSET", -1 where nothing was) to OUT
      (renamed into place, so OUT appears whole). Then close (commit nothing more, leave the
      group); with --hold, stay in the group, heartbeating, until killed.
  groups_commit.py resume HOST:PORT GROUP TOPIC PARTS COMMITTED ENDS
      subscribe and read to the end of every partition: the first record read from each must
      be at its COMMITTED offset (0 where none was: auto.offset.reset=earliest), and every
      record from there to the partition's end (ENDS) read once, in order. Commits, closes.
  groups_commit.py flood HOST:PORT GROUP TOPIC OUT
      subscribe and commit after every record, synchronously, appending "PARTITION OFFSET"
      to OUT (flushed) once each commit is acknowledged; until killed (at most 120 s).

Every wait is bounded. Exits 1 with the reasons on failure."""
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError

CONF = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "enable.partition.eof": True, "api.version.request.timeout.ms": 30000}


def fail(msg):
    print("groups_commit.py: FAIL: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def consumer(broker, group, topic):
    errors = []
    c = Consumer(dict(CONF, **{"bootstrap.servers": broker, "group.id": group,
                               "error_cb": lambda e: errors.append(str(e))}))
    c.subscribe([topic])
    return c, errors


def records(c, seconds):
    """Records (and EOF events) from c, until seconds pass."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error() and m.error().code() != KafkaError._PARTITION_EOF:
            fail("consume: %s" % m.error())
        yield m
    fail("timed out after %d s" % seconds)


def read_offsets(path):
    with open(path) as f:
        return {int(p): int(o) for p, o in (line.split() for line in f if line.strip())}


def consume(broker, group, topic, nparts, count, out, hold):
    c, errors = consumer(broker, group, topic)
    n = 0
    for m in records(c, 60):
        if not m.error():
            n += 1
            if n == count:
                break
    done = c.commit(asynchronous=False)  # raises KafkaException if the commit failed
    # librdkafka reports partitions it had nothing to commit for as OFFSET_INVALID (-1001).
    got = {tp.partition: tp.offset for tp in done if tp.topic == topic and tp.offset >= 0}
    for tp in done:
        if tp.error:
            fail("commit of %s [%d]: %s" % (tp.topic, tp.partition, tp.error))
    with open(out + ".tmp", "w") as f:
        for p in range(nparts):
            f.write("%d %d\n" % (p, got.get(p, -1)))
    os.rename(out + ".tmp", out)
    print("  committed after %d records: %s" % (count, sorted(got.items())), flush=True)
    if hold:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            c.poll(0.2)  # keeps the membership alive until the test kills us
        fail("not killed in 120 s")
    c.close()
    if errors:
        fail("client errors: %s" % errors)


def resume(broker, group, topic, nparts, committed_path, ends_path):
    committed, ends = read_offsets(committed_path), read_offsets(ends_path)
    c, _ = consumer(broker, group, topic)
    got = {p: [] for p in range(nparts)}
    eof = set()
    for m in records(c, 60):
        p = m.partition()
        if m.error():  # end of partition
            if m.offset() >= ends[p]:
                eof.add(p)
            if len(eof) == nparts:
                break
            continue
        got[p].append(m.offset())
    problems = []
    for p in range(nparts):
        start = max(committed[p], 0)
        want = list(range(start, ends[p]))
        if got[p][:1] != want[:1]:
            problems.append("partition %d: first record read at offset %s, committed %d" %
                            (p, got[p][:1] or None, committed[p]))
        elif got[p] != want:
            problems.append("partition %d: read %d records %s..., expected offsets %d..%d" %
                            (p, len(got[p]), got[p][:5], start, ends[p] - 1))
    c.commit(asynchronous=False)
    c.close()
    if problems:
        fail("; ".join(problems))
    print("  resumed at the committed offsets %s and read on to the ends %s" %
          ([committed[p] for p in range(nparts)], [ends[p] for p in range(nparts)]), flush=True)


def flood(broker, group, topic, out):
    c, _ = consumer(broker, group, topic)
    with open(out, "a") as f:
        for m in records(c, 120):
            if m.error():
                continue
            c.commit(message=m, asynchronous=False)
            f.write("%d %d\n" % (m.partition(), m.offset() + 1))
            f.flush()


def main():
    a = sys.argv[1:]
    if len(a) in (7, 8) and a[0] == "consume":
        consume(a[1], a[2], a[3], int(a[4]), int(a[5]), a[6], a[7:] == ["--hold"])
    elif len(a) == 7 and a[0] == "resume":
        resume(a[1], a[2], a[3], int(a[4]), a[5], a[6])
    elif len(a) == 5 and a[0] == "flood":
        flood(a[1], a[2], a[3], a[4])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
