"""A cold read does not stall the loop (cold_read.sh runs the broker with one worker thread,
so every connection shares one event loop, and with ZCQ_TEST_WARM_DELAY_MS=2000, so bringing
a cold range in takes at least two seconds).

  1. topic "cold" gets 8 MiB, synced and dropped from the page cache;
  2. connection A fetches it from offset 0: the broker finds the range cold and hands it to the
     read pool (its debug log says so; we wait for that line);
  3. connection B produces a record to topic "hot" and fetches it back;
  4. the order of events must be: B's round trip completes while A is still waiting; then A
     gets its data, whole.
Usage: cold_read.py HOST:PORT DATA_DIR BROKER_LOG. Exits 1 if the order is wrong, 77 if the
data cannot be made cold here (a filesystem whose pages are the file)."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire as kw  # noqa: E402

broker, data_dir, log_path = sys.argv[1:4]
events = []
lock = threading.Lock()


def event(what):
    with lock:
        events.append(what)
    print("  event:", what)


def ensure_topic(name):
    c = kw.Conn(broker)
    c.send(kw.metadata([name]))
    assert c.recv_frame() is not None, "metadata"
    c.close()


def produce(conn, topic, n, size, corr):
    for i in range(n):
        recs = [(b"k%d" % i, bytes([65 + i % 26]) * size)]
        conn.send(kw.produce(topic, 0, kw.batch(recs), acks=1, corr=corr + i))
        r = conn.recv_frame()
        errs = kw.produce_errors(r)
        assert errs[0][2] == 0, "produce failed: %s" % errs


# 1. Data, made cold.
ensure_topic("cold")
ensure_topic("hot")
c = kw.Conn(broker)
produce(c, "cold", 128, 64 * 1024, 100)
c.close()
seg = os.path.join(data_dir, "cold-0", "00000000000000000000.log")
fd = os.open(seg, os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
res = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", seg],
                     capture_output=True, text=True)
if res.returncode == 0 and res.stdout.strip() and int(res.stdout.split()[0]) > 1 << 20:
    print("  skip: %s stays in memory after POSIX_FADV_DONTNEED (%s bytes resident)"
          % (seg, res.stdout.strip()))
    sys.exit(77)

# 2. A cold fetch on connection A.
log_before = os.path.getsize(log_path)
a = kw.Conn(broker, timeout=30)
a_result = {}


def fetch_cold():
    a.send(kw.fetch("cold", 0, 0, max_wait=10000, min_bytes=1, corr=7))
    r = a.recv_frame()
    a_result["resp"] = r
    event("A: cold fetch answered")


ta = threading.Thread(target=fetch_cold)
ta.start()
deadline = time.time() + 20
while time.time() < deadline:
    with open(log_path, "rb") as f:
        f.seek(log_before)
        if b"cold range(s) go to the read pool" in f.read():
            break
    time.sleep(0.02)
else:
    print("  FAIL: the broker never reported the fetch as cold")
    sys.exit(1)
event("A: broker handed the cold range to the read pool")

# 3. A round trip on connection B while A waits.
b = kw.Conn(broker)
produce(b, "hot", 1, 100, 500)
b.send(kw.fetch("hot", 0, 0, max_wait=1000, corr=600))
err, hwm, records = kw.fetch_result(b.recv_frame())
assert err == 0 and len(records) > 0, "hot fetch: error %d, %d bytes" % (err, len(records))
event("B: produce + fetch round trip done")
b.close()

# 4. Order, then A's data.
ta.join(30)
a.close()
print("  order:", events)
ok = events == ["A: broker handed the cold range to the read pool",
                "B: produce + fetch round trip done", "A: cold fetch answered"]
resp = a_result.get("resp")
if resp is None:
    print("  FAIL: A got no answer")
    sys.exit(1)
err, hwm, records = kw.fetch_result(resp)
print("  A: error %d, hwm %d, %d bytes" % (err, hwm, len(records)))
if not ok:
    print("  FAIL: B's round trip did not complete while A was waiting on the cold read")
    sys.exit(1)
if err != 0 or hwm != 128 or len(records) < 64 * 1024:
    print("  FAIL: A's fetch came back wrong")
    sys.exit(1)
