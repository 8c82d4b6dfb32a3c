/* Requests and responses; see kreq.h. The dispatch table is in api.c. */
#include "proto/kreq.h"

#include "broker/broker.h"
#include "proto/api.h"
#include "store/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct zcq_kreq *zcq_kreq_new(struct zcq_khost *host, struct zcq_broker *b, const uint8_t *frame,
                              size_t len)
{
    struct zcq_kreq *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->host = host;
    r->broker = b;
    r->frame = frame;
    r->frame_len = len;
    return r;
}

static void resp_release(struct zcq_kresp *resp)
{
    for (unsigned i = 0; i < resp->n; i++) {
        struct zcq_kresp_part *p = &resp->parts[i];

        if (p->slice) {
            zcq_log_slice_release(p->partition->log, p->slice);
            free(p->slice);
            zcq_partition_put(resp->broker->topics, p->partition);
        }
    }
    resp->n = 0;
    resp->cut = 0;
    resp->total = 0;
}

void zcq_kresp_free(struct zcq_kresp *resp)
{
    if (!resp)
        return;
    resp_release(resp);
    free(resp->parts);
    zcq_kw_free(&resp->w);
    free(resp);
}

void zcq_kreq_free(struct zcq_kreq *r)
{
    if (!r)
        return;
    if (r->ctx_free)
        r->ctx_free(r);
    zcq_kresp_free(r->resp);
    free(r->frame_copy);
    free(r);
}

void zcq_kreq_cancel(struct zcq_kreq *r)
{
    r->owner = NULL;
    r->on_done = NULL;
    r->cancelled = true;
    /* With work out, a pool thread may be running the request (zcq_kreq_offload) and writing
     * its state: decide on work_out alone, which only this thread touches. The last work item
     * back frees the request (zcq_kreq_work_back). */
    if (r->work_out > 0) {
        if (r->ctx_cancel)
            r->ctx_cancel(r);
        return;
    }
    if (r->state == ZCQ_KREQ_PENDING && r->ctx_cancel)
        r->ctx_cancel(r);
    zcq_kreq_free(r);
}

struct zcq_kresp *zcq_kreq_take_resp(struct zcq_kreq *r)
{
    struct zcq_kresp *resp = r->state == ZCQ_KREQ_DONE ? r->resp : NULL;

    if (resp)
        r->resp = NULL;
    return resp;
}

struct zcq_kw *zcq_kresp_begin(struct zcq_kreq *r)
{
    if (!r->resp) {
        r->resp = calloc(1, sizeof(*r->resp));
        if (!r->resp)
            return NULL;
        r->resp->broker = r->broker;
        /* A response never needs more than the largest frame clients accept plus slices;
         * the bound stops a runaway build, not a legitimate one. */
        zcq_kw_init(&r->resp->w, (size_t)1 << 30);
    } else {
        resp_release(r->resp);
        zcq_kw_reset(&r->resp->w);
    }
    (void)zcq_kw_reserve_i32(&r->resp->w); /* size, patched by respond */
    zcq_kw_i32(&r->resp->w, r->corr);
    return &r->resp->w;
}

static int add_part(struct zcq_kresp *resp, struct zcq_kresp_part p)
{
    if (resp->n == resp->cap) {
        unsigned cap = resp->cap ? resp->cap * 2 : 8;
        struct zcq_kresp_part *np = realloc(resp->parts, sizeof(*np) * cap);

        if (!np)
            return -ENOMEM;
        resp->parts = np;
        resp->cap = cap;
    }
    resp->parts[resp->n++] = p;
    return 0;
}

/* The bytes written since the last cut become a part. */
static int cut_bytes(struct zcq_kresp *resp)
{
    size_t len = resp->w.len - resp->cut;
    int rc;

    if (len == 0)
        return 0;
    rc = add_part(resp, (struct zcq_kresp_part){.off = (uint32_t)resp->cut, .len = (uint32_t)len});
    if (rc == 0) {
        resp->total += len;
        resp->cut = resp->w.len;
    }
    return rc;
}

int zcq_kresp_add_slice(struct zcq_kresp *resp, struct zcq_log_slice *s, struct zcq_partition *p)
{
    int rc = cut_bytes(resp);

    if (rc == 0)
        rc = add_part(resp, (struct zcq_kresp_part){.slice = s, .partition = p});
    if (rc < 0)
        return rc;
    resp->total += s->bytes;
    return 0;
}

/* A handler's verdict. A request running on a pool (zcq_kreq_offload) keeps it aside until
 * its after() runs on the loop: the loop reads r->state to send responses in order, and must
 * not see it change under its feet (it would send and free the request while the pool
 * thread's completion is still out). */
static void set_state(struct zcq_kreq *r, enum zcq_kreq_state st)
{
    if (r->offloaded)
        r->offload_state = st;
    else
        r->state = st;
}

void zcq_kreq_respond(struct zcq_kreq *r)
{
    struct zcq_kresp *resp = r->resp;

    if (!resp || resp->w.err || cut_bytes(resp) < 0) {
        zcq_kreq_close(r, "out of memory building a %s response", zcq_api_name(r->api_key));
        return;
    }
    if (resp->total - 4 > INT32_MAX) {
        zcq_kreq_close(r, "%s response too large", zcq_api_name(r->api_key));
        return;
    }
    zcq_kw_patch_i32(&resp->w, 0, (int32_t)(resp->total - 4));
    set_state(r, ZCQ_KREQ_DONE);
}

void zcq_kreq_close(struct zcq_kreq *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    if (r->resp) {
        resp_release(r->resp);
        zcq_kw_reset(&r->resp->w);
    }
    set_state(r, ZCQ_KREQ_CLOSE);
}

int zcq_kreq_keep_frame(struct zcq_kreq *r)
{
    if (r->frame_copy)
        return 0;
    r->frame_copy = malloc(r->frame_len ? r->frame_len : 1);
    if (!r->frame_copy)
        return -ENOMEM;
    memcpy(r->frame_copy, r->frame, r->frame_len);
    /* The client id view points into the frame too. */
    if (r->client_id.p)
        r->client_id.p = (const char *)r->frame_copy + (r->client_id.p - (const char *)r->frame);
    r->frame = r->frame_copy;
    return 0;
}

void zcq_kreq_body(const struct zcq_kreq *r, struct zcq_kr *rd)
{
    zcq_kr_init(rd, r->frame + r->body_off, r->frame_len - r->body_off);
}

void zcq_kreq_finish(struct zcq_kreq *r)
{
    if (r->cancelled) {
        if (r->work_out == 0)
            zcq_kreq_free(r);
        return;
    }
    if (r->on_done)
        r->on_done(r);
}

void zcq_kreq_queue_work(struct zcq_kreq *r, struct zcq_kwork *w)
{
    r->work_out++;
    r->host->queue_work(r->host, w);
}

bool zcq_kreq_work_back(struct zcq_kreq *r)
{
    r->work_out--;
    if (!r->cancelled)
        return false;
    if (r->work_out == 0)
        zcq_kreq_free(r);
    return true;
}

void zcq_kreq_expedite(struct zcq_kreq *r)
{
    if (r->state != ZCQ_KREQ_PENDING || r->cancelled || r->expedited)
        return;
    r->expedited = true;
    if (r->ctx_expedite)
        r->ctx_expedite(r);
}

struct offload {
    struct zcq_kwork work;
    struct zcq_kreq *r;
    void (*fn)(struct zcq_kreq *r);
};

static void offload_work(struct zcq_kwork *w)
{
    struct offload *o = (struct offload *)w;

    o->fn(o->r);
}

static void offload_after(struct zcq_kwork *w)
{
    struct offload *o = (struct offload *)w;
    struct zcq_kreq *r = o->r;

    r->offloaded = false;
    if (zcq_kreq_work_back(r))
        return;
    r->state = r->offload_state;
    zcq_kreq_finish(r);
}

static void offload_free(struct zcq_kreq *r)
{
    free(r->ctx);
    r->ctx = NULL;
}

void zcq_kreq_offload(struct zcq_kreq *r, enum zcq_kpool pool, void (*fn)(struct zcq_kreq *r))
{
    struct offload *o = calloc(1, sizeof(*o));

    if (!o || zcq_kreq_keep_frame(r) < 0) {
        free(o);
        zcq_kreq_close(r, "out of memory");
        return;
    }
    o->r = r;
    o->fn = fn;
    o->work.work = offload_work;
    o->work.after = offload_after;
    o->work.pool = pool;
    r->ctx = o;
    r->ctx_free = offload_free;
    r->state = ZCQ_KREQ_PENDING;
    r->offloaded = true;
    r->offload_state = ZCQ_KREQ_CLOSE; /* unless fn says otherwise */
    zcq_kreq_queue_work(r, &o->work);
}

void zcq_kreq_handle(struct zcq_kreq *r)
{
    zcq_api_dispatch(r);
}
