"""The group APIs over the raw protocol (kwire.py), against a broker that groups_wire.sh starts
with group.initial.rebalance.delay.ms=100, group.max.size=3 and the default session timeout
bounds (6000 to 1800000 ms): every answer must carry the error code Kafka gives
(kafka-protocol.md sections 4, 8 and 9), held JoinGroup and SyncGroup answers must come when
the group is complete, and a malformed frame closes only its own connection.
Usage: groups_wire.py HOST:PORT [park] (park: see park() below). Exits 1 with the failed
checks listed."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
import kwire as kw  # noqa: E402

broker = sys.argv[1]
failures = []
TOPIC = "gw"  # 3 partitions, created below
G = "gw-group"


def check(cond, what):
    print(("  ok: " if cond else "  FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def conn():
    return kw.Conn(broker, timeout=15)


def join(c, group, member="", version=5, **kv):
    r = kw.call(c, kw.join_group(group, member, version=version, **kv))
    return kw.join_result(r, version) if r is not None else None


def new_member(c, group, version=5, **kv):
    """JoinGroup v4+ the way librdkafka does it: "" -> 79 with an id -> join with the id
    (held until the group's rebalance completes). Returns the second answer."""
    first = join(c, group, version=version, **kv)
    if first is None or first["err"] != 79 or not first["member"]:
        check(False, "%s: JoinGroup v%d with no member id -> 79 and an id (got %s)" %
              (group, version, first))
        return None
    return join(c, group, first["member"], version=version, **kv)


def sync(c, group, gen, member, assignments=(), version=3):
    r = kw.call(c, kw.sync_group(group, gen, member, assignments, version=version))
    return kw.sync_result(r, version) if r is not None else (None, None)


def heartbeat(c, group, gen, member, version=3):
    r = kw.call(c, kw.heartbeat(group, gen, member, version=version))
    return kw.simple_error(r, version) if r is not None else None


def commit(c, group, gen, member, offsets, version=2):
    r = kw.call(c, kw.offset_commit(group, gen, member, offsets, version=version))
    return kw.offset_commit_result(r, version) if r is not None else None


def fetch_offsets(c, group, topics, version=1):
    r = kw.call(c, kw.offset_fetch(group, topics, version=version))
    return kw.offset_fetch_result(r, version) if r is not None else (None, None)


def norm(res):
    """An OffsetFetch result with null metadata and "" alike (Kafka stores null as "")."""
    return {k: (o, m or None, e) for k, (o, m, e) in (res or {}).items()}


def describe(c, groups, version=0):
    r = kw.call(c, kw.describe_groups(groups, version=version))
    return {g["group"]: g for g in kw.describe_groups_result(r, version)} if r else {}


SUB = kw.subscription([TOPIC])


def park():
    """groups_wire.py HOST:PORT park: leave a JoinGroup held (a second member joins a stable
    group whose first member does not rejoin), say "parked", and expect the broker, stopping,
    to answer it COORDINATOR_NOT_AVAILABLE (15) so the client looks for the coordinator again."""
    a, b = conn(), conn()
    r = new_member(a, "gw-park", protocols=(("range", SUB),))
    if r is None or r["err"] != 0:
        check(False, "gw-park: first member joined: %s" % r)
        return
    sync(a, "gw-park", r["generation"], r["member"], [(r["member"], b"")])
    first = join(b, "gw-park", protocols=(("range", SUB),))
    b.send(kw.join_group("gw-park", first["member"], protocols=(("range", SUB),)))
    check(heartbeat(a, "gw-park", r["generation"], r["member"]) == 27,
          "a JoinGroup is held (the first member's heartbeat -> 27)")
    print("parked", flush=True)
    held = b.recv_frame()
    held = kw.join_result(held, 5) if held is not None else None
    check(held is not None and held["err"] == 15,
          "the broker, stopping, answers the held JoinGroup with 15: %s" %
          str(held and held["err"]))


if sys.argv[2:] == ["park"]:
    park()
    sys.exit(1 if failures else 0)

a = conn()
# The topic the commits name (Metadata auto-creates it).
check(kw.call(a, kw.metadata([TOPIC])) is not None, "Metadata creates %s" % TOPIC)

# --- JoinGroup: bad arguments ---------------------------------------------------------------
for v, ms in ((5, 5999), (0, 100), (2, 1800001)):
    r = join(a, "gw-bad", version=v, session=ms, protocols=(("range", SUB),))
    check(r is not None and r["err"] == 26 and r["generation"] == -1,
          "JoinGroup v%d with session timeout %d ms (outside 6000..1800000) -> 26: %s" %
          (v, ms, r and r["err"]))
r = join(a, "", protocols=(("range", SUB),))
check(r is not None and r["err"] == 24, "JoinGroup with group id '' -> 24 (got %s)" %
      (r and r["err"]))
r = join(a, "gw-bad", member="no-such-member", protocols=(("range", SUB),))
check(r is not None and r["err"] == 25,
      "JoinGroup with an unknown member id -> 25 (got %s)" % (r and r["err"]))
r = join(a, "gw-bad", protocols=())
check(r is not None and r["err"] == 23, "JoinGroup with no protocols -> 23 (got %s)" %
      (r and r["err"]))
r = join(a, "gw-bad", ptype="", protocols=(("range", SUB),))
check(r is not None and r["err"] == 23, "JoinGroup with protocol type '' -> 23 (got %s)" %
      (r and r["err"]))
err, _ = sync(a, "", 1, "x")
check(err == 24, "SyncGroup with group id '' -> 24 (got %s)" % err)
check(heartbeat(a, "", 1, "x") == 24, "Heartbeat with group id '' -> 24")
r = kw.call(a, kw.leave_group("", "x"))
check(r is not None and kw.simple_error(r, 1) == 24, "LeaveGroup with group id '' -> 24 (got %s)"
      % (r and kw.simple_error(r, 1)))

# --- One member: 79, then generation 1 ------------------------------------------------------
first = join(a, G, protocols=(("range", SUB), ("roundrobin", SUB)))
check(first is not None and first["err"] == 79 and first["member"].startswith("kwire-") and
      first["generation"] == -1,
      "JoinGroup v5 with no member id -> 79 with a member id 'kwire-...': %s" %
      str(first and (first["err"], first["member"])))
A = first["member"]
r = join(a, G, A, protocols=(("range", SUB), ("roundrobin", SUB)))
ok = r is not None and r["err"] == 0 and r["generation"] >= 1 and r["leader"] == A
check(ok and r["member"] == A and r["protocol"] == "range" and r["members"] == [(A, SUB)],
      "JoinGroup v5 with that id -> generation %s, leader itself, protocol %s, members %s" %
      (r and r["generation"], r and r["protocol"], r and [m[0] for m in r["members"]]))
gen1 = r["generation"] if r else 1

# A newcomer whose protocol type or protocols the group does not share: 23.
x = conn()
r = join(x, G, ptype="connect", protocols=(("range", SUB),))
check(r is not None and r["err"] == 23, "JoinGroup with another protocol type -> 23 (got %s)" %
      (r and r["err"]))
r = join(x, G, protocols=(("sticky", SUB),))
check(r is not None and r["err"] == 23,
      "JoinGroup with no protocol in common with the group -> 23 (got %s)" % (r and r["err"]))
x.close()
# JoinGroup v0 (kafka-python would use v2) with a member of the other group: 25.
r = join(a, G, "kwire-unknown", version=0, protocols=(("range", SUB),))
check(r is not None and r["err"] == 25, "JoinGroup v0 with an unknown member id -> 25")

# --- SyncGroup and Heartbeat ----------------------------------------------------------------
err, _ = sync(a, G, gen1, "kwire-unknown")
check(err == 25, "SyncGroup with an unknown member -> 25 (got %s)" % err)
err, _ = sync(a, G, gen1 + 1, A)
check(err == 22, "SyncGroup with generation %d (current %d) -> 22 (got %s)" %
      (gen1 + 1, gen1, err))
err, _ = sync(a, "gw-none", gen1, A)
check(err == 25, "SyncGroup for a group that does not exist -> 25 (got %s)" % err)
mine = kw.assignment({TOPIC: [0, 1, 2]})
err, got = sync(a, G, gen1, A, [(A, mine)])
check(err == 0 and got == mine, "SyncGroup from the leader -> 0 and its assignment back")
check(heartbeat(a, G, gen1, A) == 0, "Heartbeat -> 0")
check(heartbeat(a, G, gen1, "kwire-unknown") == 25, "Heartbeat with an unknown member -> 25")
check(heartbeat(a, G, gen1 - 1, A) == 22, "Heartbeat with generation %d -> 22" % (gen1 - 1))
check(heartbeat(a, G, gen1, A, version=0) == 0, "Heartbeat v0 -> 0")

# --- OffsetCommit and OffsetFetch -----------------------------------------------------------
res = commit(a, G, gen1 + 5, A, {TOPIC: [(0, 10, "m")]})
check(res == {(TOPIC, 0): 22}, "OffsetCommit with generation %d -> 22: %s" % (gen1 + 5, res))
res = commit(a, G, gen1, "kwire-unknown", {TOPIC: [(0, 10, "m")]})
check(res == {(TOPIC, 0): 25}, "OffsetCommit from an unknown member -> 25: %s" % res)
res = commit(a, G, gen1, A, {"no-such-topic": [(0, 10, "m")], TOPIC: [(7, 10, "m")]})
check(res == {("no-such-topic", 0): 3, (TOPIC, 7): 3},
      "OffsetCommit to an unknown topic and partition -> 3 each: %s" % res)
res = commit(a, G, -1, "", {TOPIC: [(0, 10, "m")]})
check(res == {(TOPIC, 0): 25},
      "OffsetCommit without member or generation to a group with members -> 25: %s" % res)
res = commit(a, G, gen1, A, {TOPIC: [(0, 10, "m" * 4097)]})
check(res == {(TOPIC, 0): 12},
      "OffsetCommit with metadata over offset.metadata.max.bytes -> 12: %s" % res)
for v in (2, 5, 7):
    res = commit(a, G, gen1, A, {TOPIC: [(0, 40 + v, "meta-%d" % v), (1, 7, None)]}, version=v)
    check(res == {(TOPIC, 0): 0, (TOPIC, 1): 0}, "OffsetCommit v%d -> 0: %s" % (v, res))
for v in (1, 2, 5):
    top, res = fetch_offsets(a, G, {TOPIC: [0, 1, 2]}, version=v)
    want = {(TOPIC, 0): (47, "meta-7", 0), (TOPIC, 1): (7, None, 0), (TOPIC, 2): (-1, None, 0)}
    check(top == 0 and norm(res) == want,
          "OffsetFetch v%d: the committed offsets, and -1 with error 0 for partition 2: %s" %
          (v, res))
top, res = fetch_offsets(a, G, None, version=2)
check(top == 0 and sorted(res or {}) == [(TOPIC, 0), (TOPIC, 1)],
      "OffsetFetch v2 with null topics -> every committed offset: %s" % res)
top, res = fetch_offsets(a, G, {"no-such-topic": [0]}, version=2)
check(top == 0 and norm(res) == {("no-such-topic", 0): (-1, None, 0)},
      "OffsetFetch for a topic that does not exist -> -1, error 0: %s" % res)
top, res = fetch_offsets(a, "gw-nothing", {TOPIC: [0]}, version=3)
check(top == 0 and norm(res) == {(TOPIC, 0): (-1, None, 0)},
      "OffsetFetch for a group that never committed -> -1, error 0: %s" % res)
# A simple (generation -1) commit to a group nobody is in.
res = commit(a, "gw-simple", -1, "", {TOPIC: [(2, 99, "")]})
check(res == {(TOPIC, 2): 0}, "OffsetCommit without a group membership to an empty group -> 0")
_, res = fetch_offsets(a, "gw-simple", {TOPIC: [2]})
check(res is not None and res[(TOPIC, 2)][0] == 99, "... and OffsetFetch reads it back: %s" % res)

# --- A second member: the first learns of the rebalance by its heartbeat (27) ---------------
b = conn()
first_b = join(b, G, protocols=(("roundrobin", SUB), ("range", SUB)))
check(first_b is not None and first_b["err"] == 79, "member B: JoinGroup -> 79")
B = first_b["member"]
b.send(kw.join_group(G, B, protocols=(("roundrobin", SUB), ("range", SUB)), corr=7))
# B's join is held until A rejoins; A's heartbeat says so.
check(heartbeat(a, G, gen1, A) == 27, "Heartbeat while a rebalance is pending -> 27")
state = describe(a, [G]).get(G, {}).get("state")
check(state == "PreparingRebalance", "DescribeGroups meanwhile -> PreparingRebalance: %s" % state)
err, _ = sync(a, G, gen1, A, [(A, mine)])
check(err == 27, "SyncGroup while a rebalance is pending -> 27 (got %s)" % err)
res = commit(a, G, gen1, A, {TOPIC: [(0, 50, "")]})
check(res == {(TOPIC, 0): 0},
      "OffsetCommit by a member of the current generation during the rebalance -> 0: %s" % res)
ra = join(a, G, A, protocols=(("range", SUB), ("roundrobin", SUB)))
rb = b.recv_frame()
rb = kw.join_result(rb, 5) if rb is not None else None
ok = ra is not None and rb is not None and ra["err"] == 0 and rb["err"] == 0
gen2 = ra["generation"] if ok else gen1 + 1
check(ok and gen2 == gen1 + 1 and rb["generation"] == gen2,
      "A rejoins: both joins answered, generation %d -> %s" % (gen1, gen2))
check(ok and ra["leader"] == A and rb["leader"] == A,
      "the leader stays A (a member of the last generation)")
check(ok and ra["protocol"] == rb["protocol"] and ra["protocol"] in ("range", "roundrobin"),
      "one protocol both support: %s" % (ra and ra["protocol"]))
check(ok and sorted(m[0] for m in ra["members"]) == sorted([A, B]) and rb["members"] == [],
      "the leader gets both members' metadata, the follower none")
check(heartbeat(a, G, gen1, A) == 22, "Heartbeat with the previous generation -> 22")
# Awaiting the leader's assignment, the new generation's heartbeats are answered 0 (Kafka
# resets the session then; librdkafka heartbeats as soon as it has joined).
check(heartbeat(a, G, gen2, A) == 0,
      "Heartbeat with the new generation before the leader's SyncGroup -> 0")
state = describe(a, [G]).get(G, {}).get("state")
check(state == "CompletingRebalance",
      "DescribeGroups before the leader's SyncGroup -> CompletingRebalance: %s" % state)
# The follower's SyncGroup is held until the leader's.
b.send(kw.sync_group(G, gen2, B, corr=8))
res = commit(a, G, gen2, A, {TOPIC: [(0, 52, "")]})
check(res == {(TOPIC, 0): 27},
      "OffsetCommit while the generation awaits the leader's assignment -> 27: %s" % res)
asg_a, asg_b = kw.assignment({TOPIC: [0, 1]}), kw.assignment({TOPIC: [2]})
err, got = sync(a, G, gen2, A, [(A, asg_a), (B, asg_b)])
check(err == 0 and got == asg_a, "leader's SyncGroup -> 0 and its own assignment")
rb = b.recv_frame()
err, got = kw.sync_result(rb, 3) if rb is not None else (None, None)
check(err == 0 and got == asg_b, "the follower's held SyncGroup -> 0 and its assignment")
check(heartbeat(b, G, gen2, B) == 0 and heartbeat(a, G, gen2, A) == 0,
      "both heartbeat with generation %d -> 0" % gen2)
res = commit(a, G, gen1, A, {TOPIC: [(0, 51, "")]})
check(res == {(TOPIC, 0): 22}, "OffsetCommit with the previous generation -> 22: %s" % res)

# --- ListGroups, DescribeGroups, DeleteGroups -----------------------------------------------
for v in (0, 1, 2):
    r = kw.call(a, kw.list_groups(version=v))
    err, groups = kw.list_groups_result(r, v) if r is not None else (None, {})
    check(err == 0 and groups.get(G) == "consumer",
          "ListGroups v%d -> 0, lists %s (protocol type consumer): %s" % (v, G, groups))
for v in (0, 3, 4):
    d = describe(a, [G, "gw-unknown"], version=v)
    g, u = d.get(G), d.get("gw-unknown")
    ok = g is not None and g["err"] == 0 and g["state"] == "Stable"
    check(ok and g["protocol_type"] == "consumer" and g["protocol"] == ra["protocol"],
          "DescribeGroups v%d: %s is Stable with protocol %s" % (v, G, g and g["protocol"]))
    members = {m["id"]: m for m in (g["members"] if g else [])}
    check(sorted(members) == sorted([A, B]) and members[A]["client_id"] == "kwire" and
          members[A]["client_host"] == "/127.0.0.1" and members[A]["metadata"] == SUB and
          members[A]["assignment"] == asg_a and members[B]["assignment"] == asg_b,
          "... its two members with client id, host, metadata and assignments")
    check(u is not None and u["err"] == 0 and u["state"] == "Dead" and u["members"] == [],
          "DescribeGroups v%d: an unknown group -> Dead, error 0, no members: %s" %
          (v, str(u and (u["err"], u["state"]))))
r = kw.call(a, kw.delete_groups([G, "gw-unknown"]))
res = kw.delete_groups_result(r) if r is not None else None
check(res == {G: 68, "gw-unknown": 69},
      "DeleteGroups: a group with members -> 68, an unknown one -> 69: %s" % res)

# --- A held JoinGroup whose connection goes away, leaving, then deleting ----------------------
c = conn()
# Its session timeout is the shortest allowed: a member whose held join was withdrawn may stay
# in the group until it expires.
first_c = join(c, G, session=6000, rebalance=6000)
C = first_c["member"] if first_c else ""
c.send(kw.join_group(G, C, session=6000, rebalance=6000, protocols=(("range", SUB),)))
check(heartbeat(a, G, gen2, A) == 27, "member C joins: A's heartbeat -> 27")
c.close()  # C's held join is withdrawn; the rebalance goes on without it
rb = None
b.send(kw.join_group(G, B, protocols=(("range", SUB),), corr=9))
ra = join(a, G, A, protocols=(("range", SUB),))
rb = b.recv_frame()
rb = kw.join_result(rb, 5) if rb is not None else None
ok = ra is not None and rb is not None and ra["err"] == 0 and rb["err"] == 0
ids = sorted(m[0] for m in ra["members"]) if ok else None
check(ok and ra["generation"] == gen2 + 1,
      "A and B rejoin: generation %s (C's connection closed while its join was held)" %
      (ra and ra["generation"]))
# C may or may not be in the generation (its join was withdrawn but it is a member until its
# session times out); a member that is not must not be listed.
check(ids is not None and A in ids and B in ids, "... members %s" % ids)
r = kw.call(b, kw.leave_group(G, [B, "kwire-unknown"], version=3))
res = kw.leave_result(r, 3) if r is not None else None
check(res == (0, {B: 0, "kwire-unknown": 25}),
      "LeaveGroup v3 for a member and an unknown one -> 0, with 0 and 25 per member: %s" %
      str(res))
r = kw.call(a, kw.leave_group(G, A, version=1))
check(r is not None and kw.simple_error(r, 1) == 0, "LeaveGroup v1 -> 0")
r = kw.call(a, kw.leave_group(G, A, version=1))
check(r is not None and kw.simple_error(r, 1) == 25, "LeaveGroup again -> 25")
if C in (ids or []):
    kw.call(a, kw.leave_group(G, C, version=0))
d = describe(a, [G])
check(G in d and d[G]["state"] == "Empty" and d[G]["members"] == [],
      "DescribeGroups after everyone left -> Empty: %s" % (d.get(G) or {}).get("state"))
r = kw.call(a, kw.delete_groups([G], version=1))
check(r is not None and kw.delete_groups_result(r) == {G: 0}, "DeleteGroups an empty group -> 0")
_, res = fetch_offsets(a, G, {TOPIC: [0, 1]})
check(res is not None and all(v[0] == -1 and v[2] == 0 for v in res.values()),
      "OffsetFetch after DeleteGroups -> -1 (its offsets went with it): %s" % res)
d = describe(a, [G])
check(G in d and d[G]["state"] == "Dead", "DescribeGroups after DeleteGroups -> Dead")
r = kw.call(a, kw.delete_groups(["gw-simple"]))
check(r is not None and kw.delete_groups_result(r) == {"gw-simple": 0},
      "DeleteGroups a group that only has committed offsets -> 0")
r = kw.call(a, kw.list_groups())
err, groups = kw.list_groups_result(r) if r is not None else (None, {})
check(err == 0 and G not in groups and "gw-simple" not in groups,
      "ListGroups no longer lists the deleted groups: %s" % groups)

# --- A member that does not rejoin within its rebalance timeout is dropped -----------------
r = new_member(a, "gw-lag", session=6000, rebalance=500, protocols=(("range", SUB),))
lag = r["member"] if r else ""
if r is not None:
    sync(a, "gw-lag", r["generation"], lag, [(lag, b"")])
first = join(b, "gw-lag", protocols=(("range", SUB),))
rb = join(b, "gw-lag", first["member"] if first else "", protocols=(("range", SUB),))
ok = rb is not None and rb["err"] == 0 and r is not None
check(ok and rb["generation"] == r["generation"] + 1 and rb["leader"] == rb["member"] and
      [m[0] for m in rb["members"]] == [rb["member"]],
      "a newcomer's join completes without the member that did not rejoin in its 500 ms "
      "rebalance timeout: generation %s, members %s" %
      (rb and rb["generation"], rb and [m[0] for m in rb["members"]]))
check(heartbeat(a, "gw-lag", rb["generation"] if rb else 0, lag) == 25,
      "the dropped member's heartbeat -> 25")

# --- A leader that dies before its SyncGroup: the follower's held SyncGroup gets 27 ----------
# (when the leader's session, 6 s, runs out: a held request is never left hanging)
c = conn()
ra, rc = new_member(a, "gw-dead", session=6000), None
if ra is not None and ra["err"] == 0:
    first = join(c, "gw-dead", session=6000)
    c.send(kw.join_group("gw-dead", first["member"], session=6000, corr=60))
    ra = join(a, "gw-dead", ra["member"], session=6000)  # A heard of the rebalance, rejoins
    rc = kw.join_result(c.recv_frame(), 5)
ok = ra is not None and rc is not None and ra["err"] == 0 and rc["err"] == 0
if check(ok and ra["leader"] == ra["member"] != rc["member"],
         "gw-dead: a generation of two, the first member leading: %s" %
         str(ok and (ra["generation"], rc["generation"]))):
    # The leader (on connection a) goes quiet; the follower's sync is held until it expires.
    err, _ = sync(c, "gw-dead", rc["generation"], rc["member"])
    check(err == 27, "the follower's held SyncGroup -> 27 once the silent leader expires "
          "(got %s)" % err)
    r = join(c, "gw-dead", rc["member"], session=6000)
    check(r is not None and r["err"] == 0 and r["leader"] == rc["member"] and
          r["generation"] == rc["generation"] + 1,
          "the follower rejoins alone and leads generation %s" % (r and r["generation"]))
c.close()

# --- group.max.size (3 here): a fourth member is refused with 81 ----------------------------
full = [conn() for _ in range(4)]
ids = []
for i, fc in enumerate(full):
    r = join(fc, "gw-max")
    if i < 3:
        check(r is not None and r["err"] == 79, "gw-max member %d: JoinGroup -> 79" % (i + 1))
        ids.append(r["member"] if r else "")
        fc.send(kw.join_group("gw-max", ids[-1], protocols=(("range", SUB),), corr=50 + i))
    else:
        check(r is not None and r["err"] == 81,
              "a fourth member of gw-max (group.max.size 3) -> 81 (got %s)" % (r and r["err"]))
answers = [kw.join_result(fc.recv_frame(), 5) for fc in full[:3]]
check(all(x["err"] == 0 and x["generation"] == answers[0]["generation"] for x in answers),
      "... while the three are answered in one generation: %s" % [x["err"] for x in answers])
for fc in full:
    fc.close()

# --- Malformed frames -------------------------------------------------------------------------
good = kw.join_group("gw-trunc", protocols=(("range", SUB),))
for cut in (12, 20, 26, len(good) - 3):
    t = conn()
    # A whole frame whose body stops short of the fields JoinGroup needs.
    body = good[4:cut]
    t.send(struct.pack(">i", len(body)) + body)
    check(t.closed_by_peer(), "JoinGroup cut to %d bytes -> connection closed" % cut)
    t.close()
t = conn()
t.send(kw.frame(11, 5, kw.string("gw-trunc") + struct.pack(">iii", 10000, 10000, 0x7FFF0000)))
check(t.closed_by_peer(), "JoinGroup with a member id longer than the frame -> closed")
t.close()
t = conn()
t.send(kw.frame(8, 2, kw.string(G) + struct.pack(">i", 1) + kw.string("m") +
                struct.pack(">qi", -1, 0x7FFFFFFF)))
check(t.closed_by_peer(), "OffsetCommit claiming 2^31-1 topics -> closed")
t.close()
t = conn()
t.send(kw.frame(9, 1, kw.string(G) + struct.pack(">i", 1) + kw.string(TOPIC) +
                struct.pack(">i", -7)))
check(t.closed_by_peer(), "OffsetFetch with -7 partitions -> closed")
t.close()
t = conn()
t.send(kw.frame(14, 3, kw.string(G) + struct.pack(">i", 1) + kw.string("m") + kw.string(None) +
                struct.pack(">i", 0x7FFFFFFF)))
check(t.closed_by_peer(), "SyncGroup claiming 2^31-1 assignments -> closed")
t.close()
# A frame that never arrives whole ties up only its own connection.
t = conn()
t.send(good[:len(good) - 5])
check(heartbeat(a, "gw-none", 1, "x") == 25, "another connection is still served")
first = join(a, "gw-after")
check(first is not None and first["err"] == 79, "... and can join a group")
t.close()
a.close()
b.close()

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
