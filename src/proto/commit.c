/*
 * Committed offsets: OffsetCommit 2-7 and OffsetFetch 1-5. The coordinator (broker/group.h)
 * checks and journals a commit on the loop (a page-cache append); with
 * offsets.commit.required.acks=-1 the answer waits for the journal's fdatasync, done on the
 * sync pool and shared by every commit waiting at the time (group commit).
 */
#include "broker/broker.h"
#include "proto/api.h"
#include "proto/kerr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- OffsetCommit -------------------------------------------------------------------------- */

struct header {
    struct zcq_kstr group, member;
    int32_t generation;
};

static void read_header(struct zcq_kreq *r, struct zcq_kr *rd, struct header *h)
{
    int16_t v = r->api_version;

    zcq_kreq_body(r, rd);
    h->group = zcq_kr_str(rd);
    h->generation = zcq_kr_i32(rd);
    h->member = zcq_kr_str(rd);
    if (v >= 7)
        (void)zcq_kr_nstr(rd); /* group_instance_id */
    if (v <= 4)
        (void)zcq_kr_i64(rd); /* retention_time: ignored, offsets.retention.minutes rules */
}

/* One partition entry; the topic name is read by the caller. */
static void read_part(struct zcq_kreq *r, struct zcq_kr *rd, struct zcq_gcommit *c)
{
    struct zcq_kstr meta;

    c->partition = zcq_kr_i32(rd);
    c->offset = zcq_kr_i64(rd);
    c->leader_epoch = r->api_version >= 6 ? zcq_kr_i32(rd) : -1;
    meta = zcq_kr_nstr(rd);
    c->meta = meta.p;
    c->meta_len = meta.len;
}

struct cctx {
    struct zcq_kwork work; /* first: the work callbacks get only this */
    struct zcq_kreq *r;
    int16_t group_err;
    int16_t *errs; /* per partition, in request order */
    int n;
    int64_t upto;
    int sync_rc;
};

static void cctx_free(struct zcq_kreq *r)
{
    struct cctx *c = r->ctx;

    free(c->errs);
    free(c);
    r->ctx = NULL;
}

/* The response: every topic and partition of the request, with its error. */
static void commit_respond(struct zcq_kreq *r, int16_t group_err, const int16_t *errs)
{
    struct zcq_kw *w = zcq_kresp_begin(r);
    struct zcq_kr rd;
    struct header h;
    int32_t nt;
    int k = 0;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (r->api_version >= 3)
        zcq_kw_i32(w, 0); /* throttle */
    read_header(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr topic = zcq_kr_str(&rd);
        int32_t np = zcq_kr_array(&rd, 14, false);

        zcq_kw_str(w, topic);
        zcq_kw_i32(w, np);
        for (int32_t i = 0; i < np; i++, k++) {
            struct zcq_gcommit c;

            read_part(r, &rd, &c);
            zcq_kw_i32(w, c.partition);
            zcq_kw_i16(w, group_err ? group_err : errs[k]);
        }
    }
    zcq_kreq_respond(r);
}

static void commit_sync_work(struct zcq_kwork *w)
{
    struct cctx *c = (struct cctx *)w;

    c->sync_rc = zcq_groups_sync(c->r->broker->groups, c->upto);
}

static void commit_sync_after(struct zcq_kwork *w)
{
    struct cctx *c = (struct cctx *)w;
    struct zcq_kreq *r = c->r;

    if (zcq_kreq_work_back(r))
        return;
    if (c->sync_rc < 0) {
        /* Journalled but not durable: the client must not count on it. */
        for (int i = 0; i < c->n; i++) {
            if (c->errs[i] == KERR_NONE)
                c->errs[i] = KERR_KAFKA_STORAGE_ERROR;
        }
    }
    commit_respond(r, c->group_err, c->errs);
    zcq_kreq_finish(r);
}

void zcq_h_offset_commit(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    struct zcq_gcommit *cs = NULL;
    struct cctx *c = NULL;
    struct zcq_kr rd;
    struct header h;
    int32_t nt;
    int n = 0, k = 0;

    /* First pass: the shape, and how many partitions. */
    read_header(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t np;

        (void)zcq_kr_str(&rd);
        np = zcq_kr_array(&rd, 14, false);
        for (int32_t i = 0; i < np && !rd.err; i++) {
            struct zcq_gcommit x;

            read_part(r, &rd, &x);
        }
        n += np;
    }
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed OffsetCommit v%d request", r->api_version);
        return;
    }
    c = calloc(1, sizeof(*c));
    cs = calloc((size_t)(n ? n : 1), sizeof(*cs));
    if (c)
        c->errs = calloc((size_t)(n ? n : 1), sizeof(*c->errs));
    if (!c || !cs || !c->errs) {
        if (c)
            free(c->errs);
        free(c);
        free(cs);
        zcq_kreq_close(r, "out of memory");
        return;
    }
    c->r = r;
    c->n = n;
    read_header(r, &rd, &h);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr topic = zcq_kr_str(&rd);
        int32_t np = zcq_kr_array(&rd, 14, false);

        for (int32_t i = 0; i < np; i++, k++) {
            read_part(r, &rd, &cs[k]);
            cs[k].topic = topic.p;
            cs[k].topic_len = (size_t)topic.len;
        }
    }
    c->group_err = zcq_group_commit(b->groups, h.group.p, (size_t)h.group.len, h.generation,
                                    h.member.p, (size_t)h.member.len, cs, n, now_wall(), &c->upto);
    for (int i = 0; i < n; i++)
        c->errs[i] = cs[i].err;
    free(cs);
    r->ctx = c;
    r->ctx_free = cctx_free;
    if (c->group_err || c->upto <= 0 || b->cfg.commit_acks != -1) {
        commit_respond(r, c->group_err, c->errs);
        return;
    }
    if (zcq_kreq_keep_frame(r) < 0) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    r->state = ZCQ_KREQ_PENDING;
    c->work.work = commit_sync_work;
    c->work.after = commit_sync_after;
    c->work.pool = ZCQ_POOL_SYNC;
    zcq_kreq_queue_work(r, &c->work);
}

/* --- OffsetFetch --------------------------------------------------------------------------- */

struct fetching {
    struct zcq_kw *w;
    int16_t v;
    /* writing every committed offset of the group (topics = null): the current topic's
     * partition count is patched when the topic changes */
    bool all;
    const char *topic;
    size_t topic_len;
    size_t count_at;
    int32_t nparts, ntopics;
};

static void put_offset(struct fetching *f, const struct zcq_goffset *o)
{
    struct zcq_kw *w = f->w;

    zcq_kw_i32(w, o->partition);
    zcq_kw_i64(w, o->offset);
    if (f->v >= 5)
        zcq_kw_i32(w, o->offset >= 0 ? o->leader_epoch : -1);
    /* Metadata: "" when nothing was committed, as Kafka answers. */
    zcq_kw_str(w,
               o->offset >= 0 ? (struct zcq_kstr){o->meta, o->meta_len} : (struct zcq_kstr){"", 0});
    zcq_kw_i16(w, KERR_NONE);
}

static void fetch_one(void *arg, const struct zcq_goffset *o)
{
    struct fetching *f = arg;

    if (f->all && (!f->topic || o->topic_len != f->topic_len ||
                   memcmp(o->topic, f->topic, o->topic_len) != 0)) {
        if (f->topic)
            zcq_kw_patch_i32(f->w, f->count_at, f->nparts);
        zcq_kw_str(f->w, (struct zcq_kstr){o->topic, (int32_t)o->topic_len});
        f->count_at = zcq_kw_reserve_i32(f->w);
        f->topic = o->topic;
        f->topic_len = o->topic_len;
        f->nparts = 0;
        f->ntopics++;
    }
    put_offset(f, o);
    f->nparts++;
}

void zcq_h_offset_fetch(struct zcq_kreq *r)
{
    struct fetching f = {.v = r->api_version};
    struct zcq_gquery *q = NULL;
    struct zcq_kstr group;
    struct zcq_kr rd;
    int32_t nt;
    int n = 0, k = 0;

    zcq_kreq_body(r, &rd);
    group = zcq_kr_str(&rd);
    nt = zcq_kr_array(&rd, 6, f.v >= 2);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t np;

        (void)zcq_kr_str(&rd);
        np = zcq_kr_array(&rd, 4, false);
        zcq_kr_skip(&rd, 4 * (size_t)(np > 0 ? np : 0));
        n += np;
    }
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed OffsetFetch v%d request", f.v);
        return;
    }
    f.w = zcq_kresp_begin(r);
    if (!f.w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (f.v >= 3)
        zcq_kw_i32(f.w, 0); /* throttle */
    if (nt < 0) {
        /* Every committed offset of the group, topic by topic. */
        size_t at = zcq_kw_reserve_i32(f.w);

        f.all = true;
        (void)zcq_group_offsets(r->broker->groups, group.p, (size_t)group.len, NULL, 0, fetch_one,
                                &f);
        if (f.topic)
            zcq_kw_patch_i32(f.w, f.count_at, f.nparts);
        zcq_kw_patch_i32(f.w, at, f.ntopics);
    } else {
        q = calloc((size_t)(n ? n : 1), sizeof(*q));
        if (!q) {
            zcq_kreq_close(r, "out of memory");
            return;
        }
        zcq_kreq_body(r, &rd);
        (void)zcq_kr_str(&rd);
        (void)zcq_kr_array(&rd, 6, true);
        zcq_kw_i32(f.w, nt);
        for (int32_t t = 0; t < nt; t++) {
            struct zcq_kstr topic = zcq_kr_str(&rd);
            int32_t np = zcq_kr_array(&rd, 4, false);
            int first = k;

            for (int32_t i = 0; i < np; i++, k++)
                q[k] = (struct zcq_gquery){topic.p, (size_t)topic.len, zcq_kr_i32(&rd)};
            zcq_kw_str(f.w, topic);
            zcq_kw_i32(f.w, np);
            (void)zcq_group_offsets(r->broker->groups, group.p, (size_t)group.len, q + first, np,
                                    fetch_one, &f);
        }
        free(q);
    }
    if (f.v >= 2)
        zcq_kw_i16(f.w, KERR_NONE);
    zcq_kreq_respond(r);
}
