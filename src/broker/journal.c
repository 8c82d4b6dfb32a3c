/* The committed-offsets journal and its snapshot; see journal.h. */
#include "broker/journal.h"

#include "store/batch.h"
#include "store/checkpoint.h"
#include "store/crc32c.h"
#include "store/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_DIR   "zcq-consumer-offsets"
#define SNAPSHOT_FILE "zcq-consumer-offsets.snapshot"
#define SNAP_MAGIC    "ZCQSNAP1"
#define SNAP_HEADER   32
#define KEY_MAX       (2 + 2 + 32767 + 2 + 32767 + 4)
/* Records per snapshot batch: batches stay far below the log's 1 MiB message limit. */
#define SNAP_BATCH_RECORDS 512
#define REPLAY_CHUNK       (1u << 20)

struct zcq_journal {
    struct zcq_log *log;
    char dir[4096];  /* the data directory */
    int64_t pending; /* bytes since the snapshot (atomic) */
};

struct zcq_snap {
    struct zcq_journal *j;
    int64_t covered; /* E: the journal end when sealed */
    int64_t entries;
    uint32_t batches;
    /* the file's body: finished batches */
    uint8_t *body;
    size_t len, cap;
    /* records of the batch being filled, encoded key/value pairs in kv */
    struct zcq_record recs[SNAP_BATCH_RECORDS];
    size_t koff[SNAP_BATCH_RECORDS], voff[SNAP_BATCH_RECORDS];
    int nrec;
    uint8_t *kv;
    size_t kvlen, kvcap;
    int err;
};

/* --- Encoding ---------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static size_t key_len(const struct zcq_commit_key *k)
{
    return 2 + 2 + k->group_len + 2 + k->topic_len + 4;
}

static size_t val_len(const struct zcq_commit_val *v)
{
    return 2 + 8 + 4 + 2 + (v->meta_len > 0 ? (size_t)v->meta_len : 0) + 8;
}

static void put_key(uint8_t *p, const struct zcq_commit_key *k)
{
    put16(p, 0);
    put16(p + 2, k->group_len);
    memcpy(p + 4, k->group, k->group_len);
    p += 4 + k->group_len;
    put16(p, k->topic_len);
    memcpy(p + 2, k->topic, k->topic_len);
    put32(p + 2 + k->topic_len, (uint32_t)k->partition);
}

static void put_val(uint8_t *p, const struct zcq_commit_val *v)
{
    put16(p, 0);
    put64(p + 2, (uint64_t)v->offset);
    put32(p + 10, (uint32_t)v->leader_epoch);
    put16(p + 14, (uint16_t)(v->meta_len < 0 ? -1 : v->meta_len));
    p += 16;
    if (v->meta_len > 0) {
        memcpy(p, v->meta, (size_t)v->meta_len);
        p += v->meta_len;
    }
    put64(p, (uint64_t)v->ts);
}

static int entry_check(const struct zcq_journal_entry *e)
{
    if (!e->k.group_len && !e->k.group)
        return -EINVAL;
    if (e->k.group_len > INT16_MAX || e->k.topic_len > INT16_MAX ||
        (e->v && e->v->meta_len > INT16_MAX))
        return -EINVAL;
    return 0;
}

/* Decode a record into an entry; -EUCLEAN when it is not one of ours. */
static int decode(const struct zcq_record *r, struct zcq_journal_entry *e, struct zcq_commit_val *v)
{
    const uint8_t *k = r->key, *p;
    int32_t left;

    if (r->key_len < 10 || get16(k) != 0)
        return -EUCLEAN;
    e->k.group_len = get16(k + 2);
    if ((int32_t)e->k.group_len + 10 > r->key_len)
        return -EUCLEAN;
    e->k.group = (const char *)k + 4;
    p = k + 4 + e->k.group_len;
    e->k.topic_len = get16(p);
    if ((int32_t)(4 + e->k.group_len + 2 + e->k.topic_len + 4) != r->key_len)
        return -EUCLEAN;
    e->k.topic = (const char *)p + 2;
    e->k.partition = (int32_t)get32(p + 2 + e->k.topic_len);
    if (r->value_len < 0) {
        e->v = NULL;
        return 0;
    }
    p = r->value;
    left = r->value_len;
    if (left < 24 || get16(p) != 0)
        return -EUCLEAN;
    v->offset = (int64_t)get64(p + 2);
    v->leader_epoch = (int32_t)get32(p + 10);
    v->meta_len = (int16_t)get16(p + 14);
    if (v->meta_len < -1 || 24 + (v->meta_len > 0 ? v->meta_len : 0) != left)
        return -EUCLEAN;
    v->meta = (const char *)p + 16;
    v->ts = (int64_t)get64(p + 16 + (v->meta_len > 0 ? v->meta_len : 0));
    e->v = v;
    return 0;
}

/* --- Loading ----------------------------------------------------------------------------- */

struct loader {
    zcq_journal_apply_fn apply;
    void *arg;
    int64_t from; /* journal records below this are in the snapshot */
    int64_t count;
    int64_t bad_offset;
};

static int load_record(void *arg, const struct zcq_record *r)
{
    struct loader *l = arg;
    struct zcq_journal_entry e;
    struct zcq_commit_val v;
    int rc;

    if (r->offset < l->from)
        return 0;
    rc = decode(r, &e, &v);
    if (rc < 0) {
        l->bad_offset = r->offset;
        return rc;
    }
    l->count++;
    return l->apply(l->arg, &e);
}

/* Walk the batches in buf[0..len); every one must be whole and valid. */
static int load_batches(const uint8_t *buf, size_t len, struct loader *l, size_t *used)
{
    size_t at = 0;

    while (len - at >= ZCQ_BATCH_LOG_OVERHEAD) {
        int64_t sz = zcq_batch_size(buf + at, len - at);
        int rc;

        if (sz < 0)
            return -EUCLEAN;
        if ((uint64_t)sz > len - at)
            break;
        if (zcq_batch_validate(buf + at, (size_t)sz, NULL) != 0)
            return -EUCLEAN;
        rc = zcq_batch_each_record(buf + at, (size_t)sz, load_record, l);
        if (rc)
            return rc < 0 && rc > -4096 ? rc : -EUCLEAN;
        at += (size_t)sz;
    }
    *used = at;
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t size;
    uint8_t *buf;
    size_t got = 0;

    if (fd < 0)
        return -errno;
    size = lseek(fd, 0, SEEK_END);
    if (size < 0) {
        int e = -errno;

        close(fd);
        return e;
    }
    buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)size) {
        ssize_t n = pread(fd, buf + got, (size_t)size - got, (off_t)got);

        if (n <= 0) {
            int e = n < 0 ? -errno : -EIO;

            free(buf);
            close(fd);
            return e;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

/* The snapshot, if there is one: its entries go to apply; *covered gets E (0 without one). */
static int load_snapshot(struct zcq_journal *j, struct loader *l, int64_t *covered,
                         int64_t *entries, char *why, size_t why_len)
{
    char path[4200];
    uint8_t *buf = NULL;
    size_t len = 0, used = 0;
    int rc;

    *covered = 0;
    *entries = 0;
    snprintf(path, sizeof(path), "%s/%s", j->dir, SNAPSHOT_FILE);
    rc = read_file(path, &buf, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    if (len < SNAP_HEADER || memcmp(buf, SNAP_MAGIC, 8) != 0 ||
        zcq_crc32c(0, buf, SNAP_HEADER - 4) != get32(buf + SNAP_HEADER - 4)) {
        snprintf(why, why_len,
                 "%s is corrupt (bad header); the journal below its offset is gone, so "
                 "committed offsets would be lost: move it away to start without them",
                 path);
        rc = -EUCLEAN;
        goto out;
    }
    *covered = (int64_t)get64(buf + 8);
    *entries = (int64_t)get64(buf + 16);
    l->from = 0;
    l->count = 0;
    rc = load_batches(buf + SNAP_HEADER, len - SNAP_HEADER, l, &used);
    if (rc == 0 && (used != len - SNAP_HEADER || l->count != *entries))
        rc = -EUCLEAN;
    if (rc == -EUCLEAN)
        snprintf(why, why_len,
                 "%s is corrupt (%" PRId64 " of %" PRId64 " entries readable); the journal "
                 "below its offset is gone, so committed offsets would be lost: move it away "
                 "to start without them",
                 path, l->count, *entries);
    else if (rc < 0)
        snprintf(why, why_len, "loading %s: %s", path, strerror(-rc));
out:
    free(buf);
    return rc;
}

/* Replay the journal from l->from to its end. */
static int replay(struct zcq_journal *j, struct loader *l, int64_t *bytes, char *why,
                  size_t why_len)
{
    int64_t off = zcq_log_start_offset(j->log), end = zcq_log_high_watermark(j->log);
    uint8_t *buf = malloc(REPLAY_CHUNK);
    size_t have = 0;
    int rc = 0;

    *bytes = 0;
    if (!buf)
        return -ENOMEM;
    if (off < l->from)
        off = l->from;
    while (off < end) {
        struct zcq_log_slice s;
        size_t used = 0;

        rc = zcq_log_read(j->log, off, REPLAY_CHUNK, &s);
        if (rc < 0) {
            snprintf(why, why_len, "reading the offsets journal at %" PRId64 ": %s", off,
                     zcq_log_strerror(rc));
            break;
        }
        if (s.bytes == 0) {
            zcq_log_slice_release(j->log, &s);
            break;
        }
        if (s.bytes > REPLAY_CHUNK) {
            uint8_t *nb = realloc(buf, s.bytes);

            if (!nb) {
                zcq_log_slice_release(j->log, &s);
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        }
        have = 0;
        for (unsigned i = 0; i < s.n && rc == 0; i++) {
            if (s.c[i].mem) {
                memcpy(buf + have, s.c[i].mem, s.c[i].len);
            } else {
                for (size_t got = 0; got < s.c[i].len;) {
                    ssize_t n = pread(s.c[i].fd, buf + have + got, s.c[i].len - got,
                                      (off_t)(s.c[i].pos + (int64_t)got));

                    if (n <= 0) {
                        rc = n < 0 ? -errno : -EIO;
                        break;
                    }
                    got += (size_t)n;
                }
            }
            have += s.c[i].len;
        }
        zcq_log_slice_release(j->log, &s);
        if (rc < 0) {
            snprintf(why, why_len, "reading the offsets journal: %s", strerror(-rc));
            break;
        }
        /* A read may end inside a batch (only its first is whole, as for a fetch): the
         * next read starts after the last whole one. */
        rc = load_batches(buf, have, l, &used);
        if (rc == 0 && used == 0)
            rc = -EUCLEAN;
        if (rc < 0) {
            snprintf(why, why_len, "offsets journal record %" PRId64 " is not a commit: %s",
                     l->bad_offset, strerror(-rc));
            break;
        }
        *bytes += (int64_t)used;
        {
            struct zcq_batch_info last;
            size_t at = 0, prev = 0;

            while (at < used) {
                prev = at;
                at += (size_t)zcq_batch_size(buf + at, used - at);
            }
            zcq_batch_decode(buf + prev, used - prev, &last);
            off = zcq_batch_last_offset(&last) + 1;
        }
    }
    free(buf);
    return rc;
}

int zcq_journal_open(struct zcq_journal **out, const char *data_dir, int64_t segment_bytes,
                     zcq_journal_apply_fn apply, void *arg, struct zcq_journal_open_info *info,
                     char *why, size_t why_len)
{
    struct zcq_journal *j = calloc(1, sizeof(*j));
    struct zcq_log_open_info oi;
    struct zcq_log_config c;
    struct loader l = {.apply = apply, .arg = arg, .bad_offset = -1};
    int64_t covered, entries, bytes;
    char path[4200];
    int rc;

    *out = NULL;
    memset(info, 0, sizeof(*info));
    if (!j)
        return -ENOMEM;
    snprintf(j->dir, sizeof(j->dir), "%s", data_dir);
    zcq_log_config_default(&c);
    c.segment_bytes = segment_bytes;
    /* An index entry per 4 KiB of journal: a segment needs segment_bytes / 512 bytes of it. */
    c.index_max_bytes = segment_bytes / 512 > 4096 ? segment_bytes / 512 + 4096 : 8192;
    c.retention_ms = -1;
    c.retention_bytes = -1;
    snprintf(path, sizeof(path), "%s/%s", data_dir, JOURNAL_DIR);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(why, why_len, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    rc = zcq_log_open(&j->log, path, &c, &oi);
    if (rc < 0) {
        snprintf(why, why_len, "offsets journal %s: %s", path,
                 oi.why[0] ? oi.why : zcq_log_strerror(rc));
        goto fail;
    }
    rc = load_snapshot(j, &l, &covered, &entries, why, why_len);
    if (rc < 0)
        goto fail;
    info->snapshot_entries = entries;
    l.from = covered;
    l.count = 0;
    rc = replay(j, &l, &bytes, why, why_len);
    if (rc < 0)
        goto fail;
    info->replayed_records = l.count;
    info->replayed_bytes = bytes;
    j->pending = bytes;
    *out = j;
    return 0;
fail:
    zcq_journal_close(j);
    return rc;
}

int zcq_journal_close(struct zcq_journal *j)
{
    int rc = 0;

    if (!j)
        return 0;
    if (j->log)
        rc = zcq_log_close(j->log);
    free(j);
    return rc;
}

int64_t zcq_journal_append(struct zcq_journal *j, const struct zcq_journal_entry *e, int n,
                           int64_t now_ms)
{
    struct zcq_record *recs = calloc((size_t)(n > 0 ? n : 1), sizeof(*recs));
    struct zcq_append_result res;
    uint8_t *kv = NULL, *batch = NULL;
    size_t total = 0, at = 0, blen;
    int64_t rc;

    if (!recs)
        return -ENOMEM;
    if (n < 1) {
        rc = -EINVAL;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (entry_check(&e[i]) < 0) {
            rc = -EINVAL;
            goto out;
        }
        total += key_len(&e[i].k) + (e[i].v ? val_len(e[i].v) : 0);
    }
    kv = malloc(total);
    if (!kv) {
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        recs[i].key = kv + at;
        recs[i].key_len = (int32_t)key_len(&e[i].k);
        put_key(kv + at, &e[i].k);
        at += (size_t)recs[i].key_len;
        if (e[i].v) {
            recs[i].value = kv + at;
            recs[i].value_len = (int32_t)val_len(e[i].v);
            put_val(kv + at, e[i].v);
            at += (size_t)recs[i].value_len;
        } else {
            recs[i].value_len = -1;
        }
    }
    blen = zcq_batch_build_size(recs, n);
    batch = malloc(blen);
    if (!batch) {
        rc = -ENOMEM;
        goto out;
    }
    rc = zcq_batch_build(batch, blen, recs, n, now_ms);
    if (rc < 0)
        goto out;
    rc = zcq_log_append(j->log, batch, blen, 0, now_ms, ZCQ_APPEND_NOSYNC, &res);
    if (rc < 0)
        goto out;
    __atomic_add_fetch(&j->pending, (int64_t)blen, __ATOMIC_RELAXED);
    rc = res.last_offset + 1;
out:
    free(batch);
    free(kv);
    free(recs);
    return rc;
}

int zcq_journal_sync(struct zcq_journal *j, int64_t upto)
{
    return zcq_log_flush_upto(j->log, upto);
}

int zcq_journal_maybe_flush(struct zcq_journal *j, int64_t now_ms)
{
    return zcq_log_maybe_flush(j->log, now_ms);
}

int64_t zcq_journal_pending_bytes(struct zcq_journal *j)
{
    return __atomic_load_n(&j->pending, __ATOMIC_RELAXED);
}

/* --- Snapshots --------------------------------------------------------------------------- */

struct zcq_snap *zcq_snap_begin(struct zcq_journal *j)
{
    struct zcq_snap *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->j = j;
    s->cap = 1 << 16;
    s->body = malloc(s->cap);
    if (!s->body) {
        free(s);
        return NULL;
    }
    /* Room for the header, filled when written. */
    s->len = SNAP_HEADER;
    return s;
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 4096;
    uint8_t *np;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    np = realloc(*p, c);
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

/* Encode the records gathered so far as one batch at the end of the body. */
static int snap_flush(struct zcq_snap *s)
{
    size_t need;
    int64_t len;

    if (s->nrec == 0)
        return 0;
    for (int i = 0; i < s->nrec; i++) {
        s->recs[i].key = s->kv + s->koff[i];
        s->recs[i].value = s->recs[i].value_len > 0 ? s->kv + s->voff[i] : NULL;
    }
    need = zcq_batch_build_size(s->recs, s->nrec);
    if (grow(&s->body, &s->cap, s->len + need) < 0)
        return -ENOMEM;
    len = zcq_batch_build(s->body + s->len, need, s->recs, s->nrec, 0);
    if (len < 0)
        return -EINVAL;
    /* Offsets within the snapshot count from 0; they mean nothing but order. */
    zcq_batch_assign(s->body + s->len, s->entries - s->nrec, -1);
    s->len += (size_t)len;
    s->batches++;
    s->nrec = 0;
    s->kvlen = 0;
    return 0;
}

int zcq_snap_add(struct zcq_snap *s, const struct zcq_journal_entry *e)
{
    size_t kl, vl;

    if (s->err)
        return s->err;
    if (!e->v || entry_check(e) < 0)
        return 0; /* a snapshot holds live entries only */
    kl = key_len(&e->k);
    vl = val_len(e->v);
    if (grow(&s->kv, &s->kvcap, s->kvlen + kl + vl) < 0)
        return s->err = -ENOMEM;
    s->koff[s->nrec] = s->kvlen;
    put_key(s->kv + s->kvlen, &e->k);
    s->kvlen += kl;
    s->voff[s->nrec] = s->kvlen;
    put_val(s->kv + s->kvlen, e->v);
    s->kvlen += vl;
    s->recs[s->nrec].key_len = (int32_t)kl;
    s->recs[s->nrec].value_len = (int32_t)vl;
    s->nrec++;
    s->entries++;
    if (s->nrec == SNAP_BATCH_RECORDS && snap_flush(s) < 0)
        return s->err = -ENOMEM;
    return 0;
}

void zcq_snap_seal(struct zcq_snap *s)
{
    if (!s->err && snap_flush(s) < 0)
        s->err = -ENOMEM;
    s->covered = zcq_log_end_offset(s->j->log);
    /* What is replayed after a restart starts here. */
    __atomic_store_n(&s->j->pending, 0, __ATOMIC_RELAXED);
}

void zcq_snap_free(struct zcq_snap *s)
{
    if (!s)
        return;
    free(s->body);
    free(s->kv);
    free(s);
}

int zcq_snap_write(struct zcq_snap *s, char *why, size_t why_len)
{
    char path[4200], tmp[4300];
    int fd = -1, dfd = -1, rc = 0;

    if (s->err) {
        rc = s->err;
        snprintf(why, why_len, "building the offsets snapshot: %s", strerror(-rc));
        goto out;
    }
    memcpy(s->body, SNAP_MAGIC, 8);
    put64(s->body + 8, (uint64_t)s->covered);
    put64(s->body + 16, (uint64_t)s->entries);
    put32(s->body + 24, s->batches);
    put32(s->body + 28, zcq_crc32c(0, s->body, SNAP_HEADER - 4));
    snprintf(path, sizeof(path), "%s/%s", s->j->dir, SNAPSHOT_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    for (size_t done = 0; done < s->len;) {
        ssize_t n = write(fd, s->body + done, s->len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto fail;
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = -errno;
        goto fail;
    }
    dfd = open(s->j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || zcq_fsync_dir(dfd) < 0) {
        rc = dfd < 0 ? -errno : -EIO;
        goto fail;
    }
    /* Only now, with the snapshot durable, may the journal below E go. */
    rc = zcq_log_delete_before(s->j->log, s->covered);
    if (rc < 0) {
        snprintf(why, why_len, "deleting offsets journal segments below %" PRId64 ": %s",
                 s->covered, strerror(-rc));
        goto out;
    }
    rc = 0;
    goto out;
fail:
    snprintf(why, why_len, "writing %s: %s", path, strerror(-rc));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    if (dfd >= 0)
        close(dfd);
    zcq_snap_free(s);
    return rc;
}
