"""kafka-python against the broker: py_kafka.py HOST:PORT TOPIC

KafkaAdminClient.create_topics makes TOPIC and TOPIC-gzip (3 partitions each), which Metadata
then lists (KafkaAdminClient.list_topics, KafkaConsumer.topics); a KafkaProducer with acks=1
(gzip for TOPIC-gzip) sends keyed messages with headers, get() on every future; a
KafkaConsumer with assign() and seek_to_beginning() (no group: the broker has no group APIs
yet) reads them all back byte for byte, in order; at the end of the partitions it gets nothing
and raises nothing, and end_offsets() matches. Every wait is bounded. Exits 1 with the
reasons on failure."""
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from py_common import Checker, deadline, messages

NPARTS = 3
N = 3000
TIMEOUTS = {"request_timeout_ms": 30000, "api_version_auto_timeout_ms": 10000}


def main():
    broker, topic = sys.argv[1], sys.argv[2]
    c = Checker("py_kafka")
    topics = [topic, topic + "-gzip"]

    admin = KafkaAdminClient(bootstrap_servers=broker, client_id="py-kafka-admin", **TIMEOUTS)
    resp = admin.create_topics([NewTopic(t, NPARTS, 1) for t in topics], timeout_ms=30000)
    for name, code, *rest in resp.topic_errors:
        if code != 0:
            c.bad("create_topics %s: error %d %s" % (name, code, rest))
    listed = admin.list_topics()
    admin.close()
    probe = KafkaConsumer(bootstrap_servers=broker, **TIMEOUTS)
    seen = probe.topics()
    parts = {t: probe.partitions_for_topic(t) for t in topics}
    probe.close()
    for t in topics:
        if t not in listed or t not in seen:
            c.bad("%s not listed by Metadata: admin %s, consumer %s" % (t, listed, seen))
        elif parts[t] != set(range(NPARTS)):
            c.bad("%s: partitions %s, expected 0..%d" % (t, parts[t], NPARTS - 1))
    if c.problems:
        c.done()
    c.ok("KafkaAdminClient created %s; Metadata lists them with %d partitions" % (topics, NPARTS))

    for t, codec, seed in ((topic, None, 3), (topic + "-gzip", "gzip", 4)):
        sent = messages(N, seed)
        prod = KafkaProducer(bootstrap_servers=broker, acks=1, compression_type=codec,
                             linger_ms=5, max_block_ms=30000, **TIMEOUTS)
        futures = [prod.send(t, key=k, value=v, headers=h) for k, v, h in sent]
        placed = []
        for i, f in enumerate(futures):
            try:
                md = f.get(timeout=30)
                placed.append((md.partition, md.offset))
            except Exception as e:
                c.bad("%s: message %d: %r" % (t, i, e))
                c.done()
        prod.close(timeout=10)
        layout = c.placement(sent, placed, NPARTS)
        if layout is None:
            c.done()
        c.ok("%s: KafkaProducer (acks=1, %s) delivered %d messages: %s per partition" %
             (t, codec or "uncompressed", N, [len(layout[q]) for q in range(NPARTS)]))

        cons = KafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False,
                             **TIMEOUTS)
        tps = [TopicPartition(t, q) for q in range(NPARTS)]
        cons.assign(tps)
        cons.seek_to_beginning()
        got = {q: [] for q in range(NPARTS)}
        want = {q: len(layout[q]) for q in range(NPARTS)}
        running = deadline(60)
        while running() and any(len(got[q]) < want[q] for q in got):
            for tp, recs in cons.poll(timeout_ms=500).items():
                for r in recs:
                    got[tp.partition].append((r.offset, r.key, r.value, r.headers))
        if any(len(got[q]) < want[q] for q in got):
            c.bad("%s: consumed %s of %s messages per partition in 60 s" %
                  (t, [len(got[q]) for q in got], [want[q] for q in got]))
        c.consumed("%s: KafkaConsumer (assign)" % t, sent, layout, got)

        # At the end of every partition: polls return nothing, raise nothing, and the positions
        # and ListOffsets agree with what was produced.
        extra = 0
        for _ in range(3):
            extra += sum(len(v) for v in cons.poll(timeout_ms=500).values())
        if extra:
            c.bad("%s: %d record(s) past the end of the partitions" % (t, extra))
        ends = cons.end_offsets(tps)
        positions = {tp.partition: cons.position(tp) for tp in tps}
        if {tp.partition: ends[tp] for tp in tps} != want or positions != want:
            c.bad("%s: end_offsets %s, positions %s, expected %s" %
                  (t, {tp.partition: ends[tp] for tp in tps}, positions, want))
        begins = cons.beginning_offsets(tps)
        if any(begins[tp] != 0 for tp in tps):
            c.bad("%s: beginning_offsets %s, expected 0" % (t, begins))
        cons.close()
        c.ok("%s: at the end, polls return nothing and no error; end_offsets %s" %
             (t, [want[q] for q in range(NPARTS)]))
    c.done()


if __name__ == "__main__":
    main()
