/*
 * The group membership APIs: JoinGroup 0-5, SyncGroup 0-3, Heartbeat 0-3, LeaveGroup 0-3,
 * ListGroups 0-2, DescribeGroups 0-4, DeleteGroups 0-1. Decoding and encoding only: the state
 * machine is the coordinator's (broker/group.h). A JoinGroup or SyncGroup the coordinator
 * holds makes the request PENDING until its done() wakes this connection's loop; a
 * connection that goes away withdraws it (zcq_group_unwait), and a broker shutting down
 * answers it with COORDINATOR_NOT_AVAILABLE so the client looks for the coordinator again.
 */
#include "broker/broker.h"
#include "proto/api.h"
#include "proto/kerr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Kafka's client_host: "/" and the address without the port. */
static void client_host(const struct zcq_kreq *r, char *out, size_t len)
{
    const char *p = r->peer ? r->peer : "";
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);

    if (n && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    snprintf(out, len, "/%.*s", (int)n, p);
}

/* --- Held requests ----------------------------------------------------------------------- */

struct gctx {
    struct zcq_gwait w;
    struct zcq_kwake wake;
    struct zcq_kreq *r;
    void (*answer)(struct zcq_kreq *r, struct zcq_gwait *w);
};

static void gctx_done(struct zcq_gwait *w)
{
    struct gctx *c = (struct gctx *)((char *)w - offsetof(struct gctx, w));

    c->r->host->wake(c->r->host, &c->wake); /* any thread */
}

static void gctx_wake(struct zcq_kwake *k)
{
    struct gctx *c = (struct gctx *)((char *)k - offsetof(struct gctx, wake));
    struct zcq_kreq *r = c->r;

    c->answer(r, &c->w);
    zcq_kreq_finish(r);
}

static void gctx_cancel(struct zcq_kreq *r)
{
    struct gctx *c = r->ctx;

    (void)zcq_group_unwait(r->broker->groups, &c->w);
    r->host->unwake(r->host, &c->wake);
}

/* Shutdown: a held request is answered COORDINATOR_NOT_AVAILABLE (an answer that was already
 * on its way goes out as it is). */
static void gctx_expedite(struct zcq_kreq *r)
{
    struct gctx *c = r->ctx;

    if (zcq_group_unwait(r->broker->groups, &c->w)) {
        zcq_gwait_clear(&c->w);
        c->w.err = KERR_COORDINATOR_NOT_AVAILABLE;
        c->w.generation = -1;
        r->host->wake(r->host, &c->wake);
    }
}

static void gctx_free(struct zcq_kreq *r)
{
    struct gctx *c = r->ctx;

    zcq_gwait_clear(&c->w);
    free(c);
    r->ctx = NULL;
}

static struct gctx *gctx_new(struct zcq_kreq *r,
                             void (*answer)(struct zcq_kreq *, struct zcq_gwait *))
{
    struct gctx *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->r = r;
    c->w.done = gctx_done;
    c->wake.cb = gctx_wake;
    c->answer = answer;
    r->ctx = c;
    r->ctx_free = gctx_free;
    return c;
}

/* After join/sync returned rc: answer now (0), or wait (1). */
static void settle(struct zcq_kreq *r, struct gctx *c, int rc)
{
    if (rc < 0) {
        zcq_kreq_close(r, "out of memory in %s", zcq_api_name(r->api_key));
        return;
    }
    if (rc == 0) {
        c->answer(r, &c->w);
        return;
    }
    r->ctx_cancel = gctx_cancel;
    r->ctx_expedite = gctx_expedite;
    r->state = ZCQ_KREQ_PENDING;
}

/* --- JoinGroup ----------------------------------------------------------------------------- */

static void join_answer(struct zcq_kreq *r, struct zcq_gwait *a)
{
    struct zcq_kw *w = zcq_kresp_begin(r);
    int16_t v = r->api_version;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (v >= 2)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i16(w, a->err);
    zcq_kw_i32(w, a->err ? -1 : a->generation);
    zcq_kw_cstr(w, a->err ? "" : or_empty(a->protocol));
    zcq_kw_cstr(w, a->err ? "" : or_empty(a->leader));
    zcq_kw_cstr(w, or_empty(a->member_id));
    zcq_kw_i32(w, a->err ? 0 : a->nmembers);
    for (int i = 0; !a->err && i < a->nmembers; i++) {
        zcq_kw_cstr(w, or_empty(a->members[i].id));
        if (v >= 5)
            zcq_kw_cstr(w, NULL); /* group_instance_id */
        zcq_kw_bytes(w, (struct zcq_kstr){a->members[i].meta, a->members[i].meta_len});
    }
    zcq_kreq_respond(r);
}

void zcq_h_join_group(struct zcq_kreq *r)
{
    int16_t v = r->api_version;
    struct zcq_gproto *protos = NULL;
    struct zcq_join j = {0};
    struct zcq_kstr group, member, ptype;
    char host[80];
    struct gctx *c;
    struct zcq_kr rd;
    int32_t np;
    int rc;

    zcq_kreq_body(r, &rd);
    group = zcq_kr_str(&rd);
    j.session_ms = zcq_kr_i32(&rd);
    j.rebalance_ms = v >= 1 ? zcq_kr_i32(&rd) : j.session_ms;
    member = zcq_kr_str(&rd);
    if (v >= 5)
        (void)zcq_kr_nstr(&rd); /* group_instance_id: static membership is not supported */
    ptype = zcq_kr_str(&rd);
    np = zcq_kr_array(&rd, 6, false);
    if (!rd.err && np > 0) {
        protos = calloc((size_t)np, sizeof(*protos));
        if (!protos) {
            zcq_kreq_close(r, "out of memory");
            return;
        }
    }
    for (int32_t i = 0; i < np && !rd.err; i++) {
        struct zcq_kstr name = zcq_kr_str(&rd), meta = zcq_kr_bytes(&rd);

        protos[i] = (struct zcq_gproto){name.p, name.len, meta.p, meta.len};
    }
    if (rd.err || zcq_kr_left(&rd)) {
        free(protos);
        zcq_kreq_close(r, "malformed JoinGroup v%d request", v);
        return;
    }
    client_host(r, host, sizeof(host));
    j.group = group.p;
    j.group_len = (size_t)group.len;
    j.member = member.p;
    j.member_len = (size_t)member.len;
    j.client_id = r->client_id.len > 0 ? r->client_id.p : "";
    j.client_id_len = r->client_id.len > 0 ? (size_t)r->client_id.len : 0;
    j.client_host = host;
    j.protocol_type = ptype.p;
    j.protocol_type_len = (size_t)ptype.len;
    j.protocols = protos;
    j.nprotocols = np;
    j.id_required = v >= 4;
    c = gctx_new(r, join_answer);
    if (!c) {
        free(protos);
        zcq_kreq_close(r, "out of memory");
        return;
    }
    rc = zcq_group_join(r->broker->groups, &j, &c->w);
    free(protos);
    settle(r, c, rc);
}

/* --- SyncGroup ----------------------------------------------------------------------------- */

static void sync_answer(struct zcq_kreq *r, struct zcq_gwait *a)
{
    struct zcq_kw *w = zcq_kresp_begin(r);

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (r->api_version >= 1)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i16(w, a->err);
    zcq_kw_bytes(w,
                 (struct zcq_kstr){a->err ? NULL : a->assignment, a->err ? 0 : a->assignment_len});
    zcq_kreq_respond(r);
}

void zcq_h_sync_group(struct zcq_kreq *r)
{
    int16_t v = r->api_version;
    struct zcq_gassign *as = NULL;
    struct zcq_kstr group, member;
    struct gctx *c;
    struct zcq_kr rd;
    int32_t gen, na;
    int rc;

    zcq_kreq_body(r, &rd);
    group = zcq_kr_str(&rd);
    gen = zcq_kr_i32(&rd);
    member = zcq_kr_str(&rd);
    if (v >= 3)
        (void)zcq_kr_nstr(&rd);
    na = zcq_kr_array(&rd, 6, false);
    if (!rd.err && na > 0) {
        as = calloc((size_t)na, sizeof(*as));
        if (!as) {
            zcq_kreq_close(r, "out of memory");
            return;
        }
    }
    for (int32_t i = 0; i < na && !rd.err; i++) {
        struct zcq_kstr id = zcq_kr_str(&rd), data = zcq_kr_bytes(&rd);

        as[i] = (struct zcq_gassign){id.p, id.len, data.p, data.len};
    }
    if (rd.err || zcq_kr_left(&rd)) {
        free(as);
        zcq_kreq_close(r, "malformed SyncGroup v%d request", v);
        return;
    }
    c = gctx_new(r, sync_answer);
    if (!c) {
        free(as);
        zcq_kreq_close(r, "out of memory");
        return;
    }
    rc = zcq_group_sync(r->broker->groups, group.p, (size_t)group.len, gen, member.p,
                        (size_t)member.len, as, na, &c->w);
    free(as);
    settle(r, c, rc);
}

/* --- Heartbeat, LeaveGroup ----------------------------------------------------------------- */

void zcq_h_heartbeat(struct zcq_kreq *r)
{
    int16_t v = r->api_version, err;
    struct zcq_kstr group, member;
    struct zcq_kr rd;
    struct zcq_kw *w;
    int32_t gen;

    zcq_kreq_body(r, &rd);
    group = zcq_kr_str(&rd);
    gen = zcq_kr_i32(&rd);
    member = zcq_kr_str(&rd);
    if (v >= 3)
        (void)zcq_kr_nstr(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed Heartbeat v%d request", v);
        return;
    }
    err = zcq_group_heartbeat(r->broker->groups, group.p, (size_t)group.len, gen, member.p,
                              (size_t)member.len);
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (v >= 1)
        zcq_kw_i32(w, 0);
    zcq_kw_i16(w, err);
    zcq_kreq_respond(r);
}

void zcq_h_leave_group(struct zcq_kreq *r)
{
    struct zcq_groups *g = r->broker->groups;
    int16_t v = r->api_version, err = KERR_NONE;
    struct zcq_kstr group;
    struct zcq_kr rd;
    struct zcq_kw *w;
    int32_t n;

    zcq_kreq_body(r, &rd);
    group = zcq_kr_str(&rd);
    if (v < 3) {
        struct zcq_kstr member = zcq_kr_str(&rd);

        if (rd.err || zcq_kr_left(&rd)) {
            zcq_kreq_close(r, "malformed LeaveGroup v%d request", v);
            return;
        }
        err = zcq_group_leave(g, group.p, (size_t)group.len, member.p, (size_t)member.len);
        w = zcq_kresp_begin(r);
        if (!w) {
            zcq_kreq_close(r, "out of memory");
            return;
        }
        if (v >= 1)
            zcq_kw_i32(w, 0);
        zcq_kw_i16(w, err);
        zcq_kreq_respond(r);
        return;
    }
    /* v3: a batch of members, each answered on its own. */
    n = zcq_kr_array(&rd, 4, false);
    for (int32_t i = 0; i < n && !rd.err; i++) {
        (void)zcq_kr_str(&rd);
        (void)zcq_kr_nstr(&rd);
    }
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed LeaveGroup v%d request", v);
        return;
    }
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kw_i32(w, 0);
    zcq_kw_i16(w, KERR_NONE);
    zcq_kw_i32(w, n);
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_str(&rd);
    (void)zcq_kr_array(&rd, 4, false);
    for (int32_t i = 0; i < n; i++) {
        struct zcq_kstr member = zcq_kr_str(&rd), instance = zcq_kr_nstr(&rd);

        zcq_kw_str(w, member);
        zcq_kw_str(w, instance);
        zcq_kw_i16(w, zcq_group_leave(g, group.p, (size_t)group.len, member.p, (size_t)member.len));
    }
    zcq_kreq_respond(r);
}

/* --- ListGroups, DescribeGroups, DeleteGroups ---------------------------------------------- */

struct listing {
    struct zcq_kw *w;
    int32_t n;
};

static void list_one(void *arg, const struct zcq_group_view *v)
{
    struct listing *l = arg;

    zcq_kw_cstr(l->w, v->name);
    zcq_kw_cstr(l->w, v->protocol_type);
    l->n++;
}

void zcq_h_list_groups(struct zcq_kreq *r)
{
    struct listing l = {0};
    struct zcq_kr rd;
    size_t at;

    zcq_kreq_body(r, &rd);
    if (zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed ListGroups v%d request", r->api_version);
        return;
    }
    l.w = zcq_kresp_begin(r);
    if (!l.w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (r->api_version >= 1)
        zcq_kw_i32(l.w, 0);
    zcq_kw_i16(l.w, KERR_NONE);
    at = zcq_kw_reserve_i32(l.w);
    (void)zcq_groups_each(r->broker->groups, list_one, &l);
    zcq_kw_patch_i32(l.w, at, l.n);
    zcq_kreq_respond(r);
}

struct describing {
    struct zcq_kw *w;
    int16_t v;
};

static void describe_one(void *arg, const struct zcq_group_view *g)
{
    struct describing *d = arg;
    struct zcq_kw *w = d->w;

    zcq_kw_i16(w, KERR_NONE);
    zcq_kw_cstr(w, g->name);
    zcq_kw_cstr(w, g->state);
    zcq_kw_cstr(w, g->protocol_type);
    zcq_kw_cstr(w, g->protocol);
    zcq_kw_i32(w, g->nmembers);
    for (int i = 0; i < g->nmembers; i++) {
        const struct zcq_gmember_view *m = &g->members[i];

        zcq_kw_cstr(w, m->id);
        if (d->v >= 4)
            zcq_kw_cstr(w, NULL); /* group_instance_id */
        zcq_kw_cstr(w, or_empty(m->client_id));
        zcq_kw_cstr(w, or_empty(m->client_host));
        zcq_kw_bytes(w, (struct zcq_kstr){m->meta, m->meta ? m->meta_len : 0});
        zcq_kw_bytes(w, (struct zcq_kstr){m->assignment, m->assignment ? m->assignment_len : 0});
    }
    if (d->v >= 3)
        zcq_kw_i32(w, INT32_MIN); /* authorized operations: not computed */
}

void zcq_h_describe_groups(struct zcq_kreq *r)
{
    struct describing d = {.v = r->api_version};
    struct zcq_kr rd;
    int32_t n;

    zcq_kreq_body(r, &rd);
    n = zcq_kr_array(&rd, 2, false);
    for (int32_t i = 0; i < n && !rd.err; i++)
        (void)zcq_kr_str(&rd);
    if (d.v >= 3)
        (void)zcq_kr_bool(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed DescribeGroups v%d request", d.v);
        return;
    }
    d.w = zcq_kresp_begin(r);
    if (!d.w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (d.v >= 1)
        zcq_kw_i32(d.w, 0);
    zcq_kw_i32(d.w, n);
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_array(&rd, 2, false);
    for (int32_t i = 0; i < n; i++) {
        struct zcq_kstr name = zcq_kr_str(&rd);

        if (name.len <= 0) {
            /* Kafka: an empty id is INVALID_GROUP_ID. */
            zcq_kw_i16(d.w, KERR_INVALID_GROUP_ID);
            zcq_kw_str(d.w, name.len < 0 ? (struct zcq_kstr){"", 0} : name);
            zcq_kw_cstr(d.w, "");
            zcq_kw_cstr(d.w, "");
            zcq_kw_cstr(d.w, "");
            zcq_kw_i32(d.w, 0);
            if (d.v >= 3)
                zcq_kw_i32(d.w, INT32_MIN);
            continue;
        }
        zcq_group_describe(r->broker->groups, name.p, (size_t)name.len, describe_one, &d);
    }
    zcq_kreq_respond(r);
}

void zcq_h_delete_groups(struct zcq_kreq *r)
{
    struct zcq_kr rd;
    struct zcq_kw *w;
    int32_t n;

    zcq_kreq_body(r, &rd);
    n = zcq_kr_array(&rd, 2, false);
    for (int32_t i = 0; i < n && !rd.err; i++)
        (void)zcq_kr_str(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed DeleteGroups v%d request", r->api_version);
        return;
    }
    w = zcq_kresp_begin(r);
    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kw_i32(w, 0);
    zcq_kw_i32(w, n);
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_array(&rd, 2, false);
    for (int32_t i = 0; i < n; i++) {
        struct zcq_kstr name = zcq_kr_str(&rd);

        zcq_kw_str(w, name);
        zcq_kw_i16(w, zcq_group_delete(r->broker->groups, name.p, (size_t)name.len, now_wall()));
    }
    zcq_kreq_respond(r);
}

/* The coordinator's codes are Kafka's, passed through as they are. */
_Static_assert((int)ZCQ_GERR_UNKNOWN_MEMBER_ID == (int)KERR_UNKNOWN_MEMBER_ID, "Kafka error codes");
_Static_assert((int)ZCQ_GERR_ILLEGAL_GENERATION == (int)KERR_ILLEGAL_GENERATION,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_REBALANCE_IN_PROGRESS == (int)KERR_REBALANCE_IN_PROGRESS,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_MEMBER_ID_REQUIRED == (int)KERR_MEMBER_ID_REQUIRED,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_INVALID_SESSION_TIMEOUT == (int)KERR_INVALID_SESSION_TIMEOUT,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL == (int)KERR_INCONSISTENT_GROUP_PROTOCOL,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_INVALID_GROUP_ID == (int)KERR_INVALID_GROUP_ID, "Kafka error codes");
_Static_assert((int)ZCQ_GERR_NON_EMPTY_GROUP == (int)KERR_NON_EMPTY_GROUP, "Kafka error codes");
_Static_assert((int)ZCQ_GERR_GROUP_ID_NOT_FOUND == (int)KERR_GROUP_ID_NOT_FOUND,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_GROUP_MAX_SIZE_REACHED == (int)KERR_GROUP_MAX_SIZE_REACHED,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_COORDINATOR_NOT_AVAILABLE == (int)KERR_COORDINATOR_NOT_AVAILABLE,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_OFFSET_METADATA_TOO_LARGE == (int)KERR_OFFSET_METADATA_TOO_LARGE,
               "Kafka error codes");
_Static_assert((int)ZCQ_GERR_UNKNOWN_TOPIC_OR_PARTITION == (int)KERR_UNKNOWN_TOPIC_OR_PARTITION,
               "Kafka error codes");
