"""Group members on the Python clients, for groups_python.sh (run with /usr/bin/python3).

  groups_py.py member KIND HOST:PORT GROUP TOPIC OUT CLIENT_ID
      KIND confluent (confluent-kafka: librdkafka, JoinGroup v5) or kafka (kafka-python:
      JoinGroup v2): subscribe to TOPIC in GROUP with the range assignor, auto-committing
      every 200 ms, from the earliest offset when nothing is committed; print every record as
      "PARTITION OFFSET VALUE" to OUT (flushed after each poll) and every assignment as
      "assigned: P P ..." on stderr. SIGTERM: close (commit, leave the group) and exit 0. Gives
      up after 150 s.
  groups_py.py drain KIND HOST:PORT GROUP TOPIC ENDS OUT
      a new member of GROUP: read until it holds every partition of TOPIC and has reached
      each one's end (ENDS: "PARTITION END" lines), printing the records to OUT; exit 0.
      Gives up (exit 1) after 60 s.
"""
import signal
import sys
import time

SESSION_MS = 6000
HEARTBEAT_MS = 300
stop = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def confluent(broker, group, topic, client_id, eof=False):
    from confluent_kafka import Consumer, KafkaError

    def on_assign(c, parts):
        log("assigned: %s" % " ".join(str(p.partition) for p in sorted(parts, key=lambda p:
                                                                        p.partition)))

    c = Consumer({"bootstrap.servers": broker, "group.id": group, "client.id": client_id,
                  "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
                  "partition.assignment.strategy": "range", "enable.auto.commit": True,
                  "auto.commit.interval.ms": 200, "auto.offset.reset": "earliest",
                  "enable.partition.eof": eof, "api.version.request.timeout.ms": 30000,
                  "error_cb": lambda e: log("client error: %s" % e)})
    c.subscribe([topic], on_assign=on_assign)

    def poll():
        """[(partition, offset, value)]; an end of partition is (partition, offset, None)."""
        out = []
        for m in c.consume(num_messages=500, timeout=0.2):
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    log("consume error: %s" % m.error())
                    continue
                out.append((m.partition(), m.offset(), None))
            else:
                out.append((m.partition(), m.offset(), m.value()))
        return out

    def assignment():
        return {p.partition for p in c.assignment()}

    return poll, assignment, None, c.close


def kafka(broker, group, topic, client_id, eof=False):
    from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            log("assigned: %s" % " ".join(str(p) for p in sorted(tp.partition for tp in assigned)))

    c = KafkaConsumer(bootstrap_servers=broker, group_id=group, client_id=client_id,
                      session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                      partition_assignment_strategy=[RangePartitionAssignor],
                      enable_auto_commit=True, auto_commit_interval_ms=200,
                      auto_offset_reset="earliest", request_timeout_ms=40000,
                      api_version_auto_timeout_ms=30000)
    c.subscribe([topic], listener=Listener())

    def poll():
        out = []
        for tp, recs in c.poll(timeout_ms=200, max_records=500).items():
            out.extend((tp.partition, r.offset, r.value) for r in recs)
        return out

    def assignment():
        return {tp.partition for tp in c.assignment()}

    def position(p):
        return c.position(TopicPartition(topic, p))

    return poll, assignment, position, c.close


def member(kind, broker, group, topic, out, client_id):
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    poll, _, _, close = (confluent if kind == "confluent" else kafka)(broker, group, topic,
                                                                     client_id)
    end = time.monotonic() + 150
    with open(out, "wb") as f:
        while not stop and time.monotonic() < end:
            for p, o, v in poll():
                f.write(b"%d %d %s\n" % (p, o, v))
            f.flush()
    close()
    if not stop:
        log("member: not stopped within 150 s")
        sys.exit(1)


def drain(kind, broker, group, topic, ends_path, out):
    with open(ends_path) as f:
        ends = {int(p): int(o) for p, o in (line.split() for line in f if line.strip())}
    poll, assignment, position, close = (confluent if kind == "confluent" else kafka)(
        broker, group, topic, "drain-" + kind, eof=True)
    at_end = set()
    end = time.monotonic() + 60
    with open(out, "wb") as f:
        while time.monotonic() < end:
            for p, o, v in poll():
                if v is None:  # confluent: end of partition p at offset o
                    if o >= ends[p]:
                        at_end.add(p)
                else:
                    f.write(b"%d %d %s\n" % (p, o, v))
            f.flush()
            if assignment() != set(ends):
                continue
            if position:  # kafka-python: the fetch position says where it is
                at_end = {p for p in ends if (position(p) or 0) >= ends[p]}
            if at_end == set(ends):
                close()
                return
    log("drain: assigned %s, at the end of %s after 60 s" % (sorted(assignment()),
                                                            sorted(at_end)))
    sys.exit(1)


def main():
    a = sys.argv[1:]
    if len(a) == 7 and a[0] == "member" and a[1] in ("confluent", "kafka"):
        member(*a[1:])
    elif len(a) == 7 and a[0] == "drain" and a[1] in ("confluent", "kafka"):
        drain(*a[1:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
