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
#include "common.h"

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

void *zcq_raw_open(const struct peer_opts *o);
int zcq_raw_request(void *conn, const uint8_t *rec);
void zcq_raw_close(void *conn);

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

/* The whole request for record rec: size, header, body with one batch of one record. */
static size_t build_produce(struct wbuf *w, const struct peer_opts *o, int32_t corr,
                            const uint8_t *rec, int64_t now_ms)
{
    size_t batch_at, records_len_at, rec_len_at, rec_at;
    uint8_t *b;

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
    put(w, 0, 8);                /* base offset */
    put(w, 0, 4);                /* batch length, below */
    put(w, 0xffffffffu, 4);      /* partition leader epoch: none */
    put(w, 2, 1);                /* magic */
    put(w, 0, 4);                /* crc, below */
    put(w, 0, 2);                /* attributes: no compression, CreateTime */
    put(w, 0, 4);                /* last offset delta */
    put(w, (uint64_t)now_ms, 8); /* base timestamp */
    put(w, (uint64_t)now_ms, 8); /* max timestamp */
    put(w, UINT64_MAX, 8);       /* producer id: none */
    put(w, 0xffff, 2);           /* producer epoch */
    put(w, 0xffffffffu, 4);      /* base sequence */
    put(w, 1, 4);                /* one record */
    rec_len_at = w->at;
    put_varint(w, 0); /* record length: a placeholder of one byte, rewritten below */
    rec_at = w->at;
    put(w, 0, 1);      /* record attributes */
    put_varint(w, 0);  /* timestamp delta */
    put_varint(w, 0);  /* offset delta */
    put_varint(w, -1); /* key: null */
    put_varint(w, o->size);
    put_bytes(w, rec, (size_t)o->size);
    put_varint(w, 0); /* no headers */
    {
        /* The record's length as a varint: move the record up if it needs more than a byte. */
        size_t len = w->at - rec_at, end = w->at;
        struct wbuf tmp = {.p = (uint8_t[10]){0}, .cap = 10};

        put_varint(&tmp, (int64_t)len);
        if (end + tmp.at - 1 > w->cap)
            peer_die("request buffer too small");
        memmove(w->p + rec_len_at + tmp.at, w->p + rec_at, len);
        memcpy(w->p + rec_len_at, tmp.p, tmp.at);
        w->at = rec_len_at + tmp.at + len;
    }
    b = w->p + batch_at;
    {
        size_t batch_len = w->at - batch_at;
        struct wbuf f = {.p = w->p, .cap = w->cap};

        f.at = records_len_at;
        put(&f, batch_len, 4);
        f.at = batch_at + 8;
        put(&f, batch_len - 12, 4);
        f.at = batch_at + 17;
        put(&f, crc32c(b + CRC_FROM, batch_len - CRC_FROM), 4);
        f.at = 0;
        put(&f, w->at - 4, 4);
    }
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

/* Read one Produce v7 response; returns its partition's error code (or -1 if malformed). */
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
        build_produce(&c->w, c->o, ++c->corr, rec, (int64_t)(peer_get_stamp(rec) / 1000000u));
    int err;

    send_all(c->fd, c->w.p, len);
    err = read_response(c->fd, c->corr, c->resp, sizeof(c->resp));
    if (err)
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
