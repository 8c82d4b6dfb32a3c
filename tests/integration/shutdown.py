"""Clean shutdown with a long-poll parked (shutdown.sh): a fetch waiting up to 60 s for data
must be answered (empty, no error) as soon as the broker is told to stop, before the broker
exits. Usage: shutdown.py HOST:PORT BROKER_PID"""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire as kw  # noqa: E402

broker, pid = sys.argv[1], int(sys.argv[2])
c = kw.Conn(broker, timeout=30)
c.send(kw.metadata(["parked"]))
assert c.recv_frame() is not None
c.send(kw.produce("parked", 0, kw.batch([(b"k", b"v")]), corr=2))
assert kw.produce_errors(c.recv_frame())[0][2] == 0
answer = {}


def wait_answer():
    answer["resp"] = c.recv_frame()
    answer["at"] = time.time()


c.send(kw.fetch("parked", 0, 1, max_wait=60000, min_bytes=1, corr=3))  # at the hwm: parks
t = threading.Thread(target=wait_answer)
t.start()
t.join(0.5)
if not t.is_alive():
    print("  FAIL: the fetch was answered before any data or shutdown")
    sys.exit(1)
sent = time.time()
os.kill(pid, signal.SIGTERM)
t.join(20)
if "resp" not in answer or answer["resp"] is None:
    print("  FAIL: the parked fetch got no answer at shutdown")
    sys.exit(1)
err, hwm, records = kw.fetch_result(answer["resp"])
print("  parked fetch answered %.2f s after SIGTERM: error %d, hwm %d, %d bytes"
      % (answer["at"] - sent, err, hwm, len(records)))
if err != 0 or hwm != 1 or records:
    print("  FAIL: expected an empty answer at the hwm")
    sys.exit(1)
