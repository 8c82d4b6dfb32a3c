"""A tiny Kafka wire client for the broker's tests: builds request frames by hand (so a test
can send exactly the malformed bytes it wants), sends them over a plain socket and reads
response frames. Not a client library: just enough to poke the broker."""
import socket
import struct
import time


def crc32c(data):
    poly = 0x82F63B78
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def varint(v):
    v = (v << 1) ^ (v >> 63)
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
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(s)) + s


def nbytes(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def array(items):
    if items is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(items)) + b"".join(items)


def batch(records, ts=1700000000000, good_crc=True, base_offset=0):
    """A magic-2 record batch of (key, value) byte pairs."""
    body = b""
    for i, (k, v) in enumerate(records):
        rec = (bytes([0]) + varint(0) + varint(i) + varint(len(k)) + k + varint(len(v)) + v +
               varint(0))
        body += varint(len(rec)) + rec
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, ts, ts, -1, -1, -1,
                            len(records)) + body
    crc = crc32c(after_crc) if good_crc else (crc32c(after_crc) ^ 1)
    rest = struct.pack(">ibI", 0, 2, crc) + after_crc
    return struct.pack(">qi", base_offset, len(rest)) + rest


def frame(key, version, body, corr=1, client="kwire"):
    payload = struct.pack(">hhi", key, version, corr) + string(client) + body
    return struct.pack(">i", len(payload)) + payload


def produce(topic, part, batch_bytes, acks=1, version=7, corr=1):
    body = (string(None) + struct.pack(">hi", acks, 5000) +
            array([string(topic) + array([struct.pack(">i", part) + nbytes(batch_bytes)])]))
    return frame(0, version, body, corr)


def fetch(topic, part, offset, max_wait=500, min_bytes=1, max_bytes=1 << 20, corr=1):
    """Fetch v11 for one partition."""
    body = struct.pack(">iiiibii", -1, max_wait, min_bytes, max_bytes, 0, 0, -1)
    p = struct.pack(">iiqqi", part, -1, offset, -1, max_bytes)
    body += array([string(topic) + array([p])]) + array([]) + string("")
    return frame(1, 11, body, corr)


def fetch_result(payload):
    """(error, hwm, records bytes) of the first partition of a Fetch v11 response."""
    off = 4 + 4 + 2 + 4  # correlation id, throttle, error, session id
    off += 4  # topics
    (ln,) = struct.unpack_from(">h", payload, off)
    off += 2 + ln + 4  # name, partition count
    part, err, hwm, _lso, _start = struct.unpack_from(">ihqqq", payload, off)
    off += 4 + 2 + 8 + 8 + 8
    (naborted,) = struct.unpack_from(">i", payload, off)
    off += 4 + max(naborted, 0) * 16 + 4  # aborted, preferred read replica
    (nrec,) = struct.unpack_from(">i", payload, off)
    off += 4
    return err, hwm, payload[off:off + max(nrec, 0)]


def metadata(topics, version=4, allow=True, corr=1):
    body = array(None if topics is None else [string(t) for t in topics])
    if version >= 4:
        body += struct.pack(">?", allow)
    return frame(3, version, body, corr)


class Conn:
    def __init__(self, broker, timeout=10):
        host, port = broker.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)

    def send(self, data):
        self.s.sendall(data)

    def recv_frame(self):
        """A response frame's payload, or None when the broker closed the connection."""
        hdr = self._read(4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">i", hdr)
        return self._read(n)

    def _read(self, n):
        out = b""
        while len(out) < n:
            try:
                chunk = self.s.recv(n - len(out))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            out += chunk
        return out

    def closed_by_peer(self, timeout=10):
        """True once the broker closes the connection (reads until EOF)."""
        self.s.settimeout(timeout)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        self.s.close()


def produce_errors(payload):
    """[(topic, partition, error, base_offset)] from a Produce v3-7 response payload."""
    off = 4  # correlation id
    out = []
    (nt,) = struct.unpack_from(">i", payload, off)
    off += 4
    for _ in range(nt):
        (ln,) = struct.unpack_from(">h", payload, off)
        topic = payload[off + 2:off + 2 + ln].decode()
        off += 2 + ln
        (np,) = struct.unpack_from(">i", payload, off)
        off += 4
        for _ in range(np):
            part, err, base, _append_time, _start = struct.unpack_from(">ihqqq", payload, off)
            off += 4 + 2 + 8 + 8 + 8
            out.append((topic, part, err, base))
    return out


# --- Consumer groups (non-flexible versions, kafka-protocol.md section 4) --------------------


class Reader:
    """Reads a response payload field by field (big-endian, Kafka's types)."""

    def __init__(self, payload, off=0):
        self.b, self.off = payload, off

    def _take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.b, self.off)
        self.off += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.b[self.off:self.off + n].decode()
        self.off += n
        return s

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        s = self.b[self.off:self.off + n]
        self.off += n
        return s

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item() for _ in range(n)]

    def left(self):
        return len(self.b) - self.off


def subscription(topics, userdata=b""):
    """ConsumerProtocol subscription metadata v0 (what JoinGroup's protocol metadata holds)."""
    return struct.pack(">h", 0) + array([string(t) for t in topics]) + nbytes(userdata)


def assignment(parts, userdata=b""):
    """ConsumerProtocol assignment v0: parts = {topic: [partition, ...]}."""
    return (struct.pack(">h", 0) +
            array([string(t) + array([struct.pack(">i", p) for p in ps])
                   for t, ps in sorted(parts.items())]) + nbytes(userdata))


def parse_assignment(data):
    """{topic: [partition]} from ConsumerProtocol assignment bytes (any version: the fields
    after the partitions are not read). Empty bytes (no assignment) give {}."""
    if not data:
        return {}
    r = Reader(data)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        out[t] = r.array(r.i32)
    return out


def join_group(group, member="", version=5, session=10000, rebalance=10000, ptype="consumer",
               protocols=(("range", b""),), corr=1):
    body = string(group) + struct.pack(">i", session)
    if version >= 1:
        body += struct.pack(">i", rebalance)
    body += string(member)
    if version >= 5:
        body += string(None)  # group instance id: no static membership
    body += string(ptype) + array([string(n) + nbytes(m) for n, m in protocols])
    return frame(11, version, body, corr)


def join_result(payload, version=5):
    """{err, generation, protocol, leader, member, members: [(id, metadata)]}."""
    r = Reader(payload, 4)
    if version >= 2:
        r.i32()
    out = {"err": r.i16(), "generation": r.i32(), "protocol": r.str(), "leader": r.str(),
           "member": r.str()}

    def member():
        mid = r.str()
        if version >= 5:
            r.str()
        return (mid, r.bytes())

    out["members"] = r.array(member)
    return out


def sync_group(group, generation, member, assignments=(), version=3, corr=1):
    """assignments: [(member id, assignment bytes)] (the leader's; followers send none)."""
    body = string(group) + struct.pack(">i", generation) + string(member)
    if version >= 3:
        body += string(None)
    body += array([string(m) + nbytes(a) for m, a in assignments])
    return frame(14, version, body, corr)


def sync_result(payload, version=3):
    """(err, assignment bytes)."""
    r = Reader(payload, 4)
    if version >= 1:
        r.i32()
    return r.i16(), r.bytes()


def heartbeat(group, generation, member, version=3, corr=1):
    body = string(group) + struct.pack(">i", generation) + string(member)
    if version >= 3:
        body += string(None)
    return frame(12, version, body, corr)


def leave_group(group, member, version=1, corr=1):
    """member: one id, or (v3) a list of ids to leave together."""
    if version >= 3:
        ids = [member] if isinstance(member, str) else member
        return frame(13, version, string(group) + array([string(m) + string(None) for m in ids]),
                     corr)
    return frame(13, version, string(group) + string(member), corr)


def leave_result(payload, version=3):
    """(err, {member: err}) of a LeaveGroup answer (the per-member errors from v3)."""
    r = Reader(payload, 8 if version >= 1 else 4)
    err, members = r.i16(), {}
    if version >= 3:
        for _ in range(r.i32()):
            m = r.str()
            r.str()
            members[m] = r.i16()
    return err, members


def simple_error(payload, version):
    """The error code of a Heartbeat or LeaveGroup response (throttle from v1)."""
    return struct.unpack_from(">h", payload, 8 if version >= 1 else 4)[0]


def offset_commit(group, generation, member, offsets, version=2, corr=1):
    """offsets = {topic: [(partition, offset, metadata)]}."""
    body = string(group) + struct.pack(">i", generation) + string(member)
    if version >= 7:
        body += string(None)
    if 2 <= version <= 4:
        body += struct.pack(">q", -1)  # retention: the broker's
    topics = []
    for t, parts in sorted(offsets.items()):
        ps = []
        for p, off, meta in parts:
            ps.append(struct.pack(">iq", p, off) + (struct.pack(">i", -1) if version >= 6 else b"")
                      + string(meta))
        topics.append(string(t) + array(ps))
    return frame(8, version, body + array(topics), corr)


def _by_partition(r, item):
    """Reads [str topic, [i32 partition, ...]]: {(topic, partition): item()}."""
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = item()
    return out


def offset_commit_result(payload, version=2):
    """{(topic, partition): err}."""
    r = Reader(payload, 8 if version >= 3 else 4)  # correlation id, throttle (v3+)
    return _by_partition(r, r.i16)


def offset_fetch(group, topics, version=1, corr=1):
    """topics = {topic: [partition]}, or None (v2+: every committed offset of the group)."""
    if topics is None:
        body = array(None)
    else:
        body = array([string(t) + array([struct.pack(">i", p) for p in ps])
                      for t, ps in sorted(topics.items())])
    return frame(9, version, string(group) + body, corr)


def offset_fetch_result(payload, version=1):
    """(group error (0 before v2), {(topic, partition): (offset, metadata, err)})."""
    r = Reader(payload, 8 if version >= 3 else 4)

    def item():
        off = r.i64()
        if version >= 5:
            r.i32()  # leader epoch
        meta = r.str()
        return (off, meta, r.i16())

    out = _by_partition(r, item)
    return (r.i16() if version >= 2 else 0), out


def list_groups(version=0, corr=1):
    return frame(16, version, b"", corr)


def list_groups_result(payload, version=0):
    """(err, {group: protocol type})."""
    r = Reader(payload, 4)
    if version >= 1:
        r.i32()
    err = r.i16()
    groups = {}
    for _ in range(r.i32()):
        g = r.str()
        groups[g] = r.str()
    return err, groups


def describe_groups(groups, version=0, corr=1):
    body = array([string(g) for g in groups])
    if version >= 3:
        body += struct.pack(">?", False)
    return frame(15, version, body, corr)


def describe_groups_result(payload, version=0):
    """[{err, group, state, protocol_type, protocol, members: [{id, client_id, client_host,
    metadata, assignment}]}]."""
    r = Reader(payload, 4)
    if version >= 1:
        r.i32()
    out = []
    for _ in range(r.i32()):
        g = {"err": r.i16(), "group": r.str(), "state": r.str(), "protocol_type": r.str(),
             "protocol": r.str(), "members": []}
        for _ in range(r.i32()):
            m = {"id": r.str()}
            if version >= 4:
                r.str()
            m.update(client_id=r.str(), client_host=r.str(), metadata=r.bytes(),
                     assignment=r.bytes())
            g["members"].append(m)
        if version >= 3:
            r.i32()
        out.append(g)
    return out


def delete_groups(groups, version=0, corr=1):
    return frame(42, version, array([string(g) for g in groups]), corr)


def delete_groups_result(payload):
    """{group: err} (v0 and v1 answer alike)."""
    r = Reader(payload, 8)  # correlation id, throttle
    out = {}
    for _ in range(r.i32()):
        g = r.str()
        out[g] = r.i16()
    return out


def list_offsets(topic, parts, ts=-1, corr=1):
    """ListOffsets v1 for partitions parts of topic at timestamp ts (-1: the end)."""
    body = struct.pack(">i", -1) + array([string(topic) + array(
        [struct.pack(">iq", p, ts) for p in parts])])
    return frame(2, 1, body, corr)


def list_offsets_result(payload):
    """{partition: (err, offset)} of a ListOffsets v1 answer for one topic."""
    r = Reader(payload, 4)

    def item():
        err = r.i16()
        r.i64()  # timestamp
        return err, r.i64()

    return {p: v for (_t, p), v in _by_partition(r, item).items()}


def call(conn, data):
    """Send one request, return its answer's payload (None when the broker closed)."""
    conn.send(data)
    return conn.recv_frame()
