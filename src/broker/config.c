/* Broker configuration; see config.h. */
#include "broker/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { K_I64, K_INT, K_BOOL, K_STR, K_LISTENER, K_ADVERTISED, K_TRANSFER };

struct key {
    const char *name, *alias;
    enum kind kind;
    size_t off;
    int64_t min, max;
};

#define F(field) offsetof(struct zcq_broker_config, field)
static const struct key keys[] = {
    {"listeners", NULL, K_LISTENER, 0, 0, 0},
    {"advertised.listeners", NULL, K_ADVERTISED, 0, 0, 0},
    {"node.id", "broker.id", K_INT, F(node_id), 0, INT32_MAX},
    {"log.dirs", "log.dir", K_STR, F(data_dir), 0, 0},
    {"num.partitions", NULL, K_INT, F(num_partitions), 1, 100000},
    {"zcq.max.partitions.per.topic", NULL, K_INT, F(max_partitions), 1, 100000},
    {"auto.create.topics.enable", NULL, K_BOOL, F(auto_create), 0, 0},
    {"socket.request.max.bytes", NULL, K_I64, F(max_request_bytes), 64, INT32_MAX},
    {"num.network.threads", NULL, K_INT, F(workers), 1, 256},
    {"num.io.threads", NULL, K_INT, F(sync_threads), 1, 256},
    {"zcq.read.threads", NULL, K_INT, F(read_threads), 1, 256},
    {"connections.max.idle.ms", NULL, K_I64, F(idle_ms), 1000, INT64_MAX / 2},
    {"max.connections", NULL, K_INT, F(max_connections), 1, INT32_MAX},
    {"max.connections.per.ip", NULL, K_INT, F(max_connections_per_ip), 1, INT32_MAX},
    {"zcq.max.inflight.requests", NULL, K_INT, F(max_inflight), 1, 100000},
    {"zcq.fetch.transfer", NULL, K_TRANSFER, F(transfer), 0, 0},
    {"zcq.send.chunk.bytes", NULL, K_I64, F(send_chunk), 4096, 1 << 30},
    {"zcq.acks.all.sync", NULL, K_BOOL, F(acks_all_sync), 0, 0},
    {"log.retention.check.interval.ms", NULL, K_I64, F(retention_check_ms), 100, INT64_MAX / 2},
    {"log.flush.scheduler.interval.ms", NULL, K_I64, F(flush_check_ms), 10, INT64_MAX / 2},
    {"group.min.session.timeout.ms", NULL, K_INT, F(group_min_session_ms), 1, INT32_MAX},
    {"group.max.session.timeout.ms", NULL, K_INT, F(group_max_session_ms), 1, INT32_MAX},
    {"group.initial.rebalance.delay.ms", NULL, K_INT, F(group_initial_delay_ms), 0, INT32_MAX},
    {"group.max.size", NULL, K_INT, F(group_max_size), 1, INT32_MAX},
    {"offsets.retention.minutes", NULL, K_I64, F(offsets_retention_min), 1, INT64_MAX / 60000},
    {"offsets.retention.check.interval.ms", NULL, K_I64, F(offsets_check_ms), 100, INT64_MAX / 2},
    {"offsets.commit.required.acks", NULL, K_INT, F(commit_acks), -1, 1},
    {"offset.metadata.max.bytes", NULL, K_INT, F(offset_meta_max), 0, 1 << 20},
    {"offsets.topic.segment.bytes", NULL, K_I64, F(offsets_segment_bytes), 1 << 20, 1 << 30},
    {"zcq.offsets.snapshot.bytes", NULL, K_I64, F(offsets_snapshot_bytes), 64 << 10, INT64_MAX / 2},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void zcq_broker_config_default(struct zcq_broker_config *c)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 9092;
    c->node_id = 1;
    snprintf(c->data_dir, sizeof(c->data_dir), "./data");
    c->num_partitions = 1;
    c->max_partitions = 100000;
    c->auto_create = true;
    c->max_request_bytes = 100LL << 20;
    c->workers = cpus > 0 ? (int)(cpus > 256 ? 256 : cpus) : 1;
    c->sync_threads = 4;
    c->read_threads = 2;
    c->idle_ms = 600000;
    c->max_connections = 10000;
    c->max_connections_per_ip = 5000;
    c->max_inflight = 500;
    c->transfer = ZCQ_XFER_SENDFILE;
    c->send_chunk = 2 << 20;
    c->acks_all_sync = true;
    c->retention_check_ms = 300000;
    c->flush_check_ms = 1000;
    c->group_min_session_ms = 6000;
    c->group_max_session_ms = 1800000;
    c->group_initial_delay_ms = 3000;
    c->group_max_size = 100000;
    c->offsets_retention_min = 10080;
    c->offsets_check_ms = 600000;
    c->commit_acks = -1;
    c->offset_meta_max = 4096;
    c->offsets_segment_bytes = 8 << 20;
    c->offsets_snapshot_bytes = 16 << 20;
    zcq_log_config_default(&c->log);
}

/* "host:port", "[v6]:port", optionally after "NAME://". */
static int parse_hostport(const char *v, char *host, size_t hlen, int *port)
{
    const char *p = strstr(v, "://"), *colon;
    char *end;
    long n;
    size_t len;

    if (p)
        v = p + 3;
    if (*v == '[') {
        const char *rb = strchr(v, ']');

        if (!rb || rb[1] != ':')
            return -EINVAL;
        len = (size_t)(rb - v - 1);
        v++;
        colon = rb + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            return -EINVAL;
        len = (size_t)(colon - v);
    }
    if (len >= hlen || strchr(v, ','))
        return -EINVAL;
    memcpy(host, v, len);
    host[len] = '\0';
    errno = 0;
    n = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || n < 0 || n > 65535)
        return -EINVAL;
    *port = (int)n;
    return 0;
}

static int set_key(struct zcq_broker_config *c, const struct key *k, const char *value, char *why,
                   size_t why_len)
{
    void *f = (char *)c + k->off;
    char *end;

    switch (k->kind) {
    case K_I64:
    case K_INT: {
        long long v;

        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < k->min || v > k->max) {
            snprintf(why, why_len, "%s must be an integer in %lld..%lld, not '%s'", k->name,
                     (long long)k->min, (long long)k->max, value);
            return -EINVAL;
        }
        if (k->kind == K_I64)
            *(int64_t *)f = v;
        else
            *(int *)f = (int)v;
        return 0;
    }
    case K_BOOL:
        if (strcmp(value, "true") == 0)
            *(bool *)f = true;
        else if (strcmp(value, "false") == 0)
            *(bool *)f = false;
        else {
            snprintf(why, why_len, "%s must be true or false, not '%s'", k->name, value);
            return -EINVAL;
        }
        return 0;
    case K_STR:
        if (!value[0] || strlen(value) >= sizeof(c->data_dir)) {
            snprintf(why, why_len, "%s must be a path", k->name);
            return -EINVAL;
        }
        /* log.dirs may list several; zcq uses one directory. */
        if (strchr(value, ',')) {
            snprintf(why, why_len, "%s: zcq uses a single data directory, not '%s'", k->name,
                     value);
            return -EINVAL;
        }
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", value);
        return 0;
    case K_LISTENER:
    case K_ADVERTISED: {
        char host[256];
        int port;

        if ((strstr(value, "://") && strncmp(value, "PLAINTEXT://", 12) != 0) ||
            parse_hostport(value, host, sizeof(host), &port) < 0) {
            snprintf(why, why_len,
                     "%s must be one PLAINTEXT://HOST:PORT or HOST:PORT (SSL and SASL listeners "
                     "are not supported yet), not '%s'",
                     k->name, value);
            return -EINVAL;
        }
        if (k->kind == K_LISTENER) {
            snprintf(c->listen_host, sizeof(c->listen_host), "%s", host);
            c->listen_port = port;
        } else {
            if (!host[0] || port == 0) {
                snprintf(why, why_len, "%s needs a host and a port clients can reach", k->name);
                return -EINVAL;
            }
            snprintf(c->adv_host, sizeof(c->adv_host), "%s", host);
            c->adv_port = port;
        }
        return 0;
    }
    case K_TRANSFER: {
        enum zcq_xfer_method m;

        if (zcq_xfer_method_parse(value, &m) < 0 ||
            (m != ZCQ_XFER_SENDFILE && m != ZCQ_XFER_SPLICE && m != ZCQ_XFER_COPY &&
             m != ZCQ_XFER_URING)) {
            snprintf(why, why_len, "%s must be sendfile, splice, copy or uring, not '%s'", k->name,
                     value);
            return -EINVAL;
        }
        c->transfer = m;
        return 0;
    }
    }
    return -EINVAL;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(name, keys[i].name) == 0 || (keys[i].alias && strcmp(name, keys[i].alias) == 0))
            return &keys[i];
    }
    return NULL;
}

bool zcq_broker_config_known(const char *key)
{
    char buf[64];
    struct zcq_log_config d;

    if (find_key(key))
        return true;
    zcq_log_config_default(&d);
    return zcq_log_config_get(&d, key, buf, sizeof(buf)) == 0;
}

int zcq_broker_config_set(struct zcq_broker_config *c, const char *key, const char *value,
                          char *why, size_t why_len)
{
    const struct key *k = find_key(key);
    int rc;

    if (k) {
        rc = set_key(c, k, value, why, why_len);
        if (rc == 0)
            c->set_mask |= 1ull << (k - keys);
        return rc;
    }
    rc = zcq_log_config_set(&c->log, key, value, why, why_len);
    if (rc == 0) {
        for (size_t i = 0; zcq_log_config_name(i, 0); i++) {
            if (strcmp(key, zcq_log_config_name(i, 0)) == 0 ||
                strcmp(key, zcq_log_config_name(i, 1)) == 0)
                c->log_set_mask |= 1ull << i;
        }
        return 0;
    }
    if (strncmp(why, "unknown", 7) == 0)
        snprintf(why, why_len, "unknown setting '%s'", key);
    return rc;
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

int zcq_broker_config_load(struct zcq_broker_config *c, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int lineno = 0, rc = 0;

    if (!f) {
        rc = -errno;
        snprintf(why, why_len, "cannot read config %s: %s", path, strerror(errno));
        return rc;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s = trim(line), *eq;
        char reason[512];

        lineno++;
        if (!*s || *s == '#' || *s == '!')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(why, why_len, "%s:%d: expected key=value", path, lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        rc = zcq_broker_config_set(c, trim(s), trim(eq + 1), reason, sizeof(reason));
        if (rc < 0) {
            snprintf(why, why_len, "%s:%d: %s", path, lineno, reason);
            break;
        }
    }
    fclose(f);
    return rc;
}

int zcq_broker_config_check(struct zcq_broker_config *c, char *why, size_t why_len)
{
    if (zcq_log_config_check(&c->log, why, why_len) < 0)
        return -EINVAL;
    if (c->num_partitions > c->max_partitions) {
        snprintf(why, why_len, "num.partitions (%d) exceeds zcq.max.partitions.per.topic (%d)",
                 c->num_partitions, c->max_partitions);
        return -EINVAL;
    }
    if (c->group_min_session_ms > c->group_max_session_ms) {
        snprintf(why, why_len,
                 "group.min.session.timeout.ms (%d) exceeds group.max.session.timeout.ms (%d)",
                 c->group_min_session_ms, c->group_max_session_ms);
        return -EINVAL;
    }
    if (c->commit_acks == 0) {
        snprintf(why, why_len, "offsets.commit.required.acks must be -1 or 1");
        return -EINVAL;
    }
    if (!c->adv_host[0]) {
        /* A wildcard address cannot be reconnected to: advertise this host's name. */
        if (!c->listen_host[0] || strcmp(c->listen_host, "0.0.0.0") == 0 ||
            strcmp(c->listen_host, "::") == 0) {
            if (gethostname(c->adv_host, sizeof(c->adv_host)) < 0 || !c->adv_host[0])
                snprintf(c->adv_host, sizeof(c->adv_host), "localhost");
        } else {
            snprintf(c->adv_host, sizeof(c->adv_host), "%s", c->listen_host);
        }
    }
    if (!c->adv_port)
        c->adv_port = c->listen_port; /* 0 (any free port) is filled in once bound */
    return 0;
}

int zcq_broker_config_entry(const struct zcq_broker_config *c, size_t i, const char **key,
                            char *buf, size_t len, bool *is_set)
{
    const struct key *k;
    const void *f;

    if (i >= NKEYS) {
        size_t li = i - NKEYS;
        const char *name = zcq_log_config_name(li, 0);

        if (!name)
            return 0;
        *key = name;
        *is_set = (c->log_set_mask >> li) & 1;
        (void)zcq_log_config_get(&c->log, name, buf, len);
        return 1;
    }
    k = &keys[i];
    f = (const char *)c + k->off;
    *key = k->name;
    *is_set = (c->set_mask >> i) & 1;
    switch (k->kind) {
    case K_I64:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)f);
        break;
    case K_INT:
        snprintf(buf, len, "%d", *(const int *)f);
        break;
    case K_BOOL:
        snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
        break;
    case K_STR:
        snprintf(buf, len, "%s", c->data_dir);
        break;
    case K_LISTENER:
        snprintf(buf, len, "PLAINTEXT://%s:%d", c->listen_host, c->listen_port);
        break;
    case K_ADVERTISED:
        snprintf(buf, len, "PLAINTEXT://%s:%d", c->adv_host, c->adv_port);
        break;
    case K_TRANSFER:
        snprintf(buf, len, "%s", zcq_xfer_method_name(c->transfer));
        break;
    }
    return 1;
}
