/*
 * peer_redis: the workloads of common.h against Redis streams, with hiredis.
 *
 *   produce  XADD STREAM * d RECORD, pipelined: --window commands are written at once, and the
 *            next batch is written before the replies to the last one are read (two batches in
 *            flight, so that Redis works through one while the client builds the next)
 *   consume  XREAD COUNT --batch STREAMS STREAM LAST-ID, from 0-0, until --records records
 *   e2e      each XADD written when it is due, replies read as they come, never waited for;
 *            the consumer, on its own connection, in XREAD COUNT --batch BLOCK 100
 *   reqs     XADD, wait for the reply, and again: no pipelining
 */
#include "common.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redisContext *connect_redis(const struct peer_opts *o)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout(o->host, atoi(o->port), tv);

    if (!c || c->err)
        peer_die("connect to redis %s:%s: %s", o->host, o->port, c ? c->errstr : "out of memory");
    return c;
}

static void append_xadd(redisContext *c, const struct peer_opts *o, const uint8_t *rec)
{
    if (redisAppendCommand(c, "XADD %s * d %b", o->stream, rec, (size_t)o->size) != REDIS_OK)
        peer_die("XADD: %s", c->errstr);
}

static void write_out(redisContext *c)
{
    int done;

    do {
        if (redisBufferWrite(c, &done) != REDIS_OK)
            peer_die("redis: %s", c->errstr);
    } while (!done);
}

static bool is_error(redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR)
        return false;
    fprintf(stderr, "peer_redis: %s\n", r->str);
    return true;
}

/* One reply, blocking; true if it is an error reply. */
static bool read_reply(redisContext *c)
{
    redisReply *r;
    bool err;

    if (redisGetReply(c, (void **)&r) != REDIS_OK)
        peer_die("redis: %s", c->errstr);
    err = is_error(r);
    freeReplyObject(r);
    return err;
}

/* --- producer ------------------------------------------------------------------------------- */

struct producer {
    const struct peer_opts *o;
    redisContext *c;
    struct peer_acks *a;
    uint64_t *stamps; /* of the records in flight, by sequence modulo 2 * window */
    long long sent, acked, cap;
};

static void *producer_open(const struct peer_opts *o, struct peer_acks *a)
{
    struct producer *p = peer_calloc(1, sizeof(*p));

    p->o = o;
    p->a = a;
    p->c = connect_redis(o);
    /* e2e never waits for replies: room for a second's worth of records. */
    p->cap = o->mode == PEER_E2E ? (long long)o->rate + 1 : 2 * (long long)o->window;
    p->stamps = peer_calloc((size_t)p->cap, sizeof(*p->stamps));
    return p;
}

static void take_reply(struct producer *p, redisReply *r)
{
    peer_ack(p->a, p->stamps[p->acked++ % p->cap], is_error(r));
    freeReplyObject(r);
}

/* Read replies down to `upto` records in flight: blocking. */
static void read_down_to(struct producer *p, long long upto)
{
    while (p->sent - p->acked > upto) {
        redisReply *r;

        if (redisGetReply(p->c, (void **)&r) != REDIS_OK)
            peer_die("redis: %s", p->c->errstr);
        take_reply(p, r);
    }
}

static void producer_send(void *arg, const uint8_t *rec)
{
    struct producer *p = arg;

    if (p->sent - p->acked >= p->cap)
        read_down_to(p, p->cap - 1);
    p->stamps[p->sent++ % p->cap] = peer_get_stamp(rec);
    append_xadd(p->c, p->o, rec);
    if (p->o->mode == PEER_PRODUCE && p->sent % p->o->window == 0) {
        /* A batch is complete: write it, then read the replies to the one before. */
        write_out(p->c);
        read_down_to(p, p->o->window);
    }
}

/* e2e: write what is due, take the replies that have come. */
static void producer_tick(void *arg)
{
    struct producer *p = arg;
    struct pollfd pfd = {.fd = p->c->fd, .events = POLLIN};
    void *r;

    write_out(p->c);
    if (poll(&pfd, 1, 0) > 0 && redisBufferRead(p->c) != REDIS_OK)
        peer_die("redis: %s", p->c->errstr);
    for (;;) {
        if (redisGetReplyFromReader(p->c, &r) != REDIS_OK)
            peer_die("redis: %s", p->c->errstr);
        if (!r)
            break;
        take_reply(p, r);
    }
}

static void producer_finish(void *arg)
{
    struct producer *p = arg;

    read_down_to(p, 0);
    redisFree(p->c);
    free(p->stamps);
    free(p);
}

/* --- consumer ------------------------------------------------------------------------------- */

struct consumer {
    const struct peer_opts *o;
    redisContext *c;
    struct peer_sink *s;
    char last[64]; /* the id of the last entry read */
};

static void *consumer_open(const struct peer_opts *o, struct peer_sink *s)
{
    struct consumer *c = peer_calloc(1, sizeof(*c));

    c->o = o;
    c->s = s;
    c->c = connect_redis(o);
    snprintf(c->last, sizeof(c->last), "0-0");
    return c;
}

static void consumer_receive(void *arg)
{
    struct consumer *c = arg;
    redisReply *r, *entries;

    /* BLOCK only matters in e2e: a backlog answers at once. */
    r = redisCommand(c->c, "XREAD COUNT %d BLOCK 100 STREAMS %s %s", c->o->batch, c->o->stream,
                     c->last);
    if (!r)
        peer_die("XREAD: %s", c->c->errstr);
    if (r->type == REDIS_REPLY_NIL || is_error(r)) {
        freeReplyObject(r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->elements != 2)
        peer_die("XREAD: an unexpected reply (type %d)", r->type);
    /* [[stream, [[id, [field, value]], ...]]] */
    entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i], *f = e->element[1];

        if (f->elements == 2)
            peer_sink_record(c->s, f->element[1]->str, f->element[1]->len);
        snprintf(c->last, sizeof(c->last), "%s", e->element[0]->str);
    }
    freeReplyObject(r);
}

static void consumer_close(void *arg)
{
    struct consumer *c = arg;

    redisFree(c->c);
    free(c);
}

/* --- reqs ----------------------------------------------------------------------------------- */

struct conn {
    const struct peer_opts *o;
    redisContext *c;
};

static void *conn_open(const struct peer_opts *o)
{
    struct conn *c = peer_calloc(1, sizeof(*c));

    c->o = o;
    c->c = connect_redis(o);
    return c;
}

static int conn_request(void *arg, const uint8_t *rec)
{
    struct conn *c = arg;

    append_xadd(c->c, c->o, rec);
    return read_reply(c->c);
}

static void conn_close(void *arg)
{
    struct conn *c = arg;

    redisFree(c->c);
    free(c);
}

static const struct peer_driver driver = {
    .system = "redis",
    .producer = {.open = producer_open,
                 .send = producer_send,
                 .tick = producer_tick,
                 .finish = producer_finish},
    .consumer = {.open = consumer_open, .receive = consumer_receive, .close = consumer_close},
    .reqs = {.open = conn_open, .request = conn_request, .close = conn_close},
};

/* No setup: XADD creates the stream. */
int main(int argc, char **argv)
{
    return peer_main(argc, argv, &driver);
}
