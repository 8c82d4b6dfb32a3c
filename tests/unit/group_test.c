/* Tests for src/broker/group.c and journal.c: the group coordinator's state machine, driven
 * through its API as the protocol handlers drive it, and committed offsets across reopen,
 * snapshots, expiry and corruption. */
#include "harness.h"

#include "broker/group.h"
#include "broker/journal.h"
#include "io/say.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char data[4200];
static struct zcq_topics *topics;
static struct zcq_groups_config cfg;

static void setup(void)
{
    struct zcq_log_config d;
    char why[256];

    zcq_say_level = ZCQ_WARN;
    snprintf(data, sizeof(data), "%s/data", zt_tmpdir());
    zcq_log_config_default(&d);
    d.index_max_bytes = 64 * 1024;
    if (zcq_topics_open(&topics, data, &d, why, sizeof(why)) < 0)
        zt_fail(__FILE__, __LINE__, "topics: %s", why);
    ZT_OK(zcq_topics_create(topics, "t", 4, NULL, 0, 0, why, sizeof(why)));
    ZT_OK(zcq_topics_create(topics, "u", 2, NULL, 0, 0, why, sizeof(why)));
    cfg = (struct zcq_groups_config){.min_session_ms = 100,
                                     .max_session_ms = 60000,
                                     .initial_delay_ms = 0,
                                     .max_size = 100,
                                     .retention_ms = 7LL * 24 * 3600 * 1000,
                                     .meta_max = 100,
                                     .segment_bytes = 1 << 20,
                                     .snapshot_bytes = 16 << 20};
}

static struct zcq_groups *open_groups(struct zcq_groups_open_info *info)
{
    struct zcq_groups_open_info scratch;
    struct zcq_groups *g;
    char why[512];
    int rc = zcq_groups_open(&g, data, &cfg, topics, info ? info : &scratch, why, sizeof(why));

    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "groups open: %d %s", rc, why);
    return g;
}

static void teardown(struct zcq_groups *g)
{
    ZT_OK(zcq_groups_close(g));
    ZT_OK(zcq_topics_close(topics));
}

/* A held request as a test sees it: done() counts (it may run on the timer thread). */
struct tw {
    struct zcq_gwait w;
    int done;
};

static void tw_done(struct zcq_gwait *w)
{
    __atomic_add_fetch(&((struct tw *)w)->done, 1, __ATOMIC_SEQ_CST);
}

static void tw_init(struct tw *t)
{
    zcq_gwait_clear(&t->w);
    memset(t, 0, sizeof(*t));
    t->w.done = tw_done;
}

static int done_count(struct tw *t)
{
    return __atomic_load_n(&t->done, __ATOMIC_SEQ_CST);
}

/* Wait (polling; at most 10 s) until t has been answered. */
static void await_done(struct tw *t, const char *what)
{
    for (int i = 0; i < 10000 && done_count(t) == 0; i++)
        usleep(1000);
    if (done_count(t) == 0)
        zt_fail(__FILE__, __LINE__, "%s: never answered", what);
    ZT_EQ(done_count(t), 1);
}

static const struct zcq_gproto range_rr[] = {{"range", 5, "M-range", 7},
                                             {"roundrobin", 10, "M-rr", 4}};

static struct zcq_join join_of(const char *member, int32_t session, int32_t rebalance)
{
    return (struct zcq_join){.group = "g",
                             .group_len = 1,
                             .member = member,
                             .member_len = strlen(member),
                             .client_id = "cid",
                             .client_id_len = 3,
                             .client_host = "/127.0.0.1",
                             .session_ms = session,
                             .rebalance_ms = rebalance,
                             .protocol_type = "consumer",
                             .protocol_type_len = 8,
                             .protocols = range_rr,
                             .nprotocols = 2};
}

/* Join as a new member and wait for the generation; returns the member id (caller frees). */
static char *join_new(struct zcq_groups *g, struct tw *t, int32_t session, int32_t rebalance)
{
    struct zcq_join j = join_of("", session, rebalance);
    int rc;

    tw_init(t);
    rc = zcq_group_join(g, &j, &t->w);
    ZT_EQ(rc, 1);
    await_done(t, "join");
    ZT_EQ(t->w.err, 0);
    return strdup(t->w.member_id);
}

static void sync_leader(struct zcq_groups *g, const char *leader, int32_t gen,
                        const struct zcq_gassign *a, int n, struct tw *t)
{
    tw_init(t);
    ZT_EQ(zcq_group_sync(g, "g", 1, gen, leader, strlen(leader), a, n, &t->w), 1);
    await_done(t, "leader sync");
    ZT_EQ(t->w.err, 0);
}

struct seen {
    char state[32];
    int members;
    int32_t generation;
    char protocol[32];
};

static void seen_cb(void *arg, const struct zcq_group_view *v)
{
    struct seen *s = arg;

    snprintf(s->state, sizeof(s->state), "%s", v->state);
    snprintf(s->protocol, sizeof(s->protocol), "%s", v->protocol);
    s->members = v->nmembers;
    s->generation = v->generation;
}

static struct seen describe(struct zcq_groups *g, const char *name)
{
    struct seen s = {0};

    zcq_group_describe(g, name, strlen(name), seen_cb, &s);
    return s;
}

/* Poll until group g is in state (at most 10 s). "Empty" is also met by "Dead": an empty
 * group with no committed offsets is forgotten. */
static void await_state(struct zcq_groups *g, const char *state)
{
    for (int i = 0; i < 10000; i++) {
        const char *now = describe(g, "g").state;

        if (strcmp(now, state) == 0 || (strcmp(state, "Empty") == 0 && strcmp(now, "Dead") == 0))
            return;
        usleep(1000);
    }
    zt_fail(__FILE__, __LINE__, "group never reached %s (is %s)", state, describe(g, "g").state);
}

/* --- Membership ---------------------------------------------------------------------------- */

static void member_id_required(void)
{
    struct zcq_groups *g;
    struct zcq_join j;
    struct tw t, s;
    char *id;
    struct zcq_gassign a = {NULL, 0, "ASSIGN", 6};

    setup();
    g = open_groups(NULL);
    j = join_of("", 10000, 10000);
    j.id_required = true;
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0); /* answered at once */
    ZT_EQ(t.w.err, ZCQ_GERR_MEMBER_ID_REQUIRED);
    ZT_ASSERT(strncmp(t.w.member_id, "cid-", 4) == 0 && strlen(t.w.member_id) == 40);
    id = strdup(t.w.member_id);
    ZT_EQ(done_count(&t), 0);
    /* The id given out is known: the rejoin is a member's first join. */
    j = join_of(id, 10000, 10000);
    j.id_required = true;
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 1);
    await_done(&t, "join");
    ZT_EQ(t.w.err, 0);
    ZT_EQ(t.w.generation, 1);
    ZT_ASSERT(strcmp(t.w.protocol, "range") == 0);
    ZT_ASSERT(strcmp(t.w.leader, id) == 0 && strcmp(t.w.member_id, id) == 0);
    ZT_EQ(t.w.nmembers, 1);
    ZT_ASSERT(t.w.members[0].meta_len == 7 && memcmp(t.w.members[0].meta, "M-range", 7) == 0);
    ZT_ASSERT(strcmp(describe(g, "g").state, "CompletingRebalance") == 0);
    a.member = id;
    a.member_len = (int32_t)strlen(id);
    sync_leader(g, id, 1, &a, 1, &s);
    ZT_ASSERT(s.w.assignment_len == 6 && memcmp(s.w.assignment, "ASSIGN", 6) == 0);
    ZT_ASSERT(strcmp(describe(g, "g").state, "Stable") == 0);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 1, id, strlen(id)), 0);
    /* An id nobody was given. */
    j = join_of("cid-made-up", 10000, 10000);
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_UNKNOWN_MEMBER_ID);
    zcq_gwait_clear(&t.w);
    zcq_gwait_clear(&s.w);
    free(id);
    teardown(g);
}

/* Two members: the second's join starts a rebalance; the first learns it from its heartbeat
 * (27), rejoins, and both land in generation 2; the follower's sync waits for the leader's. */
static void second_member_rebalances(void)
{
    struct zcq_groups *g;
    struct tw ta, tb, sa, sb;
    struct zcq_join j;
    char *a, *b;
    struct zcq_gassign asg[2];

    setup();
    g = open_groups(NULL);
    a = join_new(g, &ta, 10000, 10000);
    sync_leader(g, a, 1, NULL, 0, &sa);
    j = join_of("", 10000, 10000);
    tw_init(&tb);
    ZT_EQ(zcq_group_join(g, &j, &tb.w), 1);
    ZT_EQ(done_count(&tb), 0); /* held until a rejoins */
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 1, a, strlen(a)), ZCQ_GERR_REBALANCE_IN_PROGRESS);
    ZT_ASSERT(strcmp(describe(g, "g").state, "PreparingRebalance") == 0);
    j = join_of(a, 10000, 10000);
    tw_init(&ta);
    ZT_EQ(zcq_group_join(g, &j, &ta.w), 1);
    await_done(&ta, "leader rejoin");
    await_done(&tb, "new member join");
    ZT_EQ(ta.w.generation, 2);
    ZT_EQ(tb.w.generation, 2);
    ZT_ASSERT(strcmp(ta.w.leader, a) == 0 && strcmp(tb.w.leader, a) == 0);
    ZT_EQ(ta.w.nmembers, 2); /* the leader sees everyone ... */
    ZT_EQ(tb.w.nmembers, 0); /* ... a follower nobody */
    b = strdup(tb.w.member_id);
    /* The follower's sync is held until the leader's arrives. */
    tw_init(&sb);
    ZT_EQ(zcq_group_sync(g, "g", 1, 2, b, strlen(b), NULL, 0, &sb.w), 1);
    ZT_EQ(done_count(&sb), 0);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 2, b, strlen(b)), 0); /* completing: no error */
    asg[0] = (struct zcq_gassign){a, (int32_t)strlen(a), "for-a", 5};
    asg[1] = (struct zcq_gassign){b, (int32_t)strlen(b), "for-b", 5};
    sync_leader(g, a, 2, asg, 2, &sa);
    await_done(&sb, "follower sync");
    ZT_ASSERT(sa.w.assignment_len == 5 && memcmp(sa.w.assignment, "for-a", 5) == 0);
    ZT_ASSERT(sb.w.assignment_len == 5 && memcmp(sb.w.assignment, "for-b", 5) == 0);
    /* Stale generation, unknown member. */
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 1, b, strlen(b)), ZCQ_GERR_ILLEGAL_GENERATION);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 2, "x", 1), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    ZT_EQ(zcq_group_heartbeat(g, "nope", 4, 2, b, strlen(b)), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    ZT_EQ(zcq_group_heartbeat(g, "", 0, 2, b, strlen(b)), ZCQ_GERR_INVALID_GROUP_ID);
    ZT_EQ(zcq_group_leave(g, "", 0, b, strlen(b)), ZCQ_GERR_INVALID_GROUP_ID);
    tw_init(&sb);
    ZT_EQ(zcq_group_sync(g, "", 0, 2, b, strlen(b), NULL, 0, &sb.w), 0);
    ZT_EQ(sb.w.err, ZCQ_GERR_INVALID_GROUP_ID);
    tw_init(&sb);
    ZT_EQ(zcq_group_sync(g, "g", 1, 1, b, strlen(b), NULL, 0, &sb.w), 0);
    ZT_EQ(sb.w.err, ZCQ_GERR_ILLEGAL_GENERATION);
    /* A stable follower's unchanged rejoin returns the current generation at once. */
    j = join_of(b, 10000, 10000);
    tw_init(&tb);
    ZT_EQ(zcq_group_join(g, &j, &tb.w), 0);
    ZT_EQ(tb.w.err, 0);
    ZT_EQ(tb.w.generation, 2);
    /* Leaving: the other rebalances alone. */
    ZT_EQ(zcq_group_leave(g, "g", 1, b, strlen(b)), 0);
    ZT_EQ(zcq_group_leave(g, "g", 1, b, strlen(b)), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 2, a, strlen(a)), ZCQ_GERR_REBALANCE_IN_PROGRESS);
    j = join_of(a, 10000, 10000);
    tw_init(&ta);
    ZT_EQ(zcq_group_join(g, &j, &ta.w), 1);
    await_done(&ta, "rejoin alone");
    ZT_EQ(ta.w.generation, 3);
    ZT_EQ(ta.w.nmembers, 1);
    ZT_EQ(zcq_group_leave(g, "g", 1, a, strlen(a)), 0);
    await_state(g, "Empty");
    for (struct tw *t = &ta; t; t = t == &ta ? &tb : t == &tb ? &sa : t == &sa ? &sb : NULL)
        zcq_gwait_clear(&t->w);
    free(a);
    free(b);
    teardown(g);
}

/* Members starting together land in one generation: the initial delay holds the first. */
static void initial_delay_gathers(void)
{
    struct zcq_groups *g;
    struct zcq_join j = join_of("", 10000, 10000);
    struct tw t[3];

    setup();
    cfg.initial_delay_ms = 300;
    g = open_groups(NULL);
    for (int i = 0; i < 3; i++) {
        tw_init(&t[i]);
        ZT_EQ(zcq_group_join(g, &j, &t[i].w), 1);
    }
    for (int i = 0; i < 3; i++) {
        await_done(&t[i], "join");
        ZT_EQ(t[i].w.err, 0);
        ZT_EQ(t[i].w.generation, 1);
    }
    ZT_EQ(t[0].w.nmembers + t[1].w.nmembers + t[2].w.nmembers, 3); /* one leader */
    for (int i = 0; i < 3; i++)
        zcq_gwait_clear(&t[i].w);
    teardown(g);
}

/* A silent member is expired after its session; one whose join is held is not. */
static void session_expiry(void)
{
    struct zcq_groups *g;
    struct tw ta, tb, sa;
    struct zcq_join j;
    char *a;

    setup();
    g = open_groups(NULL);
    a = join_new(g, &ta, 300, 60000);
    sync_leader(g, a, 1, NULL, 0, &sa);
    /* b's session is shorter than the time its join is held. */
    j = join_of("", 150, 60000);
    tw_init(&tb);
    ZT_EQ(zcq_group_join(g, &j, &tb.w), 1);
    /* a never rejoins: its session ends, and b's generation goes ahead without it. */
    await_done(&tb, "join held past its own session");
    ZT_EQ(tb.w.err, 0);
    ZT_EQ(tb.w.generation, 2);
    ZT_ASSERT(strcmp(tb.w.leader, tb.w.member_id) == 0);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 1, a, strlen(a)), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    /* Now b is silent too (it never syncs): the group empties. */
    await_state(g, "Empty");
    zcq_gwait_clear(&ta.w);
    zcq_gwait_clear(&tb.w);
    zcq_gwait_clear(&sa.w);
    free(a);
    teardown(g);
}

/* A member that keeps heartbeating but never rejoins is dropped at the rebalance timeout. */
static void rebalance_timeout_drops_laggard(void)
{
    struct zcq_groups *g;
    struct tw ta, tb, sa;
    struct zcq_join j;
    char *a;

    setup();
    g = open_groups(NULL);
    a = join_new(g, &ta, 10000, 200);
    sync_leader(g, a, 1, NULL, 0, &sa);
    j = join_of("", 10000, 200);
    tw_init(&tb);
    ZT_EQ(zcq_group_join(g, &j, &tb.w), 1);
    while (done_count(&tb) == 0) {
        int16_t e = zcq_group_heartbeat(g, "g", 1, 1, a, strlen(a));

        ZT_ASSERT(e == ZCQ_GERR_REBALANCE_IN_PROGRESS || e == ZCQ_GERR_UNKNOWN_MEMBER_ID);
        usleep(5000);
    }
    ZT_EQ(tb.w.err, 0);
    ZT_EQ(tb.w.generation, 2);
    ZT_EQ(tb.w.nmembers, 1);
    ZT_EQ(zcq_group_heartbeat(g, "g", 1, 1, a, strlen(a)), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    zcq_gwait_clear(&ta.w);
    zcq_gwait_clear(&tb.w);
    zcq_gwait_clear(&sa.w);
    free(a);
    teardown(g);
}

/* A withdrawn wait is never answered; one already answered says so. */
static void unwait(void)
{
    struct zcq_groups *g;
    struct zcq_join j = join_of("", 200, 60000);
    struct tw t;

    setup();
    cfg.initial_delay_ms = 60000;
    g = open_groups(NULL);
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 1);
    ZT_ASSERT(zcq_group_unwait(g, &t.w));
    ZT_ASSERT(!zcq_group_unwait(g, &t.w));
    /* Its session now runs: the member goes, the group empties, done() never ran. */
    await_state(g, "Empty");
    ZT_EQ(done_count(&t), 0);
    zcq_gwait_clear(&t.w);
    teardown(g);
}

static void join_errors(void)
{
    static const struct zcq_gproto rr_only[] = {{"roundrobin", 10, "x", 1}};
    struct zcq_groups *g;
    struct zcq_join j;
    struct tw t, s;
    char *a;

    setup();
    cfg.max_size = 2;
    g = open_groups(NULL);
    j = join_of("", 50, 1000); /* below group.min.session.timeout.ms */
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_INVALID_SESSION_TIMEOUT);
    j = join_of("", 100000, 1000); /* above the maximum */
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_INVALID_SESSION_TIMEOUT);
    j = join_of("", 10000, 1000);
    j.group_len = 0;
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_INVALID_GROUP_ID);
    j = join_of("", 10000, 1000);
    j.nprotocols = 0;
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL);
    a = join_new(g, &t, 10000, 10000);
    sync_leader(g, a, 1, NULL, 0, &s);
    /* No protocol in common with the members, or another protocol type. */
    j = join_of("", 10000, 1000);
    j.protocols = rr_only;
    j.nprotocols = 1;
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 1); /* roundrobin is a's too: fine */
    ZT_ASSERT(zcq_group_unwait(g, &t.w));
    ZT_EQ(zcq_group_leave(g, "g", 1, "", 0), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    j = join_of("", 10000, 1000);
    j.protocol_type = "connect";
    j.protocol_type_len = 7;
    tw_init(&t);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL);
    /* group.max.size = 2, and two are in. */
    j = join_of("", 10000, 1000);
    ZT_EQ(zcq_group_join(g, &j, &t.w), 0);
    ZT_EQ(t.w.err, ZCQ_GERR_GROUP_MAX_SIZE_REACHED);
    zcq_gwait_clear(&t.w);
    zcq_gwait_clear(&s.w);
    free(a);
    teardown(g);
}

/* The protocol every member supports that most of them prefer. */
static void protocol_choice(void)
{
    static const struct zcq_gproto rr_range[] = {{"roundrobin", 10, "1", 1}, {"range", 5, "2", 1}};
    static const struct zcq_gproto range_only[] = {{"range", 5, "3", 1}};
    struct zcq_groups *g;
    struct zcq_join j;
    struct tw t[3];

    setup();
    cfg.initial_delay_ms = 200;
    g = open_groups(NULL);
    j = join_of("", 10000, 10000);
    j.protocols = rr_range;
    tw_init(&t[0]);
    ZT_EQ(zcq_group_join(g, &j, &t[0].w), 1);
    tw_init(&t[1]);
    ZT_EQ(zcq_group_join(g, &j, &t[1].w), 1);
    j.protocols = range_only;
    j.nprotocols = 1;
    tw_init(&t[2]);
    ZT_EQ(zcq_group_join(g, &j, &t[2].w), 1);
    for (int i = 0; i < 3; i++) {
        await_done(&t[i], "join");
        ZT_ASSERT(strcmp(t[i].w.protocol, "range") == 0); /* the only one all support */
        zcq_gwait_clear(&t[i].w);
    }
    teardown(g);
}

/* --- Committed offsets --------------------------------------------------------------------- */

struct got {
    int n;
    char topic[8][16];
    int32_t part[8];
    int64_t offset[8];
    char meta[8][64];
    int32_t meta_len[8];
};

static void got_cb(void *arg, const struct zcq_goffset *o)
{
    struct got *g = arg;

    if (g->n == 8)
        return;
    snprintf(g->topic[g->n], sizeof(g->topic[0]), "%.*s", (int)o->topic_len, o->topic);
    g->part[g->n] = o->partition;
    g->offset[g->n] = o->offset;
    g->meta_len[g->n] = o->meta_len;
    snprintf(g->meta[g->n], sizeof(g->meta[0]), "%.*s", o->meta_len > 0 ? (int)o->meta_len : 0,
             o->meta ? o->meta : "");
    g->n++;
}

static int64_t committed(struct zcq_groups *g, const char *group, const char *topic, int32_t p)
{
    struct zcq_gquery q = {topic, strlen(topic), p};
    struct got got = {0};

    ZT_EQ(zcq_group_offsets(g, group, strlen(group), &q, 1, got_cb, &got), 1);
    return got.offset[0];
}

static int16_t simple_commit(struct zcq_groups *g, const char *group, const char *topic,
                             int32_t part, int64_t offset, const char *meta)
{
    struct zcq_gcommit c = {
        topic, strlen(topic), part, offset, -1, meta, meta ? (int32_t)strlen(meta) : -1, 0};
    int64_t upto;
    int16_t err = zcq_group_commit(g, group, strlen(group), -1, "", 0, &c, 1, 1000, &upto);

    if (err == 0 && c.err == 0)
        ZT_OK(zcq_groups_sync(g, upto));
    return err ? err : c.err;
}

static void commit_fetch_reopen(void)
{
    struct zcq_groups *g;
    struct zcq_groups_open_info info;
    struct zcq_gcommit c[3] = {{"t", 1, 0, 10, 5, "meta", 4, 0},
                               {"t", 1, 3, 30, -1, NULL, -1, 0},
                               {"u", 1, 1, 7, -1, "", 0, 0}};
    struct got got = {0};
    int64_t upto;

    setup();
    g = open_groups(NULL);
    ZT_EQ(committed(g, "g", "t", 0), -1); /* nothing yet: -1, no error */
    ZT_EQ(zcq_group_commit(g, "g", 1, -1, "", 0, c, 3, 1000, &upto), 0);
    ZT_ASSERT(upto > 0);
    ZT_EQ(c[0].err + c[1].err + c[2].err, 0);
    ZT_OK(zcq_groups_sync(g, upto));
    ZT_EQ(committed(g, "g", "t", 0), 10);
    ZT_EQ(committed(g, "g", "t", 3), 30);
    ZT_EQ(committed(g, "g", "t", 1), -1);
    ZT_EQ(simple_commit(g, "g", "t", 0, 11, "newer"), 0);
    ZT_EQ(simple_commit(g, "g", "t", 9, 1, NULL), ZCQ_GERR_UNKNOWN_TOPIC_OR_PARTITION);
    ZT_EQ(simple_commit(g, "g", "nope", 0, 1, NULL), ZCQ_GERR_UNKNOWN_TOPIC_OR_PARTITION);
    {
        char big[200];

        memset(big, 'm', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ZT_EQ(simple_commit(g, "g", "t", 0, 1, big), ZCQ_GERR_OFFSET_METADATA_TOO_LARGE);
    }
    ZT_EQ(simple_commit(g, "", "t", 0, 1, NULL), ZCQ_GERR_INVALID_GROUP_ID);
    ZT_EQ(simple_commit(g, "h", "t", 2, 99, NULL), 0);
    ZT_OK(zcq_groups_close(g));

    /* Reopened: every offset as last committed, metadata (null, "" and text) included. */
    g = open_groups(&info);
    ZT_EQ(info.groups, 2);
    ZT_EQ(info.offsets, 4);
    ZT_EQ(zcq_group_offsets(g, "g", 1, NULL, 0, got_cb, &got), 3);
    ZT_ASSERT(strcmp(got.topic[0], "t") == 0 && got.part[0] == 0 && got.offset[0] == 11);
    ZT_ASSERT(strcmp(got.meta[0], "newer") == 0);
    ZT_ASSERT(strcmp(got.topic[1], "t") == 0 && got.part[1] == 3 && got.offset[1] == 30);
    ZT_EQ(got.meta_len[1], -1);
    ZT_ASSERT(strcmp(got.topic[2], "u") == 0 && got.part[2] == 1 && got.offset[2] == 7);
    ZT_EQ(got.meta_len[2], 0);
    ZT_EQ(committed(g, "h", "t", 2), 99);
    /* A deleted topic's offsets go, in memory and in the journal. */
    zcq_groups_topic_deleted(g, "u", 1, 2000);
    ZT_EQ(committed(g, "g", "u", 1), -1);
    ZT_OK(zcq_groups_close(g));
    g = open_groups(&info);
    ZT_EQ(committed(g, "g", "u", 1), -1);
    ZT_EQ(committed(g, "g", "t", 0), 11);
    /* DeleteGroups: the group and its offsets, for good. */
    ZT_EQ(zcq_group_delete(g, "zz", 2, 3000), ZCQ_GERR_GROUP_ID_NOT_FOUND);
    ZT_EQ(zcq_group_delete(g, "h", 1, 3000), 0);
    ZT_EQ(committed(g, "h", "t", 2), -1);
    ZT_ASSERT(strcmp(describe(g, "h").state, "Dead") == 0);
    ZT_OK(zcq_groups_close(g));
    g = open_groups(&info);
    ZT_EQ(info.groups, 1);
    ZT_EQ(committed(g, "h", "t", 2), -1);
    teardown(g);
}

/* Commits by members: generation and member checked; a simple commit only without members. */
static void member_commits(void)
{
    struct zcq_groups *g;
    struct tw t, s;
    struct zcq_gcommit c = {"t", 1, 1, 5, -1, NULL, -1, 0};
    int64_t upto;
    char *a;

    setup();
    g = open_groups(NULL);
    a = join_new(g, &t, 10000, 10000);
    /* Completing the rebalance: commits wait for the sync. */
    ZT_EQ(zcq_group_commit(g, "g", 1, 1, a, strlen(a), &c, 1, 1, &upto),
          ZCQ_GERR_REBALANCE_IN_PROGRESS);
    sync_leader(g, a, 1, NULL, 0, &s);
    ZT_EQ(zcq_group_commit(g, "g", 1, 1, a, strlen(a), &c, 1, 1, &upto), 0);
    ZT_EQ(c.err, 0);
    ZT_EQ(zcq_group_commit(g, "g", 1, 7, a, strlen(a), &c, 1, 1, &upto),
          ZCQ_GERR_ILLEGAL_GENERATION);
    ZT_EQ(zcq_group_commit(g, "g", 1, 1, "x", 1, &c, 1, 1, &upto), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    ZT_EQ(simple_commit(g, "g", "t", 1, 6, NULL), ZCQ_GERR_UNKNOWN_MEMBER_ID);
    ZT_EQ(zcq_group_delete(g, "g", 1, 1), ZCQ_GERR_NON_EMPTY_GROUP);
    ZT_EQ(committed(g, "g", "t", 1), 5);
    /* An unknown group with a generation: the member is gone (a restarted broker). */
    ZT_EQ(zcq_group_commit(g, "other", 5, 3, a, strlen(a), &c, 1, 1, &upto),
          ZCQ_GERR_UNKNOWN_MEMBER_ID);
    zcq_gwait_clear(&t.w);
    zcq_gwait_clear(&s.w);
    free(a);
    teardown(g);
}

/* Segment files of the journal. */
static int count_segments(void)
{
    char cmd[4500];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls %s/zcq-consumer-offsets/*.log 2>/dev/null | wc -l", data);
    p = popen(cmd, "r");
    ZT_ASSERT(p);
    ZT_ASSERT(fscanf(p, "%d", &n) == 1);
    pclose(p);
    return n;
}

/* Many commits: snapshots keep the journal short, and a reopen replays only its tail. */
static void snapshots_bound_replay(void)
{
    struct zcq_groups *g;
    struct zcq_groups_open_info info;
    char why[512];
    const int rounds = 4000;
    int segs_max = 0;

    setup();
    cfg.segment_bytes = 64 << 10;
    cfg.snapshot_bytes = 128 << 10;
    g = open_groups(NULL);
    for (int r = 0; r < rounds; r++) {
        char group[16];

        snprintf(group, sizeof(group), "g%d", r % 50);
        ZT_EQ(simple_commit(g, group, "t", r % 4, r, "m"), 0);
        if (r % 100 == 99) {
            ZT_OK(zcq_groups_maintain(g, 5000, false, why, sizeof(why)));
            segs_max = count_segments() > segs_max ? count_segments() : segs_max;
        }
    }
    ZT_ASSERT(segs_max > 0 && segs_max <= 6);
    ZT_OK(zcq_groups_close(g));
    g = open_groups(&info);
    ZT_ASSERT(info.snapshot_entries > 0);
    ZT_ASSERT(info.replayed_records < rounds / 4);
    ZT_EQ(info.groups, 50);
    /* Each group's newest commit per partition survived, through snapshot or replay. */
    for (int k = 0; k < 50; k++) {
        char group[16];

        snprintf(group, sizeof(group), "g%d", k);
        for (int p = 0; p < 4; p++) {
            int want = -1;

            for (int r = 0; r < rounds; r++) {
                if (r % 50 == k && r % 4 == p)
                    want = r;
            }
            ZT_EQ(committed(g, group, "t", p), want);
        }
    }
    teardown(g);
}

/* Without a snapshot, a reopen replays a journal much longer than one read (1 MiB), whose
 * reads end inside batches. */
static void long_replay(void)
{
    struct zcq_groups *g;
    struct zcq_groups_open_info info;
    struct zcq_gcommit c[4];
    const int rounds = 12000;
    int64_t upto;

    setup();
    g = open_groups(NULL);
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < 4; p++)
            c[p] = (struct zcq_gcommit){"t", 1, p, (int64_t)r * 10 + p, -1, "meta", 4, 0};
        ZT_EQ(zcq_group_commit(g, r % 2 ? "odd" : "even", r % 2 ? 3 : 4, -1, "", 0, c, 4, 1, &upto),
              0);
    }
    ZT_OK(zcq_groups_close(g));
    g = open_groups(&info);
    ZT_EQ(info.snapshot_entries, 0);
    ZT_EQ(info.replayed_records, rounds * 4);
    ZT_ASSERT(info.replayed_bytes > 2 << 20); /* several reads */
    for (int p = 0; p < 4; p++) {
        ZT_EQ(committed(g, "even", "t", p), (int64_t)(rounds - 2) * 10 + p);
        ZT_EQ(committed(g, "odd", "t", p), (int64_t)(rounds - 1) * 10 + p);
    }
    teardown(g);
}

/* A corrupt snapshot stops the open: the journal below it is gone. */
static void corrupt_snapshot_refused(void)
{
    struct zcq_groups *g;
    char why[512], path[4400];
    struct zcq_groups_open_info info;
    int fd;
    uint8_t b;

    setup();
    cfg.segment_bytes = 64 << 10;
    cfg.snapshot_bytes = 64 << 10;
    g = open_groups(NULL);
    for (int r = 0; r < 3000; r++)
        ZT_EQ(simple_commit(g, "g", "t", r % 4, r, NULL), 0);
    ZT_OK(zcq_groups_maintain(g, 5000, false, why, sizeof(why)));
    ZT_OK(zcq_groups_close(g));
    snprintf(path, sizeof(path), "%s/zcq-consumer-offsets.snapshot", data);
    fd = open(path, O_RDWR);
    ZT_ASSERT(fd >= 0);
    ZT_EQ(pread(fd, &b, 1, 40), 1);
    b ^= 0x10;
    ZT_EQ(pwrite(fd, &b, 1, 40), 1);
    close(fd);
    ZT_EQ(zcq_groups_open(&g, data, &cfg, topics, &info, why, sizeof(why)), -EUCLEAN);
    ZT_ASSERT(strstr(why, "corrupt"));
    ZT_OK(zcq_topics_close(topics));
}

/* The offsets of a group empty past the retention go; a group with members keeps them. */
static void retention_expires(void)
{
    struct zcq_groups *g;
    char why[256];
    struct timespec ts;
    int64_t now;

    setup();
    cfg.retention_ms = 60000;
    g = open_groups(NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ZT_EQ(simple_commit(g, "old", "t", 0, 1, NULL), 0);
    ZT_OK(zcq_groups_maintain(g, now + 1000, true, why, sizeof(why)));
    ZT_EQ(committed(g, "old", "t", 0), 1); /* not yet */
    ZT_OK(zcq_groups_maintain(g, now + 120000, true, why, sizeof(why)));
    ZT_EQ(committed(g, "old", "t", 0), -1);
    ZT_OK(zcq_groups_close(g));
    g = open_groups(NULL);
    ZT_EQ(committed(g, "old", "t", 0), -1);
    teardown(g);
}

static const struct zcq_test tests[] = {
    {"member_id_required", member_id_required, 30},
    {"second_member_rebalances", second_member_rebalances, 30},
    {"initial_delay_gathers", initial_delay_gathers, 30},
    {"session_expiry", session_expiry, 30},
    {"rebalance_timeout_drops_laggard", rebalance_timeout_drops_laggard, 30},
    {"unwait", unwait, 30},
    {"join_errors", join_errors, 30},
    {"protocol_choice", protocol_choice, 30},
    {"commit_fetch_reopen", commit_fetch_reopen, 30},
    {"member_commits", member_commits, 30},
    {"snapshots_bound_replay", snapshots_bound_replay, 120},
    {"long_replay", long_replay, 120},
    {"corrupt_snapshot_refused", corrupt_snapshot_refused, 60},
    {"retention_expires", retention_expires, 30},
};

ZT_MAIN(tests)
