/*
 * zcq groups list|describe|delete|reset-offsets: consumer-group administration against any
 * Kafka broker, through librdkafka's Admin API (ListConsumerGroups, DescribeConsumerGroups,
 * DeleteGroups, ListConsumerGroupOffsets, AlterConsumerGroupOffsets) and its watermark and
 * offsets-for-times queries (ListOffsets). Every wait is bounded by --timeout-ms; each failure
 * is one "zcq groups: ..." line.
 *
 * The lag of a partition is its end offset (high watermark) minus the group's committed offset.
 * describe shows every partition with a committed offset and every partition a member owns;
 * one owned but never committed shows "-" for its offset and lag.
 *
 * reset-offsets commits from outside the group (no member id, generation -1). A broker takes
 * such a commit only while the group has no members, so the command looks at the group first
 * and refuses with the reason, rather than relaying the broker's UNKNOWN_MEMBER_ID.
 *
 * Ownership: every string printed lives in a result event (or a list copied from one) that the
 * function printing it destroys; the tables copy their cells.
 */
#include "cli/cmd.h"
#include "cli/kclient.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    OPT_JSON = ZCQ_KC_OPT_FIRST_FREE,
    OPT_TO_EARLIEST,
    OPT_TO_LATEST,
    OPT_TO_OFFSET,
    OPT_TO_DATETIME,
    OPT_DRY_RUN,
};

enum sub { SUB_LIST, SUB_DESCRIBE, SUB_DELETE, SUB_RESET };

enum reset_to { TO_NONE, TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_DATETIME };

struct groups_args {
    enum sub sub;
    int (*run)(struct zcq_kc *kc, const struct groups_args *a); /* the subcommand */
    const char **groups;                                        /* in argv */
    int ngroups;
    bool json;
    /* reset-offsets */
    const char *topic;
    int partition; /* -1: every partition */
    enum reset_to to;
    int64_t to_value; /* the offset, or the time in ms since 1970 */
    bool dry_run;
};

static void usage(FILE *f)
{
    fputs("usage: zcq groups list [--json]\n"
          "       zcq groups describe GROUP... [--json]\n"
          "       zcq groups delete GROUP...\n"
          "       zcq groups reset-offsets GROUP --topic T [--partition P]\n"
          "                 (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME)\n"
          "                 [--dry-run]\n"
          "\n"
          "Administer the consumer groups of any Kafka broker. list prints each group with its\n"
          "state and protocol type. describe prints a group's state, protocol type, assignor\n"
          "and coordinator, its members (member id, client id, host, assigned partitions), then\n"
          "each partition with a committed offset or an owner: the committed offset, the end\n"
          "offset, the lag (end - committed) and the owning member. delete removes groups that\n"
          "have no members. reset-offsets commits new offsets for a group with no members and\n"
          "prints each partition's old and new offset.\n"
          "\n"
          "  --json                list, describe: print one JSON object\n"
          "  -t, --topic T         reset-offsets: the topic whose offsets to set\n"
          "  -p, --partition P     reset-offsets: partition P only (default: all of them)\n"
          "  --to-earliest         the partition's first offset\n"
          "  --to-latest           the partition's end offset (skip everything)\n"
          "  --to-offset N         offset N, clamped to the partition's first and end offsets\n"
          "  --to-datetime TIME    the first record at or after TIME: ms since 1970, or\n"
          "                        YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM|-HH:MM] (local time\n"
          "                        without a zone; a date alone is its midnight); the end\n"
          "                        offset when no record is that recent\n"
          "  --dry-run             print the new offsets, commit nothing\n" ZCQ_KC_USAGE_COMMON,
          f);
}

/* --- aligned tables ----------------------------------------------------------------------- */

#define TABLE_MAX_COLS 8

struct table {
    int ncols; /* at most TABLE_MAX_COLS */
    size_t nrows, cap;
    char **cell; /* row-major nrows x ncols copies */
};

/* Append a row of t->ncols strings (NULL prints as "-"). 0 or -ENOMEM. */
static int table_add(struct table *t, ...)
{
    va_list ap;
    int rc = 0;

    assert(t->ncols > 0 && t->ncols <= TABLE_MAX_COLS);
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cell = realloc(t->cell, cap * (size_t)t->ncols * sizeof(*cell));

        if (!cell)
            return -ENOMEM;
        t->cell = cell;
        t->cap = cap;
    }
    va_start(ap, t);
    for (int c = 0; c < t->ncols; c++) {
        const char *s = va_arg(ap, const char *);
        char *copy = strdup(s ? s : "-");

        t->cell[t->nrows * (size_t)t->ncols + (size_t)c] = copy;
        if (!copy)
            rc = -ENOMEM; /* the row still ends up whole: table_free frees NULL cells */
    }
    va_end(ap);
    t->nrows++;
    return rc;
}

/* Every column padded to its widest cell but the last, two spaces apart. */
static void table_print(const struct table *t, const char *indent)
{
    size_t width[TABLE_MAX_COLS] = {0};

    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cell[r * (size_t)t->ncols + (size_t)c];
            size_t n = s ? strlen(s) : 0;

            if (n > width[c])
                width[c] = n;
        }
    }
    for (size_t r = 0; r < t->nrows; r++) {
        fputs(indent, stdout);
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cell[r * (size_t)t->ncols + (size_t)c];

            if (c == t->ncols - 1)
                printf("%s\n", s ? s : "");
            else
                printf("%-*s  ", (int)width[c], s ? s : "");
        }
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cell[i]);
    free(t->cell);
    t->cell = NULL;
    t->nrows = t->cap = 0;
}

/* v in decimal, or NULL (a "-" cell, a JSON null) when negative: no offset. */
static const char *num(char buf[24], int64_t v)
{
    if (v < 0)
        return NULL;
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

static void json_num(int64_t v)
{
    if (v < 0)
        fputs("null", stdout);
    else
        printf("%" PRId64, v);
}

static void json_str_or_null(const char *s)
{
    if (s)
        zcq_kc_json_string(s);
    else
        fputs("null", stdout);
}

/* --- requests ----------------------------------------------------------------------------- */

/* The one line for an error object of a result: its text and its name, which the text of a
 * broker's error does not always hold (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND). */
static void say_error(struct zcq_kc *kc, const char *what, const char *name,
                      const rd_kafka_error_t *e)
{
    zcq_kc_error(kc->o, "%s %s: %s (%s)", what, name, rd_kafka_error_string(e),
                 rd_kafka_error_name(e));
}

static void say_err(struct zcq_kc *kc, const char *what, const char *name, rd_kafka_resp_err_t err)
{
    char why[512];

    zcq_kc_serve(kc);
    zcq_kc_error(kc->o, "%s %s: %s (%s)", what, name, zcq_kc_strerr(kc, err, why, sizeof(why)),
                 rd_kafka_err2name(err));
}

/* Queue the request that submit() makes on a fresh queue and wait for its result event
 * (NULL: message printed). */
static rd_kafka_event_t *admin_call(struct zcq_kc *kc, rd_kafka_admin_op_t op, const char *what,
                                    void (*submit)(struct zcq_kc *kc, void *arg,
                                                   rd_kafka_AdminOptions_t *ao,
                                                   rd_kafka_queue_t *q),
                                    void *arg)
{
    rd_kafka_AdminOptions_t *ao = zcq_kc_admin_options(kc, op);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_event_t *ev = NULL;

    if (!ao || !q) {
        if (!q)
            zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    submit(kc, arg, ao, q);
    ev = zcq_kc_admin_result(kc, q, what);
out:
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    return ev;
}

struct names {
    const char **v;
    size_t n;
};

static void submit_describe(struct zcq_kc *kc, void *arg, rd_kafka_AdminOptions_t *ao,
                            rd_kafka_queue_t *q)
{
    struct names *g = arg;

    rd_kafka_DescribeConsumerGroups(kc->rk, g->v, g->n, ao, q);
}

/* Describe groups in one request: the result event (the caller destroys it) with *descs and
 * *n set, or NULL (message printed). */
static rd_kafka_event_t *describe_groups(struct zcq_kc *kc, const char **groups, size_t ngroups,
                                         const rd_kafka_ConsumerGroupDescription_t ***descs,
                                         size_t *n)
{
    struct names g = {groups, ngroups};
    rd_kafka_event_t *ev =
        admin_call(kc, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, "describe", submit_describe, &g);

    if (!ev)
        return NULL;
    *descs = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), n);
    return ev;
}

struct offsets_req {
    const char *group;
    const rd_kafka_topic_partition_list_t *parts;
    bool alter; /* AlterConsumerGroupOffsets, else ListConsumerGroupOffsets */
};

static void submit_offsets(struct zcq_kc *kc, void *arg, rd_kafka_AdminOptions_t *ao,
                           rd_kafka_queue_t *q)
{
    struct offsets_req *r = arg;

    if (r->alter) {
        rd_kafka_AlterConsumerGroupOffsets_t *req =
            rd_kafka_AlterConsumerGroupOffsets_new(r->group, r->parts);

        rd_kafka_AlterConsumerGroupOffsets(kc->rk, &req, 1, ao, q);
        rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    } else {
        rd_kafka_ListConsumerGroupOffsets_t *req =
            rd_kafka_ListConsumerGroupOffsets_new(r->group, r->parts);

        rd_kafka_ListConsumerGroupOffsets(kc->rk, &req, 1, ao, q);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
    }
}

/* Read (alter false) or commit (alter true) group's offsets of parts: the partitions of the
 * answer, as a list the caller destroys, offsets < 0 where nothing is committed. NULL on
 * failure, the group's or any partition's (message printed). */
static rd_kafka_topic_partition_list_t *group_offsets(struct zcq_kc *kc, const char *group,
                                                      const rd_kafka_topic_partition_list_t *parts,
                                                      bool alter)
{
    struct offsets_req r = {group, parts, alter};
    const char *what = alter ? "commit" : "offsets of";
    rd_kafka_event_t *ev = admin_call(kc,
                                      alter ? RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS
                                            : RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
                                      what, submit_offsets, &r);
    const rd_kafka_group_result_t **gr;
    const rd_kafka_topic_partition_list_t *got;
    rd_kafka_topic_partition_list_t *copy = NULL;
    size_t n = 0;

    if (!ev)
        return NULL;
    if (alter)
        gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    else
        gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    if (n != 1) {
        zcq_kc_error(kc->o, "%s %s: %zu group results in the answer", what, group, n);
        goto out;
    }
    if (rd_kafka_group_result_error(gr[0])) {
        say_error(kc, what, group, rd_kafka_group_result_error(gr[0]));
        goto out;
    }
    got = rd_kafka_group_result_partitions(gr[0]);
    if (!got) {
        zcq_kc_error(kc->o, "%s %s: no partitions in the answer", what, group);
        goto out;
    }
    for (int i = 0; i < got->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &got->elems[i];
        char name[512];

        if (!tp->err)
            continue;
        snprintf(name, sizeof(name), "%s %s/%" PRId32, group, tp->topic, tp->partition);
        say_err(kc, what, name, tp->err);
        goto out;
    }
    copy = rd_kafka_topic_partition_list_copy(got);
    if (!copy)
        zcq_kc_error(kc->o, "out of memory");
out:
    rd_kafka_event_destroy(ev);
    return copy;
}

/* The first and end offsets of one partition: 0, -ENOENT (the topic or partition is gone), or
 * -EIO (message printed). */
static int watermarks(struct zcq_kc *kc, const char *topic, int32_t partition, int64_t *lo,
                      int64_t *hi, bool quiet_if_gone)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(kc->rk, topic, partition, lo, hi, kc->o->timeout_ms);
    char name[512];

    if (!err)
        return 0;
    if (quiet_if_gone &&
        (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION))
        return -ENOENT;
    snprintf(name, sizeof(name), "%s/%" PRId32, topic, partition);
    say_err(kc, "offsets of", name, err);
    return -EIO;
}

/* librdkafka lists and describes only groups of protocol type "consumer" and simple ones (no
 * protocol type: offsets committed from outside any membership). */
static const char *protocol_type(int is_simple)
{
    return is_simple ? "" : "consumer";
}

/* --- list --------------------------------------------------------------------------------- */

static void submit_list(struct zcq_kc *kc, void *arg, rd_kafka_AdminOptions_t *ao,
                        rd_kafka_queue_t *q)
{
    (void)arg;
    rd_kafka_ListConsumerGroups(kc->rk, ao, q);
}

struct listed {
    const char *group;
    rd_kafka_consumer_group_state_t state;
    int simple;
};

static int by_group(const void *x, const void *y)
{
    return strcmp(((const struct listed *)x)->group, ((const struct listed *)y)->group);
}

/* ListGroups answers carry the state only from version 4: fill in the unknown ones from one
 * DescribeGroups request. 0, or -EIO (message printed). */
static int fill_states(struct zcq_kc *kc, struct listed *g, size_t n, rd_kafka_event_t **ev)
{
    const rd_kafka_ConsumerGroupDescription_t **d;
    const char **names = calloc(n + 1, sizeof(*names));
    size_t k = 0, nd = 0;

    if (!names) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (g[i].state == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
            names[k++] = g[i].group;
    }
    if (k) {
        *ev = describe_groups(kc, names, k, &d, &nd);
        if (!*ev) {
            free(names);
            return -EIO;
        }
        for (size_t j = 0; j < nd; j++) {
            const char *id = rd_kafka_ConsumerGroupDescription_group_id(d[j]);

            if (rd_kafka_ConsumerGroupDescription_error(d[j]))
                continue; /* stays Unknown: listing goes on */
            for (size_t i = 0; i < n; i++) {
                if (strcmp(g[i].group, id) == 0)
                    g[i].state = rd_kafka_ConsumerGroupDescription_state(d[j]);
            }
        }
    }
    free(names);
    return 0;
}

static int do_list(struct zcq_kc *kc, const struct groups_args *a)
{
    rd_kafka_event_t *ev, *dev = NULL;
    const rd_kafka_ListConsumerGroups_result_t *res;
    const rd_kafka_ConsumerGroupListing_t **valid;
    const rd_kafka_error_t **errs;
    struct listed *g = NULL;
    struct table t = {.ncols = 3};
    size_t n = 0, nerr = 0;
    int rc = -EIO;

    ev = admin_call(kc, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, "list", submit_list, NULL);
    if (!ev)
        return -EIO;
    res = rd_kafka_event_ListConsumerGroups_result(ev);
    errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    if (nerr) {
        zcq_kc_error(kc->o, "list: %s (%s)", rd_kafka_error_string(errs[0]),
                     rd_kafka_error_name(errs[0]));
        goto out;
    }
    valid = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    g = calloc(n + 1, sizeof(*g));
    if (!g) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        g[i].group = rd_kafka_ConsumerGroupListing_group_id(valid[i]);
        g[i].state = rd_kafka_ConsumerGroupListing_state(valid[i]);
        g[i].simple = rd_kafka_ConsumerGroupListing_is_simple_consumer_group(valid[i]);
    }
    if (fill_states(kc, g, n, &dev) < 0)
        goto out;
    qsort(g, n, sizeof(*g), by_group);
    if (a->json) {
        printf("{\"groups\":[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"group\":", i ? "," : "");
            zcq_kc_json_string(g[i].group);
            printf(",\"state\":");
            zcq_kc_json_string(rd_kafka_consumer_group_state_name(g[i].state));
            printf(",\"protocol_type\":");
            zcq_kc_json_string(protocol_type(g[i].simple));
            printf("}");
        }
        printf("]}\n");
        rc = 0;
        goto out;
    }
    if (table_add(&t, "GROUP", "STATE", "PROTOCOL-TYPE") < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const char *pt = protocol_type(g[i].simple);

        if (table_add(&t, g[i].group, rd_kafka_consumer_group_state_name(g[i].state),
                      pt[0] ? pt : NULL) < 0)
            goto oom;
    }
    table_print(&t, "");
    rc = 0;
    goto out;
oom:
    zcq_kc_error(kc->o, "out of memory");
out:
    table_free(&t);
    free(g);
    if (dev)
        rd_kafka_event_destroy(dev);
    rd_kafka_event_destroy(ev);
    return rc;
}

/* --- describe ----------------------------------------------------------------------------- */

/* One partition row of a described group. */
struct prow {
    const char *topic;
    int32_t partition;
    int64_t committed; /* < 0: none */
    int64_t end;       /* < 0: unknown (the topic is gone) */
    const char *owner; /* member id, or NULL */
};

static const rd_kafka_topic_partition_list_t *
member_parts(const rd_kafka_ConsumerGroupDescription_t *d, size_t m)
{
    const rd_kafka_MemberAssignment_t *as =
        rd_kafka_MemberDescription_assignment(rd_kafka_ConsumerGroupDescription_member(d, m));

    return as ? rd_kafka_MemberAssignment_partitions(as) : NULL;
}

static int by_partition(const void *x, const void *y)
{
    const struct prow *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);

    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

/* The rows of a group: its committed partitions (those of committed with an offset), then the
 * owned ones not among them, each with its end offset and owner, sorted. *out is the caller's to
 * free; -errno (message printed). */
static int partition_rows(struct zcq_kc *kc, const rd_kafka_ConsumerGroupDescription_t *d,
                          const rd_kafka_topic_partition_list_t *committed, struct prow **out,
                          size_t *nout)
{
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d),
           cap = (size_t)committed->cnt;
    struct prow *rows;
    size_t n = 0;

    for (size_t m = 0; m < members; m++) {
        const rd_kafka_topic_partition_list_t *p = member_parts(d, m);

        cap += p ? (size_t)p->cnt : 0;
    }
    rows = calloc(cap + 1, sizeof(*rows));
    if (!rows) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[i];

        if (tp->offset < 0)
            continue; /* asked about, never committed */
        rows[n++] = (struct prow){tp->topic, tp->partition, tp->offset, -1, NULL};
    }
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_topic_partition_list_t *p = member_parts(d, m);
        const char *id =
            rd_kafka_MemberDescription_consumer_id(rd_kafka_ConsumerGroupDescription_member(d, m));

        for (int i = 0; p && i < p->cnt; i++) {
            size_t k = 0;

            while (k < n && (rows[k].partition != p->elems[i].partition ||
                             strcmp(rows[k].topic, p->elems[i].topic) != 0))
                k++;
            if (k == n)
                rows[n++] = (struct prow){p->elems[i].topic, p->elems[i].partition, -1, -1, NULL};
            rows[k].owner = id;
        }
    }
    qsort(rows, n, sizeof(*rows), by_partition);
    for (size_t i = 0; i < n; i++) {
        int64_t lo;
        int rc = watermarks(kc, rows[i].topic, rows[i].partition, &lo, &rows[i].end, true);

        if (rc == -ENOENT)
            rows[i].end = -1;
        else if (rc < 0) {
            free(rows);
            return rc;
        }
    }
    *out = rows;
    *nout = n;
    return 0;
}

/* A member's partitions as "topic(0,1,2),other(3)", or NULL for none; the caller frees it. */
static char *assignment_text(const rd_kafka_topic_partition_list_t *p)
{
    rd_kafka_topic_partition_list_t *s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (!p || p->cnt == 0)
        return NULL;
    s = rd_kafka_topic_partition_list_copy(p);
    if (!s)
        return NULL;
    rd_kafka_topic_partition_list_sort(s, NULL, NULL);
    f = open_memstream(&buf, &len);
    if (f) {
        for (int i = 0; i < s->cnt; i++) {
            bool same = i > 0 && strcmp(s->elems[i].topic, s->elems[i - 1].topic) == 0;

            if (same)
                fprintf(f, ",%" PRId32, s->elems[i].partition);
            else
                fprintf(f, "%s%s(%" PRId32, i ? ")," : "", s->elems[i].topic,
                        s->elems[i].partition);
        }
        fputc(')', f);
        fclose(f);
    }
    rd_kafka_topic_partition_list_destroy(s);
    return buf;
}

static void coordinator_text(const rd_kafka_ConsumerGroupDescription_t *d, char *buf, size_t len)
{
    const rd_kafka_Node_t *c = rd_kafka_ConsumerGroupDescription_coordinator(d);

    if (c)
        snprintf(buf, len, "%d (%s:%u)", rd_kafka_Node_id(c), rd_kafka_Node_host(c),
                 (unsigned)rd_kafka_Node_port(c));
    else
        snprintf(buf, len, "-");
}

static int print_group_text(const rd_kafka_ConsumerGroupDescription_t *d, const struct prow *rows,
                            size_t nrows)
{
    const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    const char *pt = protocol_type(rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d));
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    struct table mt = {.ncols = 4}, ot = {.ncols = 6};
    char coord[300];
    int rc = -ENOMEM;

    coordinator_text(d, coord, sizeof(coord));
    printf("group: %s  state: %s  protocol-type: %s  protocol: %s  coordinator: %s\n",
           rd_kafka_ConsumerGroupDescription_group_id(d),
           rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)),
           pt[0] ? pt : "-", assignor && assignor[0] ? assignor : "-", coord);
    printf("members: %zu\n", members);
    if (members && table_add(&mt, "MEMBER-ID", "CLIENT-ID", "HOST", "PARTITIONS") < 0)
        goto out;
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        char *parts = assignment_text(member_parts(d, m));
        int r = table_add(&mt, rd_kafka_MemberDescription_consumer_id(md),
                          rd_kafka_MemberDescription_client_id(md),
                          rd_kafka_MemberDescription_host(md), parts);

        free(parts);
        if (r < 0)
            goto out;
    }
    table_print(&mt, "  ");
    printf("offsets: %zu\n", nrows);
    if (nrows && table_add(&ot, "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OWNER") < 0)
        goto out;
    for (size_t i = 0; i < nrows; i++) {
        const struct prow *r = &rows[i];
        char p[24], c[24], e[24], l[24];
        bool lag = r->committed >= 0 && r->end >= 0;

        if (table_add(&ot, r->topic, num(p, r->partition), num(c, r->committed), num(e, r->end),
                      num(l, lag ? r->end - r->committed : -1), r->owner) < 0)
            goto out;
    }
    table_print(&ot, "  ");
    rc = 0;
out:
    table_free(&mt);
    table_free(&ot);
    return rc;
}

static void print_group_json(const rd_kafka_ConsumerGroupDescription_t *d, const struct prow *rows,
                             size_t nrows)
{
    const rd_kafka_Node_t *c = rd_kafka_ConsumerGroupDescription_coordinator(d);
    const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);

    printf("{\"group\":");
    zcq_kc_json_string(rd_kafka_ConsumerGroupDescription_group_id(d));
    printf(",\"state\":");
    zcq_kc_json_string(
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)));
    printf(",\"protocol_type\":");
    zcq_kc_json_string(
        protocol_type(rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d)));
    printf(",\"protocol\":");
    zcq_kc_json_string(assignor ? assignor : "");
    printf(",\"coordinator\":");
    if (c) {
        printf("{\"id\":%d,\"host\":", rd_kafka_Node_id(c));
        zcq_kc_json_string(rd_kafka_Node_host(c));
        printf(",\"port\":%u}", (unsigned)rd_kafka_Node_port(c));
    } else {
        printf("null");
    }
    printf(",\"members\":[");
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *p = member_parts(d, m);

        printf("%s{\"member_id\":", m ? "," : "");
        zcq_kc_json_string(rd_kafka_MemberDescription_consumer_id(md));
        printf(",\"client_id\":");
        zcq_kc_json_string(rd_kafka_MemberDescription_client_id(md));
        printf(",\"host\":");
        zcq_kc_json_string(rd_kafka_MemberDescription_host(md));
        printf(",\"assignment\":[");
        for (int i = 0; p && i < p->cnt; i++) {
            printf("%s{\"topic\":", i ? "," : "");
            zcq_kc_json_string(p->elems[i].topic);
            printf(",\"partition\":%" PRId32 "}", p->elems[i].partition);
        }
        printf("]}");
    }
    printf("],\"offsets\":[");
    for (size_t i = 0; i < nrows; i++) {
        const struct prow *r = &rows[i];

        printf("%s{\"topic\":", i ? "," : "");
        zcq_kc_json_string(r->topic);
        printf(",\"partition\":%" PRId32 ",\"committed\":", r->partition);
        json_num(r->committed);
        printf(",\"end\":");
        json_num(r->end);
        printf(",\"lag\":");
        json_num(r->committed >= 0 && r->end >= 0 ? r->end - r->committed : -1);
        printf(",\"owner\":");
        json_str_or_null(r->owner);
        printf("}");
    }
    printf("]}");
}

/* Every partition of every topic the broker has, as a list the caller destroys; NULL on
 * failure (message printed). librdkafka 2.0.2 sends "every committed offset" (topics = null)
 * as an empty topic array, which brokers answer with nothing (fixed in librdkafka 2.3.0): to
 * find a group's committed partitions, describe asks for all of them. */
static rd_kafka_topic_partition_list_t *all_partitions(struct zcq_kc *kc)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t err;
    char why[512];
    int n = 0;

    err = rd_kafka_metadata(kc->rk, 1, NULL, &md, kc->o->timeout_ms);
    if (err) {
        zcq_kc_serve(kc);
        zcq_kc_error(kc->o, "metadata: %s", zcq_kc_strerr(kc, err, why, sizeof(why)));
        return NULL;
    }
    for (int t = 0; t < md->topic_cnt; t++)
        n += md->topics[t].err ? 0 : md->topics[t].partition_cnt;
    list = rd_kafka_topic_partition_list_new(n);
    if (!list) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];

        for (int p = 0; !mt->err && p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(list, mt->topic, mt->partitions[p].id);
    }
out:
    rd_kafka_metadata_destroy(md);
    return list;
}

/* Print one described group; all: every partition there is. 0, or -errno (message printed). */
static int describe_one(struct zcq_kc *kc, const struct groups_args *a,
                        const rd_kafka_ConsumerGroupDescription_t *d,
                        const rd_kafka_topic_partition_list_t *all, bool *first)
{
    const char *id = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_topic_partition_list_t *committed = NULL;
    struct prow *rows = NULL;
    size_t nrows = 0;
    int rc = -EIO;

    if (rd_kafka_ConsumerGroupDescription_error(d)) {
        say_error(kc, "describe", id, rd_kafka_ConsumerGroupDescription_error(d));
        return -EIO;
    }
    /* librdkafka refuses an empty list: no topics, nothing committed. */
    committed = all->cnt ? group_offsets(kc, id, all, false) : rd_kafka_topic_partition_list_new(0);
    if (!committed)
        goto out;
    rc = partition_rows(kc, d, committed, &rows, &nrows);
    if (rc < 0)
        goto out;
    /* Kafka describes a group it does not know as Dead, without an error. */
    if (rd_kafka_ConsumerGroupDescription_state(d) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD &&
        nrows == 0) {
        zcq_kc_error(kc->o, "group %s does not exist", id);
        rc = -ENOENT;
        goto out;
    }
    if (a->json) {
        if (!*first)
            putchar(',');
        print_group_json(d, rows, nrows);
    } else {
        if (!*first)
            putchar('\n');
        rc = print_group_text(d, rows, nrows);
        if (rc < 0)
            zcq_kc_error(kc->o, "out of memory");
    }
    *first = false;
out:
    free(rows);
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

static int do_describe(struct zcq_kc *kc, const struct groups_args *a)
{
    const rd_kafka_ConsumerGroupDescription_t **d;
    rd_kafka_topic_partition_list_t *all;
    rd_kafka_event_t *ev;
    size_t n = 0;
    bool first = true;
    int rc = 0;

    all = all_partitions(kc);
    if (!all)
        return -EIO;
    ev = describe_groups(kc, a->groups, (size_t)a->ngroups, &d, &n);
    if (!ev) {
        rd_kafka_topic_partition_list_destroy(all);
        return -EIO;
    }
    if (a->json)
        printf("{\"groups\":[");
    for (size_t i = 0; i < n; i++) {
        /* One group that cannot be described does not hide the others. */
        if (describe_one(kc, a, d[i], all, &first) < 0)
            rc = -EIO;
    }
    if (a->json)
        printf("]}\n");
    rd_kafka_event_destroy(ev);
    rd_kafka_topic_partition_list_destroy(all);
    return rc;
}

/* --- delete ------------------------------------------------------------------------------- */

struct delete_req {
    rd_kafka_DeleteGroup_t **dg;
    size_t n;
};

static void submit_delete(struct zcq_kc *kc, void *arg, rd_kafka_AdminOptions_t *ao,
                          rd_kafka_queue_t *q)
{
    struct delete_req *r = arg;

    rd_kafka_DeleteGroups(kc->rk, r->dg, r->n, ao, q);
}

static int do_delete(struct zcq_kc *kc, const struct groups_args *a)
{
    struct delete_req r = {calloc((size_t)a->ngroups, sizeof(*r.dg)), 0};
    const rd_kafka_group_result_t **gr;
    rd_kafka_event_t *ev = NULL;
    size_t n = 0;
    int rc = -EIO;

    if (!r.dg) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    for (; r.n < (size_t)a->ngroups; r.n++) {
        r.dg[r.n] = rd_kafka_DeleteGroup_new(a->groups[r.n]);
        if (!r.dg[r.n]) {
            zcq_kc_error(kc->o, "out of memory");
            goto out;
        }
    }
    ev = admin_call(kc, RD_KAFKA_ADMIN_OP_DELETEGROUPS, "delete", submit_delete, &r);
    if (!ev)
        goto out;
    gr = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    if (n != r.n) {
        zcq_kc_error(kc->o, "delete: %zu results in the answer for %zu groups", n, r.n);
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
        const char *name = rd_kafka_group_result_name(gr[i]);

        if (!e) {
            printf("deleted group %s\n", name);
        } else if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP) {
            zcq_kc_error(kc->o, "delete %s: %s (%s): it has active members; stop them first", name,
                         rd_kafka_error_string(e), rd_kafka_error_name(e));
            rc = -EIO;
        } else {
            say_error(kc, "delete", name, e);
            rc = -EIO;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteGroup_destroy_array(r.dg, r.n);
    free(r.dg);
    return rc;
}

/* --- reset-offsets ------------------------------------------------------------------------ */

/* Only a group with no members takes commits from outside it. 0, or -EBUSY / -EIO (message
 * printed). A group the broker does not know (Dead) is fine: the commit creates it. */
static int check_no_members(struct zcq_kc *kc, const char *group)
{
    const rd_kafka_ConsumerGroupDescription_t **d;
    size_t n = 0, members;
    rd_kafka_event_t *ev = describe_groups(kc, &group, 1, &d, &n);
    int rc = -EIO;

    if (!ev)
        return -EIO;
    if (n != 1) {
        zcq_kc_error(kc->o, "describe %s: %zu groups in the answer", group, n);
        goto out;
    }
    if (rd_kafka_ConsumerGroupDescription_error(d[0])) {
        say_error(kc, "describe", group, rd_kafka_ConsumerGroupDescription_error(d[0]));
        goto out;
    }
    members = rd_kafka_ConsumerGroupDescription_member_count(d[0]);
    if (members) {
        zcq_kc_error(
            kc->o,
            "reset-offsets %s: the group has %zu active member%s (state %s); stop its "
            "consumers first",
            group, members, members == 1 ? "" : "s",
            rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d[0])));
        rc = -EBUSY;
        goto out;
    }
    rc = 0;
out:
    rd_kafka_event_destroy(ev);
    return rc;
}

/* The new offset of every partition in list (set in place). 0 or -EIO (message printed). */
static int new_offsets(struct zcq_kc *kc, const struct groups_args *a,
                       rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *times = NULL;
    rd_kafka_resp_err_t err;
    char why[512];
    int rc = -EIO;

    if (a->to == TO_DATETIME) {
        times = rd_kafka_topic_partition_list_copy(list);
        if (!times) {
            zcq_kc_error(kc->o, "out of memory");
            return -ENOMEM;
        }
        for (int i = 0; i < times->cnt; i++)
            times->elems[i].offset = a->to_value;
        err = rd_kafka_offsets_for_times(kc->rk, times, kc->o->timeout_ms);
        if (err) {
            zcq_kc_serve(kc);
            zcq_kc_error(kc->o, "offsets of %s by time: %s", a->topic,
                         zcq_kc_strerr(kc, err, why, sizeof(why)));
            goto out;
        }
    }
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t lo, hi, want = a->to_value;

        if (watermarks(kc, tp->topic, tp->partition, &lo, &hi, false) < 0)
            goto out;
        switch (a->to) {
        case TO_EARLIEST:
            want = lo;
            break;
        case TO_LATEST:
            want = hi;
            break;
        case TO_DATETIME:
            if (times->elems[i].err) {
                char name[512];

                snprintf(name, sizeof(name), "%s/%" PRId32, tp->topic, tp->partition);
                say_err(kc, "offset by time of", name, times->elems[i].err);
                goto out;
            }
            /* No record that recent: past the last one, as Kafka's tool does. */
            want = times->elems[i].offset < 0 ? hi : times->elems[i].offset;
            break;
        default:
            break;
        }
        tp->offset = want < lo ? lo : want > hi ? hi : want;
    }
    rc = 0;
out:
    if (times)
        rd_kafka_topic_partition_list_destroy(times);
    return rc;
}

static int do_reset(struct zcq_kc *kc, const struct groups_args *a)
{
    const char *group = a->groups[0];
    rd_kafka_topic_partition_list_t *list = NULL, *old = NULL, *done = NULL;
    struct table t = {.ncols = 4};
    int parts = 0, rc;

    rc = check_no_members(kc, group);
    if (rc < 0)
        return rc;
    rc = zcq_kc_topic_partitions(kc, a->topic, &parts);
    if (rc < 0)
        return rc;
    if (a->partition >= parts) {
        zcq_kc_error(kc->o, "partition %d does not exist (topic %s has %d)", a->partition, a->topic,
                     parts);
        return -ENOENT;
    }
    rc = -EIO;
    list = rd_kafka_topic_partition_list_new(parts);
    if (!list)
        goto oom;
    for (int p = 0; p < parts; p++) {
        if (a->partition < 0 || p == a->partition)
            rd_kafka_topic_partition_list_add(list, a->topic, p);
    }
    old = group_offsets(kc, group, list, false);
    if (!old || new_offsets(kc, a, list) < 0)
        goto out;
    if (table_add(&t, "TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET") < 0)
        goto oom;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        const rd_kafka_topic_partition_t *o =
            rd_kafka_topic_partition_list_find(old, tp->topic, tp->partition);
        char p[24], from[24], to[24];

        if (table_add(&t, tp->topic, num(p, tp->partition), num(from, o ? o->offset : -1),
                      num(to, tp->offset)) < 0)
            goto oom;
    }
    table_print(&t, "");
    if (a->dry_run) {
        printf("dry run: nothing committed\n");
        rc = 0;
        goto out;
    }
    done = group_offsets(kc, group, list, true);
    if (done) {
        printf("committed %d offset%s for group %s\n", done->cnt, done->cnt == 1 ? "" : "s", group);
        rc = 0;
    }
    goto out;
oom:
    zcq_kc_error(kc->o, "out of memory");
    rc = -ENOMEM;
out:
    table_free(&t);
    if (done)
        rd_kafka_topic_partition_list_destroy(done);
    if (old)
        rd_kafka_topic_partition_list_destroy(old);
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* --- options ------------------------------------------------------------------------------ */

/* n decimal digits at *p, which moves past them only when all n are there. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* ms since 1970, or YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH[:]MM|-HH[:]MM]; without a zone the
 * local time zone applies, as in Kafka's tool. 0, or -EINVAL. */
static int parse_datetime(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, zone = 0, zh, zm = 0;
    bool utc = false;
    const char *p = s;
    long long v;
    time_t t;

    if (zcq_kc_parse_ll(s, 0, INT64_MAX, &v) == 0) {
        *out = v;
        return 0;
    }
    if (!digits(&p, 4, &y) || !lit(&p, '-') || !digits(&p, 2, &mo) || !lit(&p, '-') ||
        !digits(&p, 2, &d))
        return -EINVAL;
    if (lit(&p, 'T')) {
        if (!digits(&p, 2, &h) || !lit(&p, ':') || !digits(&p, 2, &mi))
            return -EINVAL;
        if (lit(&p, ':')) {
            if (!digits(&p, 2, &sec))
                return -EINVAL;
            if (lit(&p, '.')) {
                int scale = 100, dgt;

                if (!digits(&p, 1, &dgt))
                    return -EINVAL;
                do {
                    ms += dgt * scale;
                    scale /= 10;
                } while (digits(&p, 1, &dgt));
            }
        }
    }
    if (lit(&p, 'Z')) {
        utc = true;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;

        if (!digits(&p, 2, &zh) || (lit(&p, ':') ? !digits(&p, 2, &zm) : *p && !digits(&p, 2, &zm)))
            return -EINVAL;
        if (zh > 23 || zm > 59)
            return -EINVAL;
        utc = true;
        zone = sign * (zh * 60 + zm);
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    t = utc ? timegm(&tm) : mktime(&tm);
    /* Both normalise the fields: a day the month does not have shows as a changed date. */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -EINVAL;
    t -= (time_t)zone * 60;
    if (t < 0)
        return -EINVAL;
    *out = (int64_t)t * 1000 + ms;
    return 0;
}

static const struct {
    const char *name;
    enum sub sub;
    int min_groups, max_groups; /* positional GROUP arguments */
    int (*run)(struct zcq_kc *kc, const struct groups_args *a);
} subs[] = {
    {"list", SUB_LIST, 0, 0, do_list},
    {"describe", SUB_DESCRIBE, 1, 1 << 20, do_describe},
    {"delete", SUB_DELETE, 1, 1 << 20, do_delete},
    {"reset-offsets", SUB_RESET, 1, 1, do_reset},
};

static int set_to(const struct zcq_kc_opts *o, struct groups_args *a, enum reset_to to)
{
    if (a->to != TO_NONE && a->to != to)
        return zcq_kc_usage_error(
            o, "choose one of --to-earliest, --to-latest, --to-offset and --to-datetime");
    a->to = to;
    return -1;
}

/* The positional GROUP arguments: count, empty names, duplicates (which librdkafka refuses
 * whole). Returns -1 to go on, else the exit status. */
static int check_groups(const struct zcq_kc_opts *o, const char *sub, int min, int max,
                        const struct groups_args *a)
{
    if (a->ngroups < min)
        return zcq_kc_usage_error(o, "groups %s needs %s", sub,
                                  max == 1 ? "a GROUP" : "at least one GROUP");
    if (a->ngroups > max)
        return zcq_kc_usage_error(o, "unexpected argument '%s'", a->groups[max]);
    for (int i = 0; i < a->ngroups; i++) {
        if (!a->groups[i][0])
            return zcq_kc_usage_error(o, "a group name is empty");
        for (int j = 0; j < i; j++) {
            if (strcmp(a->groups[i], a->groups[j]) == 0)
                return zcq_kc_usage_error(o, "group %s is named twice", a->groups[i]);
        }
    }
    return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct zcq_kc_opts *o, struct groups_args *a)
{
    static const struct option longopts[] = {
        ZCQ_KC_LONGOPTS,
        {"json", no_argument, NULL, OPT_JSON},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"to-earliest", no_argument, NULL, OPT_TO_EARLIEST},
        {"to-latest", no_argument, NULL, OPT_TO_LATEST},
        {"to-offset", required_argument, NULL, OPT_TO_OFFSET},
        {"to-datetime", required_argument, NULL, OPT_TO_DATETIME},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {NULL, 0, NULL, 0},
    };
    const char *only_reset = NULL, *sub_name = NULL;
    int min = 0, max = 0, c, r;
    long long v;

    if (argc < 2)
        return zcq_kc_usage_error(
            o, "which one: list, describe, delete or reset-offsets? (try --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            a->sub = subs[i].sub;
            a->run = subs[i].run;
            sub_name = subs[i].name;
            min = subs[i].min_groups;
            max = subs[i].max_groups;
        }
    }
    if (!sub_name)
        return zcq_kc_usage_error(
            o, "unknown subcommand '%s' (list, describe, delete, reset-offsets)", argv[1]);
    argc--;
    argv++;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ZCQ_KC_SHORTOPTS "t:p:", longopts, NULL)) != -1) {
        r = zcq_kc_opt(o, c, optarg);
        if (r < 0)
            return ZCQ_KC_EXIT_USAGE;
        if (r > 0)
            continue;
        r = -1;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case OPT_JSON:
            if (a->sub != SUB_LIST && a->sub != SUB_DESCRIBE)
                return zcq_kc_usage_error(o, "--json applies to groups list and describe only");
            a->json = true;
            break;
        case 't':
            if (!optarg[0])
                return zcq_kc_usage_error(o, "the topic name is empty");
            a->topic = optarg;
            only_reset = "--topic";
            break;
        case 'p':
            if (zcq_kc_parse_ll(optarg, 0, INT32_MAX, &v) < 0)
                return zcq_kc_usage_error(o, "--partition needs a number from 0, not '%s'", optarg);
            a->partition = (int)v;
            only_reset = "--partition";
            break;
        case OPT_TO_EARLIEST:
            r = set_to(o, a, TO_EARLIEST);
            only_reset = "--to-earliest";
            break;
        case OPT_TO_LATEST:
            r = set_to(o, a, TO_LATEST);
            only_reset = "--to-latest";
            break;
        case OPT_TO_OFFSET:
            if (zcq_kc_parse_ll(optarg, 0, INT64_MAX, &v) < 0)
                return zcq_kc_usage_error(o, "--to-offset needs an offset from 0, not '%s'",
                                          optarg);
            r = set_to(o, a, TO_OFFSET);
            a->to_value = v;
            only_reset = "--to-offset";
            break;
        case OPT_TO_DATETIME:
            if (parse_datetime(optarg, &a->to_value) < 0)
                return zcq_kc_usage_error(o,
                                          "--to-datetime needs ms since 1970 or "
                                          "YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM], not '%s'",
                                          optarg);
            r = set_to(o, a, TO_DATETIME);
            only_reset = "--to-datetime";
            break;
        case OPT_DRY_RUN:
            a->dry_run = true;
            only_reset = "--dry-run";
            break;
        default:
            return zcq_kc_bad_option(o, c, argv);
        }
        if (r >= 0)
            return r;
    }
    if (only_reset && a->sub != SUB_RESET)
        return zcq_kc_usage_error(o, "%s applies to groups reset-offsets only", only_reset);
    a->groups = (const char **)argv + optind;
    a->ngroups = argc - optind;
    r = check_groups(o, sub_name, min, max, a);
    if (r >= 0)
        return r;
    if (a->sub == SUB_RESET && !a->topic)
        return zcq_kc_usage_error(o, "groups reset-offsets needs --topic");
    if (a->sub == SUB_RESET && a->to == TO_NONE)
        return zcq_kc_usage_error(o, "groups reset-offsets needs one of --to-earliest, "
                                     "--to-latest, --to-offset N, --to-datetime TIME");
    return -1;
}

int zcq_cmd_groups(int argc, char **argv)
{
    struct groups_args a = {.partition = -1};
    struct zcq_kc_opts o;
    struct zcq_kc kc = {0};
    int rc;

    zcq_kc_opts_init(&o, "groups");
    rc = parse(argc, argv, &o, &a);
    if (rc >= 0)
        return rc;
    /* reset-offsets asks for the topic's metadata: the admin handle never creates it. */
    rc = zcq_kc_admin_open(&kc, &o);
    if (rc == 0)
        rc = a.run(&kc, &a);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        zcq_kc_error(&o, "write to stdout: %s", strerror(errno ? errno : EIO));
        rc = -EIO;
    }
    zcq_kc_destroy(&kc);
    return zcq_kc_exit_status(rc);
}
