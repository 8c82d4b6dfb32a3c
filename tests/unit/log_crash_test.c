/*
 * Crash loop for the partition log (reliability.md section 4, "200 kill -9 cycles"): a child
 * process appends batches with flush.messages = 1 and, for each append that returned 0 with
 * res.synced, writes (base offset, seed, epoch) to a pipe; the parent kills it with SIGKILL
 * after a random few milliseconds, then opens the log itself and checks that every
 * acknowledged batch is there byte for byte (rebuilt from its seed), that offsets are dense
 * from the log start, and that the log ends at a batch boundary. The parent then closes the
 * log cleanly or abandons it (so the next child's open has to recover), and the next cycle
 * begins. Segments are small, so kills also land in rolls and in recovery itself.
 *
 * kill -9 keeps the page cache, so this tests recovery and the order of the update protocol
 * (creates, rolls, checkpoints, markers), not whether fsync was called (reliability.md 1).
 *
 * ZCQ_CRASH_CYCLES=N runs N cycles in page-cache mode and N/4 in direct mode (default 200);
 * the delays come from a fixed seed, so a run can be repeated.
 */
#include "harness.h"

#include "logcheck.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define SEEDS_PER_CYCLE 4096u
#define CYCLES_PER_LOG  50 /* a fresh log directory every so many cycles keeps checks cheap */

struct ack {
    int64_t base;
    uint32_t seed;
    int32_t epoch;
};

/* What the child appended for a seed (baseOffset 0, as a producer sends it). */
static uint8_t *batch_for(uint32_t seed, size_t *len)
{
    return bg_build(1 + (int)(seed % 4), 16 + (seed * 7) % 180, 1000 + seed % 100000, seed, len);
}

static void crash_cfg(struct zcq_log_config *c, int direct)
{
    lc_cfg(c, direct);
    c->flush_messages = 1;
    c->segment_bytes = 16 * 1024;
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The child: append until killed, acknowledging each synced batch. Exits (never returns) with
 * a code saying what went wrong if anything did; the parent expects SIGKILL. */
static void child(const char *dir, int direct, int wfd, uint32_t cycle)
{
    struct zcq_log_config c;
    struct zcq_log_open_info info;
    struct zcq_log *log;
    int32_t epoch = (int32_t)cycle;

    crash_cfg(&c, direct);
    if (zcq_log_open(&log, dir, &c, &info) < 0) {
        fprintf(stderr, "child: open: %s\n", info.why);
        _exit(3);
    }
    for (uint32_t i = 0; i < SEEDS_PER_CYCLE; i++) {
        struct zcq_append_result r;
        struct ack a;
        uint32_t seed = cycle * SEEDS_PER_CYCLE + i;
        size_t len;
        uint8_t *b = batch_for(seed, &len);
        int rc = zcq_log_append(log, b, len, epoch, now_ms(), 0, &r);

        free(b);
        if (rc < 0 || !r.synced) {
            fprintf(stderr, "child: append: %s\n", zcq_log_strerror(rc));
            _exit(4);
        }
        a.base = r.base_offset;
        a.seed = seed;
        a.epoch = epoch;
        if (write(wfd, &a, sizeof(a)) != (ssize_t)sizeof(a))
            _exit(5);
    }
    for (;;)
        pause();
}

struct acked {
    struct ack *a;
    uint8_t **bytes; /* expected stored bytes: offsets and epoch assigned */
    size_t *len;
    size_t n, cap;
};

static void acked_add(struct acked *k, const struct ack *a)
{
    size_t len;
    uint8_t *b;

    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->a = realloc(k->a, k->cap * sizeof(*k->a));
        k->bytes = realloc(k->bytes, k->cap * sizeof(*k->bytes));
        k->len = realloc(k->len, k->cap * sizeof(*k->len));
        ZT_ASSERT(k->a && k->bytes && k->len);
    }
    b = batch_for(a->seed, &len);
    zcq_batch_assign(b, a->base, a->epoch);
    /* Acknowledged in order: each after the one before (an unacknowledged batch may sit in
     * between, the one in flight when a child died). */
    if (k->n)
        ZT_ASSERT(a->base > k->a[k->n - 1].base);
    k->a[k->n] = *a;
    k->bytes[k->n] = b;
    k->len[k->n] = len;
    k->n++;
}

static void acked_clear(struct acked *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->bytes[i]);
    k->n = 0;
}

/* Read everything from fd into acks, the bytes not yet making a whole record kept in buf. */
static int drain(int fd, struct acked *k, uint8_t *buf, size_t *have)
{
    for (;;) {
        ssize_t r = read(fd, buf + *have, sizeof(struct ack) * 64 - *have);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return 1;
        ZT_OK(r);
        if (r == 0)
            return 0; /* EOF: the child is gone */
        *have += (size_t)r;
        while (*have >= sizeof(struct ack)) {
            struct ack a;

            memcpy(&a, buf, sizeof(a));
            acked_add(k, &a);
            memmove(buf, buf + sizeof(a), *have - sizeof(a));
            *have -= sizeof(a);
        }
    }
}

/* Walk the whole log in large reads: every batch valid, offsets dense from the start, the end
 * at a batch boundary. Returns the log's bytes in order and, for each batch, its base and
 * where it is in them. */
struct walk {
    uint8_t *all;
    size_t len, cap;
    int64_t *base;
    size_t *at;
    size_t n, ncap;
};

static void walk_log(struct zcq_log *log, struct walk *w)
{
    int64_t off = zcq_log_start_offset(log), end = zcq_log_end_offset(log);

    w->len = w->n = 0;
    ZT_EQ(zcq_log_high_watermark(log), end);
    while (off < end) {
        struct zcq_log_slice s;
        uint8_t *got;
        size_t p = 0;
        bool progressed = false;

        ZT_OK(zcq_log_read(log, off, 256 * 1024, &s));
        ZT_ASSERT(s.n > 0);
        ZT_EQ(s.first_offset, off);
        got = lc_gather(&s);
        zcq_log_slice_release(log, &s);
        /* Whole batches; the last may be cut by max_bytes and is read again next time. */
        while (p + ZCQ_BATCH_LOG_OVERHEAD <= s.bytes) {
            struct zcq_batch_info bi;
            int64_t sz = zcq_batch_size(got + p, s.bytes - p);
            int rc;

            ZT_ASSERT(sz >= ZCQ_BATCH_HEADER);
            if ((uint64_t)sz > s.bytes - p)
                break;
            rc = zcq_batch_validate(got + p, (size_t)sz, &bi);
            if (rc < 0)
                zt_fail(__FILE__, __LINE__, "batch at offset %lld: %s", (long long)off,
                        zcq_log_strerror(rc));
            ZT_EQ(bi.base_offset, off); /* dense */
            if (w->len + (size_t)sz > w->cap) {
                w->cap = (w->len + (size_t)sz) * 2;
                w->all = realloc(w->all, w->cap);
                ZT_ASSERT(w->all);
            }
            if (w->n == w->ncap) {
                w->ncap = w->ncap ? 2 * w->ncap : 1024;
                w->base = realloc(w->base, w->ncap * sizeof(*w->base));
                w->at = realloc(w->at, w->ncap * sizeof(*w->at));
                ZT_ASSERT(w->base && w->at);
            }
            memcpy(w->all + w->len, got + p, (size_t)sz);
            w->base[w->n] = off;
            w->at[w->n] = w->len;
            w->n++;
            w->len += (size_t)sz;
            off = bi.base_offset + bi.last_offset_delta + 1;
            p += (size_t)sz;
            progressed = true;
        }
        free(got);
        ZT_ASSERT(progressed);
    }
    ZT_EQ(off, end); /* the log ends where its last batch does */
}

/* Every acknowledged batch is in the walk, byte for byte. */
static void check_acked(const struct walk *w, const struct acked *k, int64_t end)
{
    size_t j = 0;

    for (size_t i = 0; i < k->n; i++) {
        size_t len;

        if (k->a[i].base >= end)
            zt_fail(__FILE__, __LINE__, "acknowledged batch at %lld lost: the log ends at %lld",
                    (long long)k->a[i].base, (long long)end);
        while (j < w->n && w->base[j] < k->a[i].base)
            j++;
        if (j == w->n || w->base[j] != k->a[i].base)
            zt_fail(__FILE__, __LINE__, "no batch starts at acknowledged offset %lld",
                    (long long)k->a[i].base);
        len = (j + 1 < w->n ? w->at[j + 1] : w->len) - w->at[j];
        if (len != k->len[i] || memcmp(w->all + w->at[j], k->bytes[i], len) != 0)
            zt_fail(__FILE__, __LINE__, "acknowledged batch at %lld (seed %u) differs",
                    (long long)k->a[i].base, k->a[i].seed);
    }
}

static unsigned cycles_from_env(unsigned dflt)
{
    const char *e = getenv("ZCQ_CRASH_CYCLES");
    long v = e ? strtol(e, NULL, 10) : 0;

    return v > 0 ? (unsigned)v : dflt;
}

static void crash_loop(int direct, unsigned cycles)
{
    struct zcq_log_config c;
    struct acked k = {0};
    struct walk w = {0};
    char dir[LC_DIR];
    uint64_t rng = 0x5eed0000u + (uint64_t)direct;
    unsigned cut_cycles = 0;
    size_t total_acked = 0, checks = 0;

    /* Long runs by hand get the time they need. */
    alarm(60 + cycles / 4);
    crash_cfg(&c, direct);
    for (uint32_t cycle = 0; cycle < cycles; cycle++) {
        struct zcq_log_open_info info;
        struct zcq_log *log;
        uint8_t buf[sizeof(struct ack) * 64];
        size_t have = 0;
        int p[2], status, rc;
        int64_t deadline;
        size_t before;
        pid_t pid;

        if (cycle % CYCLES_PER_LOG == 0) {
            if (cycle) {
                lc_clear_dir(dir);
                ZT_OK(rmdir(dir));
            }
            snprintf(dir, sizeof(dir), "%s/log%u", zt_tmpdir(), cycle / CYCLES_PER_LOG);
            acked_clear(&k);
        }
        before = k.n;
        ZT_OK(pipe2(p, O_CLOEXEC));
        fflush(NULL);
        pid = fork();
        ZT_OK(pid);
        if (pid == 0) {
            close(p[0]);
            child(dir, direct, p[1], cycle);
        }
        close(p[1]);
        ZT_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
        /* The workload: how long the child runs before it dies. */
        deadline = now_ms() + 1 + (int64_t)(lc_rand(&rng) % 30);
        for (;;) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            int64_t left = deadline - now_ms();

            if (left <= 0)
                break;
            rc = poll(&pfd, 1, (int)left);
            if (rc < 0 && errno == EINTR)
                continue;
            ZT_OK(rc);
            if (rc > 0 && !drain(p[0], &k, buf, &have))
                break; /* the child died on its own: waitpid tells how */
        }
        ZT_OK(kill(pid, SIGKILL));
        ZT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            zt_fail(__FILE__, __LINE__, "cycle %u: the child ended by itself (status %#x)", cycle,
                    status);
        ZT_OK(fcntl(p[0], F_SETFL, 0));
        while (drain(p[0], &k, buf, &have))
            ;
        close(p[0]);
        ZT_EQ(have, 0); /* pipe writes of 16 bytes are atomic */

        rc = zcq_log_open(&log, dir, &c, &info);
        if (rc == -EINVAL && direct)
            zt_skip("O_DIRECT is not supported here: %s", info.why);
        if (rc < 0)
            zt_fail(__FILE__, __LINE__, "cycle %u: open after the kill: %s (%s)", cycle,
                    zcq_log_strerror(rc), info.why);
        cut_cycles += info.truncated_bytes > 0;
        walk_log(log, &w);
        check_acked(&w, &k, zcq_log_end_offset(log));
        ZT_EQ(zcq_log_durable_offset(log), zcq_log_end_offset(log));
        if (cycle % 2)
            zcq_log_abandon(log);
        else
            ZT_OK(zcq_log_close(log));
        total_acked += k.n - before;
        checks += k.n;
    }
    printf("%u cycles: %zu batches acknowledged, %zu checks of them, %u recoveries cut a "
           "torn tail\n",
           cycles, total_acked, checks, cut_cycles);
    /* A run where the children never got to append would prove nothing. */
    ZT_ASSERT(total_acked > 0);
    acked_clear(&k);
    free(k.a);
    free(k.bytes);
    free(k.len);
    free(w.all);
    free(w.base);
    free(w.at);
}

static void crash_pagecache(void)
{
    crash_loop(0, cycles_from_env(200));
}

static void crash_direct(void)
{
    crash_loop(1, cycles_from_env(200) / 4);
}

static const struct zcq_test tests[] = {
    {"pagecache/kill9_loop", crash_pagecache, 120},
    {"direct/kill9_loop", crash_direct, 120},
};

ZT_MAIN(tests)
