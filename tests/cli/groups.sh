#!/usr/bin/env bash
# zcq groups (list, describe, delete, reset-offsets) against a real zcq serve, with kcat as the
# group's consumer: committed offsets and lag checked against the records produced, offsets
# reset to the earliest, an offset, a time (ms and ISO 8601) and the latest, and re-read by a
# new kcat run; a dry run commits nothing; a running member blocks delete and reset-offsets;
# the error paths: one line on stderr, exit 2 for bad usage and 1 for failures, and no hang
# when no broker listens.
source "$(dirname "$0")/../integration/lib.bash"
need_cmd "${KCAT:-kcat}"

MEMBER_PID=
trap '[ -n "$MEMBER_PID" ] && kill -9 "$MEMBER_PID" 2>/dev/null; stop_broker KILL; rm -rf "$T"' EXIT

# Groups form after one short delay instead of Kafka's default 3 s.
start_broker groups --group.initial.rebalance.delay.ms 200
B=$BROKER

z() { "$ZCQ" "$@" --bootstrap "$B"; }

# read_group GROUP: run a kcat group member from the committed offsets (or the earliest) to the
# end of every partition; it commits what it read when it closes. Prints "partition value".
read_group() {
    timeout 60 "$KCAT" -b "$B" -G "$1" gt -e -q -X auto.offset.reset=earliest -f '%p %s\n'
}

# offsets GROUP: describe's offset rows as "topic partition committed end lag owner".
offsets() {
    z groups describe "$1" |
        awk '/^offsets:/ { on = 1; next } on && $1 != "TOPIC" { print $1, $2, $3, $4, $5, $6 }'
}

# expect_offsets GROUP "what" ROWS: describe shows exactly ROWS (one per partition).
expect_offsets() {
    local got
    got=$(offsets "$1")
    [ "$got" = "$3" ] || fail "$2: describe $1 shows offsets"$'\n'"$got"$'\n'"expected"$'\n'"$3"
}

# rows C0 C1 C2: the offset rows describe shows for committed offsets C0..C2 ("-": none) of
# partitions 0..2 of gt, whose end offsets are in ENDS, with no owner.
rows() {
    local p=0 c e
    for c in "$@"; do
        e=${ENDS[$p]}
        if [ "$c" = - ]; then
            echo "gt $p - $e - -"
        else
            echo "gt $p $c $e $((e - c)) -"
        fi
        p=$((p + 1))
    done
}

# --- help --------------------------------------------------------------------------------------
"$ZCQ" groups --help >"$T/help" 2>&1 || fail "groups --help: non-zero exit"
grep -q '^usage: zcq groups list' "$T/help" || fail "groups --help has no usage line"
for w in --bootstrap --to-earliest --to-latest --to-offset --to-datetime --dry-run --json; do
    grep -q -- "$w" "$T/help" || fail "groups --help does not document $w"
done
"$ZCQ" --help | grep -q '^  groups' || fail "zcq --help does not list groups"

# --- a group that has read part of a topic -----------------------------------------------------
z topics create gt --partitions 3 >/dev/null || fail "create topic gt"
# Batch A: 30, 20 and 10 records in partitions 0, 1, 2.
for p in 0 1 2; do
    seq 1 $((30 - 10 * p)) | sed "s/^/A$p-/" | z produce --topic gt --partition $p ||
        fail "produce batch A to partition $p"
done
z groups list >"$T/list" || fail "groups list (no groups)"
[ "$(cat "$T/list")" = "$(printf 'GROUP  STATE  PROTOCOL-TYPE')" ] ||
    fail "groups list with no groups: $(cat "$T/list")"

read_group g1 >"$T/read1" || fail "kcat -G g1"
[ "$(wc -l <"$T/read1")" -eq 60 ] || fail "kcat read $(wc -l <"$T/read1") records, expected 60"

# Batch B, 5 records a partition, all stamped after time TB.
last=$(z consume --topic gt --format '%T\n' | sort -n | tail -1)
TB=$((last + 1))
clock_past() { [ "$(date +%s%3N)" -ge "$TB" ]; }
wait_for "the clock to pass $TB" clock_past
for p in 0 1 2; do
    seq 1 5 | sed "s/^/B$p-/" | z produce --topic gt --partition $p || fail "produce B to $p"
done
ENDS=(35 25 15)

z groups list >"$T/list" || fail "groups list"
grep -Eq '^g1 +Empty +consumer$' "$T/list" || fail "groups list: $(cat "$T/list")"
z groups list --json >"$T/list.json" || fail "groups list --json"
grep -qF '{"group":"g1","state":"Empty","protocol_type":"consumer"}' "$T/list.json" ||
    fail "groups list --json: $(cat "$T/list.json")"

z groups describe g1 >"$T/desc" || fail "groups describe g1"
head="group: g1  state: Empty  protocol-type: consumer  protocol: -  coordinator: 1 ($B)"
[ "$(head -1 "$T/desc")" = "$head" ] || fail "describe header: $(head -1 "$T/desc")"
grep -qx 'members: 0' "$T/desc" || fail "describe: members of an empty group: $(cat "$T/desc")"
grep -Eq '^  TOPIC +PARTITION +COMMITTED +END +LAG +OWNER$' "$T/desc" ||
    fail "describe: no offsets table header: $(cat "$T/desc")"
# kcat committed the end of batch A; batch B is the lag.
expect_offsets g1 "after reading batch A" "$(rows 30 20 10)"

alive "list and describe"

# --- reset-offsets -----------------------------------------------------------------------------
z groups reset-offsets g1 --topic gt --to-earliest --dry-run >"$T/dry" || fail "--dry-run"
[ "$(cat "$T/dry")" = "$(printf '%s\n' 'TOPIC  PARTITION  OLD-OFFSET  NEW-OFFSET' \
    'gt     0          30          0' 'gt     1          20          0' \
    'gt     2          10          0' 'dry run: nothing committed')" ] ||
    fail "reset-offsets --dry-run printed:"$'\n'"$(cat "$T/dry")"
expect_offsets g1 "after a dry run" "$(rows 30 20 10)"

z groups reset-offsets g1 --topic gt --to-earliest >"$T/reset" || fail "--to-earliest"
grep -qx 'committed 3 offsets for group g1' "$T/reset" || fail "--to-earliest: $(cat "$T/reset")"
expect_offsets g1 "after --to-earliest" "$(rows 0 0 0)"
read_group g1 >"$T/read2" || fail "kcat -G g1 after --to-earliest"
[ "$(wc -l <"$T/read2")" -eq 75 ] ||
    fail "kcat re-read $(wc -l <"$T/read2") records after --to-earliest, expected 75"
[ "$(sort -u "$T/read2" | wc -l)" -eq 75 ] || fail "kcat re-read duplicates"
expect_offsets g1 "after reading everything" "$(rows 35 25 15)"

# By time: the first record at or after TB is batch B's first, in each partition.
z groups reset-offsets g1 --topic gt --to-datetime "$TB" >"$T/reset" || fail "--to-datetime $TB"
expect_offsets g1 "after --to-datetime $TB" "$(rows 30 20 10)"
read_group g1 >"$T/read3" || fail "kcat -G g1 after --to-datetime"
[ "$(sort "$T/read3")" = "$(for p in 0 1 2; do seq 1 5 | sed "s/^/$p B$p-/"; done | sort)" ] ||
    fail "after --to-datetime kcat read: $(tr '\n' ' ' <"$T/read3")"
# The same instant in ISO 8601: UTC with a Z, an offset, and local time without a zone.
iso_utc=$(date -u -d "@$((TB / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $((TB % 1000)))Z
iso_off=$(TZ=UTC-2 date -d "@$((TB / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $((TB % 1000)))+02:00
iso_local=$(date -d "@$((TB / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $((TB % 1000)))
for t in "$iso_utc" "$iso_off" "$iso_local"; do
    z groups reset-offsets g1 --topic gt --to-datetime "$t" --dry-run >"$T/dry" ||
        fail "--to-datetime $t"
    [ "$(awk 'NR > 1 && $1 == "gt" { print $4 }' "$T/dry" | tr '\n' ' ')" = "30 20 10 " ] ||
        fail "--to-datetime $t (= $TB) gave: $(cat "$T/dry")"
done
z groups reset-offsets g1 --topic gt --to-datetime "$((TB + 86400000))" >/dev/null ||
    fail "--to-datetime in the future"
expect_offsets g1 "--to-datetime after every record" "$(rows 35 25 15)"

# An offset is clamped into each partition's [first, end].
z groups reset-offsets g1 --topic gt --to-offset 12 >/dev/null || fail "--to-offset 12"
expect_offsets g1 "after --to-offset 12" "$(rows 12 12 12)"
z groups reset-offsets g1 --topic gt --partition 2 --to-offset 1000 >"$T/reset" ||
    fail "--to-offset 1000 --partition 2"
[ "$(awk '$1 == "gt"' "$T/reset")" = 'gt     2          12          15' ] ||
    fail "--partition 2 --to-offset 1000: $(cat "$T/reset")"
expect_offsets g1 "after --partition 2 --to-offset 1000" "$(rows 12 12 15)"
z groups reset-offsets g1 --topic gt --partition 1 --to-latest >/dev/null || fail "--to-latest"
expect_offsets g1 "after --partition 1 --to-latest" "$(rows 12 25 15)"
read_group g1 >"$T/read4" || fail "kcat -G g1 after --to-offset"
# Offset 12 of partition 0 holds A0-13; partitions 1 and 2 were at their ends.
want=$( (seq 13 30 | sed 's/^/0 A0-/'; seq 1 5 | sed 's/^/0 B0-/') | sort)
[ "$(sort "$T/read4")" = "$want" ] ||
    fail "after --to-offset 12 kcat read: $(tr '\n' ' ' <"$T/read4")"

# A group the broker has never seen: the commit creates it, as a simple group (no protocol).
z groups reset-offsets g2 --topic gt --partition 0 --to-offset 7 >"$T/reset" ||
    fail "reset-offsets of a new group"
grep -Eq '^gt +0 +- +7$' "$T/reset" || fail "reset-offsets of a new group: $(cat "$T/reset")"
z groups list >"$T/list" || fail "groups list"
grep -Eq '^g2 +Empty +-$' "$T/list" || fail "groups list: simple group g2: $(cat "$T/list")"
expect_offsets g2 "a simple group" "gt 0 7 35 28 -"

alive "reset-offsets"

# --- a running member --------------------------------------------------------------------------
# The last kcat committed the ends; the member is to have something to read.
z groups reset-offsets g1 --topic gt --to-offset 12 >/dev/null || fail "--to-offset 12 (again)"
"$KCAT" -b "$B" -G g1 gt -q -u -X auto.offset.reset=earliest >"$T/member.out" 2>"$T/member.err" &
MEMBER_PID=$!
member_in() {
    z groups describe g1 >"$T/desc" 2>/dev/null && grep -q '^group: g1  state: Stable ' "$T/desc" &&
        grep -qx 'members: 1' "$T/desc" && grep -Eq ' gt\(0,1,2\)$' "$T/desc"
}
wait_for "kcat to join g1 and own gt" member_in
grep -Eq '^group: g1  state: Stable  protocol-type: consumer  protocol: (range|roundrobin) ' \
    "$T/desc" || fail "describe with a member: $(head -1 "$T/desc")"
member=$(awk '/^members:/ { getline; getline; print $1; exit }' "$T/desc")
grep -Eq "^  $member +rdkafka +/127\.0\.0\.1 +gt\(0,1,2\)$" "$T/desc" ||
    fail "describe: member row: $(cat "$T/desc")"
[ "$(offsets g1 | awk '{ print $6 }' | sort -u)" = "$member" ] ||
    fail "describe: the member does not own every partition: $(offsets g1)"
z groups describe g1 --json >"$T/desc.json" || fail "describe --json"
"$PY" - "$T/desc.json" "$member" <<'EOF' || fail "describe --json: $(cat "$T/desc.json")"
import json, sys
d = json.load(open(sys.argv[1]))
g = d["groups"][0]
assert len(d["groups"]) == 1 and g["group"] == "g1" and g["state"] == "Stable", g
assert g["protocol_type"] == "consumer" and g["coordinator"]["id"] == 1, g
m = g["members"]
assert len(m) == 1 and m[0]["member_id"] == sys.argv[2] and m[0]["client_id"] == "rdkafka", m
assert sorted((a["topic"], a["partition"]) for a in m[0]["assignment"]) == \
    [("gt", 0), ("gt", 1), ("gt", 2)], m
ends = {0: 35, 1: 25, 2: 15}
assert sorted(o["partition"] for o in g["offsets"]) == [0, 1, 2], g["offsets"]
for o in g["offsets"]:
    assert o["topic"] == "gt" and o["end"] == ends[o["partition"]], o
    assert o["owner"] == sys.argv[2], o
    assert o["committed"] is None or o["lag"] == o["end"] - o["committed"], o
EOF
z groups list >"$T/list" || fail "groups list with a member"
grep -Eq '^g1 +Stable +consumer$' "$T/list" || fail "groups list: $(cat "$T/list")"

expect_error "delete a group with a member" groups delete g1 --bootstrap "$B"
says "delete g1: .*NON_EMPTY_GROUP"
expect_error "reset-offsets of a group with a member" \
    groups reset-offsets g1 --topic gt --to-earliest --bootstrap "$B"
says "reset-offsets g1: the group has 1 active member \(state Stable\)"

# It reads every partition from 12 to its end (23 + 13 + 3 records), and commits that when it
# leaves.
member_read() { [ "$(wc -l <"$T/member.out")" -eq 39 ]; }
wait_for "the member to read from offset 12 to the ends" member_read
kill -TERM "$MEMBER_PID"
wait "$MEMBER_PID"
MEMBER_PID=
member_gone() { z groups describe g1 2>/dev/null | grep -qx 'members: 0'; }
wait_for "g1 to be empty after its member left" member_gone
expect_offsets g1 "after the member left" "$(rows 35 25 15)"

alive "a running member"

# --- delete ------------------------------------------------------------------------------------
z groups delete g1 g2 >"$T/out" || fail "groups delete g1 g2"
[ "$(cat "$T/out")" = "$(printf 'deleted group g1\ndeleted group g2')" ] ||
    fail "groups delete said: $(cat "$T/out")"
z groups list >"$T/list" || fail "groups list after delete"
grep -Eq '^g[12] ' "$T/list" && fail "groups list still shows a deleted group: $(cat "$T/list")"
expect_error "describe a deleted group" groups describe g1 --bootstrap "$B"
says "group g1 does not exist"
expect_error "delete an unknown group" groups delete g1 --bootstrap "$B"
says "delete g1: .*GROUP_ID_NOT_FOUND"
# A new run of the group starts over from the earliest offsets: nothing was kept.
read_group g1 >"$T/read5" || fail "kcat -G g1 after delete"
[ "$(wc -l <"$T/read5")" -eq 75 ] || fail "after delete kcat read $(wc -l <"$T/read5"), not 75"

alive "delete"

# --- runtime errors ----------------------------------------------------------------------------
expect_error "describe two groups, one unknown" groups describe g1 nosuch --bootstrap "$B"
says "group nosuch does not exist"
grep -q '^group: g1 ' "$T/out" || fail "describe g1 nosuch did not describe g1: $(cat "$T/out")"
expect_error "reset-offsets of a missing topic" \
    groups reset-offsets g1 --topic nosuch --to-earliest --bootstrap "$B"
says "topic nosuch does not exist"
z topics list | grep -q nosuch && fail "reset-offsets created the topic it was asked about"
expect_error "reset-offsets of a missing partition" \
    groups reset-offsets g1 --topic gt --partition 3 --to-earliest --bootstrap "$B"
says "partition 3 does not exist"

dead=127.0.0.1:1
for cmd in "list" "describe g1" "delete g1" "reset-offsets g1 --topic gt --to-earliest"; do
    start=$SECONDS
    # shellcheck disable=SC2086
    expect_error "no broker: groups $cmd" groups $cmd --bootstrap $dead --timeout-ms 3000
    says "cannot reach broker $dead"
    [ $((SECONDS - start)) -le 6 ] || fail "no broker: groups $cmd took $((SECONDS - start)) s"
done

# --- usage errors: exit 2, one line ------------------------------------------------------------
expect_usage "no subcommand" groups
expect_usage "unknown subcommand" groups frobnicate
expect_usage "describe without a group" groups describe
expect_usage "delete without a group" groups delete
expect_usage "list with an argument" groups list extra
expect_usage "a group named twice" groups delete a a
expect_usage "an empty group name" groups describe ""
expect_usage "reset-offsets without a group" groups reset-offsets --topic gt --to-earliest
expect_usage "reset-offsets of two groups" groups reset-offsets a b --topic gt --to-earliest
expect_usage "reset-offsets without a topic" groups reset-offsets a --to-earliest
expect_usage "reset-offsets without a target" groups reset-offsets a --topic gt
expect_usage "two targets" groups reset-offsets a --topic gt --to-earliest --to-offset 3
expect_usage "a negative offset" groups reset-offsets a --topic gt --to-offset -3
expect_usage "an offset that is not a number" groups reset-offsets a --topic gt --to-offset x
expect_usage "a bad partition" groups reset-offsets a --topic gt --partition -1 --to-latest
for t in yesterday 2026-13-01 2026-02-30 2026-01-01T25:00 2026-01-01T10:00+2 2026-01-01X; do
    expect_usage "--to-datetime $t" groups reset-offsets a --topic gt --to-datetime "$t"
done
expect_usage "--dry-run given to list" groups list --dry-run
expect_usage "--topic given to describe" groups describe a --topic gt
expect_usage "--json given to delete" groups delete a --json
expect_usage "unknown option" groups list --bogus
expect_usage "option without value" groups reset-offsets a --topic
expect_usage "bad timeout" groups list --timeout-ms 0

alive "errors"
stop_broker
check_broker_log
finish
