/* The event loop; see loop.h. */
#include "net/loop.h"
#include "net/pool.h"

#include "io/say.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct zcq_loop {
    struct zcq_khost host; /* first: the host is the loop */
    int epfd;
    struct zcq_ev ring; /* the eventfd other threads ring */
    struct zcq_pools *pools;
    size_t work_out; /* work items queued whose after() has not run yet */
    int64_t now;
    atomic_bool stop;

    /* Timers: a binary min-heap on `when`, 1-based; t->idx is its slot. */
    struct zcq_ktimer **heap;
    size_t nheap, capheap;

    /* Wakeups from any thread. rung: the eventfd was written since the loop last drained
     * it, so later wakes need not write it again. */
    pthread_mutex_t wmu;
    struct zcq_kwake *whead, *wtail;
    size_t nw;
    bool rung;

    void (*before_sleep)(void *);
    void (*after_events)(void *);
    void *hook_arg;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Timers -------------------------------------------------------------------------- */

static void heap_set(struct zcq_loop *l, size_t i, struct zcq_ktimer *t)
{
    l->heap[i] = t;
    t->idx = i;
}

static void heap_up(struct zcq_loop *l, size_t i)
{
    struct zcq_ktimer *t = l->heap[i];

    while (i > 1 && l->heap[i / 2]->when > t->when) {
        heap_set(l, i, l->heap[i / 2]);
        i /= 2;
    }
    heap_set(l, i, t);
}

static void heap_down(struct zcq_loop *l, size_t i)
{
    struct zcq_ktimer *t = l->heap[i];

    for (;;) {
        size_t c = 2 * i;

        if (c > l->nheap)
            break;
        if (c + 1 <= l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
            c++;
        if (l->heap[c]->when >= t->when)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void zcq_loop_timer_stop(struct zcq_loop *l, struct zcq_ktimer *t)
{
    size_t i = t->idx;
    struct zcq_ktimer *last;

    if (i == 0)
        return;
    t->idx = 0;
    last = l->heap[l->nheap--];
    if (last == t)
        return;
    heap_set(l, i, last);
    heap_up(l, i);
    heap_down(l, last->idx);
}

void zcq_loop_timer_start(struct zcq_loop *l, struct zcq_ktimer *t, int64_t delay_ms)
{
    zcq_loop_timer_stop(l, t);
    if (l->nheap + 1 >= l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        struct zcq_ktimer **h = realloc(l->heap, sizeof(*h) * cap);

        if (!h) {
            /* Cannot happen in practice (a few pointers); fire at once rather than never. */
            t->when = l->now;
            t->cb(t);
            return;
        }
        l->heap = h;
        l->capheap = cap;
    }
    t->when = l->now + (delay_ms > 0 ? delay_ms : 0);
    heap_set(l, ++l->nheap, t);
    heap_up(l, l->nheap);
}

static void run_timers(struct zcq_loop *l)
{
    while (l->nheap && l->heap[1]->when <= l->now) {
        struct zcq_ktimer *t = l->heap[1];

        zcq_loop_timer_stop(l, t);
        t->cb(t);
    }
}

/* --- Wakeups ------------------------------------------------------------------------- */

void zcq_loop_wake(struct zcq_loop *l, struct zcq_kwake *w)
{
    bool ring = false;

    pthread_mutex_lock(&l->wmu);
    if (!w->queued) {
        w->queued = 1;
        w->next = NULL;
        if (l->wtail)
            l->wtail->next = w;
        else
            l->whead = w;
        l->wtail = w;
        l->nw++;
        if (!l->rung)
            ring = l->rung = true;
    }
    pthread_mutex_unlock(&l->wmu);
    if (ring) {
        uint64_t one = 1;

        /* Only EAGAIN (counter full, so already readable) can fail here: harmless. */
        if (write(l->ring.fd, &one, sizeof(one)) < 0)
            return;
    }
}

void zcq_loop_unwake(struct zcq_loop *l, struct zcq_kwake *w)
{
    pthread_mutex_lock(&l->wmu);
    if (w->queued) {
        struct zcq_kwake **p = &l->whead, *prev = NULL;

        while (*p && *p != w) {
            prev = *p;
            p = &(*p)->next;
        }
        if (*p) {
            *p = w->next;
            if (l->wtail == w)
                l->wtail = prev;
            l->nw--;
        }
        w->queued = 0;
    }
    pthread_mutex_unlock(&l->wmu);
}

static void run_wakes(struct zcq_loop *l)
{
    /* Pop one at a time, at most as many as were queued when the phase began: a callback may
     * cancel (unwake) or re-queue any wake, including itself, and those queued meanwhile wait
     * for the next iteration. */
    size_t budget;

    pthread_mutex_lock(&l->wmu);
    budget = l->nw;
    while (budget-- && l->whead) {
        struct zcq_kwake *w = l->whead;

        l->whead = w->next;
        if (!l->whead)
            l->wtail = NULL;
        l->nw--;
        w->queued = 0;
        pthread_mutex_unlock(&l->wmu);
        w->cb(w);
        pthread_mutex_lock(&l->wmu);
    }
    pthread_mutex_unlock(&l->wmu);
}

static void ring_cb(struct zcq_ev *e, unsigned revents)
{
    struct zcq_loop *l = (struct zcq_loop *)((char *)e - offsetof(struct zcq_loop, ring));
    uint64_t v;

    (void)revents;
    /* Drain first, then clear: a wake landing in between finds rung set and does not write,
     * but its item is queued already and run_wakes (after the events) runs it; one landing
     * after the clear writes again. The other order could drain a write made just after the
     * clear and leave rung set over an empty eventfd: every later wake would then go unheard
     * until a timer happened to end the loop's sleep (commits and acks=all produces answered
     * a second late: tests/unit/loop_test.c). */
    if (read(e->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        zcq_say(ZCQ_ERROR, "reading the loop's eventfd: %s", strerror(errno));
    pthread_mutex_lock(&l->wmu);
    l->rung = false;
    pthread_mutex_unlock(&l->wmu);
}

/* --- The host interface -------------------------------------------------------------- */

static void h_timer_start(struct zcq_khost *h, struct zcq_ktimer *t, int64_t delay_ms)
{
    zcq_loop_timer_start(zcq_loop_of(h), t, delay_ms);
}

static void h_timer_stop(struct zcq_khost *h, struct zcq_ktimer *t)
{
    zcq_loop_timer_stop(zcq_loop_of(h), t);
}

static void h_wake(struct zcq_khost *h, struct zcq_kwake *w)
{
    zcq_loop_wake(zcq_loop_of(h), w);
}

static void h_unwake(struct zcq_khost *h, struct zcq_kwake *w)
{
    zcq_loop_unwake(zcq_loop_of(h), w);
}

static void work_done(struct zcq_kwake *k)
{
    struct zcq_kwork *w = (struct zcq_kwork *)((char *)k - offsetof(struct zcq_kwork, done));

    zcq_loop_of(w->host)->work_out--;
    w->after(w);
}

static void h_queue_work(struct zcq_khost *h, struct zcq_kwork *w)
{
    struct zcq_loop *l = zcq_loop_of(h);

    w->host = h;
    w->done.cb = work_done;
    w->done.queued = 0;
    l->work_out++;
    zcq_pools_queue(l->pools, w);
}

size_t zcq_loop_work_out(struct zcq_loop *l)
{
    return l->work_out;
}

static int64_t h_now(struct zcq_khost *h)
{
    return zcq_loop_of(h)->now;
}

struct zcq_khost *zcq_loop_host(struct zcq_loop *l)
{
    return &l->host;
}

struct zcq_loop *zcq_loop_of(struct zcq_khost *h)
{
    return (struct zcq_loop *)h;
}

/* --- Loop ---------------------------------------------------------------------------- */

int zcq_loop_new(struct zcq_loop **out, struct zcq_pools *pools)
{
    struct zcq_loop *l = calloc(1, sizeof(*l));
    int rc;

    *out = NULL;
    if (!l)
        return -ENOMEM;
    l->host.timer_start = h_timer_start;
    l->host.timer_stop = h_timer_stop;
    l->host.wake = h_wake;
    l->host.unwake = h_unwake;
    l->host.queue_work = h_queue_work;
    l->host.now_ms = h_now;
    l->pools = pools;
    l->now = mono_ms();
    l->ring.fd = -1;
    pthread_mutex_init(&l->wmu, NULL);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        rc = -errno;
        goto fail;
    }
    l->ring.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ring.fd < 0) {
        rc = -errno;
        goto fail;
    }
    l->ring.cb = ring_cb;
    rc = zcq_loop_add(l, &l->ring, EPOLLIN);
    if (rc < 0)
        goto fail;
    *out = l;
    return 0;

fail:
    zcq_loop_free(l);
    return rc;
}

void zcq_loop_free(struct zcq_loop *l)
{
    if (!l)
        return;
    if (l->ring.fd >= 0)
        close(l->ring.fd);
    if (l->epfd >= 0)
        close(l->epfd);
    pthread_mutex_destroy(&l->wmu);
    free(l->heap);
    free(l);
}

int zcq_loop_add(struct zcq_loop *l, struct zcq_ev *e, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = e};

    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0)
        return -errno;
    e->events = events;
    return 0;
}

int zcq_loop_mod(struct zcq_loop *l, struct zcq_ev *e, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = e};

    if (events == e->events)
        return 0;
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, e->fd, &ev) < 0)
        return -errno;
    e->events = events;
    return 0;
}

void zcq_loop_del(struct zcq_loop *l, struct zcq_ev *e)
{
    /* Fails only if the fd is not registered: nothing to undo. */
    (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, e->fd, NULL);
    e->events = 0;
}

void zcq_loop_set_hooks(struct zcq_loop *l, void (*before_sleep)(void *),
                        void (*after_events)(void *), void *arg)
{
    l->before_sleep = before_sleep;
    l->after_events = after_events;
    l->hook_arg = arg;
}

int64_t zcq_loop_now(struct zcq_loop *l)
{
    return l->now;
}

void zcq_loop_stop(struct zcq_loop *l)
{
    uint64_t one = 1;

    atomic_store(&l->stop, true);
    if (write(l->ring.fd, &one, sizeof(one)) < 0)
        return; /* counter full: the loop is being woken anyway */
}

int zcq_loop_run(struct zcq_loop *l)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!atomic_load(&l->stop)) {
        int timeout = -1, n;
        bool pending;

        if (l->before_sleep)
            l->before_sleep(l->hook_arg);
        pthread_mutex_lock(&l->wmu);
        pending = l->whead != NULL;
        pthread_mutex_unlock(&l->wmu);
        l->now = mono_ms();
        if (pending) {
            timeout = 0;
        } else if (l->nheap) {
            int64_t d = l->heap[1]->when - l->now;

            timeout = d <= 0 ? 0 : d > 60000 ? 60000 : (int)d;
        }
        n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno != EINTR)
                return -errno;
            n = 0;
        }
        l->now = mono_ms();
        for (int i = 0; i < n; i++) {
            struct zcq_ev *e = evs[i].data.ptr;

            e->cb(e, evs[i].events);
        }
        run_timers(l);
        run_wakes(l);
        if (l->after_events)
            l->after_events(l->hook_arg);
    }
    return 0;
}
