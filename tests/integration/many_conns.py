"""1,000 idle connections plus active clients (many_conns.sh): the broker keeps answering,
and its memory stays bounded. Each idle connection is served once (ApiVersions) and then
left open. Prints the broker's RSS before, with the idle connections, and after the active
clients ran. Usage: many_conns.py HOST:PORT BROKER_PID MAX_KB_PER_CONN"""
import os
import resource
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire as kw  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

broker, pid, max_kb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
N = 1000


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if hard < N + 100:
    print("  skip: open files limited to %d" % hard)
    sys.exit(77)

before = rss_kb()
idle = []
for i in range(N):
    c = kw.Conn(broker)
    c.send(kw.frame(18, 0, b"", corr=i))
    r = c.recv_frame()
    if r is None or struct.unpack_from(">ih", r) != (i, 0):
        print("  FAIL: idle connection %d was not answered" % i)
        sys.exit(1)
    idle.append(c)
with_idle = rss_kb()

# Active clients while the idle ones stay open.
p = Producer({"bootstrap.servers": broker, "linger.ms": 5, "log_level": 0})
for i in range(20000):
    while True:
        try:
            p.produce("busy", key=str(i), value=b"x" * 100)
            break
        except BufferError:
            p.poll(0.1)
left = p.flush(30)
c = Consumer({"bootstrap.servers": broker, "group.id": "g", "enable.auto.commit": False,
              "enable.partition.eof": True, "log_level": 0})
c.assign([TopicPartition("busy", 0, 0)])
n = 0
while True:
    m = c.poll(10)
    if m is None:
        break
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            break
        continue
    n += 1
c.close()
after = rss_kb()

# The idle ones are still served.
for i in (0, N // 2, N - 1):
    idle[i].send(kw.frame(18, 0, b"", corr=9000 + i))
    r = idle[i].recv_frame()
    if r is None:
        print("  FAIL: idle connection %d dropped" % i)
        sys.exit(1)
for s in idle:
    s.close()

per = (with_idle - before) / N
print("  broker RSS: %d KB before, %d KB with %d idle connections (%.1f KB each), %d KB after "
      "producing and consuming 20,000 records alongside them" % (before, with_idle, N, per, after))
if left or n != 20000:
    print("  FAIL: active clients: %d records not delivered, %d consumed of 20000" % (left, n))
    sys.exit(1)
if per > max_kb:
    print("  FAIL: %.1f KB per idle connection (limit %.1f)" % (per, max_kb))
    sys.exit(1)
