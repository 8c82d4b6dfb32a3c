/*
 * libFuzzer target for request decoding: the input is one or more whole request frames (an
 * int32 size and that many bytes, as they come off a socket) run through the dispatch
 * (proto/api.c) with a fake connection and a real broker whose data directory lives under
 * $TMPDIR. Whatever the bytes, nothing may crash, no sanitizer may complain, and every request
 * must end answered, unanswered (acks=0) or refused (close) once its work, timers and wakeups
 * have run; a response must have the size its prefix says.
 *
 * The fake host (proto/khost.h) queues work items, timers and wakeups and runs them after the
 * handler returns, as a loop would: work on "pool" threads (here, inline), then after(),
 * wakeups, and finally timers (a long-poll's max wait), until nothing is left.
 *
 * Topics: the broker auto-creates those Metadata asks for and admin requests create, with at
 * most 4 partitions each (zcq.max.partitions.per.topic), so inputs cannot make it open
 * thousands of logs. `make fuzz` builds build/fuzz/request_fuzz; by hand:
 *   TMPDIR=/dev/shm build/fuzz/request_fuzz -max_len=8192 work tests/fuzz/corpus/request
 * tests/fuzz/replay.c replays the corpus under gcc's sanitizers in every test run.
 */
#include "broker/broker.h"
#include "io/say.h"
#include "proto/kreq.h"

#include <endian.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "request_fuzz:%d: check failed: %s\n", __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* --- The fake host --------------------------------------------------------------------- */

#define QMAX 4096

static struct zcq_kwork *works[QMAX];
static struct zcq_ktimer *timers[QMAX];
static struct zcq_kwake *wakes[QMAX];
static int nworks, ntimers, nwakes;
static int64_t now;
/* Wakes may come from another thread (the group coordinator's timer thread), as on a real
 * loop; everything else happens on the fuzzing thread. */
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;

static void f_timer_start(struct zcq_khost *h, struct zcq_ktimer *t, int64_t delay)
{
    (void)h;
    t->when = now + delay;
    if (!t->idx) {
        CHECK(ntimers < QMAX);
        timers[ntimers++] = t;
        t->idx = (size_t)ntimers;
    }
}

static void f_timer_stop(struct zcq_khost *h, struct zcq_ktimer *t)
{
    (void)h;
    for (int i = 0; i < ntimers; i++) {
        if (timers[i] == t) {
            timers[i] = timers[--ntimers];
            break;
        }
    }
    t->idx = 0;
}

static void f_wake(struct zcq_khost *h, struct zcq_kwake *w)
{
    (void)h;
    pthread_mutex_lock(&wake_mu);
    if (!w->queued) {
        CHECK(nwakes < QMAX);
        w->queued = 1;
        wakes[nwakes++] = w;
    }
    pthread_mutex_unlock(&wake_mu);
}

static void f_unwake(struct zcq_khost *h, struct zcq_kwake *w)
{
    (void)h;
    pthread_mutex_lock(&wake_mu);
    for (int i = 0; i < nwakes; i++) {
        if (wakes[i] == w) {
            wakes[i] = wakes[--nwakes];
            break;
        }
    }
    w->queued = 0;
    pthread_mutex_unlock(&wake_mu);
}

/* The next queued wake, or NULL. */
static struct zcq_kwake *next_wake(void)
{
    struct zcq_kwake *w = NULL;

    pthread_mutex_lock(&wake_mu);
    if (nwakes) {
        w = wakes[0];
        memmove(wakes, wakes + 1, sizeof(*wakes) * (size_t)--nwakes);
        w->queued = 0;
    }
    pthread_mutex_unlock(&wake_mu);
    return w;
}

static void f_queue_work(struct zcq_khost *h, struct zcq_kwork *w)
{
    w->host = h;
    CHECK(nworks < QMAX);
    works[nworks++] = w;
}

static int64_t f_now(struct zcq_khost *h)
{
    (void)h;
    return now;
}

static struct zcq_khost host = {f_timer_start, f_timer_stop, f_wake, f_unwake, f_queue_work, f_now};

/* Run what the request left queued, as a loop would, until nothing is left. */
static void run_queued(void)
{
    for (int rounds = 0; rounds < 10000; rounds++) {
        struct zcq_kwake *wk;

        if (nworks) {
            struct zcq_kwork *w = works[0];

            memmove(works, works + 1, sizeof(*works) * (size_t)--nworks);
            w->work(w);
            w->after(w);
        } else if ((wk = next_wake())) {
            wk->cb(wk);
        } else if (ntimers) {
            struct zcq_ktimer *t = timers[0];

            if (t->when > now)
                now = t->when;
            f_timer_stop(&host, t);
            t->cb(t);
        } else {
            return;
        }
    }
    CHECK(!"a request kept rescheduling itself");
}

/* --- The broker -------------------------------------------------------------------------- */

static struct zcq_broker *broker;
static int finished;

static void on_done(struct zcq_kreq *r)
{
    (void)r;
    finished++;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char data_dir[4096];

static void teardown(void)
{
    zcq_broker_close(broker);
    nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    struct zcq_broker_config cfg;
    const char *tmp = getenv("TMPDIR");
    char why[512];

    zcq_say_level = ZCQ_SAY_QUIET;
    zcq_broker_config_default(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/zcq-request-fuzz-%d", tmp ? tmp : "/tmp",
             (int)getpid());
    cfg.max_partitions = 4;
    cfg.num_partitions = 2;
    cfg.log.segment_bytes = 1 << 20;
    /* Joins complete at once when nobody else is in the group: the fuzzer's fake host has
     * no real time, and a held join is cancelled when nothing else is queued. */
    cfg.group_initial_delay_ms = 0;
    cfg.group_min_session_ms = 1;
    CHECK(zcq_broker_config_check(&cfg, why, sizeof(why)) == 0);
    if (zcq_broker_open(&broker, &cfg, why, sizeof(why)) < 0) {
        fprintf(stderr, "request_fuzz: %s\n", why);
        abort();
    }
    snprintf(data_dir, sizeof(data_dir), "%s", cfg.data_dir);
    atexit(teardown);
    /* A topic to produce to and fetch from, with a batch or two in it. */
    (void)zcq_topics_create(broker->topics, "t", 2, NULL, 0, 0, why, sizeof(why));
}

static void check_resp(struct zcq_kresp *resp)
{
    uint32_t size;
    uint64_t total = 0;

    CHECK(resp->w.len >= 8);
    memcpy(&size, resp->w.buf, 4);
    for (unsigned i = 0; i < resp->n; i++)
        total += resp->parts[i].slice ? resp->parts[i].slice->bytes : resp->parts[i].len;
    CHECK(total == resp->total);
    CHECK((uint64_t)be32toh(size) + 4 == total);
}

static void one_frame(uint8_t *frame, size_t len)
{
    struct zcq_kreq *r = zcq_kreq_new(&host, broker, frame, len);

    CHECK(r);
    r->on_done = on_done;
    r->owner = &host;
    finished = 0;
    zcq_kreq_handle(r);
    if (r->state == ZCQ_KREQ_PENDING) {
        run_queued();
        CHECK(finished == 1 || r->state == ZCQ_KREQ_PENDING);
    }
    if (r->state == ZCQ_KREQ_PENDING) {
        /* Nothing left to run and still waiting: the connection goes away. */
        zcq_kreq_cancel(r);
        run_queued();
        return;
    }
    if (r->state == ZCQ_KREQ_DONE) {
        struct zcq_kresp *resp = zcq_kreq_take_resp(r);

        CHECK(resp);
        check_resp(resp);
        zcq_kresp_free(resp);
    }
    zcq_kreq_free(r);
    run_queued(); /* background flushes a produce queued */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;
    size_t off = 0;

    if (!broker)
        setup();
    /* The handlers may rewrite batches in place, as in a connection's own buffer. */
    copy = malloc(size ? size : 1);
    CHECK(copy);
    memcpy(copy, data, size);
    while (size - off >= 4) {
        uint32_t be;
        size_t n;

        memcpy(&be, copy + off, 4);
        n = be32toh(be);
        off += 4;
        if (n > size - off)
            n = size - off; /* a truncated last frame: what a connection would hold */
        one_frame(copy + off, n);
        off += n;
    }
    free(copy);
    return 0;
}
