/*
 * peer_zcq: the workloads of common.h against zcq (or any Kafka broker) through the Kafka
 * protocol. produce, consume and e2e use librdkafka, the Kafka C client; reqs speaks the
 * protocol itself (zcq_raw.c), because a client library would batch and pipeline.
 *
 *   setup    create --stream as a topic of one partition (Admin API), like one stream elsewhere
 *   produce  acks=1, linger.ms=5, batch.size=1 MiB, a million records may be queued: what
 *            zcq perf produce and Kafka's own perf tool send (--window is not used)
 *   consume  assign partition 0 from the beginning; batches of up to --batch records
 *            (rd_kafka_consume_batch_queue); librdkafka's fetch defaults (1 MiB per partition)
 *   e2e      producer with linger.ms=0 (each record sent as soon as it is produced), consumer
 *            with fetch.min.bytes=1 and fetch.wait.max.ms=100: what a latency-minded user sets
 *   reqs     zcq_raw.c: one Produce v7 of one record per request, acks=1, per connection
 */
#include "common.h"
#include "zcq_raw.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];

    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        peer_die("librdkafka %s=%s: %s", k, v, err);
}

static rd_kafka_conf_t *base_conf(const struct peer_opts *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char bootstrap[300];

    snprintf(bootstrap, sizeof(bootstrap), "%s:%s", o->host, o->port);
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "log_level", "3");
    return conf;
}

/* Extra properties from the environment, "k=v,k=v": PEER_RDKAFKA_PRODUCER and
 * PEER_RDKAFKA_CONSUMER, for trying what another setting does. */
static void set_from_env(rd_kafka_conf_t *conf, const char *var)
{
    const char *env = getenv(var);
    char *list, *save = NULL;

    if (!env || !(list = strdup(env)))
        return;
    for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');

        if (!eq)
            peer_die("%s: '%s' is not key=value", var, kv);
        *eq = 0;
        set(conf, kv, eq + 1);
    }
    free(list);
}

static rd_kafka_t *client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[256];
    rd_kafka_t *rk;

    set_from_env(conf,
                 type == RD_KAFKA_PRODUCER ? "PEER_RDKAFKA_PRODUCER" : "PEER_RDKAFKA_CONSUMER");
    rk = rd_kafka_new(type, conf, err, sizeof(err));

    if (!rk)
        peer_die("librdkafka: %s", err);
    return rk;
}

/* Wait for the topic's metadata: the connection is up and the partition has a leader. */
static void warm_up(rd_kafka_t *rk, const struct peer_opts *o)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->stream, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err;

    for (int i = 0; i < 50; i++) {
        err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!err) {
            bool ok = md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt >= 1;

            rd_kafka_metadata_destroy(md);
            if (ok)
                break;
        }
        usleep(100000);
    }
    rd_kafka_topic_destroy(rkt);
}

/* --- setup ---------------------------------------------------------------------------------- */

static int setup(const struct peer_opts *o)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, base_conf(o));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->stream, 1, 1, err, sizeof(err));
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    rd_kafka_event_t *ev;
    size_t n;

    if (!nt)
        peer_die("topic %s: %s", o->stream, err);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || !(res = rd_kafka_event_CreateTopics_result(ev)))
        peer_die("CreateTopics %s: no answer", o->stream);
    tr = rd_kafka_CreateTopics_result_topics(res, &n);
    if (n != 1 || (rd_kafka_topic_result_error(tr[0]) &&
                   rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
        peer_die("CreateTopics %s: %s", o->stream,
                 n ? rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return 0;
}

/* --- producer ------------------------------------------------------------------------------- */

struct producer {
    const struct peer_opts *o;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct peer_acks *a;
    long long sent;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct peer_acks *a = opaque;

    (void)rk;
    if (m->err && !a->errors)
        fprintf(stderr, "peer_zcq: delivery failed: %s\n", rd_kafka_err2str(m->err));
    peer_ack(a, m->err ? 0 : peer_get_stamp(m->payload), m->err != 0);
}

static void *producer_open(const struct peer_opts *o, struct peer_acks *a)
{
    struct producer *p = peer_calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = base_conf(o);

    p->o = o;
    p->a = a;
    set(conf, "acks", "1");
    /* e2e: each record goes out as soon as it is produced. */
    set(conf, "linger.ms", o->mode == PEER_E2E ? "0" : "5");
    set(conf, "batch.size", "1048576");
    set(conf, "message.max.bytes", "2000000");
    set(conf, "queue.buffering.max.messages", "1000000");
    set(conf, "message.timeout.ms", "60000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, a);
    p->rk = client(RD_KAFKA_PRODUCER, conf);
    p->rkt = rd_kafka_topic_new(p->rk, o->stream, NULL);
    warm_up(p->rk, o);
    return p;
}

static void producer_send(void *arg, const uint8_t *rec)
{
    struct producer *p = arg;

    /* Copied: librdkafka owns its copy. */
    while (rd_kafka_produce(p->rkt, 0, RD_KAFKA_MSG_F_COPY, (void *)rec, (size_t)p->o->size, NULL,
                            0, NULL) == -1) {
        rd_kafka_resp_err_t err = rd_kafka_last_error();

        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            peer_die("produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(p->rk, 1);
    }
    /* Delivery reports left waiting in the queue would count as latency. */
    if ((++p->sent & 15) == 0)
        rd_kafka_poll(p->rk, 0);
}

static void producer_tick(void *arg)
{
    struct producer *p = arg;

    rd_kafka_poll(p->rk, 0);
}

static void producer_finish(void *arg)
{
    struct producer *p = arg;

    if (rd_kafka_flush(p->rk, 90000))
        peer_die("%d records not acknowledged after 90 s", rd_kafka_outq_len(p->rk));
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    free(p);
}

/* --- consumer ------------------------------------------------------------------------------- */

struct consumer {
    const struct peer_opts *o;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rd_kafka_message_t **batch;
    struct peer_sink *s;
};

static void *consumer_open(const struct peer_opts *o, struct peer_sink *s)
{
    struct consumer *c = peer_calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = base_conf(o);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    c->batch = peer_calloc((size_t)o->batch, sizeof(*c->batch));
    c->o = o;
    c->s = s;
    set(conf, "group.id", "peers-bench");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "auto.offset.reset", "earliest");
    if (o->mode == PEER_E2E) {
        /* Answer a fetch as soon as one byte is there. */
        set(conf, "fetch.wait.max.ms", "100");
        set(conf, "fetch.min.bytes", "1");
    }
    c->rk = client(RD_KAFKA_CONSUMER, conf);
    /* Without the topic's metadata first, the assignment waits for a refresh (half a second). */
    warm_up(c->rk, o);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    rd_kafka_topic_partition_list_add(l, o->stream, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(c->rk, l);
    if (err)
        peer_die("assign %s: %s", o->stream, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    return c;
}

static void consumer_receive(void *arg)
{
    struct consumer *c = arg;
    ssize_t n;

    /* rd_kafka_consume_batch_queue waits for a full batch (or its timeout), which would hold
     * back records that have arrived: wait for one, then take whatever else is there. */
    c->batch[0] = rd_kafka_consume_queue(c->q, 100);
    if (!c->batch[0])
        return;
    n = 1 + (c->o->batch > 1
                 ? rd_kafka_consume_batch_queue(c->q, 0, c->batch + 1, (size_t)c->o->batch - 1)
                 : 0);
    if (n < 1)
        peer_die("consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = c->batch[i];

        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* not an error */
        } else if (m->err) {
            if (!c->s->errors++)
                fprintf(stderr, "peer_zcq: %s\n", rd_kafka_err2str(m->err));
        } else {
            peer_sink_record(c->s, m->payload, m->len);
        }
        rd_kafka_message_destroy(m);
    }
}

static void consumer_close(void *arg)
{
    struct consumer *c = arg;

    rd_kafka_queue_destroy(c->q);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->batch);
    free(c);
}

static const struct peer_driver driver = {
    .system = "zcq",
    .setup = setup,
    .producer = {.open = producer_open,
                 .send = producer_send,
                 .tick = producer_tick,
                 .finish = producer_finish},
    .consumer = {.open = consumer_open, .receive = consumer_receive, .close = consumer_close},
    .reqs = {.open = zcq_raw_open, .request = zcq_raw_request, .close = zcq_raw_close},
};

/* PEER_ZCQ_CLIENT=raw: produce, consume and e2e with zcq_raw.c's thin clients instead of
 * librdkafka, to tell the broker's share of a result from the client library's. */
static const struct peer_driver raw_driver = {
    .system = "zcq",
    .setup = setup,
    .producer = {.open = zcq_raw_producer_open,
                 .send = zcq_raw_producer_send,
                 .tick = zcq_raw_producer_tick,
                 .finish = zcq_raw_producer_finish},
    .consumer = {.open = zcq_raw_consumer_open,
                 .receive = zcq_raw_consumer_receive,
                 .close = zcq_raw_consumer_close},
    .reqs = {.open = zcq_raw_open, .request = zcq_raw_request, .close = zcq_raw_close},
};

int main(int argc, char **argv)
{
    const char *client = getenv("PEER_ZCQ_CLIENT");

    return peer_main(argc, argv, client && strcmp(client, "raw") == 0 ? &raw_driver : &driver);
}
