"""confluent-kafka (librdkafka) against the broker: py_confluent.py HOST:PORT TOPIC

AdminClient creates TOPIC and TOPIC-gzip (3 partitions each) and list_topics shows them; a
Producer (idempotence off, acks=all; gzip for TOPIC-gzip) sends keyed messages with headers and
flushes, every one delivered; a Consumer assigned to every partition from the beginning (no
subscribe: the broker has no group APIs yet) reads them all back byte for byte, in order.
Every wait is bounded. Exits 1 with the reasons on failure."""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from py_common import Checker, deadline, messages

NPARTS = 3
N = 3000


def main():
    broker, topic = sys.argv[1], sys.argv[2]
    c = Checker("py_confluent")
    errors = []
    base = {"bootstrap.servers": broker, "error_cb": lambda e: errors.append(str(e))}

    admin = AdminClient(dict(base))
    topics = [topic, topic + "-gzip"]
    futures = admin.create_topics([NewTopic(t, num_partitions=NPARTS, replication_factor=1)
                                   for t in topics], operation_timeout=10, request_timeout=30)
    for t, f in futures.items():
        try:
            f.result(timeout=30)
        except Exception as e:  # a KafkaException with the broker's error, or a timeout
            c.bad("create_topics %s: %s" % (t, e))
            c.done()
    md = admin.list_topics(timeout=10)
    for t in topics:
        if t not in md.topics or len(md.topics[t].partitions) != NPARTS:
            c.bad("list_topics: %s missing or without %d partitions: %s" %
                  (t, NPARTS, md.topics.get(t)))
    c.ok("AdminClient created %s; list_topics shows them with %d partitions" % (topics, NPARTS))

    for t, codec, seed in ((topic, "none", 1), (topic + "-gzip", "gzip", 2)):
        sent = messages(N, seed)
        placed = [None] * N

        def report(err, msg, i):
            if err is not None:
                c.bad("%s: message %d not delivered: %s" % (t, i, err))
            placed[i] = (msg.partition(), msg.offset())

        p = Producer(dict(base, **{"enable.idempotence": False, "acks": "all",
                                    "compression.type": codec, "linger.ms": 5,
                                    "message.timeout.ms": 30000}))
        for i, (k, v, h) in enumerate(sent):
            p.produce(t, key=k, value=v, headers=h,
                      on_delivery=lambda err, msg, i=i: report(err, msg, i))
            p.poll(0)
        left = p.flush(30)
        if left or None in placed:
            c.bad("%s: %d message(s) unacknowledged after 30 s" % (t, placed.count(None)))
            c.done()
        layout = c.placement(sent, placed, NPARTS)
        if layout is None:
            c.done()
        c.ok("%s: Producer (%s) delivered %d messages: %s per partition" %
             (t, codec, N, [len(layout[q]) for q in range(NPARTS)]))

        # librdkafka's assign() wants a group id; without subscribe or commits none is used.
        cons = Consumer(dict(base, **{"group.id": "py-confluent", "enable.auto.commit": False,
                                      "enable.partition.eof": True, "check.crcs": True}))
        cons.assign([TopicPartition(t, q, OFFSET_BEGINNING) for q in range(NPARTS)])
        got = {q: [] for q in range(NPARTS)}
        eof = set()
        running = deadline(60)
        while running() and len(eof) < NPARTS:
            m = cons.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() == len(layout[m.partition()]):
                        eof.add(m.partition())
                    continue
                c.bad("%s: consume: %s" % (t, m.error()))
                continue
            got[m.partition()].append((m.offset(), m.key(), m.value(), m.headers() or []))
        cons.close()
        if len(eof) < NPARTS:
            c.bad("%s: consume: end of partitions %s not reached in 60 s (%s messages)" %
                  (t, sorted(set(range(NPARTS)) - eof), [len(got[q]) for q in got]))
        c.consumed("%s: Consumer (assign)" % t, sent, layout, got)

    for e in errors:
        c.bad("client error: %s" % e)
    c.done()


if __name__ == "__main__":
    main()
