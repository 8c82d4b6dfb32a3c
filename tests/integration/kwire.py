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
