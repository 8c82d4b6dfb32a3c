/*
 * Produce (v3-7): one record batch per partition, validated and appended through the
 * partition log in wire format (the log rewrites only baseOffset and the leader epoch, which
 * the CRC does not cover), then acknowledged.
 *
 *   acks=0    no response at all; any error closes the connection instead (as Kafka does,
 *             so the client notices and refreshes its metadata)
 *   acks=1    answered once appended (in the page cache, or zcq's cache in Direct I/O mode)
 *   acks=-1   answered once durable (fdatasync) when zcq.acks.all.sync is true (the
 *             default: a single broker has no replicas, so durability is the disk's),
 *             otherwise as acks=1
 * Under flush.messages=1 every append waits for its sync, whatever acks says, and consumers
 * see records only once synced (the log's hwm follows the durable offset).
 *
 * The request is parsed whole before anything is appended, so a malformed frame appends
 * nothing (the connection closes). Syncs run on the sync pool, never on the event loop: the
 * response is built with every partition's result, and a sync that fails turns that
 * partition's entry into KAFKA_STORAGE_ERROR before the response goes out. A flush the policy
 * makes due without anyone waiting (flush.messages=N, a segment roll) is queued in the
 * background, one at a time per partition.
 */
#include "proto/api.h"

#include "broker/broker.h"
#include "io/say.h"
#include "proto/kerr.h"
#include "store/batch.h"
#include "store/log.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A sync one partition of the request waits for. */
struct psync {
    struct zcq_kwork work;
    struct pctx *c;
    struct zcq_partition *p;
    int64_t upto;
    size_t err_pos, base_pos; /* its error code and base offset in the response */
    int rc;
};

struct pctx {
    struct zcq_kreq *r;
    int n, left;
    struct psync s[];
};

/* A flush nobody waits for (the policy made one due). */
struct bgflush {
    struct zcq_kwork work;
    struct zcq_broker *b;
    struct zcq_partition *p;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bg_work(struct zcq_kwork *w)
{
    struct bgflush *f = (struct bgflush *)w;

    __atomic_store_n(&f->p->flush_queued, 0, __ATOMIC_RELEASE);
    /* A failure is the log's sticky error: later appends report it. */
    (void)zcq_log_flush(f->p->log);
    zcq_partition_notify(f->p); /* under flush.messages=1 the hwm moved */
}

static void bg_after(struct zcq_kwork *w)
{
    struct bgflush *f = (struct bgflush *)w;

    zcq_partition_put(f->b->topics, f->p);
    free(f);
}

/* Queue a background flush of p unless one is queued already. */
static void flush_later(struct zcq_kreq *r, struct zcq_partition *p)
{
    struct bgflush *f;

    if (__atomic_exchange_n(&p->flush_queued, 1, __ATOMIC_ACQ_REL))
        return;
    f = calloc(1, sizeof(*f));
    if (!f) {
        __atomic_store_n(&p->flush_queued, 0, __ATOMIC_RELEASE);
        return; /* the maintenance thread's periodic check will do it */
    }
    zcq_partition_ref(p);
    f->b = r->broker;
    f->p = p;
    f->work.work = bg_work;
    f->work.after = bg_after;
    f->work.pool = ZCQ_POOL_SYNC;
    r->host->queue_work(r->host, &f->work);
}

static void sync_work(struct zcq_kwork *w)
{
    struct psync *s = (struct psync *)w;

    s->rc = zcq_log_flush_upto(s->p->log, s->upto);
    zcq_partition_notify(s->p);
}

static void pctx_free(struct zcq_kreq *r)
{
    struct pctx *c = r->ctx;

    for (int i = 0; i < c->n; i++)
        zcq_partition_put(r->broker->topics, c->s[i].p);
    free(c);
    r->ctx = NULL;
}

static void sync_after(struct zcq_kwork *w)
{
    struct psync *s = (struct psync *)w;
    struct pctx *c = s->c;
    struct zcq_kreq *r = c->r;

    if (zcq_kreq_work_back(r))
        return;
    if (s->rc < 0) {
        zcq_kw_patch_i16(&r->resp->w, s->err_pos, KERR_KAFKA_STORAGE_ERROR);
        zcq_kw_patch_i64(&r->resp->w, s->base_pos, -1);
        zcq_say(ZCQ_ERROR, "partition %s-%d: sync failed (%s); the log stops accepting appends",
                zcq_partition_topic(s->p), s->p->index, zcq_log_strerror(s->rc));
    }
    if (--c->left > 0)
        return;
    zcq_kreq_respond(r);
    zcq_kreq_finish(r);
}

/* Pass 1: the whole request parses; counts partitions. Returns -1 when it does not. */
static int check_shape(struct zcq_kr *rd, int *nparts)
{
    int32_t nt = zcq_kr_array(rd, 6, false);

    *nparts = 0;
    for (int32_t t = 0; t < nt && !rd->err; t++) {
        int32_t np;

        (void)zcq_kr_str(rd);
        np = zcq_kr_array(rd, 8, false);
        for (int32_t i = 0; i < np && !rd->err; i++) {
            (void)zcq_kr_i32(rd);
            (void)zcq_kr_nbytes(rd);
        }
        *nparts += np;
    }
    return rd->err || zcq_kr_left(rd) ? -1 : 0;
}

/* Checks Kafka makes on a client's batch that the log's own validation does not (the log
 * also takes batches from recovery and, later, replication). 0 or a Kafka error code. */
static int16_t client_checks(const uint8_t *p, size_t len)
{
    struct zcq_batch_info bi;
    int64_t sz = zcq_batch_size(p, len);

    if (sz < 0 || (size_t)sz > len)
        return KERR_CORRUPT_MESSAGE; /* the log's validation says which */
    if ((size_t)sz < len)
        return KERR_INVALID_RECORD; /* v3+: exactly one batch per partition */
    if (zcq_batch_decode(p, len, &bi) < 0)
        return KERR_CORRUPT_MESSAGE;
    if (bi.base_offset != 0)
        return KERR_INVALID_RECORD;
    if (ZCQ_BATCH_IS_TRANSACTIONAL(bi.attributes))
        return KERR_INVALID_TXN_STATE; /* zcq has no transactions */
    if (bi.producer_id >= 0 && bi.base_sequence < 0)
        return KERR_INVALID_RECORD;
    return KERR_NONE;
}

/*
 * Produce v0-2 carry message sets of magic 0 and 1, which zcq does not store: every
 * partition gets UNSUPPORTED_FOR_MESSAGE_FORMAT. The versions are advertised all the same
 * because librdkafka (2.0.2 and later) enables gzip, snappy and lz4 only when the broker's
 * Produce range includes v0; without it its producers silently send uncompressed batches.
 */
static void produce_old(struct zcq_kreq *r)
{
    int16_t v = r->api_version, acks;
    struct zcq_kr rd;
    struct zcq_kw *w;
    int32_t nt;

    zcq_kreq_body(r, &rd);
    acks = zcq_kr_i16(&rd);
    (void)zcq_kr_i32(&rd);
    if (rd.err || check_shape(&rd, &nt) < 0) {
        zcq_kreq_close(r, "malformed Produce v%d request", v);
        return;
    }
    if (acks == 0) {
        zcq_kreq_close(r, "acks=0 Produce v%d: message format v0/v1 is not supported", v);
        return;
    }
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_i16(&rd);
    (void)zcq_kr_i32(&rd);
    nt = zcq_kr_array(&rd, 6, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt; t++) {
        int32_t np;

        zcq_kw_str(w, zcq_kr_str(&rd));
        np = zcq_kr_array(&rd, 8, false);
        zcq_kw_i32(w, np);
        for (int32_t i = 0; i < np; i++) {
            zcq_kw_i32(w, zcq_kr_i32(&rd));
            (void)zcq_kr_nbytes(&rd);
            zcq_kw_i16(w, KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT);
            zcq_kw_i64(w, -1);
            if (v >= 2)
                zcq_kw_i64(w, -1); /* log_append_time */
        }
    }
    if (v >= 1)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_say_client("Produce v%d from client '%.*s': message format v0/v1 refused", v,
                   r->client_id.len > 0 ? (int)r->client_id.len : 0,
                   r->client_id.len > 0 ? r->client_id.p : "");
    zcq_kreq_respond(r);
}

void zcq_h_produce(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version, acks;
    struct zcq_kstr txn;
    struct zcq_kr rd;
    struct zcq_kw *w;
    struct pctx *c = NULL;
    int nparts, nerr = 0;
    int64_t now = wall_ms();

    if (v < 3) {
        produce_old(r);
        return;
    }
    zcq_kreq_body(r, &rd);
    txn = zcq_kr_nstr(&rd);
    acks = zcq_kr_i16(&rd);
    (void)zcq_kr_i32(&rd); /* timeout: a sync is not abandoned half way */
    if (rd.err || check_shape(&rd, &nparts) < 0) {
        zcq_kreq_close(r, "malformed Produce v%d request", v);
        return;
    }
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_nstr(&rd);
    (void)zcq_kr_i16(&rd);
    (void)zcq_kr_i32(&rd);
    {
        int32_t nt = zcq_kr_array(&rd, 6, false);

        zcq_kw_i32(w, nt);
        for (int32_t t = 0; t < nt; t++) {
            struct zcq_kstr name = zcq_kr_str(&rd);
            int32_t np = zcq_kr_array(&rd, 8, false);

            zcq_kw_str(w, name);
            zcq_kw_i32(w, np);
            for (int32_t i = 0; i < np; i++) {
                int32_t idx = zcq_kr_i32(&rd);
                struct zcq_kstr rec = zcq_kr_nbytes(&rd);
                struct zcq_partition *p = NULL;
                struct zcq_append_result res = {.base_offset = -1};
                int16_t err = KERR_NONE;
                int64_t start = -1;
                size_t err_pos;
                bool wait = false;

                if (txn.len >= 0)
                    err = KERR_INVALID_TXN_STATE;
                else if (acks != 0 && acks != 1 && acks != -1)
                    err = KERR_INVALID_REQUIRED_ACKS;
                else if (!(p = zcq_topics_get(b->topics, name.p, (size_t)name.len, idx)))
                    err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                else if (rec.len <= 0)
                    err = KERR_INVALID_RECORD;
                else if ((err = client_checks((const uint8_t *)rec.p, (size_t)rec.len)) ==
                         KERR_NONE) {
                    /* The frame is the connection's own buffer: the log rewrites the batch's
                     * baseOffset and leader epoch in place, then writes it. */
                    int rc = zcq_log_append(p->log, (void *)rec.p, (size_t)rec.len, 0, now,
                                            ZCQ_APPEND_NOSYNC, &res);

                    err = zcq_kerr_of(rc);
                    if (rc == 0) {
                        const struct zcq_log_config *lc = zcq_log_cfg(p->log);

                        start = zcq_log_start_offset(p->log);
                        wait = zcq_log_config_sync_each(lc) || (acks == -1 && b->cfg.acks_all_sync);
                        if (!zcq_log_config_sync_each(lc))
                            zcq_partition_notify(p);
                        if (!wait || acks == 0) {
                            if (zcq_log_flush_due(p->log, now) || wait)
                                flush_later(r, p);
                            wait = false;
                        }
                    } else {
                        res.base_offset = -1;
                        zcq_say_client(
                            "produce to %.*s-%d from client '%.*s' rejected: %s", (int)name.len,
                            name.p, idx, r->client_id.len > 0 ? (int)r->client_id.len : 0,
                            r->client_id.len > 0 ? r->client_id.p : "", zcq_log_strerror(rc));
                    }
                }
                if (err != KERR_NONE)
                    nerr++;
                zcq_kw_i32(w, idx);
                err_pos = w->len;
                zcq_kw_i16(w, err);
                zcq_kw_i64(w, res.base_offset);
                zcq_kw_i64(w, -1); /* log_append_time: CreateTime */
                if (v >= 5)
                    zcq_kw_i64(w, start);
                if (wait) {
                    if (!c) {
                        c = calloc(1, sizeof(*c) + sizeof(c->s[0]) * (size_t)nparts);
                        if (!c) {
                            zcq_partition_put(b->topics, p);
                            zcq_kreq_close(r, "out of memory");
                            return;
                        }
                        c->r = r;
                    }
                    c->s[c->n] = (struct psync){.c = c,
                                                .p = p,
                                                .upto = res.last_offset + 1,
                                                .err_pos = err_pos,
                                                .base_pos = err_pos + 2};
                    c->n++;
                    p = NULL; /* the sync holds the reference */
                }
                if (p)
                    zcq_partition_put(b->topics, p);
            }
        }
    }
    zcq_kw_i32(w, 0); /* throttle */

    if (acks == 0) {
        if (nerr)
            zcq_kreq_close(r, "acks=0 Produce had %d partition error(s)", nerr);
        else
            r->state = ZCQ_KREQ_NORESP;
        return;
    }
    if (!c) {
        zcq_kreq_respond(r);
        return;
    }
    r->ctx = c;
    r->ctx_free = pctx_free;
    r->state = ZCQ_KREQ_PENDING;
    c->left = c->n;
    for (int i = 0; i < c->n; i++) {
        c->s[i].work.work = sync_work;
        c->s[i].work.after = sync_after;
        c->s[i].work.pool = ZCQ_POOL_SYNC;
        zcq_kreq_queue_work(r, &c->s[i].work);
    }
}
