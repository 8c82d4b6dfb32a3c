/*
 * The topic registry; see topics.h.
 *
 * Locks: meta_mu serialises the changes (create, delete, grow) and the registry file writes,
 * which fsync; the rwlock guards only the in-memory array, and is held for lookups and for the
 * moment a change is published, never across I/O. So a topic being created (its logs opening,
 * the registry syncing) never blocks a produce or fetch lookup of another topic.
 *
 * Many partitions: opening, creating and closing logs is mostly waiting for fsyncs (a new log
 * syncs its directory, a clean open removes its marker and syncs the directory, a clean close
 * syncs five files), so one partition after another, 10,000 of them took 3 s to start and 22 s
 * to stop here. These run on up to IO_THREADS threads at once (each log is independent, and the
 * filesystem's journal commits concurrent fsyncs together), as Kafka's
 * num.recovery.threads.per.data.dir does: 0.6 s and 2-4 s (32 threads did better than 16, 64
 * no better than 32, on this machine's virtual disk).
 */
#include "broker/topics.h"
#include "io/say.h"
#include "store/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REGISTRY "zcq-topics"

/* Threads that open, create and close partition logs at once (see the comment at the top). */
#define IO_THREADS 32
/* Fewer partitions than this per thread are not worth a thread. */
#define IO_PER_THREAD 16

struct zcq_topic {
    char name[ZCQ_TOPIC_NAME_MAX + 1];
    int32_t n;
    struct zcq_partition **parts;
    int nconfig;
    struct zcq_topic_config config[ZCQ_TOPIC_MAX_CONFIGS];
    struct zcq_log_config lcfg;
    atomic_bool deleted;
};

struct zcq_topics {
    pthread_rwlock_t lock;
    pthread_mutex_t meta_mu;
    char *dir;
    int dirfd;
    struct zcq_log_config defaults;
    struct zcq_topic **topics; /* sorted by name */
    int n, cap;
    int32_t max_parts; /* partitions a topic may have (create and grow) */
    /* zcq_topics_maybe_flush(): the log flush epoch at the start of the last round, and whether
     * a log was still pending after it (a round is skipped when neither says go). */
    _Atomic uint64_t flush_epoch;
    atomic_bool flush_pending;
};

const char *zcq_topics_strerror(int err)
{
    switch (err) {
    case ZCQ_TOPIC_EUNKNOWN:
        return "unknown topic or partition";
    case ZCQ_TOPIC_EEXISTS:
        return "topic already exists";
    case ZCQ_TOPIC_EINVALID:
        return "invalid topic name";
    case ZCQ_TOPIC_EPARTITIONS:
        return "invalid number of partitions";
    case ZCQ_TOPIC_ECONFIG:
        return "invalid topic configuration";
    default:
        return err <= -30000 ? zcq_log_strerror(err) : strerror(-err);
    }
}

int zcq_topic_name_check(const char *name, size_t len)
{
    if (len == 0 || len > ZCQ_TOPIC_NAME_MAX || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return ZCQ_TOPIC_EINVALID;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return ZCQ_TOPIC_EINVALID;
    }
    return 0;
}

/* Kafka topic settings zcq accepts without acting on, with the one value that is true of zcq. */
static const struct {
    const char *key, *only;
} inert[] = {
    {"cleanup.policy", "delete"},
    {"compression.type", "producer"},
    {"min.insync.replicas", "1"},
    {"message.timestamp.type", "CreateTime"},
    {"unclean.leader.election.enable", NULL},
    {"min.compaction.lag.ms", NULL},
    {"message.downconversion.enable", NULL},
};

/* Overlay one setting on c. Returns 0 or ZCQ_TOPIC_ECONFIG with why. */
static int apply_config(struct zcq_log_config *c, const struct zcq_topic_config *kv, char *why,
                        size_t why_len)
{
    for (size_t i = 0; i < sizeof(inert) / sizeof(inert[0]); i++) {
        if (strcmp(kv->key, inert[i].key) == 0) {
            if (inert[i].only && strcmp(kv->value, inert[i].only) != 0) {
                snprintf(why, why_len, "%s=%s is not supported (only %s)", kv->key, kv->value,
                         inert[i].only);
                return ZCQ_TOPIC_ECONFIG;
            }
            return 0;
        }
    }
    /* Values are stored space-separated on one line. */
    if (strpbrk(kv->value, " \t\r\n") || !kv->key[0] || strpbrk(kv->key, " \t\r\n=")) {
        snprintf(why, why_len, "setting '%s' has a malformed key or value", kv->key);
        return ZCQ_TOPIC_ECONFIG;
    }
    if (zcq_log_config_set(c, kv->key, kv->value, why, why_len) < 0)
        return ZCQ_TOPIC_ECONFIG;
    return 0;
}

static int build_config(const struct zcq_log_config *defaults, const struct zcq_topic_config *cfg,
                        int ncfg, struct zcq_log_config *out, char *why, size_t why_len)
{
    *out = *defaults;
    if (ncfg < 0 || ncfg > ZCQ_TOPIC_MAX_CONFIGS) {
        snprintf(why, why_len, "at most %d settings per topic", ZCQ_TOPIC_MAX_CONFIGS);
        return ZCQ_TOPIC_ECONFIG;
    }
    for (int i = 0; i < ncfg; i++) {
        int rc = apply_config(out, &cfg[i], why, why_len);

        if (rc < 0)
            return rc;
    }
    if (zcq_log_config_check(out, why, why_len) < 0)
        return ZCQ_TOPIC_ECONFIG;
    return 0;
}

static void part_dir(const struct zcq_topics *t, const char *name, int32_t p, char *out, size_t len)
{
    snprintf(out, len, "%s/%s-%" PRId32, t->dir, name, p);
}

/* --- Many logs at once ------------------------------------------------------------------- */

/* Work shared by the threads of run_parallel(): items 0..n are taken in order from next; the
 * first failure (in item order, so the message is deterministic) is kept with its reason. */
struct par {
    int n;
    int (*fn)(void *arg, int i, char *why, size_t why_len);
    void *arg;
    atomic_int next;
    atomic_bool stop; /* a failure: items not started yet are skipped */
    bool keep_going;  /* ...unless every item must run (closing) */
    pthread_mutex_t mu;
    int rc, rc_item;
    char why[512];
};

static void *par_main(void *arg)
{
    struct par *w = arg;
    char why[512];

    for (;;) {
        int i = atomic_fetch_add(&w->next, 1), rc;

        if (i >= w->n || (!w->keep_going && atomic_load(&w->stop)))
            break;
        why[0] = '\0';
        rc = w->fn(w->arg, i, why, sizeof(why));
        if (rc < 0) {
            pthread_mutex_lock(&w->mu);
            if (w->rc == 0 || i < w->rc_item) {
                w->rc = rc;
                w->rc_item = i;
                snprintf(w->why, sizeof(w->why), "%s", why);
            }
            pthread_mutex_unlock(&w->mu);
            atomic_store(&w->stop, true);
        }
    }
    return NULL;
}

/* Run fn(arg, i, why) for every i in [0, n) on up to IO_THREADS threads (the calling one among
 * them), and return the first error with its reason in why (0 if none). Without keep_going,
 * items not yet started when one fails are skipped (fn must leave them undone, harmlessly). */
static int run_parallel(int n, int (*fn)(void *arg, int i, char *why, size_t why_len), void *arg,
                        bool keep_going, char *why, size_t why_len)
{
    struct par w = {.n = n, .fn = fn, .arg = arg, .keep_going = keep_going};
    pthread_t th[IO_THREADS - 1];
    int nth = n / IO_PER_THREAD, started = 0;

    if (nth > IO_THREADS)
        nth = IO_THREADS;
    atomic_init(&w.next, 0);
    atomic_init(&w.stop, false);
    pthread_mutex_init(&w.mu, NULL);
    /* A thread that cannot start leaves its share to the others (the calling thread at least). */
    for (int k = 1; k < nth; k++) {
        if (pthread_create(&th[started], NULL, par_main, &w) == 0)
            started++;
    }
    par_main(&w);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&w.mu);
    if (w.rc < 0 && why)
        snprintf(why, why_len, "%s", w.why);
    return w.rc;
}

/* Remove a partition directory and the files in it (no subdirectories). */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d) {
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(path);
}

static void partition_free(struct zcq_topics *t, struct zcq_partition *p, bool remove)
{
    char path[4200];

    if (!p)
        return;
    pthread_mutex_destroy(&p->wmu);
    if (remove) {
        zcq_log_abandon(p->log);
        part_dir(t, p->topic->name, p->index, path, sizeof(path));
        remove_dir(path);
    } else {
        (void)zcq_log_close(p->log);
    }
    free(p);
}

/* The topic struct outlives the registry entry while partitions hold it; the last partition
 * reference of a deleted topic frees both. */
static void topic_free(struct zcq_topic *tp)
{
    free(tp->parts);
    free(tp);
}

void zcq_partition_put(struct zcq_topics *t, struct zcq_partition *p)
{
    struct zcq_topic *tp = p->topic;

    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* Only a deleted topic's partitions reach zero: the registry holds one reference. */
    partition_free(t, p, true);
    pthread_mutex_lock(&t->meta_mu);
    {
        bool last = true;

        for (int32_t i = 0; i < tp->n; i++) {
            if (tp->parts[i] == p)
                tp->parts[i] = NULL;
            else if (tp->parts[i])
                last = false;
        }
        if (last) {
            pthread_mutex_unlock(&t->meta_mu);
            topic_free(tp);
            return;
        }
    }
    pthread_mutex_unlock(&t->meta_mu);
}

static int open_partition(struct zcq_topics *t, struct zcq_topic *tp, int32_t i, char *why,
                          size_t why_len)
{
    struct zcq_partition *p = calloc(1, sizeof(*p));
    struct zcq_log_open_info info;
    char path[4200];
    int rc;

    if (!p)
        return -ENOMEM;
    part_dir(t, tp->name, i, path, sizeof(path));
    rc = zcq_log_open(&p->log, path, &tp->lcfg, &info);
    if (rc < 0) {
        snprintf(why, why_len, "partition %s-%" PRId32 ": %s", tp->name, i, info.why);
        free(p);
        return rc;
    }
    if (!info.clean && (info.scanned_bytes || info.truncated_bytes || info.segments > 1))
        zcq_say(ZCQ_INFO,
                "partition %s-%" PRId32 " recovered after an unclean shutdown: %d segment(s), "
                "%" PRId64 " bytes checked, %" PRId64 " bytes of torn tail cut, %d segment(s) "
                "dropped, %d index(es) rebuilt",
                tp->name, i, info.segments, info.scanned_bytes, info.truncated_bytes,
                info.segments_deleted, info.indexes_rebuilt);
    p->index = i;
    p->refs = 1;
    p->topic = tp;
    pthread_mutex_init(&p->wmu, NULL);
    tp->parts[i] = p;
    return 0;
}

/* run_parallel() work: open partitions first + i of topic tp (a create or a grow). */
struct open_range {
    struct zcq_topics *t;
    struct zcq_topic *tp;
    int32_t first;
};

static int open_range_one(void *arg, int i, char *why, size_t why_len)
{
    struct open_range *r = arg;

    return open_partition(r->t, r->tp, r->first + i, why, why_len);
}

/* run_parallel() work: open every partition of the registry at start-up. */
struct open_all {
    struct zcq_topics *t;
    struct zcq_topic **tp; /* item i is partition part[i] of tp[i] */
    int32_t *part;
};

static int open_all_one(void *arg, int i, char *why, size_t why_len)
{
    struct open_all *a = arg;

    return open_partition(a->t, a->tp[i], a->part[i], why, why_len);
}

void zcq_partition_ref(struct zcq_partition *p)
{
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
}

const char *zcq_partition_topic(const struct zcq_partition *p)
{
    return p->topic->name;
}

void zcq_partition_watch(struct zcq_partition *p, struct zcq_pwatch *w)
{
    pthread_mutex_lock(&p->wmu);
    w->p = p;
    w->prev = NULL;
    w->next = p->watchers;
    if (p->watchers)
        p->watchers->prev = w;
    p->watchers = w;
    __atomic_add_fetch(&p->nwatch, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&p->wmu);
}

void zcq_partition_unwatch(struct zcq_pwatch *w)
{
    struct zcq_partition *p = w->p;

    if (!p)
        return;
    pthread_mutex_lock(&p->wmu);
    if (w->prev)
        w->prev->next = w->next;
    else
        p->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    __atomic_sub_fetch(&p->nwatch, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&p->wmu);
    w->p = NULL;
}

void zcq_partition_notify(struct zcq_partition *p)
{
    if (__atomic_load_n(&p->nwatch, __ATOMIC_ACQUIRE) == 0)
        return;
    pthread_mutex_lock(&p->wmu);
    for (struct zcq_pwatch *w = p->watchers; w; w = w->next)
        w->cb(w);
    pthread_mutex_unlock(&p->wmu);
}

/* Write the registry: every topic in `list` (n of them), plus `extra` if not NULL, minus
 * `skip`. Atomic: tmp, fsync, rename, fsync the directory. Caller holds meta_mu. */
static int write_registry(struct zcq_topics *t, struct zcq_topic *extra, struct zcq_topic *skip)
{
    char tmp[4200], *body = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&body, &len);
    int fd = -1, rc = 0;
    size_t done = 0;

    if (!m)
        return -ENOMEM;
    fprintf(m, "zcq-topics 1\n");
    pthread_rwlock_rdlock(&t->lock);
    for (int i = 0; i <= t->n; i++) {
        struct zcq_topic *tp = i < t->n ? t->topics[i] : extra;

        if (!tp || tp == skip)
            continue;
        fprintf(m, "topic %s %" PRId32, tp->name, tp->n);
        for (int k = 0; k < tp->nconfig; k++)
            fprintf(m, " %s=%s", tp->config[k].key, tp->config[k].value);
        fputc('\n', m);
    }
    pthread_rwlock_unlock(&t->lock);
    if (fclose(m) != 0) {
        free(body);
        return -ENOMEM;
    }
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", t->dir, REGISTRY);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    {
        char crc[32];
        int n = snprintf(crc, sizeof(crc), "crc %08" PRIx32 "\n", zcq_crc32c(0, body, len));

        while (done < len + (size_t)n && rc == 0) {
            const char *src = done < len ? body + done : crc + (done - len);
            size_t left = done < len ? len - done : len + (size_t)n - done;
            ssize_t w = write(fd, src, left);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                rc = w < 0 ? -errno : -EIO;
            else
                done += (size_t)w;
        }
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0) {
        char final[4200];

        snprintf(final, sizeof(final), "%s/%s", t->dir, REGISTRY);
        if (rename(tmp, final) < 0)
            rc = -errno;
    }
out:
    if (rc == 0 && fsync(t->dirfd) < 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", t->dir, REGISTRY);
        unlink(tmp);
    }
    free(body);
    return rc;
}

/* Index of name in the sorted array, or -(insertion point) - 1. Caller holds the lock. */
static int find(const struct zcq_topics *t, const char *name, size_t len)
{
    int lo = 0, hi = t->n - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *m = t->topics[mid]->name;
        int c = strncmp(m, name, len);

        if (c == 0 && m[len] != '\0')
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

static int insert(struct zcq_topics *t, struct zcq_topic *tp)
{
    int at;

    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        struct zcq_topic **n = realloc(t->topics, sizeof(*n) * (size_t)cap);

        if (!n)
            return -ENOMEM;
        t->topics = n;
        t->cap = cap;
    }
    at = -find(t, tp->name, strlen(tp->name)) - 1;
    memmove(t->topics + at + 1, t->topics + at, sizeof(*t->topics) * (size_t)(t->n - at));
    t->topics[at] = tp;
    t->n++;
    return 0;
}

/* Parse one registry line "topic NAME N k=v ..." into a new topic (not opened). */
static int parse_line(struct zcq_topics *t, char *line, struct zcq_topic **out, char *why,
                      size_t why_len)
{
    struct zcq_topic *tp = calloc(1, sizeof(*tp));
    char *save = NULL, *tok;
    long long n;
    int rc;

    if (!tp)
        return -ENOMEM;
    tok = strtok_r(line, " ", &save);
    if (!tok || strcmp(tok, "topic") != 0)
        goto bad;
    tok = strtok_r(NULL, " ", &save);
    if (!tok || zcq_topic_name_check(tok, strlen(tok)) < 0)
        goto bad;
    snprintf(tp->name, sizeof(tp->name), "%s", tok);
    tok = strtok_r(NULL, " ", &save);
    if (!tok)
        goto bad;
    n = strtoll(tok, NULL, 10);
    if (n < 1 || n > ZCQ_TOPIC_MAX_PARTITIONS)
        goto bad;
    tp->n = (int32_t)n;
    while ((tok = strtok_r(NULL, " ", &save)) && tp->nconfig < ZCQ_TOPIC_MAX_CONFIGS) {
        char *eq = strchr(tok, '=');

        if (!eq)
            goto bad;
        *eq = '\0';
        snprintf(tp->config[tp->nconfig].key, sizeof(tp->config[0].key), "%s", tok);
        snprintf(tp->config[tp->nconfig].value, sizeof(tp->config[0].value), "%s", eq + 1);
        tp->nconfig++;
    }
    rc = build_config(&t->defaults, tp->config, tp->nconfig, &tp->lcfg, why, why_len);
    if (rc < 0) {
        free(tp);
        return rc;
    }
    tp->parts = calloc((size_t)tp->n, sizeof(*tp->parts));
    if (!tp->parts) {
        free(tp);
        return -ENOMEM;
    }
    *out = tp;
    return 0;
bad:
    snprintf(why, why_len, "malformed line in %s/%s", t->dir, REGISTRY);
    free(tp);
    return -EBADMSG;
}

static int load_registry(struct zcq_topics *t, char *why, size_t why_len)
{
    char path[4200], *buf = NULL, *line, *save = NULL, *crc_line;
    FILE *f;
    long size;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", t->dir, REGISTRY);
    f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
        !(buf = malloc((size_t)size + 1)) || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        snprintf(why, why_len, "cannot read %s", path);
        return -EIO;
    }
    fclose(f);
    buf[size] = '\0';
    /* The last line is "crc XXXXXXXX" over everything before it. */
    crc_line = size > 0 ? strstr(buf, "\ncrc ") : NULL;
    if (!crc_line || strncmp(buf, "zcq-topics 1\n", 13) != 0 ||
        strtoul(crc_line + 5, NULL, 16) != zcq_crc32c(0, buf, (size_t)(crc_line + 1 - buf))) {
        snprintf(why, why_len, "%s is damaged (bad header or CRC); refusing to guess topics", path);
        free(buf);
        return -EBADMSG;
    }
    crc_line[1] = '\0';
    for (line = strtok_r(buf + 13, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        struct zcq_topic *tp;

        rc = parse_line(t, line, &tp, why, why_len);
        if (rc == 0) {
            rc = insert(t, tp);
            if (rc < 0)
                topic_free(tp);
        }
    }
    free(buf);
    return rc;
}

/* Remove partition directories the registry does not name (a create or delete that crashed
 * half way). Only names of the form <valid topic>-<digits> are touched. */
static void sweep(struct zcq_topics *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char *dash = strrchr(e->d_name, '-'), *end;
        long long p;
        int at;

        if (!dash || dash == e->d_name || !dash[1])
            continue;
        p = strtoll(dash + 1, &end, 10);
        if (*end || p < 0 || zcq_topic_name_check(e->d_name, (size_t)(dash - e->d_name)) < 0)
            continue;
        at = find(t, e->d_name, (size_t)(dash - e->d_name));
        if (at < 0 || p >= t->topics[at]->n) {
            char path[4200];

            snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
            remove_dir(path);
        }
    }
    closedir(d);
}

long zcq_topics_count(const char *data_dir)
{
    char path[4200], line[8192]; /* longer than a line can be (32 settings) */
    long total = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", data_dir, REGISTRY);
    f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    /* "topic NAME N k=v ..." */
    while (fgets(line, sizeof(line), f)) {
        char name[ZCQ_TOPIC_NAME_MAX + 1];
        long n;

        if (sscanf(line, "topic %249s %ld", name, &n) == 2 && n > 0 &&
            n <= ZCQ_TOPIC_MAX_PARTITIONS)
            total += n;
    }
    fclose(f);
    return total;
}

int zcq_topics_open(struct zcq_topics **out, const char *data_dir,
                    const struct zcq_log_config *defaults, char *why, size_t why_len)
{
    struct zcq_topics *t = calloc(1, sizeof(*t));
    int rc;

    *out = NULL;
    why[0] = '\0';
    if (!t)
        return -ENOMEM;
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->meta_mu, NULL);
    t->defaults = *defaults;
    t->max_parts = ZCQ_TOPIC_MAX_PARTITIONS;
    t->dirfd = -1;
    /* The first round runs: logs opened after a crash may hold unsynced rolls. */
    atomic_init(&t->flush_epoch, zcq_log_flush_epoch() - 1);
    atomic_init(&t->flush_pending, true);
    t->dir = strdup(data_dir);
    if (!t->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(why, why_len, "create %s: %s", data_dir, strerror(errno));
        goto fail;
    }
    t->dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0) {
        rc = -errno;
        snprintf(why, why_len, "open %s: %s", data_dir, strerror(errno));
        goto fail;
    }
    rc = load_registry(t, why, why_len);
    if (rc < 0)
        goto fail;
    sweep(t);
    {
        struct open_all a = {.t = t};
        int total = 0, k = 0;

        for (int i = 0; i < t->n; i++)
            total += t->topics[i]->n; /* at most ZCQ_TOPIC_MAX_PARTITIONS per registry line */
        a.tp = malloc(sizeof(*a.tp) * (size_t)(total + 1));
        a.part = malloc(sizeof(*a.part) * (size_t)(total + 1));
        if (!a.tp || !a.part) {
            free(a.tp);
            free(a.part);
            rc = -ENOMEM;
            goto fail;
        }
        for (int i = 0; i < t->n; i++) {
            for (int32_t p = 0; p < t->topics[i]->n; p++, k++) {
                a.tp[k] = t->topics[i];
                a.part[k] = p;
            }
        }
        rc = run_parallel(total, open_all_one, &a, false, why, why_len);
        free(a.tp);
        free(a.part);
        if (rc < 0)
            goto fail;
    }
    *out = t;
    return 0;
fail:
    if (!why[0])
        snprintf(why, why_len, "%s", strerror(-rc));
    zcq_topics_close(t);
    return rc;
}

static int close_one(void *arg, int i, char *why, size_t why_len)
{
    struct zcq_partition **all = arg;

    (void)why;
    (void)why_len;
    return zcq_log_close(all[i]->log);
}

int zcq_topics_close(struct zcq_topics *t)
{
    struct zcq_partition **all;
    int rc = 0, total = 0, n = 0;

    if (!t)
        return 0;
    for (int i = 0; i < t->n; i++)
        total += t->topics[i]->n;
    all = malloc(sizeof(*all) * (size_t)(total + 1));
    for (int i = 0; i < t->n; i++) {
        struct zcq_topic *tp = t->topics[i];

        for (int32_t p = 0; p < tp->n; p++) {
            if (!tp->parts[p])
                continue;
            if (all) {
                all[n++] = tp->parts[p];
            } else {
                /* No memory for the list: one after another. */
                int r = zcq_log_close(tp->parts[p]->log);

                if (r < 0 && rc == 0)
                    rc = r;
                pthread_mutex_destroy(&tp->parts[p]->wmu);
                free(tp->parts[p]);
            }
        }
    }
    if (all) {
        /* Every log is closed whatever the others do: keep_going. */
        rc = run_parallel(n, close_one, all, true, NULL, 0);
        for (int i = 0; i < n; i++) {
            pthread_mutex_destroy(&all[i]->wmu);
            free(all[i]);
        }
        free(all);
    }
    for (int i = 0; i < t->n; i++)
        topic_free(t->topics[i]);
    free(t->topics);
    if (t->dirfd >= 0)
        close(t->dirfd);
    free(t->dir);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->meta_mu);
    free(t);
    return rc;
}

int zcq_topics_create(struct zcq_topics *t, const char *name, int32_t n,
                      const struct zcq_topic_config *cfg, int ncfg, int validate_only, char *why,
                      size_t why_len)
{
    struct zcq_topic *tp;
    int rc, at;

    why[0] = '\0';
    if (zcq_topic_name_check(name, strlen(name)) < 0) {
        snprintf(why, why_len, "'%s' is not a valid topic name (1-249 of [a-zA-Z0-9._-])", name);
        return ZCQ_TOPIC_EINVALID;
    }
    if (n < 1 || n > t->max_parts) {
        snprintf(why, why_len, "partitions must be 1..%d", t->max_parts);
        return ZCQ_TOPIC_EPARTITIONS;
    }
    tp = calloc(1, sizeof(*tp));
    if (!tp)
        return -ENOMEM;
    snprintf(tp->name, sizeof(tp->name), "%s", name);
    tp->n = n;
    rc = build_config(&t->defaults, cfg, ncfg, &tp->lcfg, why, why_len);
    if (rc < 0) {
        free(tp);
        return rc;
    }
    tp->nconfig = ncfg;
    if (ncfg)
        memcpy(tp->config, cfg, sizeof(*cfg) * (size_t)ncfg);
    tp->parts = calloc((size_t)n, sizeof(*tp->parts));
    if (!tp->parts) {
        free(tp);
        return -ENOMEM;
    }

    pthread_mutex_lock(&t->meta_mu);
    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, strlen(name));
    pthread_rwlock_unlock(&t->lock);
    if (at >= 0) {
        snprintf(why, why_len, "topic '%s' already exists", name);
        rc = ZCQ_TOPIC_EEXISTS;
        goto fail;
    }
    if (validate_only) {
        rc = 0;
        goto fail;
    }
    {
        struct open_range r = {.t = t, .tp = tp, .first = 0};

        rc = run_parallel(n, open_range_one, &r, false, why, why_len);
        if (rc < 0)
            goto fail;
    }
    rc = write_registry(t, tp, NULL);
    if (rc < 0) {
        snprintf(why, why_len, "write %s/%s: %s", t->dir, REGISTRY, strerror(-rc));
        goto fail;
    }
    pthread_rwlock_wrlock(&t->lock);
    rc = insert(t, tp);
    pthread_rwlock_unlock(&t->lock);
    if (rc < 0)
        goto fail;
    pthread_mutex_unlock(&t->meta_mu);
    return 0;
fail:
    for (int32_t i = 0; i < n; i++)
        partition_free(t, tp->parts[i], true);
    pthread_mutex_unlock(&t->meta_mu);
    topic_free(tp);
    return rc;
}

int zcq_topics_delete(struct zcq_topics *t, const char *name)
{
    struct zcq_topic *tp;
    int rc, at;

    pthread_mutex_lock(&t->meta_mu);
    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, strlen(name));
    tp = at >= 0 ? t->topics[at] : NULL;
    pthread_rwlock_unlock(&t->lock);
    if (!tp) {
        pthread_mutex_unlock(&t->meta_mu);
        return ZCQ_TOPIC_EUNKNOWN;
    }
    rc = write_registry(t, NULL, tp);
    if (rc < 0) {
        pthread_mutex_unlock(&t->meta_mu);
        return rc;
    }
    pthread_rwlock_wrlock(&t->lock);
    at = find(t, name, strlen(name));
    memmove(t->topics + at, t->topics + at + 1, sizeof(*t->topics) * (size_t)(t->n - at - 1));
    t->n--;
    pthread_rwlock_unlock(&t->lock);
    atomic_store(&tp->deleted, true);
    pthread_mutex_unlock(&t->meta_mu);
    /* Drop the registry's references; readers still holding one finish first. The last put
     * frees the topic itself, so take the partitions out of it before putting any. */
    {
        int32_t n = tp->n;
        struct zcq_partition **parts = malloc(sizeof(*parts) * (size_t)n);

        if (!parts)
            return -ENOMEM; /* gone from the registry; its logs stay open until exit */
        pthread_mutex_lock(&t->meta_mu);
        memcpy(parts, tp->parts, sizeof(*parts) * (size_t)n);
        pthread_mutex_unlock(&t->meta_mu);
        for (int32_t i = 0; i < n; i++) {
            if (parts[i])
                zcq_partition_put(t, parts[i]);
        }
        free(parts);
    }
    return 0;
}

int zcq_topics_grow(struct zcq_topics *t, const char *name, int32_t n, int validate_only, char *why,
                    size_t why_len)
{
    struct zcq_topic *tp;
    struct zcq_partition **parts = NULL;
    int32_t old;
    int rc = 0, at;

    why[0] = '\0';
    pthread_mutex_lock(&t->meta_mu);
    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, strlen(name));
    tp = at >= 0 ? t->topics[at] : NULL;
    pthread_rwlock_unlock(&t->lock);
    if (!tp) {
        rc = ZCQ_TOPIC_EUNKNOWN;
        goto out;
    }
    old = tp->n;
    if (n <= old || n > t->max_parts) {
        snprintf(why, why_len,
                 "topic '%s' has %" PRId32 " partitions; %" PRId32 " is not more (or over %d)",
                 name, old, n, t->max_parts);
        rc = ZCQ_TOPIC_EPARTITIONS;
        goto out;
    }
    if (validate_only)
        goto out;
    parts = calloc((size_t)n, sizeof(*parts));
    if (!parts) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(parts, tp->parts, sizeof(*parts) * (size_t)old);
    {
        /* Open the new partitions into a scratch topic view, then publish. */
        struct zcq_partition **keep = tp->parts;
        int32_t keep_n = tp->n;
        struct open_range r = {.t = t, .tp = tp, .first = old};

        tp->parts = parts;
        rc = run_parallel(n - old, open_range_one, &r, false, why, why_len);
        tp->parts = keep;
        tp->n = keep_n;
        if (rc == 0) {
            tp->n = n; /* the registry line needs the new count */
            rc = write_registry(t, NULL, NULL);
            tp->n = keep_n;
        }
        if (rc < 0) {
            for (int32_t i = old; i < n; i++)
                partition_free(t, parts[i], true);
            free(parts);
            goto out;
        }
    }
    pthread_rwlock_wrlock(&t->lock);
    free(tp->parts);
    tp->parts = parts;
    tp->n = n;
    pthread_rwlock_unlock(&t->lock);
out:
    pthread_mutex_unlock(&t->meta_mu);
    return rc;
}

struct zcq_partition *zcq_topics_get(struct zcq_topics *t, const char *name, size_t len,
                                     int32_t part)
{
    struct zcq_partition *p = NULL;
    int at;

    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, len);
    if (at >= 0 && part >= 0 && part < t->topics[at]->n) {
        p = t->topics[at]->parts[part];
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
    }
    pthread_rwlock_unlock(&t->lock);
    return p;
}

int32_t zcq_topics_partitions(struct zcq_topics *t, const char *name, size_t len)
{
    int32_t n;
    int at;

    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, len);
    n = at >= 0 ? t->topics[at]->n : ZCQ_TOPIC_EUNKNOWN;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

static void info_of(const struct zcq_topic *tp, struct zcq_topic_info *out)
{
    snprintf(out->name, sizeof(out->name), "%s", tp->name);
    out->partitions = tp->n;
    out->nconfig = tp->nconfig;
    if (tp->nconfig)
        memcpy(out->config, tp->config, sizeof(tp->config[0]) * (size_t)tp->nconfig);
}

void zcq_topics_set_max_partitions(struct zcq_topics *t, int32_t n)
{
    t->max_parts = n > 0 && n <= ZCQ_TOPIC_MAX_PARTITIONS ? n : ZCQ_TOPIC_MAX_PARTITIONS;
}

int zcq_topics_each(struct zcq_topics *t, void (*fn)(void *arg, const char *name, int32_t n),
                    void *arg)
{
    int n;

    pthread_rwlock_rdlock(&t->lock);
    n = t->n;
    for (int i = 0; i < n; i++)
        fn(arg, t->topics[i]->name, t->topics[i]->n);
    pthread_rwlock_unlock(&t->lock);
    return n;
}

int zcq_topics_list(struct zcq_topics *t, struct zcq_topic_info *out, int max)
{
    int n;

    pthread_rwlock_rdlock(&t->lock);
    n = t->n;
    for (int i = 0; i < n && i < max; i++)
        info_of(t->topics[i], &out[i]);
    pthread_rwlock_unlock(&t->lock);
    return n;
}

int zcq_topics_describe(struct zcq_topics *t, const char *name, size_t len,
                        struct zcq_topic_info *out)
{
    int at;

    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, len);
    if (at >= 0)
        info_of(t->topics[at], out);
    pthread_rwlock_unlock(&t->lock);
    return at >= 0 ? 0 : ZCQ_TOPIC_EUNKNOWN;
}

int zcq_topics_log_config(struct zcq_topics *t, const char *name, size_t len,
                          struct zcq_log_config *out)
{
    int at;

    pthread_rwlock_rdlock(&t->lock);
    at = find(t, name, len);
    if (at >= 0)
        *out = t->topics[at]->lcfg;
    pthread_rwlock_unlock(&t->lock);
    return at >= 0 ? 0 : ZCQ_TOPIC_EUNKNOWN;
}

/* Run fn on every partition, holding a reference (not the lock) while it runs, since both
 * retention and flushing do I/O. With pending, also tell whether a log still wants a flush
 * afterwards (zcq_log_flush_pending). */
static int each_partition(struct zcq_topics *t, int (*fn)(struct zcq_log *, int64_t),
                          int64_t now_ms, bool *pending)
{
    int total = 0, n;
    struct zcq_partition **all;

    pthread_rwlock_rdlock(&t->lock);
    n = 0;
    for (int i = 0; i < t->n; i++)
        n += t->topics[i]->n;
    all = calloc((size_t)n + 1, sizeof(*all));
    n = 0;
    for (int i = 0; all && i < t->n; i++) {
        for (int32_t p = 0; p < t->topics[i]->n; p++) {
            all[n] = t->topics[i]->parts[p];
            __atomic_add_fetch(&all[n]->refs, 1, __ATOMIC_ACQ_REL);
            n++;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    if (!all)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        int rc = fn(all[i]->log, now_ms);

        if (rc > 0)
            total += rc;
        if (pending && !*pending)
            *pending = zcq_log_flush_pending(all[i]->log);
        zcq_partition_put(t, all[i]);
    }
    free(all);
    return total;
}

int zcq_topics_retain(struct zcq_topics *t, int64_t now_ms)
{
    return each_partition(t, zcq_log_retain, now_ms, NULL);
}

int zcq_topics_maybe_flush(struct zcq_topics *t, int64_t now_ms)
{
    /* Visiting every partition cost 1.3-2 us each here (cache misses: each is cold after a
     * second), 13-20 ms of CPU a second with 10,000 idle partitions. Only a roll or flush.ms
     * makes a log want a timed flush, and both move the epoch: with it still and nothing left
     * pending by the last round, no partition can be due. The epoch is read before the round,
     * so whatever becomes pending during it moves the epoch past what is stored. */
    uint64_t epoch = zcq_log_flush_epoch();
    bool pending = false;
    int rc;

    if (epoch == atomic_load(&t->flush_epoch) && !atomic_load(&t->flush_pending))
        return 0;
    rc = each_partition(t, zcq_log_maybe_flush, now_ms, &pending);
    if (rc < 0)
        return rc; /* -ENOMEM: try again next time */
    atomic_store(&t->flush_pending, pending);
    atomic_store(&t->flush_epoch, epoch);
    return rc;
}
