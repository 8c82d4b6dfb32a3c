"""Produce and check acknowledged messages across broker restarts (durability.sh).

  durability.py produce BROKER TOPIC N ACKFILE    N messages, acks=all; ACKFILE gets each
                                                  acknowledged id; exits 1 unless all are
  durability.py flood BROKER TOPIC ACKFILE START  messages START, START+1, ... until killed,
                                                  each acknowledged id appended (and flushed)
                                                  as its delivery report arrives
  durability.py verify BROKER TOPIC ACKFILE       every id in ACKFILE is in the topic with its
                                                  value; prints counts; exits 1 on a loss
Values are derived from the id, so a wrong byte shows as a mismatch."""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def value(i):
    return (b"v%d-" % i) * (1 + i % 7)


def producer(broker):
    return Producer({"bootstrap.servers": broker, "acks": "all", "enable.idempotence": False,
                     "linger.ms": 2, "message.timeout.ms": 20000,
                     "log_level": 0})


def produce(broker, topic, n, ackfile):
    p = producer(broker)
    acked = []

    def done(err, msg):
        if err is None:
            acked.append(int(msg.key()))
        else:
            print("  delivery failed:", err)

    for i in range(n):
        while True:
            try:
                p.produce(topic, key=str(i), value=value(i), on_delivery=done)
                break
            except BufferError:
                p.poll(0.1)
    p.flush(30)
    with open(ackfile, "w") as f:
        f.write("".join("%d\n" % i for i in acked))
    if len(acked) != n:
        print("  only %d of %d acknowledged" % (len(acked), n))
        sys.exit(1)


def flood(broker, topic, ackfile, start):
    p = producer(broker)
    out = open(ackfile, "a")

    def done(err, msg):
        if err is None:
            out.write("%s\n" % msg.key().decode())
            out.flush()

    i = start
    while True:
        try:
            p.produce(topic, key=str(i), value=value(i), on_delivery=done)
            i += 1
        except BufferError:
            pass
        p.poll(0)


def verify(broker, topic, ackfile):
    acked = set(int(x) for x in open(ackfile).read().split())
    c = Consumer({"bootstrap.servers": broker, "group.id": "verify", "enable.auto.commit": False,
                  "enable.partition.eof": True, "log_level": 0})
    md = c.list_topics(topic, timeout=10)
    parts = list(md.topics[topic].partitions.keys())
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    seen, eof, dups, bad = {}, set(), 0, 0
    while len(eof) < len(parts):
        m = c.poll(10)
        if m is None:
            print("  FAIL: no message or end of partition within 10 s")
            sys.exit(1)
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            print("  FAIL: consumer error", m.error())
            sys.exit(1)
        i = int(m.key())
        if i in seen:
            dups += 1
        seen[i] = m.value()
        if m.value() != value(i):
            bad += 1
    c.close()
    lost = sorted(acked - set(seen))
    print("  %d acknowledged, %d in the topic, %d duplicates (unacknowledged retries), "
          "%d lost, %d corrupt" % (len(acked), len(seen), dups, len(lost), bad))
    if lost or bad:
        print("  FAIL: lost ids (first 10):", lost[:10])
        sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "flood":
        flood(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        verify(sys.argv[2], sys.argv[3], sys.argv[4])
