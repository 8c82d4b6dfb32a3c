/*
 * zcq_raw.c: peer_zcq reqs, the request-capacity workload, in the Kafka protocol itself: --conns
 * connections (a thread each), each sending a Produce v7 request holding one record batch of one
 * --size record to partition 0 of --stream, acks=1, and waiting for its response before the next.
 * No client library: librdkafka would batch records and pipeline requests, and this workload
 * measures what one request costs (Redis's counterpart is XADD without pipelining).
 *
 * Layouts: docs/kafka-protocol.md sections 4 (Produce v7) and 5 (record batch, magic 2); the
 * batch carries a CRC-32C of its bytes from the attributes on, so each request computes one.
 */
#include "zcq_raw.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CRC_FROM 21 /* the batch's CRC covers its bytes from the attributes to the end */

static uint32_t crc_table[256];

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), a byte at a time. */
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* --- writing big-endian fields and varints -------------------------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t at, cap;
};

static void put(struct wbuf *w, uint64_t v, int bytes)
{
    if (w->at + (size_t)bytes > w->cap)
        peer_die("request buffer too small");
    for (int i = bytes - 1; i >= 0; i--)
        w->p[w->at++] = (uint8_t)(v >> (8 * i));
}

static void put_varint(struct wbuf *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); /* zigzag */

    do {
        if (w->at >= w->cap)
            peer_die("request buffer too small");
        w->p[w->at++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
        z >>= 7;
    } while (z);
}

static void put_bytes(struct wbuf *w, const void *s, size_t n)
{
    if (w->at + n > w->cap)
        peer_die("request buffer too small");
    memcpy(w->p + w->at, s, n);
    w->at += n;
}

static void put_str(struct wbuf *w, const char *s)
{
    put(w, strlen(s), 2);
    put_bytes(w, s, strlen(s));
}

static size_t varint_len(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;

    while (z > 0x7f) {
        z >>= 7;
        n++;
    }
    return n;
}

/* The whole request: size, header, and a body holding one batch of the n records at recs (each
 * o->size bytes, one after the other), for partition 0 of o->stream. */
static size_t build_produce(struct wbuf *w, const struct peer_opts *o, int32_t corr,
                            const uint8_t *recs, int n, int64_t now_ms)
{
    size_t batch_at, records_len_at, batch_len;
    struct wbuf f = {.p = w->p, .cap = w->cap};

    w->at = 0;
    put(w, 0, 4); /* frame size, filled in last */
    put(w, 0, 2); /* Produce */
    put(w, 7, 2); /* v7 */
    put(w, (uint32_t)corr, 4);
    put_str(w, "peer_zcq");
    put(w, 0xffff, 2); /* transactional id: null */
    put(w, 1, 2);      /* acks */
    put(w, 30000, 4);  /* timeout ms */
    put(w, 1, 4);      /* one topic */
    put_str(w, o->stream);
    put(w, 1, 4); /* one partition */
    put(w, 0, 4); /* partition 0 */
    records_len_at = w->at;
    put(w, 0, 4); /* records: bytes, filled in below */
    batch_at = w->at;
    put(w, 0, 8);                 /* base offset */
    put(w, 0, 4);                 /* batch length, below */
    put(w, 0xffffffffu, 4);       /* partition leader epoch: none */
    put(w, 2, 1);                 /* magic */
    put(w, 0, 4);                 /* crc, below */
    put(w, 0, 2);                 /* attributes: no compression, CreateTime */
    put(w, (uint32_t)(n - 1), 4); /* last offset delta */
    put(w, (uint64_t)now_ms, 8);  /* base timestamp */
    put(w, (uint64_t)now_ms, 8);  /* max timestamp */
    put(w, UINT64_MAX, 8);        /* producer id: none */
    put(w, 0xffff, 2);            /* producer epoch */
    put(w, 0xffffffffu, 4);       /* base sequence */
    put(w, (uint32_t)n, 4);       /* records */
    for (int i = 0; i < n; i++) {
        /* attributes, timestamp delta, offset delta, null key, value, no headers */
        size_t len = 1 + 1 + varint_len(i) + 1 + varint_len(o->size) + (size_t)o->size + 1;

        put_varint(w, (int64_t)len);
        put(w, 0, 1);
        put_varint(w, 0);
        put_varint(w, i);
        put_varint(w, -1);
        put_varint(w, o->size);
        put_bytes(w, recs + (size_t)i * (size_t)o->size, (size_t)o->size);
        put_varint(w, 0);
    }
    batch_len = w->at - batch_at;
    f.at = records_len_at;
    put(&f, batch_len, 4);
    f.at = batch_at + 8;
    put(&f, batch_len - 12, 4);
    f.at = batch_at + 17;
    put(&f, crc32c(w->p + batch_at + CRC_FROM, batch_len - CRC_FROM), 4);
    f.at = 0;
    put(&f, w->at - 4, 4);
    return w->at;
}

/* --- connections ---------------------------------------------------------------------------- */

static int connect_to(const struct peer_opts *o)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int fd, one = 1, rc = getaddrinfo(o->host, o->port, &hints, &ai);

    if (rc)
        peer_die("%s: %s", o->host, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        peer_die("connect %s:%s: %s", o->host, o->port, strerror(errno));
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            peer_die("send: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
}

/* Receive at least n bytes into p (of cap): one recv when the whole response is there, as
 * hiredis reads a reply, so the client pays no more system calls than Redis's does. */
static size_t recv_at_least(int fd, uint8_t *p, size_t n, size_t cap, size_t have)
{
    while (have < n) {
        ssize_t r = recv(fd, p + have, cap - have, 0);

        if (r <= 0)
            peer_die("recv: %s", r < 0 ? strerror(errno) : "the broker closed the connection");
        have += (size_t)r;
    }
    return have;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read one Produce v7 response (no more: one request is in flight); returns its partition's
 * error code (or -1 if malformed). */
static int read_response(int fd, int32_t corr, uint8_t *buf, size_t cap)
{
    size_t have = recv_at_least(fd, buf, 4, cap, 0), at;
    uint32_t n = get32(buf);

    if (n > cap - 4 || n < 4 + 4 + 2)
        peer_die("a response of %u bytes", n);
    recv_at_least(fd, buf, 4 + n, cap, have);
    buf += 4;
    if ((int32_t)get32(buf) != corr)
        peer_die("response %d to request %d", (int32_t)get32(buf), corr);
    /* correlation id, [topic: name, [partition: i32 index, i16 error, ...]] */
    at = 4 + 4;
    at += 2 + (size_t)(buf[at] << 8 | buf[at + 1]);
    at += 4 + 4;
    if (at + 2 > n)
        return -1;
    return buf[at] << 8 | buf[at + 1];
}

struct conn {
    const struct peer_opts *o;
    int fd;
    int32_t corr;
    long long errors;
    struct wbuf w;
    uint8_t resp[4096];
};

static void *conn_open(const struct peer_opts *o)
{
    struct conn *c = peer_calloc(1, sizeof(*c));

    c->w.p = peer_calloc(1, (size_t)o->size + 1024);
    c->w.cap = (size_t)o->size + 1024;
    c->o = o;
    c->fd = connect_to(o);
    return c;
}

int zcq_raw_request(void *arg, const uint8_t *rec)
{
    struct conn *c = arg;
    size_t len =
        build_produce(&c->w, c->o, ++c->corr, rec, 1, (int64_t)(peer_get_stamp(rec) / 1000000u));
    int err;

    send_all(c->fd, c->w.p, len);
    err = read_response(c->fd, c->corr, c->resp, sizeof(c->resp));
    if (err && !c->errors++) /* the first one says why; the count is in the result line */
        fprintf(stderr, "peer_zcq: Produce answered with error %d\n", err);
    return err;
}

void zcq_raw_close(void *arg)
{
    struct conn *c = arg;

    close(c->fd);
    free(c->w.p);
    free(c);
}

void *zcq_raw_open(const struct peer_opts *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, crc_init);
    return conn_open(o);
}

/* --- e2e without librdkafka (PEER_ZCQ_CLIENT=raw) ----------------------------------------------
 *
 * What the broker's own end-to-end latency is, with clients as thin as hiredis: the producer
 * sends the records due at each tick as one Produce v7 batch (acks=1) without waiting for the
 * answer (answers are read as they come), and the consumer, on its own connection, loops on
 * Fetch v4 (max_wait 100 ms, min_bytes 1, 1 MiB) from offset 0, parsing the batches itself. */

struct raw_producer {
    const struct peer_opts *o;
    struct peer_acks *a;
    int fd;
    int32_t corr;
    struct wbuf w;
    uint8_t *pending; /* the records of the next batch */
    int npending, max_pending;
    uint64_t *stamps; /* of the records sent and not yet acknowledged, by sequence mod cap */
    int *batch_n;     /* records in each batch in flight, by batch number mod cap */
    long long cap, sent, acked, batches_sent, batches_acked;
    uint8_t rbuf[1 << 16];
    size_t rhave;
};

void *zcq_raw_producer_open(const struct peer_opts *o, struct peer_acks *a)
{
    struct raw_producer *p = peer_calloc(1, sizeof(*p));
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, crc_init);
    p->o = o;
    p->a = a;
    p->fd = connect_to(o);
    /* A batch stays well under the broker's 1 MiB message.max.bytes. */
    p->max_pending = o->size > 0 && (512 << 10) / o->size < 4096 ? (512 << 10) / o->size : 4096;
    if (p->max_pending < 1)
        p->max_pending = 1;
    /* In flight: a second's worth (e2e), or a few batches (produce). */
    p->cap = (o->mode == PEER_E2E ? (long long)o->rate : 4 * p->max_pending) + p->max_pending;
    p->pending = peer_calloc((size_t)p->max_pending, (size_t)o->size);
    p->stamps = peer_calloc((size_t)p->cap, sizeof(*p->stamps));
    p->batch_n = peer_calloc((size_t)p->cap, sizeof(*p->batch_n));
    p->w.cap = (size_t)p->max_pending * ((size_t)o->size + 16) + 1024;
    p->w.p = peer_calloc(1, p->w.cap);
    return p;
}

/* Take the Produce responses that have arrived (waiting for one if block). */
static void raw_take_acks(struct raw_producer *p, bool block)
{
    ssize_t r =
        recv(p->fd, p->rbuf + p->rhave, sizeof(p->rbuf) - p->rhave, block ? 0 : MSG_DONTWAIT);

    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        peer_die("recv: %s", r ? strerror(errno) : "the broker closed the connection");
    if (r > 0)
        p->rhave += (size_t)r;
    while (p->rhave >= 4) {
        uint32_t n = get32(p->rbuf);
        size_t at = 4 + 4;
        bool err;

        if (n > sizeof(p->rbuf) - 4 || n < 4 + 4 + 2)
            peer_die("a response of %u bytes", n);
        if (p->rhave < 4 + n)
            break;
        /* size, correlation id, [topic: name, [partition: i32 index, i16 error, ...]] */
        at += 4 + 2 + (size_t)(p->rbuf[at + 4] << 8 | p->rbuf[at + 5]) + 4 + 4;
        err = at + 2 > 4 + n || (p->rbuf[at] << 8 | p->rbuf[at + 1]) != 0;
        for (int i = p->batch_n[p->batches_acked++ % p->cap]; i > 0; i--)
            peer_ack(p->a, p->stamps[p->acked++ % p->cap], err);
        memmove(p->rbuf, p->rbuf + 4 + n, p->rhave - 4 - n);
        p->rhave -= 4 + n;
    }
}

void zcq_raw_producer_tick(void *arg)
{
    struct raw_producer *p = arg;
    size_t len;

    if (p->npending) {
        len = build_produce(&p->w, p->o, ++p->corr, p->pending, p->npending,
                            (int64_t)(peer_now_ns() / 1000000u));
        send_all(p->fd, p->w.p, len);
        p->batch_n[p->batches_sent++ % p->cap] = p->npending;
        p->npending = 0;
    }
    raw_take_acks(p, false);
}

void zcq_raw_producer_send(void *arg, const uint8_t *rec)
{
    struct raw_producer *p = arg;

    while (p->sent - p->acked >= p->cap - p->max_pending)
        raw_take_acks(p, true);
    if (p->npending == p->max_pending)
        zcq_raw_producer_tick(p);
    memcpy(p->pending + (size_t)p->npending++ * (size_t)p->o->size, rec, (size_t)p->o->size);
    p->stamps[p->sent++ % p->cap] = peer_get_stamp(rec);
}

void zcq_raw_producer_finish(void *arg)
{
    struct raw_producer *p = arg;

    zcq_raw_producer_tick(p);
    while (p->acked < p->sent)
        raw_take_acks(p, true);
    close(p->fd);
    free(p->pending);
    free(p->stamps);
    free(p->batch_n);
    free(p->w.p);
    free(p);
}

struct raw_consumer {
    const struct peer_opts *o;
    struct peer_sink *s;
    int fd;
    int32_t corr;
    int64_t offset; /* the next to fetch */
    struct wbuf w;
    uint8_t *buf;
    size_t cap;
};

void *zcq_raw_consumer_open(const struct peer_opts *o, struct peer_sink *s)
{
    struct raw_consumer *c = peer_calloc(1, sizeof(*c));

    c->o = o;
    c->s = s;
    c->fd = connect_to(o);
    c->w.cap = 1024;
    c->w.p = peer_calloc(1, c->w.cap);
    c->cap = (2u << 20) + 4096;
    c->buf = peer_calloc(1, c->cap);
    return c;
}

static int64_t get_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t z = 0;

    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;

        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    }
    peer_die("a truncated varint in a fetch response");
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Hand every record of the whole batches in [p, end) to the sink; returns the offset after the
 * last whole batch (or from, if there was none). */
static int64_t take_batches(struct raw_consumer *c, const uint8_t *p, const uint8_t *end,
                            int64_t from)
{
    while (end - p >= 61) {
        int64_t base = (int64_t)get64(p);
        uint32_t blen = get32(p + 8);
        const uint8_t *next = p + 12 + blen, *r = p + 61;
        int32_t count = (int32_t)get32(p + 57);

        if (blen > (size_t)(end - p) - 12)
            break; /* a partial batch ends the response (KIP-74) */
        for (int32_t i = 0; i < count && r < next; i++) {
            int64_t len = get_varint(&r, next), klen, vlen;
            const uint8_t *rend = r + len;

            r++;                        /* attributes */
            (void)get_varint(&r, rend); /* timestamp delta */
            (void)get_varint(&r, rend); /* offset delta */
            klen = get_varint(&r, rend);
            r += klen > 0 ? klen : 0;
            vlen = get_varint(&r, rend);
            if (vlen >= 0 && r + vlen <= rend)
                peer_sink_record(c->s, r, (size_t)vlen);
            r = rend;
        }
        from = base + (int64_t)get32(p + 23) + 1;
        p = next;
    }
    return from;
}

void zcq_raw_consumer_receive(void *arg)
{
    struct raw_consumer *c = arg;
    struct wbuf *w = &c->w;
    const uint8_t *p, *end;
    uint32_t n, len;
    size_t at, have;

    w->at = 0;
    put(w, 0, 4);
    put(w, 1, 2); /* Fetch */
    put(w, 4, 2); /* v4 */
    put(w, (uint32_t)++c->corr, 4);
    put_str(w, "peer_zcq");
    put(w, 0xffffffffu, 4); /* replica id: a consumer */
    put(w, 100, 4);         /* max wait ms */
    put(w, 1, 4);           /* min bytes */
    put(w, 1u << 20, 4);    /* max bytes */
    put(w, 0, 1);           /* read uncommitted */
    put(w, 1, 4);
    put_str(w, c->o->stream);
    put(w, 1, 4);
    put(w, 0, 4); /* partition 0 */
    put(w, (uint64_t)c->offset, 8);
    put(w, 1u << 20, 4);
    at = w->at;
    w->at = 0;
    put(w, at - 4, 4);
    send_all(c->fd, w->p, at);
    have = recv_at_least(c->fd, c->buf, 4, c->cap, 0);
    n = get32(c->buf);
    if (n > c->cap - 4 || n < 4 + 4 + 4)
        peer_die("a fetch response of %u bytes", n);
    recv_at_least(c->fd, c->buf, 4 + n, c->cap, have);
    /* size, correlation id, throttle, [topic: name, [partition, error, high watermark, last
     * stable offset, aborted transactions, records]] */
    p = c->buf + 4 + 4 + 4 + 4;
    end = c->buf + 4 + n;
    p += 2 + (p[0] << 8 | p[1]) + 4;
    if (end - p < 4 + 2 + 8 + 8 + 4 + 4)
        peer_die("a short fetch response");
    if (p[4] << 8 | p[5])
        peer_die("fetch answered with error %d", p[4] << 8 | p[5]);
    p += 4 + 2 + 8 + 8;
    if ((int32_t)get32(p) > 0)
        p += 16 * (size_t)get32(p);
    p += 4;
    len = get32(p);
    p += 4;
    if (len > (size_t)(end - p))
        peer_die("a fetch response shorter than its records");
    c->offset = take_batches(c, p, p + len, c->offset);
}

void zcq_raw_consumer_close(void *arg)
{
    struct raw_consumer *c = arg;

    close(c->fd);
    free(c->w.p);
    free(c->buf);
    free(c);
}
