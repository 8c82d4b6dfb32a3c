/* Tests for src/net/loop.c: wakeups posted from other threads are never lost. */
#include "harness.h"

#include "net/loop.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

static struct zcq_loop *loop;

static void *run_loop(void *arg)
{
    (void)arg;
    ZT_OK(zcq_loop_run(loop));
    return NULL;
}

struct pinger {
    struct zcq_kwake wake;
    long seen; /* callbacks run (atomic) */
    long rounds;
};

static void on_wake(struct zcq_kwake *w)
{
    struct pinger *p = (struct pinger *)w;

    __atomic_add_fetch(&p->seen, 1, __ATOMIC_SEQ_CST);
}

/* Post a wake, wait for its callback, post again: each round needs the loop to notice the
 * wake while it sleeps in epoll_wait with no timer to bound the sleep, so one lost wakeup
 * hangs the test (and the harness's time limit fails it). */
static void *ping(void *arg)
{
    struct pinger *p = arg;

    for (long i = 0; i < p->rounds; i++) {
        zcq_loop_wake(loop, &p->wake);
        while (__atomic_load_n(&p->seen, __ATOMIC_SEQ_CST) <= i)
            sched_yield();
    }
    return NULL;
}

static void wakes_never_lost(void)
{
    struct pinger p[3];
    pthread_t loop_thread, t[3];

    ZT_OK(zcq_loop_new(&loop, NULL));
    ZT_EQ(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
    /* Several threads at once: a wake that lands while the loop is draining the eventfd for
     * another is the case that once left the loop deaf (docs/benchmarks.md, commit latency). */
    for (int i = 0; i < 3; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].wake.cb = on_wake;
        p[i].rounds = 100000;
        ZT_EQ(pthread_create(&t[i], NULL, ping, &p[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ZT_EQ(p[i].seen, p[i].rounds);
    }
    zcq_loop_stop(loop);
    pthread_join(loop_thread, NULL);
    zcq_loop_free(loop);
}

static const struct zcq_test tests[] = {
    {"wakes_never_lost", wakes_never_lost, 60},
};

ZT_MAIN(tests)
