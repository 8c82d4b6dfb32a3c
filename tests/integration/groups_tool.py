"""Checks for the consumer-group tests (run with /usr/bin/python3).

Consumers print one line per record, "PARTITION OFFSET PAYLOAD", each to its own file; the
payloads are the numbers 1..N, each produced once.

  groups_tool.py once N [--split] FILE...
      every payload 1..N appears exactly once across the files (no gap, no duplicate), and no
      (partition, offset) twice; with --split, every file holds records of at least one
      partition and no partition's records are in two files (one generation split them).
  groups_tool.py failover N KILLED FILE...
      every payload 1..N appears at least once across KILLED and the FILEs (none lost); a
      payload seen more than once must be one KILLED (the member killed before it could
      commit) printed: the survivors read each of their own records once.
  groups_tool.py describe HOST:PORT GROUP TOPIC PARTITIONS MEMBERS
      DescribeGroups: the group is Stable with MEMBERS members whose assignments (the
      ConsumerProtocol bytes the leader sent, relayed by the broker) give every partition of
      TOPIC to exactly one member, and each member at least one when MEMBERS <= PARTITIONS.
      Prints "CLIENT_ID MEMBER_ID: partitions" per member.
  groups_tool.py committed HOST:PORT GROUP TOPIC PARTITIONS
      OffsetFetch: prints "PARTITION OFFSET" per partition (-1: nothing committed).
  groups_tool.py ends HOST:PORT TOPIC PARTITIONS
      ListOffsets: prints "PARTITION END_OFFSET" per partition.

Prints one line per problem (at most 20) and exits 1 on any."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
import kwire as kw  # noqa: E402

problems = []


def bad(msg):
    problems.append(msg)


def done(summary=None):
    for p in problems[:20]:
        print("  " + p)
    if len(problems) > 20:
        print("  ... and %d more problems" % (len(problems) - 20))
    if summary:
        print("  " + summary)
    return 1 if problems else 0


def read(path):
    """[(partition, offset, payload)] of a consumer's output; a malformed line is a problem
    (a consumer killed mid-line may leave a partial last line: that one is dropped)."""
    out = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    last = lines.pop()  # "" when the file ends with a newline
    if last:
        print("  note: %s: partial last line %r dropped" % (os.path.basename(path), last[:40]))
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) != 3 or not all(f.lstrip(b"-").isdigit() for f in fields):
            bad("%s:%d: not 'PARTITION OFFSET PAYLOAD': %r" % (path, n, line[:80]))
            continue
        out.append(tuple(int(f) for f in fields))
    return out


def tally(n, files):
    """({payload: count}, {(partition, offset): count}), with payloads outside 1..n reported."""
    count, where = {}, {}
    for recs in files.values():
        for p, o, v in recs:
            if not 1 <= v <= n:
                bad("p%d@%d: payload %d was never produced" % (p, o, v))
            count[v] = count.get(v, 0) + 1
            where[(p, o)] = where.get((p, o), 0) + 1
    return count, where


def missing(n, count):
    gone = [v for v in range(1, n + 1) if v not in count]
    if gone:
        bad("%d of %d messages never consumed (first: %s)" % (len(gone), n, gone[:5]))


def describe_files(files):
    parts = []
    for path, recs in files.items():
        ps = sorted({p for p, _, _ in recs})
        parts.append("%s: %d records from partitions %s" % (os.path.basename(path), len(recs), ps))
    return "; ".join(parts)


def once(n, split, paths):
    files = {p: read(p) for p in paths}
    count, where = tally(n, files)
    missing(n, count)
    dups = sorted(v for v, c in count.items() if c > 1)
    if dups:
        bad("%d message(s) consumed more than once (first: %s)" % (len(dups), dups[:5]))
    twice = sorted(k for k, c in where.items() if c > 1)
    if twice:
        bad("%d (partition, offset) pairs printed twice (first: %s)" % (len(twice), twice[:5]))
    if split:
        owner = {}
        for path, recs in files.items():
            ps = {p for p, _, _ in recs}
            if not ps:
                bad("%s: consumed nothing: the member got no partition" % path)
            for p in ps:
                if p in owner:
                    bad("partition %d consumed by %s and %s" % (p, owner[p], path))
                owner[p] = path
    return done("%d messages, each consumed once: %s" % (n, describe_files(files)))


def failover(n, killed, paths):
    dead = read(killed)
    files = {p: read(p) for p in paths}
    files[killed] = dead
    count, _ = tally(n, files)
    missing(n, count)
    seen_dead = {v for _, _, v in dead}
    dups = sorted(v for v, c in count.items() if c > 1)
    stray = [v for v in dups if v not in seen_dead]
    if stray:
        bad("%d message(s) consumed twice that the killed member never had (first: %s)" %
            (len(stray), stray[:5]))
    return done("%d messages, none lost; %d read again after the kill, all of them ones the "
                "killed member had read (%d): %s" % (n, len(dups), len(dead),
                                                      describe_files(files)))


def describe(broker, group, topic, nparts, nmembers):
    c = kw.Conn(broker)
    r = kw.call(c, kw.describe_groups([group], version=0))
    c.close()
    if r is None:
        bad("DescribeGroups: connection closed")
        return done()
    g = kw.describe_groups_result(r, 0)[0]
    if g["err"] != 0 or g["state"] != "Stable":
        bad("group %s: error %d, state %s, expected 0 and Stable" % (group, g["err"], g["state"]))
    if len(g["members"]) != nmembers:
        bad("group %s: %d members, expected %d" % (group, len(g["members"]), nmembers))
    owner = {}
    for m in g["members"]:
        try:
            asg = kw.parse_assignment(m["assignment"])
        except Exception as e:  # struct.error on bytes that are not an assignment
            bad("member %s: undecodable assignment %r: %s" % (m["id"], m["assignment"][:40], e))
            continue
        ps = sorted(asg.get(topic, []))
        print("  %s %s: %s" % (m["client_id"], m["id"], ps))
        if not ps and nmembers <= nparts:
            bad("member %s was assigned no partition of %s" % (m["id"], topic))
        for p in ps:
            if p in owner:
                bad("partition %d assigned to %s and %s" % (p, owner[p], m["id"]))
            owner[p] = m["id"]
    if sorted(owner) != list(range(nparts)):
        bad("partitions assigned: %s, expected 0..%d" % (sorted(owner), nparts - 1))
    return done("group %s: %s, protocol %s, %d members, partitions 0..%d each assigned once" %
                (group, g["state"], g["protocol"], len(g["members"]), nparts - 1))


def committed(broker, group, topic, nparts):
    c = kw.Conn(broker)
    r = kw.call(c, kw.offset_fetch(group, {topic: list(range(nparts))}, version=1))
    c.close()
    if r is None:
        bad("OffsetFetch: connection closed")
        return done()
    _, res = kw.offset_fetch_result(r, 1)
    for p in range(nparts):
        off, _, err = res.get((topic, p), (None, None, None))
        if err != 0:
            bad("OffsetFetch %s/%d: error %s" % (topic, p, err))
        print("%d %s" % (p, off))
    return done()


def ends(broker, topic, nparts):
    c = kw.Conn(broker)
    r = kw.call(c, kw.list_offsets(topic, list(range(nparts))))
    c.close()
    if r is None:
        bad("ListOffsets: connection closed")
        return done()
    res = kw.list_offsets_result(r)
    for p in range(nparts):
        err, off = res.get(p, (None, None))
        if err != 0:
            bad("ListOffsets %s/%d: error %s" % (topic, p, err))
        print("%d %s" % (p, off))
    return done()


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "once":
        split = a[2] == "--split"
        return once(int(a[1]), split, a[3:] if split else a[2:])
    if len(a) >= 3 and a[0] == "failover":
        return failover(int(a[1]), a[2], a[3:])
    if len(a) == 6 and a[0] == "describe":
        return describe(a[1], a[2], a[3], int(a[4]), int(a[5]))
    if len(a) == 5 and a[0] == "committed":
        return committed(a[1], a[2], a[3], int(a[4]))
    if len(a) == 4 and a[0] == "ends":
        return ends(a[1], a[2], int(a[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
