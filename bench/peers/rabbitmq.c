/*
 * peer_rabbitmq: the workloads of common.h against a RabbitMQ stream queue over AMQP 0-9-1, with
 * librabbitmq (rabbitmq-c).
 *
 *   setup    queue.declare --stream, durable, x-queue-type=stream: an append-only log, like a
 *            Kafka partition, kept until retention removes it
 *   produce  basic.publish to it through the default exchange, in confirm mode, with at most
 *            --window publishes unconfirmed (the broker confirms several at once with multiple)
 *   consume  basic.qos prefetch --batch, basic.consume with x-stream-offset=first, acks (which a
 *            stream only uses as credit) every half prefetch, with multiple
 *   e2e      the same consumer on its own connection; each record published when it is due,
 *            confirms read as they come, never waited for
 *   reqs     publish, wait for its confirm, and again
 *
 * RabbitMQ's own stream protocol (port 5552) is faster than AMQP for streams but has no C client
 * in Debian; AMQP is how a C program reaches a stream here (docs/peers.md).
 */
#include "common.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CH 1

static void check_rpc(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        /* Both close methods start with reply_code, reply_text. */
        amqp_channel_close_t *m = r.reply.decoded;

        peer_die("%s: %u %.*s", what, m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
    }
    peer_die("%s: %s", what,
             r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error)
                                                             : "server exception");
}

static amqp_connection_state_t connect_amqp(const struct peer_opts *o)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    int rc;

    rc = amqp_socket_open(sock, o->host, atoi(o->port));
    if (rc != AMQP_STATUS_OK)
        peer_die("connect to %s:%s: %s", o->host, o->port, amqp_error_string2(rc));
    check_rpc(amqp_login(conn, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                         "guest"),
              "login");
    amqp_channel_open(conn, CH);
    check_rpc(amqp_get_rpc_reply(conn), "channel.open");
    return conn;
}

static void disconnect(amqp_connection_state_t conn)
{
    amqp_channel_close(conn, CH, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static amqp_table_t one_arg(amqp_table_entry_t *e, const char *key, const char *value)
{
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(value);
    return (amqp_table_t){.num_entries = 1, .entries = e};
}

static int setup(const struct peer_opts *o)
{
    amqp_connection_state_t conn = connect_amqp(o);
    amqp_table_entry_t e;

    amqp_queue_declare(conn, CH, amqp_cstring_bytes(o->stream), 0, 1, 0, 0,
                       one_arg(&e, "x-queue-type", "stream"));
    check_rpc(amqp_get_rpc_reply(conn), "queue.declare");
    disconnect(conn);
    return 0;
}

/* --- publishing with confirms ---------------------------------------------------------------- */

struct producer {
    const struct peer_opts *o;
    amqp_connection_state_t conn;
    struct peer_acks *a;
    uint64_t *stamps;             /* of the unconfirmed publishes, by delivery tag modulo cap */
    uint64_t next_tag, confirmed; /* tags start at 1; confirmed: every tag up to this one */
    long long cap;
};

static void producer_init(struct producer *p, const struct peer_opts *o, struct peer_acks *a,
                          long long cap)
{
    p->o = o;
    p->a = a;
    p->cap = cap;
    p->next_tag = 1;
    p->conn = connect_amqp(o);
    p->stamps = peer_calloc((size_t)cap, sizeof(*p->stamps));
    amqp_confirm_select(p->conn, CH);
    check_rpc(amqp_get_rpc_reply(p->conn), "confirm.select");
}

static void publish(struct producer *p, const uint8_t *rec)
{
    int rc;

    p->stamps[p->next_tag++ % (uint64_t)p->cap] = peer_get_stamp(rec);
    rc = amqp_basic_publish(p->conn, CH, amqp_empty_bytes, amqp_cstring_bytes(p->o->stream), 0, 0,
                            NULL, (amqp_bytes_t){.len = (size_t)p->o->size, .bytes = (void *)rec});
    if (rc != AMQP_STATUS_OK)
        peer_die("basic.publish: %s", amqp_error_string2(rc));
}

/* Read one frame, waiting at most tv (NULL: for ever); take the confirms it carries. Returns
 * false on a timeout. */
static bool read_confirm(struct producer *p, const struct timeval *tv)
{
    amqp_frame_t f;
    uint64_t tag;
    bool multiple, nack = false;
    int rc =
        tv ? amqp_simple_wait_frame_noblock(p->conn, &f, tv) : amqp_simple_wait_frame(p->conn, &f);

    if (rc == AMQP_STATUS_TIMEOUT)
        return false;
    if (rc != AMQP_STATUS_OK)
        peer_die("waiting for confirms: %s", amqp_error_string2(rc));
    if (f.frame_type != AMQP_FRAME_METHOD)
        return true;
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *m = f.payload.method.decoded;

        tag = m->delivery_tag;
        multiple = m->multiple;
        break;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *m = f.payload.method.decoded;

        tag = m->delivery_tag;
        multiple = m->multiple;
        nack = true;
        fprintf(stderr, "peer_rabbitmq: publish %llu refused\n", (unsigned long long)tag);
        break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_channel_close_t *m = f.payload.method.decoded;

        peer_die("closed by the broker: %u %.*s", m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
    }
    default:
        return true;
    }
    /* A single confirm may come ahead of the ones before it: it takes just its tag, and its
     * stamp is zeroed so that a later multiple one does not count it again. */
    for (uint64_t t = multiple ? p->confirmed + 1 : tag; t <= tag; t++) {
        uint64_t *stamp = &p->stamps[t % (uint64_t)p->cap];

        if (*stamp)
            peer_ack(p->a, *stamp, nack);
        *stamp = 0;
    }
    if (multiple || tag == p->confirmed + 1)
        p->confirmed = tag;
    amqp_maybe_release_buffers(p->conn);
    return true;
}

/* Publishes from the oldest unconfirmed one on (some later ones may be confirmed already). */
static long long in_flight(const struct producer *p)
{
    return (long long)(p->next_tag - 1 - p->confirmed);
}

static void *producer_open(const struct peer_opts *o, struct peer_acks *a)
{
    struct producer *p = peer_calloc(1, sizeof(*p));

    /* e2e: no window; room for a second's worth of records in flight. */
    producer_init(p, o, a, o->mode == PEER_E2E ? (long long)o->rate + 1 : o->window + 1);
    return p;
}

static void producer_send(void *arg, const uint8_t *rec)
{
    struct producer *p = arg;

    while (in_flight(p) >= p->cap - 1)
        read_confirm(p, NULL);
    publish(p, rec);
}

static void producer_tick(void *arg)
{
    struct producer *p = arg;
    struct timeval zero = {0};

    while (read_confirm(p, &zero))
        ;
}

static void producer_finish(void *arg)
{
    struct producer *p = arg;

    while (in_flight(p) > 0)
        read_confirm(p, NULL);
    disconnect(p->conn);
    free(p->stamps);
    free(p);
}

/* --- consumer ------------------------------------------------------------------------------- */

struct consumer {
    const struct peer_opts *o;
    amqp_connection_state_t conn;
    struct peer_sink *s;
    uint64_t unacked_from, last_tag;
};

static void *consumer_open(const struct peer_opts *o, struct peer_sink *s)
{
    struct consumer *c = peer_calloc(1, sizeof(*c));
    amqp_table_entry_t e;

    c->o = o;
    c->s = s;
    c->conn = connect_amqp(o);
    amqp_basic_qos(c->conn, CH, 0, (uint16_t)(o->batch > 65535 ? 65535 : o->batch), 0);
    check_rpc(amqp_get_rpc_reply(c->conn), "basic.qos");
    amqp_basic_consume(c->conn, CH, amqp_cstring_bytes(o->stream), amqp_empty_bytes, 0, 0, 0,
                       one_arg(&e, "x-stream-offset", "first"));
    check_rpc(amqp_get_rpc_reply(c->conn), "basic.consume");
    return c;
}

static void consumer_receive(void *arg)
{
    struct consumer *c = arg;
    struct timeval tv = {.tv_usec = 100000};
    uint64_t ack_every = c->o->batch / 2 ? (uint64_t)c->o->batch / 2 : 1;

    /* What has arrived, then back to the caller after a wait of 100 ms at most. */
    for (int i = 0; i < c->o->batch; i++) {
        amqp_envelope_t env;
        amqp_rpc_reply_t r;

        amqp_maybe_release_buffers(c->conn);
        r = amqp_consume_message(c->conn, &env, i ? &(struct timeval){0} : &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            return;
        check_rpc(r, "consume");
        peer_sink_record(c->s, env.message.body.bytes, env.message.body.len);
        c->last_tag = env.delivery_tag;
        if (c->last_tag - c->unacked_from + 1 >= ack_every) {
            if (amqp_basic_ack(c->conn, CH, c->last_tag, 1) != AMQP_STATUS_OK)
                peer_die("basic.ack failed");
            c->unacked_from = c->last_tag + 1;
        }
        amqp_destroy_envelope(&env);
    }
}

static void consumer_close(void *arg)
{
    struct consumer *c = arg;

    disconnect(c->conn);
    free(c);
}

/* --- reqs ----------------------------------------------------------------------------------- */

static void *conn_open(const struct peer_opts *o)
{
    struct producer *p = peer_calloc(1, sizeof(*p));

    p->a = peer_calloc(1, sizeof(*p->a));
    producer_init(p, o, p->a, 2);
    return p;
}

static int conn_request(void *arg, const uint8_t *rec)
{
    struct producer *p = arg;
    long long errors = p->a->errors;

    publish(p, rec);
    while (in_flight(p) > 0)
        read_confirm(p, NULL);
    return p->a->errors != errors;
}

static void conn_close(void *arg)
{
    struct producer *p = arg;
    struct peer_acks *a = p->a;

    producer_finish(p);
    free(a);
}

static const struct peer_driver driver = {
    .system = "rabbitmq",
    .setup = setup,
    .producer = {.open = producer_open,
                 .send = producer_send,
                 .tick = producer_tick,
                 .finish = producer_finish},
    .consumer = {.open = consumer_open, .receive = consumer_receive, .close = consumer_close},
    .reqs = {.open = conn_open, .request = conn_request, .close = conn_close},
};

int main(int argc, char **argv)
{
    return peer_main(argc, argv, &driver);
}
