/* The broker's shared state and its maintenance thread; see broker.h. */
#include "broker/broker.h"

#include "io/say.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define CLUSTER_FILE "zcq-cluster-id"

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kafka's cluster ids are 22 characters of URL-safe base64 (16 random bytes). Read it from
 * the data directory, or make one and keep it (tmp, fsync, rename) so clients see the same
 * cluster after a restart. */
static int cluster_id(struct zcq_broker *b, char *why, size_t why_len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char path[4200], tmp[4300];
    unsigned char r[16];
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", b->cfg.data_dir, CLUSTER_FILE);
    f = fopen(path, "r");
    if (f) {
        char line[64] = "";

        if (fgets(line, sizeof(line), f))
            line[strcspn(line, "\r\n")] = '\0';
        fclose(f);
        if (strlen(line) == 22) {
            snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", line);
            return 0;
        }
    }
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        snprintf(why, why_len, "getrandom: %s", strerror(errno));
        return -EIO;
    }
    for (int i = 0; i < 22; i++) {
        unsigned bit = (unsigned)i * 6, v = 0;

        for (unsigned k = 0; k < 6; k++) {
            unsigned pos = bit + k;

            v = (v << 1) | (pos < 128 ? (r[pos / 8] >> (7 - pos % 8)) & 1 : 0);
        }
        b->cluster_id[i] = b64[v];
    }
    b->cluster_id[22] = '\0';
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || dprintf(fd, "%s\n", b->cluster_id) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0) {
        snprintf(why, why_len, "write %s: %s", path, strerror(errno));
        return -errno ? -errno : -EIO;
    }
    return 0;
}

int zcq_broker_open(struct zcq_broker **out, const struct zcq_broker_config *cfg, char *why,
                    size_t why_len)
{
    struct zcq_broker *b = calloc(1, sizeof(*b));
    int rc;

    *out = NULL;
    if (!b)
        return -ENOMEM;
    b->cfg = *cfg;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    rc = zcq_topics_open(&b->topics, cfg->data_dir, &cfg->log, why, why_len);
    if (rc < 0)
        goto fail;
    zcq_topics_set_max_partitions(b->topics, cfg->max_partitions);
    rc = cluster_id(b, why, why_len);
    if (rc < 0)
        goto fail;
    {
        struct zcq_groups_config gc = {
            .min_session_ms = cfg->group_min_session_ms,
            .max_session_ms = cfg->group_max_session_ms,
            .initial_delay_ms = cfg->group_initial_delay_ms,
            .max_size = cfg->group_max_size,
            .retention_ms = cfg->offsets_retention_min * 60000,
            .meta_max = cfg->offset_meta_max,
            .segment_bytes = cfg->offsets_segment_bytes,
            .snapshot_bytes = cfg->offsets_snapshot_bytes,
        };
        struct zcq_groups_open_info gi;

        rc = zcq_groups_open(&b->groups, cfg->data_dir, &gc, b->topics, &gi, why, why_len);
        if (rc < 0)
            goto fail;
        if (gi.offsets)
            zcq_say(
                ZCQ_INFO,
                "loaded %" PRId64 " committed offset(s) of %d group(s) (%" PRId64
                " from the snapshot, %" PRId64 " journal record(s) replayed, %" PRId64 " bytes)",
                gi.offsets, gi.groups, gi.snapshot_entries, gi.replayed_records, gi.replayed_bytes);
    }
    *out = b;
    return 0;
fail:
    zcq_broker_close(b);
    return rc;
}

static void *maint_main(void *arg)
{
    struct zcq_broker *b = arg;
    int64_t next_retain = wall_ms() + b->cfg.retention_check_ms;
    int64_t next_offsets = wall_ms() + b->cfg.offsets_check_ms;

    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        struct timespec until;
        int64_t now;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += b->cfg.flush_check_ms / 1000;
        until.tv_nsec += (b->cfg.flush_check_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&b->cv, &b->mu, &until);
        if (b->stop)
            break;
        pthread_mutex_unlock(&b->mu);
        now = wall_ms();
        /* Errors are the logs' own (sticky) and reported when appends fail. */
        (void)zcq_topics_maybe_flush(b->topics, now);
        if (now >= next_retain) {
            int n = zcq_topics_retain(b->topics, now);

            if (n > 0)
                zcq_say(ZCQ_INFO, "retention deleted %d segment(s)", n);
            next_retain = now + b->cfg.retention_check_ms;
        }
        {
            char why[512];
            bool expire = now >= next_offsets;

            if (zcq_groups_maintain(b->groups, now, expire, why, sizeof(why)) < 0)
                zcq_say(ZCQ_ERROR, "committed offsets snapshot failed: %s", why);
            if (expire)
                next_offsets = now + b->cfg.offsets_check_ms;
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int zcq_broker_start_maintenance(struct zcq_broker *b)
{
    int rc = -pthread_create(&b->maint, NULL, maint_main, b);

    if (rc == 0)
        b->started = true;
    return rc;
}

int zcq_broker_close(struct zcq_broker *b)
{
    int rc;

    if (!b)
        return 0;
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->stop = true;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->maint, NULL);
    }
    rc = zcq_groups_close(b->groups);
    {
        int trc = zcq_topics_close(b->topics);

        rc = rc < 0 ? rc : trc;
    }
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
    return rc;
}
