/* Connections: framing, the in-order response queue, sending; see conn.h. */
#include "net/conn.h"

#include "broker/broker.h"
#include "io/say.h"
#include "proto/api.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER_MIN      10         /* api key, version, correlation id, client id length */
#define READ_BUDGET     (4u << 20) /* bytes read per connection per event: fairness */
#define ACCEPT_BATCH    64
#define PARTIAL_TIMEOUT 60000       /* ms a frame may take to arrive, against slow senders */
#define BIG_FRAME       (64u << 10) /* larger frames are read into a buffer of their own */

static const struct zcq_broker_config *cfg_of(const struct zcq_conn *c)
{
    return &c->w->srv->broker->cfg;
}

static void update_events(struct zcq_conn *c)
{
    unsigned ev = 0;

    if (c->closing)
        return;
    if (!c->paused && !c->doomed && !c->w->draining)
        ev |= EPOLLIN;
    if (!zcq_chain_empty(&c->out))
        ev |= EPOLLOUT;
    if (zcq_loop_mod(c->w->loop, &c->ev, ev) < 0)
        zcq__conn_close(c, "epoll_ctl failed");
}

static void consume_in(struct zcq_conn *c);

/* --- Sending --------------------------------------------------------------------------- */

static void free_resp(void *arg)
{
    zcq_kresp_free(arg);
}

/* Queue a finished response's bytes and slices on the send chain. */
static int queue_resp(struct zcq_conn *c, struct zcq_kresp *resp)
{
    struct zcq_chain *ch = &c->out;
    unsigned last = 0; /* the last non-empty piece carries the release */
    int rc = 0;

    for (unsigned i = 0; i < resp->n; i++) {
        struct zcq_kresp_part *p = &resp->parts[i];

        if (!p->slice) {
            if (p->len)
                last = i;
        } else {
            for (unsigned k = 0; k < p->slice->n; k++) {
                if (p->slice->c[k].len)
                    last = i;
            }
        }
    }
    for (unsigned i = 0; i < resp->n && rc == 0; i++) {
        struct zcq_kresp_part *p = &resp->parts[i];
        void (*rel)(void *) = i == last ? free_resp : NULL;

        if (!p->slice) {
            rc = zcq_chain_add_mem(ch, resp->w.buf + p->off, p->len, rel, rel ? resp : NULL);
            continue;
        }
        for (unsigned k = 0; k < p->slice->n && rc == 0; k++) {
            const struct zcq_log_chunk *ck = &p->slice->c[k];
            bool final = rel && k + 1 == p->slice->n;

            if (ck->mem)
                rc = zcq_chain_add_mem(ch, ck->mem, ck->len, final ? rel : NULL,
                                       final ? resp : NULL);
            else
                rc = zcq_chain_add_file(ch, ck->fd, ck->pos, ck->len, final ? rel : NULL,
                                        final ? resp : NULL);
        }
    }
    return rc;
}

static struct zcq_xfer *xfer_of(struct zcq_conn *c)
{
    const struct zcq_broker_config *bc = cfg_of(c);
    struct zcq_xfer_opts o = {.chunk_max = (size_t)bc->send_chunk};
    char why[256];

    if (bc->transfer != ZCQ_XFER_SPLICE)
        return c->w->x;
    if (!c->x && zcq_xfer_open(&c->x, ZCQ_XFER_SPLICE, &o, why, sizeof(why)) < 0) {
        zcq_say(ZCQ_WARN, "splice unavailable (%s): falling back to the worker's strategy", why);
        return c->w->x;
    }
    return c->x;
}

static void try_send(struct zcq_conn *c)
{
    ssize_t n;

    if (c->closing || zcq_chain_empty(&c->out))
        return;
    n = zcq_chain_send(&c->out, c->ev.fd, xfer_of(c), (size_t)cfg_of(c)->send_chunk);
    if (n < 0 && n != -EAGAIN) {
        zcq__conn_close(c, n == -EPIPE || n == -ECONNRESET ? NULL : "send failed");
        return;
    }
    if (n > 0)
        c->last_active = zcq_loop_now(c->w->loop);
    update_events(c);
}

/* Move answered requests at the head of the queue onto the send chain, in order. */
static void flush_ready(struct zcq_conn *c)
{
    while (c->qhead && !c->closing) {
        struct zcq_kreq *r = c->qhead;
        struct zcq_kresp *resp;

        if (r->state == ZCQ_KREQ_PENDING)
            break;
        c->qhead = r->next;
        if (!c->qhead)
            c->qtail = NULL;
        c->inflight--;
        if (r->state == ZCQ_KREQ_CLOSE) {
            char why[200];

            snprintf(why, sizeof(why), "%s", r->why);
            zcq_kreq_free(r);
            zcq__conn_close(c, why);
            return;
        }
        resp = zcq_kreq_take_resp(r);
        zcq_kreq_free(r);
        if (resp && queue_resp(c, resp) < 0) {
            zcq__conn_close(c, "out of memory queueing a response");
            return;
        }
    }
    if (c->paused && !c->doomed && c->inflight <= (unsigned)cfg_of(c)->max_inflight / 2) {
        c->paused = false;
        update_events(c);
        consume_in(c); /* frames that arrived while paused wait in the buffer */
        if (c->closing)
            return;
    }
    try_send(c);
}

/* A pending request finished (on this loop's thread). */
static void on_done(struct zcq_kreq *r)
{
    struct zcq_conn *c = r->owner;

    flush_ready(c);
}

/* --- Receiving ------------------------------------------------------------------------- */

static void handle_frame(struct zcq_conn *c, uint8_t *frame, size_t len)
{
    struct zcq_worker *w = c->w;
    struct zcq_kreq *r = zcq_kreq_new(zcq_loop_host(w->loop), w->srv->broker, frame, len);

    if (!r) {
        zcq__conn_close(c, "out of memory for a request");
        return;
    }
    r->owner = c;
    r->peer = c->peer;
    r->on_done = on_done;
    zcq_kreq_handle(r);
    if (r->state == ZCQ_KREQ_NORESP) {
        zcq_kreq_free(r);
        return;
    }
    if (r->state == ZCQ_KREQ_CLOSE && !c->qhead) {
        char why[200];

        snprintf(why, sizeof(why), "%s", r->why);
        zcq_kreq_free(r);
        zcq__conn_close(c, why);
        return;
    }
    /* A refusal behind unanswered requests closes the connection when its turn comes;
     * nothing after it may run meanwhile. */
    if (r->state == ZCQ_KREQ_CLOSE) {
        c->doomed = true;
        update_events(c); /* stop reading: epoll is level-triggered */
    }
    /* Queued in order; answered ones leave as soon as everything before them has. */
    r->next = NULL;
    if (c->qtail)
        c->qtail->next = r;
    else
        c->qhead = r;
    c->qtail = r;
    c->inflight++;
    if (r->state != ZCQ_KREQ_PENDING && r == c->qhead)
        flush_ready(c);
}

/* Parse and handle every whole frame in buf[0, len); returns the bytes consumed, or -1 if
 * the connection closed. */
static ssize_t parse_frames(struct zcq_conn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    int64_t max = cfg_of(c)->max_request_bytes;

    while (len - off >= 4 && !c->closing && !c->paused && !c->doomed) {
        uint32_t be;
        int32_t size;

        memcpy(&be, buf + off, 4);
        size = (int32_t)be32toh(be);
        if (size < HEADER_MIN || size > max) {
            char why[160];

            snprintf(why, sizeof(why),
                     size > max ? "frame of %d bytes exceeds socket.request.max.bytes (%lld)"
                                : "frame of %d bytes is too small for a request header",
                     size, (long long)max);
            zcq__conn_close(c, why);
            return -1;
        }
        if (len - off - 4 < (size_t)size)
            break;
        c->big = (size_t)size > BIG_FRAME;
        handle_frame(c, buf + off + 4, (size_t)size);
        off += 4 + (size_t)size;
        if (!c->closing && c->inflight >= (unsigned)cfg_of(c)->max_inflight) {
            c->paused = true;
            update_events(c);
        }
    }
    return c->closing ? -1 : (ssize_t)off;
}

/* The size of the frame whose first bytes are p[0, n), or 0 if its prefix is not all there. */
static size_t frame_size(const uint8_t *p, size_t n)
{
    uint32_t be;

    if (n < 4)
        return 0;
    memcpy(&be, p, 4);
    return 4 + (size_t)be32toh(be);
}

/* Bytes the client has already sent that wait in the socket (FIONREAD). */
static size_t queued(const struct zcq_conn *c)
{
    int n = 0;

    return ioctl(c->ev.fd, FIONREAD, &n) == 0 && n > 0 ? (size_t)n : 0;
}

/*
 * How big a partial frame's buffer is: the frame's size, but never more than twice the bytes
 * the client has really sent (received, or waiting in the socket) and at least 64 KiB, so a
 * frame that claims 100 MiB and sends ten bytes costs 64 KiB, while a fast producer's 1 MiB
 * request, already queued in the socket, gets its whole buffer at once instead of a chain of
 * reallocations that copied it twice over (the produce benchmark, docs/benchmarks.md).
 */
static size_t partial_cap(const struct zcq_conn *c, const uint8_t *p, size_t have, size_t cur)
{
    size_t need = frame_size(p, have), sent = have + queued(c);
    size_t cap = 2 * sent > 65536 ? 2 * sent : 65536;

    if (cap < cur * 2)
        cap = cur * 2;
    if (need && cap > need)
        cap = need;
    return cap > have ? cap : have;
}

/* Keep the unparsed tail [p, p + n) in the connection's own buffer (see partial_cap). */
static int keep_partial(struct zcq_conn *c, const uint8_t *p, size_t n)
{
    size_t want = partial_cap(c, p, n, 0);
    uint8_t *nb = malloc(want);

    if (!nb)
        return -ENOMEM;
    memcpy(nb, p, n);
    free(c->in);
    c->in = nb;
    c->in_len = n;
    c->in_cap = want;
    return 0;
}

/* Room for more of the partial frame once its buffer is full (see partial_cap). */
static int grow_partial(struct zcq_conn *c)
{
    size_t cap;
    uint8_t *nb;

    if (c->in_len < c->in_cap)
        return 0;
    cap = partial_cap(c, c->in, c->in_len, c->in_cap);
    if (cap <= c->in_cap)
        return 0;
    nb = realloc(c->in, cap);
    if (!nb)
        return -ENOMEM;
    c->in = nb;
    c->in_cap = cap;
    return 0;
}

/* Parse the frames in the connection's own buffer; drop what was consumed. */
static void consume_in(struct zcq_conn *c)
{
    ssize_t used;

    if (c->parsing || !c->in)
        return;
    c->parsing = true;
    used = parse_frames(c, c->in, c->in_len);
    c->parsing = false;
    if (used < 0)
        return;
    if ((size_t)used == c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
    } else if (used > 0) {
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        c->partial_since = c->last_active;
    }
}

/* On a connection that sends large frames (a producer's batches), peek at the next frame's
 * size before reading it, and read a large one straight into a buffer of its own, instead of
 * into the worker's buffer and then copying it (up to 1 MiB a frame, a few percent of the
 * broker's CPU when appending). Returns 1 when c->in was made for the frame, 0 to read as
 * usual, -1 when the connection closed. */
static int start_big_frame(struct zcq_conn *c)
{
    uint8_t hdr[4];
    ssize_t n = recv(c->ev.fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
    size_t size;

    if (n < (ssize_t)sizeof(hdr))
        return 0; /* whatever it is (nothing yet, EOF, an error), the usual read finds out */
    size = frame_size(hdr, sizeof(hdr));
    if (size <= BIG_FRAME || size > (size_t)cfg_of(c)->max_request_bytes + 4)
        return 0;
    c->in_cap = partial_cap(c, hdr, sizeof(hdr), 0);
    c->in = malloc(c->in_cap);
    if (!c->in) {
        c->in_cap = 0;
        return 0;
    }
    c->in_len = 0;
    c->partial_since = zcq_loop_now(c->w->loop);
    return 1;
}

static void on_readable(struct zcq_conn *c)
{
    struct zcq_worker *w = c->w;
    size_t budget = READ_BUDGET;

    while (budget && !c->closing && !c->paused && !c->doomed && !w->draining) {
        uint8_t *dst;
        size_t room;
        ssize_t n;

        if (c->in) {
            if (grow_partial(c) < 0) {
                zcq__conn_close(c, "out of memory for a request");
                return;
            }
            dst = c->in + c->in_len;
            room = c->in_cap - c->in_len;
            if (room == 0)
                break; /* a whole frame waits (reading paused): recv(0) would read as EOF */
        } else if (c->big && start_big_frame(c) > 0) {
            continue; /* c->in holds the frame's buffer now: read into it */
        } else {
            dst = w->rbuf;
            room = w->rbuf_cap;
        }
        n = recv(c->ev.fd, dst, room < budget ? room : budget, 0);
        if (n == 0) {
            zcq__conn_close(c, NULL); /* the client hung up */
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                zcq__conn_close(c, errno == ECONNRESET ? NULL : "recv failed");
            return;
        }
        budget -= (size_t)n;
        c->last_active = zcq_loop_now(w->loop);
        if (c->in) {
            c->in_len += (size_t)n;
            consume_in(c);
            if (c->closing)
                return;
        } else {
            ssize_t used;

            c->parsing = true;
            used = parse_frames(c, w->rbuf, (size_t)n);
            c->parsing = false;
            if (used < 0)
                return;
            if ((size_t)used < (size_t)n) {
                if (keep_partial(c, w->rbuf + used, (size_t)n - (size_t)used) < 0) {
                    zcq__conn_close(c, "out of memory for a request");
                    return;
                }
                c->partial_since = c->last_active;
            }
        }
        if ((size_t)n < room)
            break; /* the socket is likely empty: let epoll say when there is more */
    }
}

static void on_event(struct zcq_ev *e, unsigned revents)
{
    struct zcq_conn *c = (struct zcq_conn *)e;

    if (c->closing)
        return;
    if (revents & EPOLLOUT)
        try_send(c);
    if (!c->closing && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(c);
}

/* --- Life and death -------------------------------------------------------------------- */

static void peer_name(const struct sockaddr_storage *a, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;

        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        port = ntohs(v4->sin_port);
        snprintf(out, len, "%s:%d", host, port);
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;

        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        port = ntohs(v6->sin6_port);
        snprintf(out, len, "[%s]:%d", host, port);
    } else {
        snprintf(out, len, "unknown");
    }
}

void zcq__conn_accept(struct zcq_worker *w, int lfd)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        struct zcq_conn *c;
        char why[160];
        int fd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int one = 1;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                zcq_say_client("accept: %s (raise the open files limit)", strerror(errno));
            return; /* EAGAIN: another worker took it, or none left */
        }
        if (!zcq__server_admit(w->srv, &addr, why, sizeof(why))) {
            char peer[64];

            peer_name(&addr, peer, sizeof(peer));
            zcq_say_client("connection from %s refused: %s", peer, why);
            close(fd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
            zcq__server_release(w->srv, &addr);
            close(fd);
            continue;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->ev.fd = fd;
        c->ev.cb = on_event;
        c->w = w;
        c->addr = addr;
        c->counted = true;
        c->last_active = zcq_loop_now(w->loop);
        zcq_chain_init(&c->out);
        peer_name(&addr, c->peer, sizeof(c->peer));
        if (zcq_loop_add(w->loop, &c->ev, EPOLLIN) < 0) {
            zcq__server_release(w->srv, &addr);
            close(fd);
            free(c);
            continue;
        }
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->nconns++;
    }
}

void zcq__conn_close(struct zcq_conn *c, const char *reason)
{
    struct zcq_worker *w = c->w;

    if (c->closing)
        return;
    c->closing = true;
    if (reason)
        zcq_say_client("connection from %s closed: %s", c->peer, reason);
    zcq_loop_del(w->loop, &c->ev);
    close(c->ev.fd);
    while (c->qhead) {
        struct zcq_kreq *r = c->qhead;

        c->qhead = r->next;
        zcq_kreq_cancel(r);
    }
    c->qtail = NULL;
    zcq_chain_clear(&c->out);
    free(c->in);
    c->in = NULL;
    if (c->counted)
        zcq__server_release(w->srv, &c->addr);
    c->counted = false;
    /* Off the live list, onto the dead one: freed after this iteration. */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    c->prev = NULL;
    c->next = w->dead;
    w->dead = c;
}

void zcq__conn_reap(struct zcq_worker *w)
{
    while (w->dead) {
        struct zcq_conn *c = w->dead;

        w->dead = c->next;
        zcq_xfer_close(c->x);
        free(c);
    }
}

void zcq__conn_sweep(struct zcq_worker *w, int64_t now)
{
    int64_t idle = w->srv->broker->cfg.idle_ms;
    struct zcq_conn *c, *next;

    for (c = w->conns; c; c = next) {
        next = c->next; /* closing moves c to the dead list */
        if (c->in && now - c->partial_since > PARTIAL_TIMEOUT)
            zcq__conn_close(c, "a request frame took over 60 s to arrive");
        else if (!c->qhead && zcq_chain_empty(&c->out) && now - c->last_active > idle)
            zcq__conn_close(c, NULL); /* connections.max.idle.ms */
    }
}

bool zcq__conn_drain(struct zcq_conn *c)
{
    if (c->closing)
        return true;
    update_events(c); /* no more reading */
    /* Answering one may answer (and free) others behind it: rescan from the head each time;
     * each request is expedited once. */
    for (struct zcq_kreq *r = c->qhead; r && !c->closing;) {
        if (r->state == ZCQ_KREQ_PENDING && !r->expedited) {
            zcq_kreq_expedite(r);
            r = c->qhead;
        } else {
            r = r->next;
        }
    }
    if (c->closing)
        return true;
    flush_ready(c);
    return c->closing || (!c->qhead && zcq_chain_empty(&c->out));
}
