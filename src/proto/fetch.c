/*
 * Fetch (v4-11): record batches from the partition logs, never copied: each partition's data
 * is a log slice in the response (file regions, sent with sendfile; Direct I/O cache blocks),
 * behind the bytes of its partition header.
 *
 * Limits (KIP-74, kafka-protocol.md section 6): each partition gets at most its
 * partition_max_bytes and the response at most max_bytes, except that the first partition
 * with data always gets its first batch whole; a later partition whose first batch does not
 * fit what is left gets nothing this time. The last batch may be cut (clients drop the piece).
 * Reading at the high watermark is no error; below the log start or above the hwm is
 * OFFSET_OUT_OF_RANGE.
 *
 * Nothing here waits for the disk on the event loop (performance.md, KAFKA-7504). A partition
 * whose batch headers or data are not in memory (ZCQ_READ_NOWAIT, then a page-cache probe of
 * the slice) makes the request go to the read pool, which reads those ranges in, and the
 * request runs again; after two such rounds it reads as it is (memory so tight that pages
 * are evicted before they are sent has bigger problems than a blocked loop).
 *
 * A cold range is read in whatever the request's max_wait (a consumer polling with max_wait 0
 * would otherwise get nothing forever).
 *
 * Long-polling: with less than min_bytes and max_wait_ms > 0 (and no error), the request
 * parks: it watches every partition it asked for, and runs again when one of them gets data
 * (a wakeup posted by the appending thread) or the wait ends (a timer), then answers with what
 * there is. Nothing blocks meanwhile.
 *
 *   run ──> DONE (respond)
 *     ├──> COLD ──> warm work (read pool) ──> run again
 *     └──> PARK ──> data arrived (wake) / max_wait (timer) / shutdown (expedite) ──> run
 *          again (the timer or expedite: final, answer whatever there is)
 */
#include "proto/api.h"

#include "broker/broker.h"
#include "io/pagecache.h"
#include "io/say.h"
#include "proto/kerr.h"
#include "store/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WARM_ROUNDS 2

struct fwatch {
    struct zcq_pwatch w;
    struct fctx *c;
    struct zcq_partition *p;
};

struct fwarm {
    struct zcq_kwork work;
    struct fctx *c;
    struct zcq_partition *p;
    int64_t offset;
    size_t max;
};

struct fctx {
    struct zcq_kreq *r;
    struct zcq_ktimer timer;
    struct zcq_kwake wake;
    int64_t deadline; /* monotonic ms; 0 until the first park */
    int warm_rounds;
    bool parked;
    struct fwatch *watch;
    int nwatch;
    struct fwarm *warm;
    int nwarm, warm_cap, warm_left;
};

/* The request's fixed fields. */
struct fhdr {
    int32_t replica, max_wait, min_bytes, max_bytes;
    int8_t isolation;
};

static void read_hdr(struct zcq_kreq *r, struct zcq_kr *rd, struct fhdr *h)
{
    zcq_kreq_body(r, rd);
    h->replica = zcq_kr_i32(rd);
    h->max_wait = zcq_kr_i32(rd);
    h->min_bytes = zcq_kr_i32(rd);
    h->max_bytes = zcq_kr_i32(rd);
    h->isolation = zcq_kr_i8(rd);
    if (r->api_version >= 7) {
        (void)zcq_kr_i32(rd); /* session id: zcq keeps no fetch sessions (answers 0) */
        (void)zcq_kr_i32(rd); /* session epoch */
    }
}

/* One partition entry of the request. */
static void read_part(struct zcq_kreq *r, struct zcq_kr *rd, int32_t *idx, int64_t *offset,
                      int32_t *pmax)
{
    *idx = zcq_kr_i32(rd);
    if (r->api_version >= 9)
        (void)zcq_kr_i32(rd); /* current leader epoch: always 0 here */
    *offset = zcq_kr_i64(rd);
    if (r->api_version >= 5)
        (void)zcq_kr_i64(rd); /* the follower's log start: for replicas only */
    *pmax = zcq_kr_i32(rd);
}

/* The whole request parses (pass 1). */
static bool well_formed(struct zcq_kreq *r)
{
    int16_t v = r->api_version;
    size_t pmin = 4 + 8 + 4 + (v >= 9 ? 4 : 0) + (v >= 5 ? 8 : 0);
    struct zcq_kr rd;
    struct fhdr h;
    int32_t nt;

    read_hdr(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t np;

        (void)zcq_kr_str(&rd);
        np = zcq_kr_array(&rd, pmin, false);
        for (int32_t i = 0; i < np && !rd.err; i++) {
            int32_t idx, pmax;
            int64_t off;

            read_part(r, &rd, &idx, &off, &pmax);
        }
    }
    if (v >= 7) {
        int32_t nf = zcq_kr_array(&rd, 6, false);

        for (int32_t t = 0; t < nf && !rd.err; t++) {
            int32_t np;

            (void)zcq_kr_str(&rd);
            np = zcq_kr_array(&rd, 4, false);
            zcq_kr_skip(&rd, (size_t)np * 4);
        }
    }
    if (v >= 11)
        (void)zcq_kr_str(&rd);
    return !rd.err && zcq_kr_left(&rd) == 0;
}

/* --- Cold ranges ---------------------------------------------------------------------- */

/* A test-only fault hook: ZCQ_TEST_WARM_DELAY_MS slows every warm-up by that much, so a test
 * can show that a consumer waiting on a cold read stalls nobody else. */
static int warm_delay_ms(void)
{
    static int v = -1;

    if (__atomic_load_n(&v, __ATOMIC_RELAXED) < 0) {
        const char *e = getenv("ZCQ_TEST_WARM_DELAY_MS");

        __atomic_store_n(&v, e ? atoi(e) : 0, __ATOMIC_RELAXED);
    }
    return v;
}

/* On the read pool: read the range in (blocking), through the same lookup the fetch makes,
 * then every byte of its file regions, so the next run finds them in the page cache. */
static void warm_work(struct zcq_kwork *wk)
{
    struct fwarm *w = (struct fwarm *)wk;
    struct zcq_log_slice s;

    if (warm_delay_ms() > 0)
        usleep((useconds_t)warm_delay_ms() * 1000);
    if (zcq_log_read(w->p->log, w->offset, w->max, &s) < 0)
        return; /* the next run reports what is wrong */
    for (unsigned i = 0; i < s.n; i++) {
        if (s.c[i].fd >= 0)
            (void)zcq_pc_load(s.c[i].fd, s.c[i].pos, s.c[i].len);
    }
    zcq_log_slice_release(w->p->log, &s);
}

static void run(struct zcq_kreq *r, bool final);

static void drop_warm(struct fctx *c)
{
    for (int i = 0; i < c->nwarm; i++)
        zcq_partition_put(c->r->broker->topics, c->warm[i].p);
    c->nwarm = 0;
}

static void warm_after(struct zcq_kwork *wk)
{
    struct fwarm *w = (struct fwarm *)wk;
    struct fctx *c = w->c;
    struct zcq_kreq *r = c->r;

    if (zcq_kreq_work_back(r))
        return;
    if (--c->warm_left > 0)
        return;
    drop_warm(c);
    c->warm_rounds++;
    run(r, false);
}

static int add_cold(struct fctx *c, struct zcq_partition *p, int64_t offset, size_t max)
{
    if (c->nwarm == c->warm_cap) {
        int cap = c->warm_cap ? c->warm_cap * 2 : 4;
        struct fwarm *n = realloc(c->warm, sizeof(*n) * (size_t)cap);

        if (!n)
            return -ENOMEM;
        c->warm = n;
        c->warm_cap = cap;
    }
    zcq_partition_ref(p);
    c->warm[c->nwarm++] = (struct fwarm){.c = c, .p = p, .offset = offset, .max = max};
    return 0;
}

/* --- Parking -------------------------------------------------------------------------- */

static void unpark(struct fctx *c)
{
    struct zcq_kreq *r = c->r;

    if (!c->parked)
        return;
    for (int i = 0; i < c->nwatch; i++) {
        zcq_partition_unwatch(&c->watch[i].w);
        zcq_partition_put(r->broker->topics, c->watch[i].p);
    }
    free(c->watch);
    c->watch = NULL;
    c->nwatch = 0;
    r->host->timer_stop(r->host, &c->timer);
    r->host->unwake(r->host, &c->wake);
    c->parked = false;
}

static void on_data(struct zcq_pwatch *w)
{
    struct fwatch *fw = (struct fwatch *)w;
    struct zcq_kreq *r = fw->c->r;

    r->host->wake(r->host, &fw->c->wake); /* any thread; coalesced */
}

static void on_wake(struct zcq_kwake *k)
{
    struct fctx *c = (struct fctx *)((char *)k - offsetof(struct fctx, wake));
    struct zcq_kreq *r = c->r;

    unpark(c);
    run(r, r->host->now_ms(r->host) >= c->deadline);
}

static void on_timer(struct zcq_ktimer *t)
{
    struct fctx *c = (struct fctx *)((char *)t - offsetof(struct fctx, timer));

    unpark(c);
    run(c->r, true);
}

/* Watch every partition the request names that exists, and the deadline. */
static int park(struct zcq_kreq *r, struct fctx *c, int32_t max_wait)
{
    struct zcq_kr rd;
    struct fhdr h;
    int32_t nt;
    int64_t now = r->host->now_ms(r->host), left;
    int n = 0;

    if (!c->deadline)
        c->deadline = now + max_wait;
    left = c->deadline - now;
    read_hdr(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt; t++) {
        int32_t np;

        (void)zcq_kr_str(&rd);
        np = zcq_kr_array(&rd, 1, false);
        for (int32_t i = 0; i < np; i++) {
            int32_t idx, pmax;
            int64_t off;

            read_part(r, &rd, &idx, &off, &pmax);
        }
        n += np;
    }
    c->watch = calloc((size_t)(n ? n : 1), sizeof(*c->watch));
    if (!c->watch)
        return -ENOMEM;
    read_hdr(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        int32_t np = zcq_kr_array(&rd, 1, false);

        for (int32_t i = 0; i < np; i++) {
            int32_t idx, pmax;
            int64_t off;
            struct zcq_partition *p;

            read_part(r, &rd, &idx, &off, &pmax);
            p = zcq_topics_get(r->broker->topics, name.p, (size_t)name.len, idx);
            if (!p)
                continue;
            c->watch[c->nwatch] = (struct fwatch){.w.cb = on_data, .c = c, .p = p};
            zcq_partition_watch(p, &c->watch[c->nwatch].w);
            c->nwatch++;
        }
    }
    c->parked = true;
    r->host->timer_start(r->host, &c->timer, left > 0 ? left : 0);
    return 0;
}

/* --- The request ------------------------------------------------------------------------ */

static void fctx_cancel(struct zcq_kreq *r)
{
    unpark(r->ctx);
}

static void fctx_free(struct zcq_kreq *r)
{
    struct fctx *c = r->ctx;

    unpark(c);
    drop_warm(c);
    free(c->warm);
    free(c);
    r->ctx = NULL;
}

/* Answer a parked fetch now, with what there is (shutdown). */
static void fctx_expedite(struct zcq_kreq *r)
{
    struct fctx *c = r->ctx;

    if (c->parked) {
        unpark(c);
        run(r, true);
    }
}

static struct fctx *ctx_of(struct zcq_kreq *r)
{
    struct fctx *c = r->ctx;

    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->r = r;
    c->timer.cb = on_timer;
    c->wake.cb = on_wake;
    r->ctx = c;
    r->ctx_cancel = fctx_cancel;
    r->ctx_free = fctx_free;
    r->ctx_expedite = fctx_expedite;
    return c;
}

/* Finish a run that went PENDING before (on_done), or leave a first run's state as it is. */
static void settle(struct zcq_kreq *r, bool was_pending)
{
    if (was_pending && r->state != ZCQ_KREQ_PENDING)
        zcq_kreq_finish(r);
}

static void run(struct zcq_kreq *r, bool final)
{
    struct zcq_broker *b = r->broker;
    bool was_pending = r->state == ZCQ_KREQ_PENDING, have_data = false, any_err = false;
    struct fctx *c = r->ctx;
    int16_t v = r->api_version;
    uint64_t total = 0;
    struct zcq_kr rd;
    struct zcq_kw *w;
    struct fhdr h;
    int32_t nt;
    bool careful = !c || c->warm_rounds < WARM_ROUNDS;

    read_hdr(r, &rd, &h);
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        settle(r, was_pending);
        return;
    }
    zcq_kw_i32(w, 0); /* throttle */
    if (v >= 7) {
        zcq_kw_i16(w, KERR_NONE);
        zcq_kw_i32(w, 0); /* session id: none */
    }
    nt = zcq_kr_array(&rd, 6, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        int32_t np = zcq_kr_array(&rd, 1, false);

        zcq_kw_str(w, name);
        zcq_kw_i32(w, np);
        for (int32_t i = 0; i < np; i++) {
            struct zcq_partition *p;
            struct zcq_log_slice *s = NULL;
            int64_t off, hwm = -1, start = -1;
            int32_t idx, pmax;
            int16_t err = KERR_NONE;

            read_part(r, &rd, &idx, &off, &pmax);
            p = zcq_topics_get(b->topics, name.p, (size_t)name.len, idx);
            if (!p) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                hwm = zcq_log_high_watermark(p->log);
                start = zcq_log_start_offset(p->log);
                if (off < start || off > hwm) {
                    err = KERR_OFFSET_OUT_OF_RANGE;
                } else if (off < hwm) {
                    int64_t left = (int64_t)h.max_bytes - (int64_t)total;
                    int64_t lim = pmax < left ? pmax : left;
                    int rc;

                    if (lim < 0)
                        lim = 0;
                    s = (lim > 0 || !have_data) ? malloc(sizeof(*s)) : NULL;
                    rc = s ? zcq_log_read_flags(p->log, off, (size_t)lim,
                                                careful ? ZCQ_READ_NOWAIT : 0, s)
                           : -ENOBUFS;
                    if (rc == -EAGAIN) {
                        if (!ctx_of(r) || add_cold(r->ctx, p, off, (size_t)lim) < 0)
                            err = KERR_UNKNOWN_SERVER_ERROR;
                        c = r->ctx;
                        rc = 1;
                    } else if (rc == -ENOBUFS) {
                        rc = 1; /* no data this time: the client asks again */
                    } else if (rc == ZCQ_LOG_EOUTOFRANGE) {
                        err = KERR_OFFSET_OUT_OF_RANGE; /* retention moved the start */
                    } else if (rc < 0) {
                        err = KERR_KAFKA_STORAGE_ERROR;
                    }
                    if (rc == 0 && s->n > 0 && have_data && s->bytes > (uint64_t)lim) {
                        /* A later partition's first batch must fit what is left (KIP-74). */
                        zcq_log_slice_release(p->log, s);
                        rc = 1;
                    } else if (rc == 0 && s->n > 0 && careful && s->c[0].fd >= 0 &&
                               zcq_pc_resident(s->c[0].fd, s->c[0].pos, s->c[0].len) == 0) {
                        zcq_log_slice_release(p->log, s);
                        if (!ctx_of(r) || add_cold(r->ctx, p, off, (size_t)lim) < 0)
                            err = KERR_UNKNOWN_SERVER_ERROR;
                        c = r->ctx;
                        rc = 1;
                    }
                    if (rc != 0 || s->n == 0) {
                        free(s);
                        s = NULL;
                    }
                }
                if (err != KERR_NONE)
                    hwm = start = -1;
            }
            if (err != KERR_NONE)
                any_err = true;
            zcq_kw_i32(w, idx);
            zcq_kw_i16(w, err);
            zcq_kw_i64(w, hwm);
            zcq_kw_i64(w, hwm); /* last stable offset: no transactions */
            if (v >= 5)
                zcq_kw_i64(w, start);
            zcq_kw_i32(w, h.isolation == 1 ? 0 : -1); /* aborted transactions: none */
            if (v >= 11)
                zcq_kw_i32(w, -1); /* preferred read replica: this broker */
            if (s) {
                zcq_kw_i32(w, (int32_t)s->bytes);
                if (zcq_kresp_add_slice(r->resp, s, p) < 0) {
                    zcq_log_slice_release(p->log, s);
                    free(s);
                    zcq_partition_put(b->topics, p);
                    zcq_kreq_close(r, "out of memory");
                    settle(r, was_pending);
                    return;
                }
                total += s->bytes;
                have_data = true;
                p = NULL; /* the response holds the reference */
            } else {
                zcq_kw_i32(w, 0);
            }
            if (p)
                zcq_partition_put(b->topics, p);
        }
    }

    if (c && c->nwarm > 0) {
        /* Cold ranges: bring them in off the loop, then run again. */
        zcq_say(ZCQ_DEBUG, "fetch from client '%.*s': %d cold range(s) go to the read pool",
                r->client_id.len > 0 ? (int)r->client_id.len : 0,
                r->client_id.len > 0 ? r->client_id.p : "", c->nwarm);
        zcq_kresp_begin(r); /* drop the slices taken meanwhile */
        if (zcq_kreq_keep_frame(r) < 0) {
            zcq_kreq_close(r, "out of memory");
            settle(r, was_pending);
            return;
        }
        r->state = ZCQ_KREQ_PENDING;
        c->warm_left = c->nwarm;
        for (int i = 0; i < c->nwarm; i++) {
            c->warm[i].work.work = warm_work;
            c->warm[i].work.after = warm_after;
            c->warm[i].work.pool = ZCQ_POOL_READ;
            zcq_kreq_queue_work(r, &c->warm[i].work);
        }
        return;
    }
    if (!final && !any_err && h.max_wait > 0 &&
        total < (uint64_t)(h.min_bytes > 0 ? h.min_bytes : 0)) {
        zcq_kresp_begin(r); /* nothing to keep until the next run */
        if (zcq_kreq_keep_frame(r) < 0 || !ctx_of(r) || park(r, r->ctx, h.max_wait) < 0) {
            zcq_kreq_close(r, "out of memory");
            settle(r, was_pending);
            return;
        }
        r->state = ZCQ_KREQ_PENDING;
        return;
    }
    zcq_kreq_respond(r);
    settle(r, was_pending);
}

void zcq_h_fetch(struct zcq_kreq *r)
{
    struct zcq_kr rd;
    struct fhdr h;

    if (!well_formed(r)) {
        zcq_kreq_close(r, "malformed Fetch v%d request", r->api_version);
        return;
    }
    read_hdr(r, &rd, &h);
    if (h.replica >= 0) {
        /* Only brokers fetch as replicas, and zcq has none: a client claiming to be one is
         * misbehaving (CVE-2018-1288 is what trusting it led to in Kafka). */
        zcq_kreq_close(r, "Fetch from replica id %d: zcq has no replicas", h.replica);
        return;
    }
    run(r, h.max_wait <= 0);
}
