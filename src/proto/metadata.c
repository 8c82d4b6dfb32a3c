/*
 * Metadata (v0-7): this broker, the cluster id, and the topics asked for (all of them for a
 * v0 empty list or a v1+ null list; none for a v1+ empty list). A topic that does not exist
 * is created first when auto.create.topics.enable allows it and the request does (v4+
 * allow_auto_topic_creation; earlier versions imply it): the creation syncs files, so it runs
 * off the loop and the request answers when it is done, with the topic in place
 * (kafka-protocol.md section 7).
 */
#include "proto/api.h"

#include "broker/broker.h"
#include "io/say.h"
#include "proto/kerr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CREATE 64 /* auto-creations one request may trigger */

struct md_ctx {
    struct zcq_kwork work;
    struct zcq_kreq *r;
    int n;
    char names[MAX_CREATE][ZCQ_TOPIC_NAME_MAX + 1];
    int rc[MAX_CREATE];
};

static void write_partitions(struct zcq_kw *w, int16_t v, int32_t node, int32_t n)
{
    zcq_kw_i32(w, n);
    for (int32_t p = 0; p < n; p++) {
        zcq_kw_i16(w, KERR_NONE);
        zcq_kw_i32(w, p);
        zcq_kw_i32(w, node); /* leader */
        if (v >= 7)
            zcq_kw_i32(w, 0); /* leader epoch */
        zcq_kw_i32(w, 1);     /* replicas */
        zcq_kw_i32(w, node);
        zcq_kw_i32(w, 1); /* isr */
        zcq_kw_i32(w, node);
        if (v >= 5)
            zcq_kw_i32(w, 0); /* offline replicas */
    }
}

static void write_topic(struct zcq_kw *w, int16_t v, int32_t node, int16_t err,
                        struct zcq_kstr name, int32_t n)
{
    zcq_kw_i16(w, err);
    zcq_kw_str(w, name);
    if (v >= 1)
        zcq_kw_bool(w, false); /* is_internal */
    write_partitions(w, v, node, err ? 0 : n);
}

struct each_arg {
    struct zcq_kw *w;
    int16_t v;
    int32_t node;
};

static void each_topic(void *arg, const char *name, int32_t n)
{
    struct each_arg *a = arg;

    write_topic(a->w, a->v, a->node, KERR_NONE, (struct zcq_kstr){name, (int32_t)strlen(name)}, n);
}

/* The error of a creation md_ctx attempted for name, or 0 if none was attempted. */
static int created_rc(const struct md_ctx *c, struct zcq_kstr name)
{
    for (int i = 0; c && i < c->n; i++) {
        if ((size_t)name.len == strlen(c->names[i]) &&
            memcmp(c->names[i], name.p, (size_t)name.len) == 0)
            return c->rc[i];
    }
    return 0;
}

static void respond(struct zcq_kreq *r, const struct md_ctx *c)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version;
    int32_t node = b->cfg.node_id, n;
    struct zcq_kw *w = zcq_kresp_begin(r);
    struct zcq_kr rd;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    n = zcq_kr_array(&rd, 2, v >= 1);
    if (v >= 3)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i32(w, 1);     /* brokers */
    zcq_kw_i32(w, node);
    zcq_kw_cstr(w, b->cfg.adv_host);
    zcq_kw_i32(w, b->cfg.adv_port);
    if (v >= 1)
        zcq_kw_cstr(w, NULL); /* rack */
    if (v >= 2)
        zcq_kw_cstr(w, b->cluster_id);
    if (v >= 1)
        zcq_kw_i32(w, node); /* controller */
    if ((v == 0 && n == 0) || n == -1) {
        size_t at = zcq_kw_reserve_i32(w);
        struct each_arg a = {w, v, node};

        zcq_kw_patch_i32(w, at, zcq_topics_each(b->topics, each_topic, &a));
    } else {
        zcq_kw_i32(w, n);
        for (int32_t i = 0; i < n && !rd.err; i++) {
            struct zcq_kstr name = zcq_kr_str(&rd);
            int32_t parts;
            int16_t err = KERR_NONE;

            if (rd.err)
                break;
            parts = zcq_topics_partitions(b->topics, name.p, (size_t)name.len);
            if (parts < 0) {
                if (zcq_topic_name_check(name.p, (size_t)name.len) < 0)
                    err = KERR_INVALID_TOPIC_EXCEPTION;
                else if (created_rc(c, name) < 0)
                    err = KERR_LEADER_NOT_AVAILABLE; /* its creation failed: retriable */
                else
                    err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            }
            write_topic(w, v, node, err, name, parts);
        }
    }
    if (rd.err) {
        zcq_kreq_close(r, "malformed Metadata v%d request", v);
        return;
    }
    zcq_kreq_respond(r);
}

static void md_free(struct zcq_kreq *r)
{
    free(r->ctx);
    r->ctx = NULL;
}

static void create_work(struct zcq_kwork *wk)
{
    struct md_ctx *c = (struct md_ctx *)wk;
    struct zcq_broker *b = c->r->broker;

    for (int i = 0; i < c->n; i++) {
        char why[256];

        c->rc[i] = zcq_topics_create(b->topics, c->names[i], b->cfg.num_partitions, NULL, 0, 0, why,
                                     sizeof(why));
        if (c->rc[i] == 0)
            zcq_say(ZCQ_INFO, "topic %s created (%d partitions, auto-created by Metadata)",
                    c->names[i], b->cfg.num_partitions);
        else if (c->rc[i] == ZCQ_TOPIC_EEXISTS)
            c->rc[i] = 0; /* another request made it meanwhile */
        else
            zcq_say(ZCQ_WARN, "auto-creating topic %s failed: %s", c->names[i], why);
    }
}

static void create_after(struct zcq_kwork *wk)
{
    struct md_ctx *c = (struct md_ctx *)wk;
    struct zcq_kreq *r = c->r;

    if (zcq_kreq_work_back(r))
        return;
    respond(r, c);
    zcq_kreq_finish(r);
}

void zcq_h_metadata(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version;
    struct md_ctx *c = NULL;
    struct zcq_kr rd;
    int32_t n;
    bool allow;

    zcq_kreq_body(r, &rd);
    n = zcq_kr_array(&rd, 2, v >= 1);
    for (int32_t i = 0; i < n && !rd.err; i++)
        (void)zcq_kr_str(&rd);
    allow = v >= 4 ? zcq_kr_bool(&rd) : true;
    if (rd.err) {
        zcq_kreq_close(r, "malformed Metadata v%d request", v);
        return;
    }
    if (allow && b->cfg.auto_create && n > 0) {
        zcq_kreq_body(r, &rd);
        n = zcq_kr_array(&rd, 2, true);
        for (int32_t i = 0; i < n; i++) {
            struct zcq_kstr name = zcq_kr_str(&rd);

            if (zcq_topics_partitions(b->topics, name.p, (size_t)name.len) >= 0 ||
                zcq_topic_name_check(name.p, (size_t)name.len) < 0 || created_rc(c, name) ||
                (c && c->n == MAX_CREATE))
                continue;
            if (!c) {
                c = calloc(1, sizeof(*c));
                if (!c) {
                    zcq_kreq_close(r, "out of memory");
                    return;
                }
            }
            memcpy(c->names[c->n], name.p, (size_t)name.len);
            c->names[c->n][name.len] = '\0';
            c->rc[c->n] = 1; /* marks "asked for" until the work sets the result */
            c->n++;
        }
    }
    if (!c) {
        respond(r, NULL);
        return;
    }
    if (zcq_kreq_keep_frame(r) < 0) {
        free(c);
        zcq_kreq_close(r, "out of memory");
        return;
    }
    c->r = r;
    c->work.work = create_work;
    c->work.after = create_after;
    c->work.pool = ZCQ_POOL_ADMIN;
    r->ctx = c;
    r->ctx_free = md_free;
    r->state = ZCQ_KREQ_PENDING;
    zcq_kreq_queue_work(r, &c->work);
}

/*
 * FindCoordinator (v0-2): every group's coordinator is this broker (kafka-protocol.md section
 * 9); transactions have none (zcq has no transactions).
 */
void zcq_h_find_coordinator(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version, err = KERR_NONE;
    struct zcq_kw *w;
    struct zcq_kr rd;
    int8_t type = 0;

    zcq_kreq_body(r, &rd);
    (void)zcq_kr_str(&rd);
    if (v >= 1)
        type = zcq_kr_i8(&rd);
    if (rd.err || zcq_kr_left(&rd) || !(w = zcq_kresp_begin(r))) {
        zcq_kreq_close(r, "malformed FindCoordinator v%d request", v);
        return;
    }
    if (type != 0)
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (v >= 1)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i16(w, err);
    if (v >= 1)
        zcq_kw_cstr(w, err ? "zcq has no transaction coordinator" : NULL);
    zcq_kw_i32(w, err ? -1 : b->cfg.node_id);
    zcq_kw_cstr(w, err ? "" : b->cfg.adv_host);
    zcq_kw_i32(w, err ? -1 : b->cfg.adv_port);
    zcq_kreq_respond(r);
}
