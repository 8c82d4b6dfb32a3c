/*
 * librdkafka against a running broker (tests/integration/rdkafka.sh starts one):
 *
 *   rdkafka_client HOST:PORT
 *
 * 1. The admin API creates a topic with 3 partitions; Metadata shows them.
 * 2. A producer (idempotence off, acks=all) sends keyed messages with timestamps it sets,
 *    headers, empty and null values and one large value, in groups of increasing time: it
 *    flushes between groups, so no batch mixes two groups. Every delivery report must
 *    succeed; each gives the message's partition and offset.
 * 3. (a) A consumer assigned to every partition from OFFSET_BEGINNING (no group: no
 *    subscribe, no group.id) reads everything back: per partition offsets 0, 1, 2, ... up to
 *    the end, each message byte for byte what was produced (key, value, timestamp, headers).
 *    (b) Assigning at an offset, and seeking, returns that offset first (also mid-batch);
 *    assigning at the end returns partition EOF.
 *    (c) offsets_for_times: before the first message gives 0; a group's first timestamp, or
 *    one just before it, gives that group's first offset in each partition; a timestamp
 *    inside a group gives an offset no later than the first message that has it; after the
 *    last message, -1.
 *    (d) query_watermark_offsets: low 0, high the number of messages produced there.
 * 4. The admin API deletes the topic; Metadata no longer lists it.
 *
 * Every wait is bounded. Prints "rdkafka_client: FAIL: why" for each failed check and exits 1
 * if any failed, 0 if all passed.
 */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NPART  3
#define GROUPS 5
#define PER    2000 /* messages per timestamp group */
#define NMSG   (GROUPS * PER)
#define GAP_MS 100000 /* between the first timestamps of two groups */
#define BIG    (300 * 1024)

struct msg {
    char key[32];
    size_t klen;
    char *val; /* NULL: a null value (tombstone) */
    size_t vlen;
    int64_t ts;
    int group;
    /* from the delivery report */
    bool delivered;
    rd_kafka_resp_err_t err;
    int32_t part;
    int64_t off;
};

static struct msg msgs[NMSG];
static int64_t t0;
static const char *brokers;
static char topic[64];
static int failures;
/* by_off[p][o]: the message at offset o of partition p */
static struct msg **by_off[NPART];
static int64_t count[NPART];

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "rdkafka_client: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (++failures >= 40) {
        fprintf(stderr, "rdkafka_client: too many failures, giving up\n");
        exit(1);
    }
}

/* A wait that timed out: the broker is gone or stuck, and every later check would only wait
 * too. */
static void give_up_if_timed_out(rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        fprintf(stderr, "rdkafka_client: the broker does not answer (%s), giving up\n",
                rd_kafka_err2name(err));
        exit(1);
    }
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;

    printf("  ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deterministic bytes, all 256 values included. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Client errors (a connection the broker closed, a request it never answered) are failures:
 * nothing in this test should provoke one. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    fail("%s: client error %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static rd_kafka_conf_t *new_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];

    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_client: %s\n", errstr);
        exit(1);
    }
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_client: %s=%s: %s\n", name, value, errstr);
        exit(1);
    }
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

    if (!rk) {
        fprintf(stderr, "rdkafka_client: rd_kafka_new: %s\n", errstr);
        exit(1);
    }
    return rk;
}

/* The topic's partition count from Metadata, -1 if it is not listed, -2 on error. It asks for
 * all topics: a request naming the topic would let the broker create it. */
static int partitions_of(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    int n = -1;

    if (err) {
        fail("metadata for %s: %s", topic, rd_kafka_err2str(err));
        return -2;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == 0)
            n = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Waits (bounded) for the admin result event of type TYPE on Q. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                    const char *what)
{
    int64_t end = mono_ms() + 30000;

    while (mono_ms() < end) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);

        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    fail("%s: no result within 30 s", what);
    return NULL;
}

static bool create_topic(rd_kafka_t *rk)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, NPART, 1, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    bool ok = false;

    if (!nt) {
        fprintf(stderr, "rdkafka_client: NewTopic: %s\n", errstr);
        exit(1);
    }
    rd_kafka_AdminOptions_set_operation_timeout(opt, 10000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics");
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);

        if (rd_kafka_event_error(ev))
            fail("CreateTopics: %s", rd_kafka_event_error_string(ev));
        else if (n != 1 || strcmp(rd_kafka_topic_result_name(tr[0]), topic) != 0)
            fail("CreateTopics: %zu results, expected one for %s", n, topic);
        else if (rd_kafka_topic_result_error(tr[0]))
            fail("CreateTopics %s: %s: %s", topic,
                 rd_kafka_err2name(rd_kafka_topic_result_error(tr[0])),
                 rd_kafka_topic_result_error_string(tr[0]));
        else
            ok = true;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);
    return ok;
}

static void delete_topic(rd_kafka_t *rk)
{
    char errstr[256];
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;

    rd_kafka_AdminOptions_set_operation_timeout(opt, 10000, errstr, sizeof(errstr));
    rd_kafka_DeleteTopics(rk, &dt, 1, opt, q);
    ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "DeleteTopics");
    if (ev) {
        const rd_kafka_DeleteTopics_result_t *res = rd_kafka_event_DeleteTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_DeleteTopics_result_topics(res, &n);

        if (rd_kafka_event_error(ev))
            fail("DeleteTopics: %s", rd_kafka_event_error_string(ev));
        else if (n != 1 || rd_kafka_topic_result_error(tr[0]))
            fail("DeleteTopics %s: %s", topic,
                 n == 1 ? rd_kafka_err2name(rd_kafka_topic_result_error(tr[0])) : "no result");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_DeleteTopic_destroy(dt);
}

/* Message i: a key (some with NUL and high bytes), a value of one of several shapes, a
 * timestamp in its group, headers built by make_headers(). */
static void make_msg(int i)
{
    struct msg *m = &msgs[i];
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(i + 1);

    m->group = i / PER;
    m->ts = t0 + (int64_t)m->group * GAP_MS + i % PER;
    m->klen = (size_t)snprintf(m->key, sizeof(m->key), "key-%d", i % 211);
    if (i % 7 == 0) {
        memcpy(m->key + m->klen, "\0\xc3\xa9\xff", 4);
        m->klen += 4;
    }
    if (i % 17 == 0) {
        m->val = NULL;
        m->vlen = 0;
        return;
    }
    m->vlen = i == NMSG / 2 ? BIG : i % 13 == 0 ? 0 : 1 + next_rand(&s) % 3000;
    m->val = malloc(m->vlen + 1);
    if (!m->val) {
        fprintf(stderr, "rdkafka_client: out of memory\n");
        exit(1);
    }
    for (size_t j = 0; j < m->vlen; j++)
        m->val[j] = (char)next_rand(&s);
    if (m->vlen >= 8)
        memcpy(m->val, &i, sizeof(i)); /* every value distinct */
}

/* Headers of message i: "idx" = the index as text; every third message also an empty value,
 * a null value and a repeated name. */
static rd_kafka_headers_t *make_headers(int i)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char idx[16];
    int n = snprintf(idx, sizeof(idx), "%d", i);

    rd_kafka_header_add(h, "idx", -1, idx, n);
    if (i % 3 == 0) {
        rd_kafka_header_add(h, "empty", -1, "", 0);
        rd_kafka_header_add(h, "null", -1, NULL, 0);
        rd_kafka_header_add(h, "idx", -1, "again", 5);
    }
    return h;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rm, void *opaque)
{
    struct msg *m = rm->_private;

    (void)rk;
    (void)opaque;
    if (m->delivered)
        fail("message %d: a second delivery report", (int)(m - msgs));
    m->delivered = true;
    m->err = rm->err;
    m->part = rm->partition;
    m->off = rm->offset;
}

static bool produce_all(void)
{
    rd_kafka_conf_t *conf = new_conf();
    rd_kafka_t *rk;
    bool ok = true;

    set(conf, "enable.idempotence", "false");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "2");
    set(conf, "message.timeout.ms", "30000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rk = new_client(RD_KAFKA_PRODUCER, conf);

    if (!create_topic(rk)) {
        rd_kafka_destroy(rk);
        return false;
    }
    int np = partitions_of(rk);
    if (np != NPART) {
        fail("Metadata after CreateTopics: %s has %d partitions, expected %d", topic, np, NPART);
        rd_kafka_destroy(rk);
        return false;
    }
    say("created %s with %d partitions", topic, np);

    for (int g = 0; g < GROUPS && ok; g++) {
        for (int i = g * PER; i < (g + 1) * PER; i++) {
            struct msg *m = &msgs[i];
            rd_kafka_headers_t *h = make_headers(i);
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->klen),
                RD_KAFKA_V_VALUE(m->val, m->vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(m->ts), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(m),
                RD_KAFKA_V_END);

            if (err) {
                rd_kafka_headers_destroy(h);
                fail("producev message %d: %s", i, rd_kafka_err2str(err));
                ok = false;
                break;
            }
            rd_kafka_poll(rk, 0);
        }
        /* Flush: the next group's messages go in batches of their own. */
        if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fail("flush of group %d: %d message(s) still unacknowledged after 30 s", g,
                 rd_kafka_outq_len(rk));
            ok = false;
        }
    }
    rd_kafka_destroy(rk);
    if (!ok)
        return false;

    for (int i = 0; i < NMSG; i++) {
        struct msg *m = &msgs[i];

        if (!m->delivered) {
            fail("message %d: no delivery report", i);
            return false;
        }
        if (m->err) {
            fail("message %d: delivery failed: %s", i, rd_kafka_err2str(m->err));
            return false;
        }
        if (m->part < 0 || m->part >= NPART || m->off < 0 || m->off >= NMSG) {
            fail("message %d: delivered to partition %" PRId32 " offset %" PRId64, i, m->part,
                 m->off);
            return false;
        }
        count[m->part]++;
    }
    for (int p = 0; p < NPART; p++) {
        by_off[p] = calloc((size_t)count[p] + 1, sizeof(*by_off[p]));
        if (!by_off[p]) {
            fprintf(stderr, "rdkafka_client: out of memory\n");
            exit(1);
        }
    }
    for (int i = 0; i < NMSG; i++) {
        struct msg *m = &msgs[i];

        if (m->off >= count[m->part] || by_off[m->part][m->off]) {
            fail("message %d: offset %" PRId64 " of partition %" PRId32
                 " is a duplicate or beyond the %" PRId64 " messages there",
                 i, m->off, m->part, count[m->part]);
            return false;
        }
        by_off[m->part][m->off] = m;
    }
    /* Offsets in a partition follow the order of production. */
    for (int p = 0; p < NPART; p++) {
        for (int64_t o = 1; o < count[p]; o++) {
            if (by_off[p][o] < by_off[p][o - 1])
                fail("partition %d: offset %" PRId64 " holds message %d, offset %" PRId64
                     " message %d: order of production lost",
                     p, o, (int)(by_off[p][o] - msgs), o - 1, (int)(by_off[p][o - 1] - msgs));
        }
    }
    say("produced %d messages: %" PRId64 "/%" PRId64 "/%" PRId64 " per partition", NMSG, count[0],
        count[1], count[2]);
    return true;
}

/* Compares a consumed message with the one produced at its partition and offset. */
static void check_msg(const rd_kafka_message_t *rm, const char *what)
{
    struct msg *m;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rm, &tstype);
    rd_kafka_headers_t *h = NULL;
    int i;
    char idx[16];
    size_t want_hdrs, n = 0;
    const char *name;
    const void *val;
    size_t size;

    if (rm->partition < 0 || rm->partition >= NPART || rm->offset < 0 ||
        rm->offset >= count[rm->partition]) {
        fail("%s: a message at partition %" PRId32 " offset %" PRId64 ", beyond what was produced",
             what, rm->partition, rm->offset);
        return;
    }
    m = by_off[rm->partition][rm->offset];
    i = (int)(m - msgs);
    if (rm->key_len != m->klen || memcmp(rm->key, m->key, m->klen) != 0)
        fail("%s: p%" PRId32 "@%" PRId64 " (message %d): key differs (%zu bytes, expected %zu)",
             what, rm->partition, rm->offset, i, rm->key_len, m->klen);
    if ((rm->payload == NULL) != (m->val == NULL))
        fail("%s: p%" PRId32 "@%" PRId64 " (message %d): value %s, expected %s", what,
             rm->partition, rm->offset, i, rm->payload ? "present" : "null",
             m->val ? "present" : "null");
    else if (rm->len != m->vlen || (m->vlen && memcmp(rm->payload, m->val, m->vlen) != 0))
        fail("%s: p%" PRId32 "@%" PRId64 " (message %d): value differs (%zu bytes, expected %zu)",
             what, rm->partition, rm->offset, i, rm->len, m->vlen);
    if (tstype != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts != m->ts)
        fail("%s: p%" PRId32 "@%" PRId64 " (message %d): timestamp %" PRId64
             " (type %d), expected create time %" PRId64,
             what, rm->partition, rm->offset, i, ts, (int)tstype, m->ts);

    want_hdrs = i % 3 == 0 ? 4 : 1;
    if (rd_kafka_message_headers(rm, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = rd_kafka_header_cnt(h);
    snprintf(idx, sizeof(idx), "%d", i);
    if (n != want_hdrs) {
        fail("%s: p%" PRId32 "@%" PRId64 " (message %d): %zu headers, expected %zu", what,
             rm->partition, rm->offset, i, n, want_hdrs);
        return;
    }
    static const char *const names[] = {"idx", "empty", "null", "idx"};
    for (size_t k = 0; k < n; k++) {
        const char *want = k == 0 ? idx : k == 1 ? "" : k == 2 ? NULL : "again";
        bool ok = rd_kafka_header_get_all(h, k, &name, &val, &size) == 0 &&
                  strcmp(name, names[k]) == 0 && (val == NULL) == (want == NULL) &&
                  (!want || (size == strlen(want) && memcmp(val, want, size) == 0));

        if (!ok) {
            fail("%s: p%" PRId32 "@%" PRId64 " (message %d): header %zu differs", what,
                 rm->partition, rm->offset, i, k);
            return;
        }
    }
}

static rd_kafka_t *new_consumer(void)
{
    rd_kafka_conf_t *conf = new_conf();

    /* librdkafka's assign() needs a group id, but no group API is used (no subscribe, no
     * commit), so the broker sees none. */
    set(conf, "group.id", "rdkafka-test");
    set(conf, "enable.partition.eof", "true");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "check.crcs", "true");
    return new_client(RD_KAFKA_CONSUMER, conf);
}

static void assign(rd_kafka_t *rk, int32_t part, int64_t off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPART);
    rd_kafka_resp_err_t err;

    for (int32_t p = 0; p < NPART; p++) {
        if (part < 0 || p == part)
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = off;
    }
    err = rd_kafka_assign(rk, l);
    if (err)
        fail("assign: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* (a) Everything from the beginning, in order, whole. */
static void consume_all(rd_kafka_t *rk)
{
    int64_t next[NPART] = {0}, end = mono_ms() + 60000;
    bool eof[NPART] = {false};
    int64_t got = 0;

    assign(rk, -1, RD_KAFKA_OFFSET_BEGINNING);
    while (mono_ms() < end) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(rk, 200);
        bool all = true;

        if (rm) {
            int32_t p = rm->partition;

            if (p < 0 || p >= NPART) {
                fail("consume: %s on partition %" PRId32, rd_kafka_err2str(rm->err), p);
            } else if (rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (rm->offset != count[p])
                    fail("consume: partition %" PRId32 " EOF at %" PRId64 ", expected %" PRId64, p,
                         rm->offset, count[p]);
                eof[p] = next[p] == count[p];
            } else if (rm->err) {
                fail("consume: partition %" PRId32 ": %s", p, rd_kafka_message_errstr(rm));
            } else {
                if (rm->offset != next[p])
                    fail("consume: partition %" PRId32 " gave offset %" PRId64 " where %" PRId64
                         " was next",
                         p, rm->offset, next[p]);
                check_msg(rm, "consume");
                next[p] = rm->offset + 1;
                got++;
            }
            rd_kafka_message_destroy(rm);
        }
        for (int k = 0; k < NPART; k++)
            all = all && eof[k];
        if (all)
            break;
    }
    for (int p = 0; p < NPART; p++) {
        if (!eof[p])
            fail("consume: partition %d: %" PRId64 " of %" PRId64 " messages within 60 s", p,
                 next[p], count[p]);
    }
    say("consumed %" PRId64 " messages from the beginning", got);
}

/* The next message (or EOF) for partition P within 15 s; NULL if none. */
static rd_kafka_message_t *first_of(rd_kafka_t *rk, int32_t p)
{
    int64_t end = mono_ms() + 15000;

    while (mono_ms() < end) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(rk, 200);

        if (!rm)
            continue;
        if (rm->partition == p && (!rm->err || rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF))
            return rm;
        if (rm->err)
            fail("partition %" PRId32 ": %s", rm->partition, rd_kafka_message_errstr(rm));
        rd_kafka_message_destroy(rm);
    }
    return NULL;
}

static void expect_first(rd_kafka_t *rk, int32_t p, int64_t off, const char *what)
{
    rd_kafka_message_t *rm = first_of(rk, p);

    if (!rm) {
        fail("%s: nothing from partition %" PRId32 " within 15 s", what, p);
        give_up_if_timed_out(RD_KAFKA_RESP_ERR__TIMED_OUT);
    }
    if (off == count[p]) {
        if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF || rm->offset != off)
            fail("%s: partition %" PRId32 " gave %s at %" PRId64 ", expected EOF at %" PRId64, what,
                 p, rm->err ? "EOF" : "a message", rm->offset, off);
    } else if (rm->err || rm->offset != off) {
        fail("%s: partition %" PRId32 " gave %s at %" PRId64 ", expected the message at %" PRId64,
             what, p, rm->err ? "EOF" : "a message", rm->offset, off);
    } else {
        check_msg(rm, what);
    }
    rd_kafka_message_destroy(rm);
}

/* (b) Assign at an offset, seek. */
static void seeks(rd_kafka_t *rk)
{
    int n = 0;

    for (int32_t p = 0; p < NPART; p++) {
        int64_t c = count[p];
        int64_t offs[] = {0, c / 2, c / 2 + 1, c - 1, c};

        for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
            char what[64];

            snprintf(what, sizeof(what), "assign at p%" PRId32 "@%" PRId64, p, offs[k]);
            assign(rk, p, offs[k]);
            expect_first(rk, p, offs[k], what);
            n++;
        }
        /* Assigned (at the end); now read from c/3 and seek back and forth. */
        int64_t targets[] = {c / 3, c / 5, c - 2, 1};
        for (size_t k = 0; k < sizeof(targets) / sizeof(targets[0]); k++) {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_error_t *e;
            char what[64];

            rd_kafka_topic_partition_list_add(l, topic, p)->offset = targets[k];
            e = rd_kafka_seek_partitions(rk, l, 10000);
            if (e) {
                fail("seek p%" PRId32 "@%" PRId64 ": %s", p, targets[k], rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            } else if (l->elems[0].err) {
                fail("seek p%" PRId32 "@%" PRId64 ": %s", p, targets[k],
                     rd_kafka_err2str(l->elems[0].err));
            } else {
                snprintf(what, sizeof(what), "seek to p%" PRId32 "@%" PRId64, p, targets[k]);
                expect_first(rk, p, targets[k], what);
                n++;
            }
            rd_kafka_topic_partition_list_destroy(l);
        }
    }
    rd_kafka_assign(rk, NULL);
    say("%d assigns and seeks each returned the offset asked for first", n);
}

/* The first offset in partition P of a message with timestamp >= TS, or -1. */
static int64_t first_at(int32_t p, int64_t ts)
{
    for (int64_t o = 0; o < count[p]; o++) {
        if (by_off[p][o]->ts >= ts)
            return o;
    }
    return -1;
}

/* The first offset of group G in partition P, or -1. */
static int64_t group_start(int32_t p, int g)
{
    for (int64_t o = 0; o < count[p]; o++) {
        if (by_off[p][o]->group >= g)
            return o;
    }
    return -1;
}

/* (c) offsets_for_times. The answer for partition p is want, the first offset there with a
 * timestamp >= TS (-1 if none). Unless EXACT it may also be earlier, down to group G's first
 * offset there: the broker answers with the base offset of the batch that holds want. */
static void times_case(rd_kafka_t *rk, const char *what, int64_t ts, bool exact, int g)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPART);
    rd_kafka_resp_err_t err;

    for (int32_t p = 0; p < NPART; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = ts;
    err = rd_kafka_offsets_for_times(rk, l, 10000);
    if (err) {
        fail("offsets_for_times %s (ts %" PRId64 "): %s", what, ts, rd_kafka_err2str(err));
        give_up_if_timed_out(err);
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    for (int i = 0; i < l->cnt; i++) {
        int32_t p = l->elems[i].partition;
        int64_t got = l->elems[i].offset, want = first_at(p, ts);
        int64_t lo = exact || want < 0 ? want : group_start(p, g);

        if (l->elems[i].err)
            fail("offsets_for_times %s: partition %" PRId32 ": %s", what, p,
                 rd_kafka_err2str(l->elems[i].err));
        else if (got < lo || got > want)
            fail("offsets_for_times %s (ts %" PRId64 "): partition %" PRId32 " offset %" PRId64
                 ", expected %s%" PRId64,
                 what, ts, p, got, exact || lo == want ? "" : "at most ", want);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void times(rd_kafka_t *rk)
{
    int64_t last = t0 + (GROUPS - 1) * GAP_MS + PER - 1;
    int n = 0;

    times_case(rk, "before the first message", t0 - 3600 * 1000, true, 0);
    times_case(rk, "at the first message", t0, true, 0);
    n += 2;
    for (int g = 1; g < GROUPS; g++) {
        char what[64];

        snprintf(what, sizeof(what), "at group %d's start", g);
        times_case(rk, what, t0 + g * GAP_MS, true, g);
        snprintf(what, sizeof(what), "between groups %d and %d", g - 1, g);
        times_case(rk, what, t0 + g * GAP_MS - GAP_MS / 2, true, g);
        snprintf(what, sizeof(what), "inside group %d", g);
        times_case(rk, what, t0 + g * GAP_MS + PER / 2, false, g);
        n += 3;
    }
    times_case(rk, "at the last message", last, false, GROUPS - 1);
    times_case(rk, "after the last message", last + 1, true, GROUPS);
    times_case(rk, "far in the future", now_ms() + 86400 * 1000, true, GROUPS);
    n += 3;
    say("%d offsets_for_times lookups answered as expected", n);
}

/* (d) Watermarks by ListOffsets. */
static void watermarks(rd_kafka_t *rk)
{
    for (int32_t p = 0; p < NPART; p++) {
        int64_t lo = -9, hi = -9;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);

        if (err) {
            fail("query_watermark_offsets p%" PRId32 ": %s", p, rd_kafka_err2str(err));
            give_up_if_timed_out(err);
        } else if (lo != 0 || hi != count[p])
            fail("query_watermark_offsets p%" PRId32 ": low %" PRId64 " high %" PRId64
                 ", expected 0 and %" PRId64,
                 p, lo, hi, count[p]);
    }
    say("watermarks of %d partitions as produced", NPART);
}

int main(int argc, char **argv)
{
    rd_kafka_t *rk;

    if (argc != 2) {
        fprintf(stderr, "usage: rdkafka_client HOST:PORT\n");
        return 2;
    }
    brokers = argv[1];
    snprintf(topic, sizeof(topic), "rdk-%d", (int)getpid());
    t0 = now_ms() - 3600 * 1000; /* an hour ago: well inside any retention */
    for (int i = 0; i < NMSG; i++)
        make_msg(i);
    say("librdkafka %s against %s", rd_kafka_version_str(), brokers);

    if (produce_all()) {
        rk = new_consumer();
        consume_all(rk);
        seeks(rk);
        times(rk);
        watermarks(rk);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);

        rk = new_client(RD_KAFKA_PRODUCER, new_conf());
        delete_topic(rk);
        int np = partitions_of(rk);
        if (np != -1)
            fail("Metadata after DeleteTopics: %s still listed (%d partitions)", topic, np);
        else
            say("deleted %s", topic);
        rd_kafka_destroy(rk);
    }

    for (int i = 0; i < NMSG; i++)
        free(msgs[i].val);
    for (int p = 0; p < NPART; p++)
        free(by_off[p]);
    if (rd_kafka_wait_destroyed(10000) != 0)
        fail("librdkafka handles still alive 10 s after destroy");
    if (failures) {
        fprintf(stderr, "rdkafka_client: %d check(s) failed\n", failures);
        return 1;
    }
    say("all checks passed");
    return 0;
}
