#!/usr/bin/env bash
# zcq copies end to end on a small file: every method to every destination, JSON and SVG
# output, cold cache. The lab itself checks every byte (the receiver's XXH3 against the
# source's) and exits 1 if any method delivered wrong bytes.
source "$(dirname "$0")/lib.bash"
mkdir "$T/work"
W="$T/work"

for to in tcp unix pipe null file; do
    if ! "$ZCQ" copies --size 5M --chunk 64K --runs 1 --method all --to "$to" --dir "$W" \
        --json --quiet >"$T/$to.json" 2>"$T/$to.err"; then
        fail "copies --to $to exited $?: $(cat "$T/$to.err")"
        continue
    fi
    TO=$to $PY - "$T/$to.json" <<'PY' || fail "JSON for --to $to"
import json, os, sys
to = os.environ["TO"]
rows = json.load(open(sys.argv[1]))
need = {"method", "cache", "throughput_gbps", "sender_cpu_s_per_gb", "receiver_cpu_s_per_gb",
        "syscalls_per_gb", "ctx_switches_per_gb"}
methods = {r["method"] for r in rows}
expect = {"copy", "mmap", "sendfile", "splice", "direct", "uring", "zerocopy"}
if to == "file":
    expect.add("copy_file_range")
assert methods == expect, f"methods {methods}"
bad = []
for r in rows:
    assert need <= r.keys(), f"missing {need - r.keys()} in {r['method']}"
    # MSG_ZEROCOPY needs TCP; copy_file_range needs a file. Both must say why, not pretend.
    unsupported = r["method"] == "zerocopy" and to != "tcp"
    if unsupported:
        assert not r["ok"] and r["error"], r
        continue
    if not r["ok"]:
        bad.append(f"{r['method']}: {r['error']}")
        continue
    assert r["throughput_gbps"] > 0, r
    assert r["syscalls_per_gb"] > 0, r
    assert r["sender_cpu_s_per_gb"] >= 0 and r["receiver_cpu_s_per_gb"] >= 0, r
    if to != "null":
        assert r["verified"], r
if bad:
    sys.exit("failed rows: " + "; ".join(bad))
PY
done

# Cold cache: pages dropped before each run; residency is shown before and after.
"$ZCQ" copies --size 8M --runs 2 --method sendfile,direct --cache both --dir "$W" --json \
    --quiet >"$T/cold.json" || fail "cold run"
$PY - "$T/cold.json" <<'PY' || fail "cold-cache JSON"
import json, sys
rows = json.load(open(sys.argv[1]))
assert {(r["method"], r["cache"]) for r in rows} == {
    ("sendfile", "warm"), ("sendfile", "cold"), ("direct", "warm"), ("direct", "cold")}
for r in rows:
    assert r["ok"], r
    if r["cache"] == "warm":
        assert r["resident_before_pct"] == 100, r
    else:
        # Dropped before the run; sendfile reads it back in, direct bypasses the cache.
        assert r["resident_before_pct"] < 50, r
        if r["method"] == "sendfile":
            assert r["resident_after_pct"] > 50, r
        else:
            assert r["resident_after_pct"] < 50, r
PY

# The table for people, and an SVG that parses as XML and has one bar per row.
"$ZCQ" copies --size 2M --runs 3 --method copy,sendfile --plot "$T/p.svg" --dir "$W" \
    --quiet >"$T/table.txt" || fail "table run"
grep -q '^copy ' "$T/table.txt" || fail "table lacks the copy row"
grep -q '^sendfile ' "$T/table.txt" || fail "table lacks the sendfile row"
$PY - "$T/p.svg" <<'PY' || fail "SVG"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg")
titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
assert any(t.startswith("copy warm") for t in titles), titles
assert any(t.startswith("sendfile warm") for t in titles), titles
PY

# The sender's TCP congestion control can be chosen (cubic is built into Debian's kernels).
if grep -qw cubic /proc/sys/net/ipv4/tcp_available_congestion_control; then
    "$ZCQ" copies --size 2M --runs 1 --method sendfile --tcp-cc cubic --dir "$W" --json \
        --quiet >"$T/cc.json" || fail "--tcp-cc cubic run"
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r["tcp_cc"]=="cubic", r' \
        "$T/cc.json" || fail "--tcp-cc cubic not used"
fi

# A user's own file: read, not modified.
head -c 3000001 /dev/urandom >"$T/mine"
sum=$(md5sum <"$T/mine")
"$ZCQ" copies --file "$T/mine" --runs 1 --method all --to unix --dir "$W" --quiet \
    >/dev/null || fail "--file run"
[ "$(md5sum <"$T/mine")" = "$sum" ] || fail "--file modified the user's file"

expect_empty_dir "$W" "successful runs"
finish
