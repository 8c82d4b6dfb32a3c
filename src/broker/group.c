/* The group coordinator; see group.h. */
#include "broker/group.h"

#include "broker/journal.h"
#include "io/say.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum gstate { EMPTY, PREPARING, COMPLETING, STABLE };
static const char *const state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                          "Stable"};

enum { WAIT_JOIN = 1, WAIT_SYNC = 2 };

struct gproto {
    char *name;
    void *meta;
    int32_t meta_len;
};

struct group;

struct zcq_gmember {
    struct group *grp;
    char *id, *client_id, *client_host;
    int32_t session_ms, rebalance_ms;
    struct gproto *protos;
    int nprotos;
    void *assignment;
    int32_t assignment_len;
    int64_t deadline; /* monotonic ms: expiry unless a wait is parked */
    struct zcq_gwait *join_wait, *sync_wait;
};

struct pending {
    char *id;
    int64_t deadline;
};

struct off {
    char *topic;
    uint16_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t epoch;
    char *meta;
    int32_t meta_len;
    int64_t ts;
};

struct group {
    char *name;
    uint16_t name_len;
    enum gstate st;
    int32_t generation;
    char *ptype, *protocol; /* NULL when none */
    struct zcq_gmember *leader;
    struct zcq_gmember **m; /* in join order: the first is the default leader */
    int nm, mcap;
    struct pending *pend; /* ids given out with MEMBER_ID_REQUIRED, not yet used */
    int npend, pcap;
    int64_t rebalance_deadline; /* PREPARING: complete by then, dropping laggards */
    int64_t initial_deadline;   /* PREPARING from EMPTY: the initial delay; 0 when over */
    int64_t initial_limit;      /* ... which new members extend up to here */
    struct off *offs;           /* sorted by (topic, partition) */
    int noffs, ocap;
    int64_t empty_since; /* wall ms; 0: loaded at start (the newest commit time counts) */
};

struct zcq_groups {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t timer;
    bool stop, started;
    struct group **g; /* sorted by name */
    int n, cap;
    struct zcq_journal *journal;
    struct zcq_topics *topics;
    struct zcq_groups_config cfg;
};

/* --- Small helpers -------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void *dupmem(const void *s, int32_t n)
{
    void *p = malloc(n > 0 ? (size_t)n : 1);

    if (p && n > 0)
        memcpy(p, s, (size_t)n);
    return p;
}

static bool eq(const char *a, const char *b, size_t blen)
{
    return a && strlen(a) == blen && memcmp(a, b, blen) == 0;
}

static int cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c ? c : (alen < blen ? -1 : alen > blen);
}

/* Index of the group, or -(insertion point) - 1. */
static int find_group(struct zcq_groups *g, const char *name, size_t len)
{
    int lo = 0, hi = g->n - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = cmp_name(g->g[mid]->name, g->g[mid]->name_len, name, len);

        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

static struct group *get_group(struct zcq_groups *g, const char *name, size_t len)
{
    int i = find_group(g, name, len);

    return i >= 0 ? g->g[i] : NULL;
}

static struct group *make_group(struct zcq_groups *g, const char *name, size_t len)
{
    int i = find_group(g, name, len);
    struct group *grp;

    if (i >= 0)
        return g->g[i];
    if (len > INT16_MAX)
        return NULL;
    i = -i - 1;
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        struct group **ng = realloc(g->g, sizeof(*ng) * (size_t)cap);

        if (!ng)
            return NULL;
        g->g = ng;
        g->cap = cap;
    }
    grp = calloc(1, sizeof(*grp));
    if (!grp || !(grp->name = dupn(name, len))) {
        free(grp);
        return NULL;
    }
    grp->name_len = (uint16_t)len;
    grp->empty_since = wall_ms();
    memmove(g->g + i + 1, g->g + i, sizeof(*g->g) * (size_t)(g->n - i));
    g->g[i] = grp;
    g->n++;
    return grp;
}

static void free_member(struct zcq_gmember *m)
{
    for (int i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    free(m->assignment);
    free(m->id);
    free(m->client_id);
    free(m->client_host);
    free(m);
}

static void drop_group(struct zcq_groups *g, struct group *grp)
{
    int i = find_group(g, grp->name, grp->name_len);

    if (i >= 0) {
        memmove(g->g + i, g->g + i + 1, sizeof(*g->g) * (size_t)(g->n - i - 1));
        g->n--;
    }
    for (int k = 0; k < grp->nm; k++)
        free_member(grp->m[k]);
    for (int k = 0; k < grp->npend; k++)
        free(grp->pend[k].id);
    for (int k = 0; k < grp->noffs; k++) {
        free(grp->offs[k].topic);
        free(grp->offs[k].meta);
    }
    free(grp->m);
    free(grp->pend);
    free(grp->offs);
    free(grp->ptype);
    free(grp->protocol);
    free(grp->name);
    free(grp);
}

static struct zcq_gmember *find_member(struct group *grp, const char *id, size_t len)
{
    for (int i = 0; i < grp->nm; i++) {
        if (eq(grp->m[i]->id, id, len))
            return grp->m[i];
    }
    return NULL;
}

/* The member of the named group, with the group in *grp (NULL when either is unknown). Caller
 * holds mu. */
static struct zcq_gmember *get_member(struct zcq_groups *g, const char *group, size_t group_len,
                                      const char *member, size_t member_len, struct group **grp)
{
    *grp = get_group(g, group, group_len);
    return *grp ? find_member(*grp, member, member_len) : NULL;
}

/* A new member id, as Kafka makes them: the client id, a dash, a random UUID. */
static char *new_member_id(const char *client_id, size_t len)
{
    unsigned char r[16];
    char *id;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)rand();
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    if (len > 200)
        len = 200;
    id = malloc(len + 38);
    if (!id)
        return NULL;
    memcpy(id, client_id, len);
    snprintf(id + len, 38, "-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
    return id;
}

/* --- Answers ------------------------------------------------------------------------------- */

void zcq_gwait_clear(struct zcq_gwait *w)
{
    for (int i = 0; i < w->nmembers; i++) {
        free(w->members[i].id);
        free(w->members[i].instance);
        free(w->members[i].meta);
    }
    free(w->members);
    free(w->protocol_type);
    free(w->protocol);
    free(w->leader);
    free(w->member_id);
    free(w->assignment);
    w->members = NULL;
    w->nmembers = 0;
    w->protocol_type = w->protocol = w->leader = w->member_id = NULL;
    w->assignment = NULL;
    w->assignment_len = 0;
}

/* An error answer to a join; member_id is echoed (or the one just given out). Allocation
 * failures leave NULL strings, which the protocol layer writes as "". */
static void join_error(struct zcq_gwait *w, int16_t err, const char *member_id, size_t len)
{
    zcq_gwait_clear(w);
    w->err = err;
    w->generation = -1;
    w->member_id = dupn(member_id ? member_id : "", member_id ? len : 0);
}

static void sync_error(struct zcq_gwait *w, int16_t err)
{
    zcq_gwait_clear(w);
    w->err = err;
}

/* Hand a parked wait its answer (already filled in). */
static void deliver(struct zcq_gwait *w)
{
    w->m = NULL;
    w->done(w);
}

static const struct gproto *proto_of(const struct zcq_gmember *m, const char *name)
{
    for (int i = 0; i < m->nprotos; i++) {
        if (strcmp(m->protos[i].name, name) == 0)
            return &m->protos[i];
    }
    return NULL;
}

/* The join answer of the current generation for m (members listed for the leader). */
static void join_answer(struct group *grp, struct zcq_gmember *m, struct zcq_gwait *w)
{
    zcq_gwait_clear(w);
    w->err = ZCQ_GERR_NONE;
    w->generation = grp->generation;
    w->protocol_type = grp->ptype ? strdup(grp->ptype) : NULL;
    w->protocol = grp->protocol ? strdup(grp->protocol) : NULL;
    w->leader = grp->leader ? strdup(grp->leader->id) : NULL;
    w->member_id = strdup(m->id);
    if (m == grp->leader && grp->protocol) {
        w->members = calloc((size_t)grp->nm, sizeof(*w->members));
        if (w->members) {
            for (int i = 0; i < grp->nm; i++) {
                const struct gproto *p = proto_of(grp->m[i], grp->protocol);

                w->members[i].id = strdup(grp->m[i]->id);
                w->members[i].meta = p ? dupmem(p->meta, p->meta_len) : NULL;
                w->members[i].meta_len = p && w->members[i].meta ? p->meta_len : 0;
            }
            w->nmembers = grp->nm;
        }
    }
}

/* --- Rebalancing --------------------------------------------------------------------------- */

static void complete_join(struct zcq_groups *g, struct group *grp, int64_t now);

/* A rebalance starts: held syncs learn of it (27), every member must rejoin by the largest
 * rebalance timeout among them. */
static void prepare_rebalance(struct zcq_groups *g, struct group *grp, int64_t now, const char *why)
{
    int64_t longest = 0;

    if (grp->st == COMPLETING) {
        for (int i = 0; i < grp->nm; i++) {
            struct zcq_gwait *w = grp->m[i]->sync_wait;

            if (w) {
                grp->m[i]->sync_wait = NULL;
                grp->m[i]->deadline = now + grp->m[i]->session_ms;
                sync_error(w, ZCQ_GERR_REBALANCE_IN_PROGRESS);
                deliver(w);
            }
        }
    }
    for (int i = 0; i < grp->nm; i++) {
        if (grp->m[i]->rebalance_ms > longest)
            longest = grp->m[i]->rebalance_ms;
    }
    grp->st = PREPARING;
    grp->initial_deadline = 0;
    grp->rebalance_deadline = now + longest;
    zcq_say(ZCQ_INFO, "group %s: rebalancing (generation %d, %s)", grp->name, grp->generation, why);
    pthread_cond_signal(&g->cv);
}

static void maybe_complete_join(struct zcq_groups *g, struct group *grp, int64_t now)
{
    if (grp->st != PREPARING || grp->initial_deadline)
        return;
    for (int i = 0; i < grp->nm; i++) {
        if (!grp->m[i]->join_wait)
            return;
    }
    complete_join(g, grp, now);
}

/* Take m out of the group (no rebalance decided here). Its held requests get 25. */
static void detach_member(struct group *grp, struct zcq_gmember *m)
{
    int i;

    if (m->join_wait) {
        struct zcq_gwait *w = m->join_wait;

        m->join_wait = NULL;
        join_error(w, ZCQ_GERR_UNKNOWN_MEMBER_ID, m->id, strlen(m->id));
        deliver(w);
    }
    if (m->sync_wait) {
        struct zcq_gwait *w = m->sync_wait;

        m->sync_wait = NULL;
        sync_error(w, ZCQ_GERR_UNKNOWN_MEMBER_ID);
        deliver(w);
    }
    for (i = 0; i < grp->nm && grp->m[i] != m; i++)
        ;
    if (i < grp->nm) {
        memmove(grp->m + i, grp->m + i + 1, sizeof(*grp->m) * (size_t)(grp->nm - i - 1));
        grp->nm--;
    }
    if (grp->leader == m)
        grp->leader = NULL;
    free_member(m);
}

/* A member leaves (LeaveGroup) or is expired: the others rebalance. */
static void remove_member(struct zcq_groups *g, struct group *grp, struct zcq_gmember *m,
                          int64_t now, const char *why)
{
    char reason[300];

    snprintf(reason, sizeof(reason), "member %s %s", m->id, why);
    detach_member(grp, m);
    if (grp->st == STABLE || grp->st == COMPLETING)
        prepare_rebalance(g, grp, now, reason);
    else
        zcq_say(ZCQ_INFO, "group %s: %s", grp->name, reason);
    if (grp->st == PREPARING && grp->nm == 0) {
        grp->initial_deadline = 0;
        complete_join(g, grp, now);
    } else {
        maybe_complete_join(g, grp, now);
    }
}

/* The protocol for this generation: among those every member supports, the one most members
 * list first; ties go to the leader's (or first member's) preference. NULL if none. */
static const char *choose_protocol(struct group *grp)
{
    const struct zcq_gmember *ref = grp->leader ? grp->leader : grp->m[0];
    const char *best = NULL;
    int best_votes = -1;

    for (int c = 0; c < ref->nprotos; c++) {
        const char *name = ref->protos[c].name;
        int votes = 0;
        bool all = true;

        for (int i = 0; i < grp->nm && all; i++)
            all = proto_of(grp->m[i], name) != NULL;
        if (!all)
            continue;
        for (int i = 0; i < grp->nm; i++) {
            /* m's vote: its first protocol every member supports. */
            for (int k = 0; k < grp->m[i]->nprotos; k++) {
                const char *p = grp->m[i]->protos[k].name;
                bool ok = true;

                for (int x = 0; x < grp->nm && ok; x++)
                    ok = proto_of(grp->m[x], p) != NULL;
                if (ok) {
                    votes += strcmp(p, name) == 0;
                    break;
                }
            }
        }
        if (votes > best_votes) {
            best = name;
            best_votes = votes;
        }
    }
    return best;
}

/* Every member that will be in the next generation has rejoined (or time is up): drop the
 * laggards, pick leader and protocol, answer every held join. */
static void complete_join(struct zcq_groups *g, struct group *grp, int64_t now)
{
    const char *proto;

    for (int i = grp->nm - 1; i >= 0; i--) {
        if (!grp->m[i]->join_wait) {
            zcq_say(ZCQ_INFO, "group %s: member %s did not rejoin in time", grp->name,
                    grp->m[i]->id);
            detach_member(grp, grp->m[i]);
        }
    }
    grp->rebalance_deadline = 0;
    grp->initial_deadline = 0;
    grp->generation++;
    free(grp->protocol);
    grp->protocol = NULL;
    if (grp->nm == 0) {
        grp->st = EMPTY;
        grp->leader = NULL;
        grp->empty_since = wall_ms();
        zcq_say(ZCQ_INFO, "group %s: empty (generation %d)", grp->name, grp->generation);
        return;
    }
    proto = choose_protocol(grp);
    if (!proto) {
        /* Join checks make this unreachable; answer rather than hang if it is not. */
        while (grp->nm)
            detach_member(grp, grp->m[grp->nm - 1]);
        grp->st = EMPTY;
        grp->empty_since = wall_ms();
        return;
    }
    grp->protocol = strdup(proto);
    if (!grp->leader)
        grp->leader = grp->m[0];
    grp->st = COMPLETING;
    for (int i = 0; i < grp->nm; i++) {
        struct zcq_gmember *m = grp->m[i];
        struct zcq_gwait *w = m->join_wait;

        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        m->join_wait = NULL;
        m->deadline = now + m->session_ms;
        join_answer(grp, m, w);
        deliver(w);
    }
    zcq_say(ZCQ_INFO, "group %s: generation %d with %d member(s), protocol %s, leader %s",
            grp->name, grp->generation, grp->nm, grp->protocol ? grp->protocol : "?",
            grp->leader->id);
    pthread_cond_signal(&g->cv);
}

/* --- The timer thread ---------------------------------------------------------------------- */

/* Expire what is due; returns the next deadline (INT64_MAX: none). */
static int64_t tick(struct zcq_groups *g, int64_t now)
{
    int64_t next = INT64_MAX;

    for (int gi = 0; gi < g->n; gi++) {
        struct group *grp = g->g[gi];
        bool again = true;

        for (int k = grp->npend - 1; k >= 0; k--) {
            if (grp->pend[k].deadline <= now) {
                free(grp->pend[k].id);
                grp->pend[k] = grp->pend[--grp->npend];
            }
        }
        while (again) {
            again = false;
            for (int i = 0; i < grp->nm; i++) {
                struct zcq_gmember *m = grp->m[i];

                if (!m->join_wait && !m->sync_wait && m->deadline <= now) {
                    remove_member(g, grp, m, now, "session timed out");
                    again = true; /* the array changed under us */
                    break;
                }
            }
        }
        if (grp->st == PREPARING) {
            if (grp->initial_deadline && grp->initial_deadline <= now) {
                grp->initial_deadline = 0;
                complete_join(g, grp, now);
            } else if (!grp->initial_deadline && grp->rebalance_deadline &&
                       grp->rebalance_deadline <= now) {
                complete_join(g, grp, now);
            }
        }
        for (int k = 0; k < grp->npend; k++)
            next = grp->pend[k].deadline < next ? grp->pend[k].deadline : next;
        for (int i = 0; i < grp->nm; i++) {
            const struct zcq_gmember *m = grp->m[i];

            if (!m->join_wait && !m->sync_wait && m->deadline < next)
                next = m->deadline;
        }
        if (grp->st == PREPARING) {
            int64_t d = grp->initial_deadline ? grp->initial_deadline : grp->rebalance_deadline;

            if (d && d < next)
                next = d;
        }
    }
    /* Groups with nothing left: no members, no ids given out, no offsets. */
    for (int gi = g->n - 1; gi >= 0; gi--) {
        struct group *grp = g->g[gi];

        if (grp->st == EMPTY && grp->nm == 0 && grp->npend == 0 && grp->noffs == 0)
            drop_group(g, grp);
    }
    return next;
}

static void *timer_main(void *arg)
{
    struct zcq_groups *g = arg;

    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        int64_t now = mono_ms(), next = tick(g, now);
        struct timespec until;

        /* At most a second between ticks: a bound on any missed signal, and cheap. */
        if (next > now + 1000)
            next = now + 1000;
        until.tv_sec = (time_t)(next / 1000);
        until.tv_nsec = (long)(next % 1000) * 1000000;
        pthread_cond_timedwait(&g->cv, &g->mu, &until);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* --- Loading and opening ------------------------------------------------------------------- */

static int off_cmp(const struct off *o, const char *topic, size_t tlen, int32_t part)
{
    int c = cmp_name(o->topic, o->topic_len, topic, tlen);

    if (c)
        return c;
    return o->partition < part ? -1 : o->partition > part;
}

/* Index of (topic, part) in grp's offsets, or -(insertion point) - 1. */
static int find_off(const struct group *grp, const char *topic, size_t tlen, int32_t part)
{
    int lo = 0, hi = grp->noffs - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = off_cmp(&grp->offs[mid], topic, tlen, part);

        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

static void remove_off(struct group *grp, int i)
{
    free(grp->offs[i].topic);
    free(grp->offs[i].meta);
    memmove(grp->offs + i, grp->offs + i + 1, sizeof(*grp->offs) * (size_t)(grp->noffs - i - 1));
    grp->noffs--;
}

/* Set (or, v == NULL, remove) a committed offset in memory. */
static int set_off(struct group *grp, const struct zcq_commit_key *k,
                   const struct zcq_commit_val *v)
{
    int i = find_off(grp, k->topic, k->topic_len, k->partition);
    char *meta = NULL;
    struct off *o;

    if (!v) {
        if (i >= 0)
            remove_off(grp, i);
        return 0;
    }
    if (v->meta_len >= 0 && !(meta = dupn(v->meta, (size_t)v->meta_len)))
        return -ENOMEM;
    if (i < 0) {
        char *topic = dupn(k->topic, k->topic_len);

        if (!topic) {
            free(meta);
            return -ENOMEM;
        }
        if (grp->noffs == grp->ocap) {
            int cap = grp->ocap ? grp->ocap * 2 : 8;
            struct off *no = realloc(grp->offs, sizeof(*no) * (size_t)cap);

            if (!no) {
                free(topic);
                free(meta);
                return -ENOMEM;
            }
            grp->offs = no;
            grp->ocap = cap;
        }
        i = -i - 1;
        memmove(grp->offs + i + 1, grp->offs + i, sizeof(*grp->offs) * (size_t)(grp->noffs - i));
        grp->noffs++;
        o = &grp->offs[i];
        o->topic = topic;
        o->topic_len = k->topic_len;
        o->partition = k->partition;
    } else {
        o = &grp->offs[i];
        free(o->meta);
    }
    o->offset = v->offset;
    o->epoch = v->leader_epoch;
    o->meta = meta;
    o->meta_len = v->meta_len;
    o->ts = v->ts;
    return 0;
}

static int load_entry(void *arg, const struct zcq_journal_entry *e)
{
    struct zcq_groups *g = arg;
    struct group *grp =
        e->v ? make_group(g, e->k.group, e->k.group_len) : get_group(g, e->k.group, e->k.group_len);

    if (!grp)
        return e->v ? -ENOMEM : 0;
    grp->empty_since = 0; /* its newest commit time says how long it has been idle */
    return set_off(grp, &e->k, e->v);
}

int zcq_groups_open(struct zcq_groups **out, const char *data_dir,
                    const struct zcq_groups_config *cfg, struct zcq_topics *topics,
                    struct zcq_groups_open_info *info, char *why, size_t why_len)
{
    struct zcq_groups *g = calloc(1, sizeof(*g));
    struct zcq_journal_open_info ji;
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    memset(info, 0, sizeof(*info));
    if (!g)
        return -ENOMEM;
    g->cfg = *cfg;
    g->topics = topics;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = zcq_journal_open(&g->journal, data_dir, cfg->segment_bytes, load_entry, g, &ji, why,
                          why_len);
    if (rc < 0)
        goto fail;
    /* Removals may have left groups without offsets. */
    for (int i = g->n - 1; i >= 0; i--) {
        if (g->g[i]->noffs == 0)
            drop_group(g, g->g[i]);
        else
            info->offsets += g->g[i]->noffs;
    }
    info->groups = g->n;
    info->snapshot_entries = ji.snapshot_entries;
    info->replayed_records = ji.replayed_records;
    info->replayed_bytes = ji.replayed_bytes;
    rc = -pthread_create(&g->timer, NULL, timer_main, g);
    if (rc < 0) {
        snprintf(why, why_len, "cannot start the group timer thread: %s", strerror(-rc));
        goto fail;
    }
    g->started = true;
    *out = g;
    return 0;
fail:
    zcq_groups_close(g);
    return rc;
}

int zcq_groups_close(struct zcq_groups *g)
{
    int rc;

    if (!g)
        return 0;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->timer, NULL);
    }
    rc = zcq_journal_close(g->journal);
    while (g->n)
        drop_group(g, g->g[g->n - 1]);
    free(g->g);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    return rc;
}

/* --- Membership ---------------------------------------------------------------------------- */

bool zcq_group_unwait(struct zcq_groups *g, struct zcq_gwait *w)
{
    bool parked = false;

    pthread_mutex_lock(&g->mu);
    if (w->m) {
        struct zcq_gmember *m = w->m;

        if (m->join_wait == w)
            m->join_wait = NULL;
        if (m->sync_wait == w)
            m->sync_wait = NULL;
        /* Its session runs again from now: gone for good, it expires like any silent member. */
        m->deadline = mono_ms() + m->session_ms;
        w->m = NULL;
        parked = true;
        pthread_cond_signal(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return parked;
}

/* Copy j's protocols into m (replacing what it had). */
static int set_protocols(struct zcq_gmember *m, const struct zcq_join *j)
{
    struct gproto *p = calloc((size_t)j->nprotocols, sizeof(*p));

    if (!p)
        return -ENOMEM;
    for (int i = 0; i < j->nprotocols; i++) {
        p[i].name = dupn(j->protocols[i].name, (size_t)j->protocols[i].name_len);
        p[i].meta = dupmem(j->protocols[i].meta, j->protocols[i].meta_len);
        p[i].meta_len = j->protocols[i].meta_len;
        if (!p[i].name || !p[i].meta) {
            for (int k = 0; k <= i; k++) {
                free(p[k].name);
                free(p[k].meta);
            }
            free(p);
            return -ENOMEM;
        }
    }
    for (int i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = p;
    m->nprotos = j->nprotocols;
    return 0;
}

static bool same_protocols(const struct zcq_gmember *m, const struct zcq_join *j)
{
    if (m->nprotos != j->nprotocols)
        return false;
    for (int i = 0; i < j->nprotocols; i++) {
        const struct zcq_gproto *p = &j->protocols[i];

        if (!eq(m->protos[i].name, p->name, (size_t)p->name_len) ||
            m->protos[i].meta_len != p->meta_len ||
            (p->meta_len > 0 && memcmp(m->protos[i].meta, p->meta, (size_t)p->meta_len) != 0))
            return false;
    }
    return true;
}

/* Can a member with these protocols join grp's current members? */
static bool protocols_fit(const struct group *grp, const struct zcq_join *j)
{
    if (grp->nm == 0)
        return true;
    if (!eq(grp->ptype, j->protocol_type, j->protocol_type_len))
        return false;
    for (int i = 0; i < j->nprotocols; i++) {
        char name[256];
        bool all = true;

        if (j->protocols[i].name_len >= (int32_t)sizeof(name))
            continue;
        memcpy(name, j->protocols[i].name, (size_t)j->protocols[i].name_len);
        name[j->protocols[i].name_len] = '\0';
        for (int k = 0; k < grp->nm && all; k++)
            all = proto_of(grp->m[k], name) != NULL;
        if (all)
            return true;
    }
    return false;
}

static struct zcq_gmember *new_member(struct group *grp, char *id, const struct zcq_join *j)
{
    struct zcq_gmember *m = calloc(1, sizeof(*m));

    if (!m) {
        free(id);
        return NULL;
    }
    m->grp = grp;
    m->id = id;
    m->client_id = dupn(j->client_id ? j->client_id : "", j->client_id ? j->client_id_len : 0);
    m->client_host = strdup(j->client_host ? j->client_host : "");
    m->session_ms = j->session_ms;
    m->rebalance_ms = j->rebalance_ms;
    if (!m->client_id || !m->client_host || set_protocols(m, j) < 0) {
        free_member(m);
        return NULL;
    }
    if (grp->nm == grp->mcap) {
        int cap = grp->mcap ? grp->mcap * 2 : 4;
        struct zcq_gmember **nm = realloc(grp->m, sizeof(*nm) * (size_t)cap);

        if (!nm) {
            free_member(m);
            return NULL;
        }
        grp->m = nm;
        grp->mcap = cap;
    }
    if (grp->nm == 0 || !grp->ptype) {
        /* The first member of a generation sets the type the others must match. */
        char *t = dupn(j->protocol_type, j->protocol_type_len);

        if (!t) {
            free_member(m);
            return NULL;
        }
        free(grp->ptype);
        grp->ptype = t;
    }
    grp->m[grp->nm++] = m;
    return m;
}

static void park(struct zcq_gmember *m, struct zcq_gwait *w, int kind)
{
    w->m = m;
    w->kind = kind;
    if (kind == WAIT_JOIN)
        m->join_wait = w;
    else
        m->sync_wait = w;
}

/* A member (new, or rejoining with new protocols) is parked in grp's next rebalance. */
static void join_rebalance(struct zcq_groups *g, struct group *grp, struct zcq_gmember *m,
                           struct zcq_gwait *w, int64_t now, const char *why)
{
    int delay = g->cfg.initial_delay_ms;

    park(m, w, WAIT_JOIN);
    switch (grp->st) {
    case EMPTY:
        grp->st = PREPARING;
        grp->rebalance_deadline = now + m->rebalance_ms;
        if (delay > 0) {
            grp->initial_deadline = now + delay;
            grp->initial_limit = now + (m->rebalance_ms > delay ? m->rebalance_ms : delay);
        }
        zcq_say(ZCQ_INFO, "group %s: first member %s joined; rebalancing in %d ms", grp->name,
                m->id, delay);
        break;
    case PREPARING:
        if (grp->initial_deadline) {
            int64_t d = now + delay;

            grp->initial_deadline = d < grp->initial_limit ? d : grp->initial_limit;
        }
        if (m->rebalance_ms > 0 && now + m->rebalance_ms > grp->rebalance_deadline)
            grp->rebalance_deadline = now + m->rebalance_ms;
        break;
    case COMPLETING:
    case STABLE:
        prepare_rebalance(g, grp, now, why);
        break;
    }
    maybe_complete_join(g, grp, now);
    pthread_cond_signal(&g->cv);
}

int zcq_group_join(struct zcq_groups *g, const struct zcq_join *j, struct zcq_gwait *w)
{
    struct zcq_gmember *m;
    struct group *grp;
    int64_t now;
    int rc = 0;

    w->m = NULL;
    pthread_mutex_lock(&g->mu);
    now = mono_ms();
    if (j->group_len == 0 || j->group_len > INT16_MAX) {
        join_error(w, ZCQ_GERR_INVALID_GROUP_ID, j->member, j->member_len);
        goto out;
    }
    if (j->session_ms < g->cfg.min_session_ms || j->session_ms > g->cfg.max_session_ms) {
        join_error(w, ZCQ_GERR_INVALID_SESSION_TIMEOUT, j->member, j->member_len);
        goto out;
    }
    if (j->protocol_type_len == 0 || j->nprotocols < 1) {
        join_error(w, ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL, j->member, j->member_len);
        goto out;
    }
    grp = make_group(g, j->group, j->group_len);
    if (!grp) {
        rc = -ENOMEM;
        goto out;
    }
    if (!protocols_fit(grp, j)) {
        join_error(w, ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL, j->member, j->member_len);
        goto out;
    }
    if (j->member_len == 0) {
        char *id;

        if (grp->nm + grp->npend >= g->cfg.max_size) {
            join_error(w, ZCQ_GERR_GROUP_MAX_SIZE_REACHED, NULL, 0);
            goto out;
        }
        id = new_member_id(j->client_id ? j->client_id : "", j->client_id ? j->client_id_len : 0);
        if (!id) {
            rc = -ENOMEM;
            goto out;
        }
        if (j->id_required) {
            /* KIP-394: the id comes back first, so a client that dies before rejoining with
             * it leaves no member behind, only this pending id (expired by its session). */
            if (grp->npend == grp->pcap) {
                int cap = grp->pcap ? grp->pcap * 2 : 4;
                struct pending *np = realloc(grp->pend, sizeof(*np) * (size_t)cap);

                if (!np) {
                    free(id);
                    rc = -ENOMEM;
                    goto out;
                }
                grp->pend = np;
                grp->pcap = cap;
            }
            grp->pend[grp->npend++] = (struct pending){.id = id, .deadline = now + j->session_ms};
            join_error(w, ZCQ_GERR_MEMBER_ID_REQUIRED, id, strlen(id));
            pthread_cond_signal(&g->cv);
            goto out;
        }
        m = new_member(grp, id, j);
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
        join_rebalance(g, grp, m, w, now, "a member joined");
        rc = 1;
        goto out;
    }
    m = find_member(grp, j->member, j->member_len);
    if (!m) {
        int k;

        for (k = 0; k < grp->npend && !eq(grp->pend[k].id, j->member, j->member_len); k++)
            ;
        if (k == grp->npend) {
            join_error(w, ZCQ_GERR_UNKNOWN_MEMBER_ID, j->member, j->member_len);
            goto out;
        }
        m = new_member(grp, grp->pend[k].id, j);
        grp->pend[k] = grp->pend[--grp->npend];
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
        join_rebalance(g, grp, m, w, now, "a member joined");
        rc = 1;
        goto out;
    }
    /* A known member rejoins. */
    if (m->join_wait) {
        /* A second join while one is held: the older one is answered, the newer waits. */
        struct zcq_gwait *old = m->join_wait;

        m->join_wait = NULL;
        join_error(old, ZCQ_GERR_REBALANCE_IN_PROGRESS, m->id, strlen(m->id));
        deliver(old);
    }
    m->session_ms = j->session_ms;
    m->rebalance_ms = j->rebalance_ms;
    if ((grp->st == STABLE && m != grp->leader) || grp->st == COMPLETING) {
        if (same_protocols(m, j)) {
            /* Nothing changed: the current generation stands. */
            m->deadline = now + m->session_ms;
            join_answer(grp, m, w);
            goto out;
        }
    }
    if (set_protocols(m, j) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    join_rebalance(g, grp, m, w, now, "a member rejoined with new metadata");
    rc = 1;
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int zcq_group_sync(struct zcq_groups *g, const char *group, size_t group_len, int32_t generation,
                   const char *member, size_t member_len, const struct zcq_gassign *a, int n,
                   struct zcq_gwait *w)
{
    struct group *grp;
    struct zcq_gmember *m;
    int64_t now;
    int rc = 0;

    w->m = NULL;
    if (group_len == 0) {
        /* Only OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups accept "". */
        sync_error(w, ZCQ_GERR_INVALID_GROUP_ID);
        return 0;
    }
    pthread_mutex_lock(&g->mu);
    now = mono_ms();
    m = get_member(g, group, group_len, member, member_len, &grp);
    if (!m) {
        sync_error(w, ZCQ_GERR_UNKNOWN_MEMBER_ID);
        goto out;
    }
    if (generation != grp->generation) {
        sync_error(w, ZCQ_GERR_ILLEGAL_GENERATION);
        goto out;
    }
    m->deadline = now + m->session_ms;
    if (grp->st == PREPARING) {
        sync_error(w, ZCQ_GERR_REBALANCE_IN_PROGRESS);
        goto out;
    }
    if (grp->st == STABLE) {
        zcq_gwait_clear(w);
        w->err = ZCQ_GERR_NONE;
        w->assignment = dupmem(m->assignment, m->assignment_len);
        w->assignment_len = w->assignment ? m->assignment_len : 0;
        goto out;
    }
    /* COMPLETING: wait for the leader's assignments (unless this is the leader). */
    if (m->sync_wait) {
        struct zcq_gwait *old = m->sync_wait;

        m->sync_wait = NULL;
        sync_error(old, ZCQ_GERR_REBALANCE_IN_PROGRESS);
        deliver(old);
    }
    park(m, w, WAIT_SYNC);
    rc = 1;
    if (m == grp->leader) {
        for (int i = 0; i < n; i++) {
            struct zcq_gmember *to = find_member(grp, a[i].member, (size_t)a[i].member_len);
            void *copy;

            if (!to)
                continue;
            copy = dupmem(a[i].data, a[i].len);
            if (!copy) {
                /* Undo: the leader retries its sync. */
                m->sync_wait = NULL;
                w->m = NULL;
                rc = -ENOMEM;
                goto out;
            }
            free(to->assignment);
            to->assignment = copy;
            to->assignment_len = a[i].len;
        }
        grp->st = STABLE;
        for (int i = 0; i < grp->nm; i++) {
            struct zcq_gmember *x = grp->m[i];
            struct zcq_gwait *xw = x->sync_wait;

            if (!xw)
                continue;
            x->sync_wait = NULL;
            x->deadline = now + x->session_ms;
            zcq_gwait_clear(xw);
            xw->err = ZCQ_GERR_NONE;
            xw->assignment = dupmem(x->assignment, x->assignment_len);
            xw->assignment_len = xw->assignment ? x->assignment_len : 0;
            deliver(xw);
        }
        zcq_say(ZCQ_INFO, "group %s: generation %d stable", grp->name, grp->generation);
    }
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int16_t zcq_group_heartbeat(struct zcq_groups *g, const char *group, size_t group_len,
                            int32_t generation, const char *member, size_t member_len)
{
    struct group *grp;
    struct zcq_gmember *m;
    int16_t err = ZCQ_GERR_NONE;

    if (group_len == 0)
        return ZCQ_GERR_INVALID_GROUP_ID;
    pthread_mutex_lock(&g->mu);
    m = get_member(g, group, group_len, member, member_len, &grp);
    if (!m)
        err = ZCQ_GERR_UNKNOWN_MEMBER_ID;
    else if (generation != grp->generation)
        err = ZCQ_GERR_ILLEGAL_GENERATION;
    else {
        m->deadline = mono_ms() + m->session_ms;
        /* How members learn that they must rejoin. */
        if (grp->st == PREPARING)
            err = ZCQ_GERR_REBALANCE_IN_PROGRESS;
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

int16_t zcq_group_leave(struct zcq_groups *g, const char *group, size_t group_len,
                        const char *member, size_t member_len)
{
    struct group *grp;
    struct zcq_gmember *m;
    int16_t err = ZCQ_GERR_NONE;

    if (group_len == 0)
        return ZCQ_GERR_INVALID_GROUP_ID;
    pthread_mutex_lock(&g->mu);
    m = get_member(g, group, group_len, member, member_len, &grp);
    if (!m)
        err = ZCQ_GERR_UNKNOWN_MEMBER_ID;
    else
        remove_member(g, grp, m, mono_ms(), "left the group");
    pthread_mutex_unlock(&g->mu);
    return err;
}

/* --- Committed offsets --------------------------------------------------------------------- */

/* Journal the removal of grp's offsets i[0..n) and drop them from memory. */
static int forget_offsets(struct zcq_groups *g, struct group *grp, const int *idx, int n,
                          int64_t now_ms)
{
    struct zcq_journal_entry *e;
    int64_t rc;

    if (n == 0)
        return 0;
    e = calloc((size_t)n, sizeof(*e));
    if (!e)
        return -ENOMEM;
    for (int k = 0; k < n; k++) {
        const struct off *o = &grp->offs[idx[k]];

        e[k].k =
            (struct zcq_commit_key){grp->name, grp->name_len, o->topic, o->topic_len, o->partition};
    }
    rc = zcq_journal_append(g->journal, e, n, now_ms);
    free(e);
    if (rc < 0)
        return (int)rc;
    /* Indexes ascend: remove from the end so the earlier ones stay valid. */
    for (int k = n - 1; k >= 0; k--)
        remove_off(grp, idx[k]);
    return 0;
}

int16_t zcq_group_commit(struct zcq_groups *g, const char *group, size_t group_len,
                         int32_t generation, const char *member, size_t member_len,
                         struct zcq_gcommit *c, int n, int64_t now_ms, int64_t *sync_upto)
{
    struct zcq_journal_entry *e = NULL;
    struct zcq_commit_val *v = NULL;
    struct group *grp;
    int16_t err = ZCQ_GERR_NONE;
    int ne = 0;

    *sync_upto = 0;
    for (int i = 0; i < n; i++)
        c[i].err = ZCQ_GERR_NONE;
    if (group_len == 0 || group_len > INT16_MAX)
        return ZCQ_GERR_INVALID_GROUP_ID;
    pthread_mutex_lock(&g->mu);
    grp = get_group(g, group, group_len);
    if (!grp) {
        if (generation >= 0 || member_len) {
            err = ZCQ_GERR_UNKNOWN_MEMBER_ID;
            goto out;
        }
        grp = make_group(g, group, group_len);
        if (!grp) {
            err = ZCQ_GERR_COORDINATOR_NOT_AVAILABLE;
            goto out;
        }
    } else if (!(generation < 0 && member_len == 0 && grp->st == EMPTY)) {
        struct zcq_gmember *m;

        if (grp->st == COMPLETING) {
            err = ZCQ_GERR_REBALANCE_IN_PROGRESS;
            goto out;
        }
        m = find_member(grp, member, member_len);
        if (!m) {
            err = ZCQ_GERR_UNKNOWN_MEMBER_ID;
            goto out;
        }
        if (generation != grp->generation) {
            err = ZCQ_GERR_ILLEGAL_GENERATION;
            goto out;
        }
        m->deadline = mono_ms() + m->session_ms;
    }
    e = calloc((size_t)(n > 0 ? n : 1), sizeof(*e));
    v = calloc((size_t)(n > 0 ? n : 1), sizeof(*v));
    if (!e || !v) {
        err = ZCQ_GERR_COORDINATOR_NOT_AVAILABLE;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int32_t parts = c[i].topic_len <= INT16_MAX
                            ? zcq_topics_partitions(g->topics, c[i].topic, c[i].topic_len)
                            : -1;

        if (parts < 0 || c[i].partition < 0 || c[i].partition >= parts) {
            c[i].err = ZCQ_GERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        if (c[i].meta_len > g->cfg.meta_max) {
            c[i].err = ZCQ_GERR_OFFSET_METADATA_TOO_LARGE;
            continue;
        }
        v[ne] = (struct zcq_commit_val){c[i].offset, c[i].leader_epoch, c[i].meta,
                                        c[i].meta_len < 0 ? -1 : c[i].meta_len, wall_ms()};
        e[ne].k = (struct zcq_commit_key){grp->name, grp->name_len, c[i].topic,
                                          (uint16_t)c[i].topic_len, c[i].partition};
        e[ne].v = &v[ne];
        ne++;
    }
    if (ne) {
        int64_t end = zcq_journal_append(g->journal, e, ne, now_ms);

        if (end < 0) {
            zcq_say(ZCQ_ERROR, "group %s: cannot journal %d committed offset(s): %s", grp->name, ne,
                    strerror(end > -4096 ? (int)-end : EIO));
            for (int i = 0; i < n; i++) {
                if (c[i].err == ZCQ_GERR_NONE)
                    c[i].err = ZCQ_GERR_COORDINATOR_NOT_AVAILABLE;
            }
        } else {
            for (int k = 0; k < ne; k++) {
                if (set_off(grp, &e[k].k, e[k].v) < 0) {
                    /* Journalled but not in memory: the commit stands (a restart sees it);
                     * the answer cannot promise more than that. */
                    for (int i = 0; i < n; i++) {
                        if (c[i].err == ZCQ_GERR_NONE && c[i].partition == e[k].k.partition &&
                            c[i].topic_len == e[k].k.topic_len &&
                            memcmp(c[i].topic, e[k].k.topic, c[i].topic_len) == 0)
                            c[i].err = ZCQ_GERR_COORDINATOR_NOT_AVAILABLE;
                    }
                }
            }
            *sync_upto = end;
        }
    }
out:
    pthread_mutex_unlock(&g->mu);
    free(e);
    free(v);
    return err;
}

int zcq_groups_sync(struct zcq_groups *g, int64_t upto)
{
    return zcq_journal_sync(g->journal, upto);
}

static void give_off(const struct off *o, void (*fn)(void *arg, const struct zcq_goffset *o),
                     void *arg)
{
    struct zcq_goffset r = {o->topic, o->topic_len, o->partition, o->offset,
                            o->epoch, o->meta,      o->meta_len};

    fn(arg, &r);
}

int zcq_group_offsets(struct zcq_groups *g, const char *group, size_t group_len,
                      const struct zcq_gquery *q, int n,
                      void (*fn)(void *arg, const struct zcq_goffset *o), void *arg)
{
    struct group *grp;
    int calls = 0;

    pthread_mutex_lock(&g->mu);
    grp = get_group(g, group, group_len);
    if (!q) {
        for (int i = 0; grp && i < grp->noffs; i++, calls++)
            give_off(&grp->offs[i], fn, arg);
    } else {
        for (int k = 0; k < n; k++, calls++) {
            int i = grp ? find_off(grp, q[k].topic, q[k].topic_len, q[k].partition) : -1;

            if (i >= 0) {
                give_off(&grp->offs[i], fn, arg);
            } else {
                struct zcq_goffset none = {q[k].topic, q[k].topic_len, q[k].partition, -1, -1, NULL,
                                           -1};

                fn(arg, &none);
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    return calls;
}

/* Forget grp's offsets that keep(arg, offset) rejects. */
static int forget_where(struct zcq_groups *g, struct group *grp, int64_t now_ms,
                        bool (*gone)(struct zcq_groups *g, const struct off *o, const void *arg),
                        const void *arg)
{
    int *idx = malloc(sizeof(*idx) * (size_t)(grp->noffs ? grp->noffs : 1)), n = 0, rc;

    if (!idx)
        return -ENOMEM;
    for (int i = 0; i < grp->noffs; i++) {
        if (gone(g, &grp->offs[i], arg))
            idx[n++] = i;
    }
    rc = forget_offsets(g, grp, idx, n, now_ms);
    free(idx);
    return rc < 0 ? rc : n;
}

struct tname {
    const char *p;
    size_t len;
};

static bool of_topic(struct zcq_groups *g, const struct off *o, const void *arg)
{
    const struct tname *t = arg;

    (void)g;
    return o->topic_len == t->len && memcmp(o->topic, t->p, t->len) == 0;
}

void zcq_groups_topic_deleted(struct zcq_groups *g, const char *topic, size_t topic_len,
                              int64_t now_ms)
{
    struct tname t = {topic, topic_len};

    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) {
        int rc = forget_where(g, g->g[i], now_ms, of_topic, &t);

        if (rc < 0)
            zcq_say(ZCQ_WARN, "group %s: cannot forget offsets of deleted topic %.*s: %s",
                    g->g[i]->name, (int)topic_len, topic, strerror(-rc));
    }
    pthread_mutex_unlock(&g->mu);
}

static bool partition_gone(struct zcq_groups *g, const struct off *o, const void *arg)
{
    int32_t n = zcq_topics_partitions(g->topics, o->topic, o->topic_len);

    (void)arg;
    return n < 0 || o->partition >= n;
}

/* --- Administration ------------------------------------------------------------------------ */

static void view_of(const struct group *grp, struct zcq_group_view *v)
{
    memset(v, 0, sizeof(*v));
    v->name = grp->name;
    v->state = state_names[grp->st];
    v->protocol_type = grp->ptype ? grp->ptype : "";
    v->protocol = grp->protocol && grp->st != PREPARING ? grp->protocol : "";
    v->generation = grp->generation;
}

int zcq_groups_each(struct zcq_groups *g, void (*fn)(void *arg, const struct zcq_group_view *v),
                    void *arg)
{
    int count = 0;

    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) {
        struct zcq_group_view v;

        if (g->g[i]->nm == 0 && g->g[i]->noffs == 0 && g->g[i]->npend == 0)
            continue; /* a name about to be forgotten */
        view_of(g->g[i], &v);
        fn(arg, &v);
        count++;
    }
    pthread_mutex_unlock(&g->mu);
    return count;
}

void zcq_group_describe(struct zcq_groups *g, const char *group, size_t group_len,
                        void (*fn)(void *arg, const struct zcq_group_view *v), void *arg)
{
    struct zcq_gmember_view *mv = NULL;
    struct zcq_group_view v;
    struct group *grp;
    char name[256];

    pthread_mutex_lock(&g->mu);
    grp = get_group(g, group, group_len);
    if (!grp || (grp->nm == 0 && grp->noffs == 0 && grp->npend == 0)) {
        size_t n = group_len < sizeof(name) - 1 ? group_len : sizeof(name) - 1;

        memcpy(name, group, n);
        name[n] = '\0';
        memset(&v, 0, sizeof(v));
        v.name = name;
        v.state = "Dead";
        v.protocol_type = v.protocol = "";
        fn(arg, &v);
        goto out;
    }
    view_of(grp, &v);
    mv = calloc((size_t)(grp->nm ? grp->nm : 1), sizeof(*mv));
    if (mv) {
        for (int i = 0; i < grp->nm; i++) {
            const struct zcq_gmember *m = grp->m[i];
            const struct gproto *p = grp->protocol ? proto_of(m, grp->protocol) : NULL;

            mv[i] = (struct zcq_gmember_view){m->id,
                                              m->client_id,
                                              m->client_host,
                                              p ? p->meta : NULL,
                                              p ? p->meta_len : 0,
                                              grp->st == STABLE ? m->assignment : NULL,
                                              grp->st == STABLE ? m->assignment_len : 0};
        }
        v.members = mv;
        v.nmembers = grp->nm;
    }
    fn(arg, &v);
out:
    pthread_mutex_unlock(&g->mu);
    free(mv);
}

static bool any_off(struct zcq_groups *g, const struct off *o, const void *arg)
{
    (void)g;
    (void)o;
    (void)arg;
    return true;
}

int16_t zcq_group_delete(struct zcq_groups *g, const char *group, size_t group_len, int64_t now_ms)
{
    struct group *grp;
    int16_t err = ZCQ_GERR_NONE;

    if (group_len == 0 || group_len > INT16_MAX)
        return ZCQ_GERR_INVALID_GROUP_ID;
    pthread_mutex_lock(&g->mu);
    grp = get_group(g, group, group_len);
    if (!grp || (grp->nm == 0 && grp->noffs == 0 && grp->npend == 0)) {
        err = ZCQ_GERR_GROUP_ID_NOT_FOUND;
    } else if (grp->nm > 0 || grp->st != EMPTY) {
        err = ZCQ_GERR_NON_EMPTY_GROUP;
    } else {
        int rc = forget_where(g, grp, now_ms, any_off, NULL);

        if (rc < 0) {
            zcq_say(ZCQ_ERROR, "group %s: cannot delete its offsets: %s", grp->name, strerror(-rc));
            err = ZCQ_GERR_COORDINATOR_NOT_AVAILABLE;
        } else {
            zcq_say(ZCQ_INFO, "group %s deleted (%d committed offset(s))", grp->name, rc);
            drop_group(g, grp);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

/* The newest moment grp was in use: the later of becoming empty and its newest commit. */
static int64_t last_used(const struct group *grp)
{
    int64_t t = grp->empty_since;

    for (int i = 0; i < grp->noffs; i++)
        t = grp->offs[i].ts > t ? grp->offs[i].ts : t;
    return t;
}

int zcq_groups_maintain(struct zcq_groups *g, int64_t now_ms, bool expire, char *why,
                        size_t why_len)
{
    struct zcq_snap *s = NULL;
    int rc = 0;

    pthread_mutex_lock(&g->mu);
    if (expire) {
        for (int i = g->n - 1; i >= 0; i--) {
            struct group *grp = g->g[i];
            int n;

            if (grp->nm == 0 && grp->npend == 0 && grp->noffs > 0 &&
                last_used(grp) + g->cfg.retention_ms < now_ms) {
                n = forget_where(g, grp, now_ms, any_off, NULL);
                if (n >= 0) {
                    zcq_say(ZCQ_INFO,
                            "group %s: %d committed offset(s) expired (empty past "
                            "offsets.retention.minutes)",
                            grp->name, n);
                    drop_group(g, grp);
                    continue;
                }
            }
            n = forget_where(g, grp, now_ms, partition_gone, NULL);
            if (n > 0)
                zcq_say(ZCQ_INFO, "group %s: %d offset(s) of deleted topics forgotten", grp->name,
                        n);
        }
    }
    if (zcq_journal_pending_bytes(g->journal) >= g->cfg.snapshot_bytes) {
        s = zcq_snap_begin(g->journal);
        for (int i = 0; s && i < g->n; i++) {
            const struct group *grp = g->g[i];

            for (int k = 0; k < grp->noffs; k++) {
                const struct off *o = &grp->offs[k];
                struct zcq_commit_val v = {o->offset, o->epoch, o->meta, o->meta_len, o->ts};
                struct zcq_journal_entry e = {
                    {grp->name, grp->name_len, o->topic, o->topic_len, o->partition}, &v};

                (void)zcq_snap_add(s, &e); /* an error is kept and reported by the write */
            }
        }
        if (s)
            zcq_snap_seal(s);
    }
    pthread_mutex_unlock(&g->mu);
    if (s)
        rc = zcq_snap_write(s, why, why_len);
    (void)zcq_journal_maybe_flush(g->journal, now_ms);
    return rc;
}
