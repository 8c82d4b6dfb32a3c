/*
 * The event loop, one per worker thread (after redis's ae.c): epoll for sockets, a binary heap
 * of timers, and a queue of wakeups that any thread may post (an eventfd rings the loop). It
 * implements the protocol layer's host interface (proto/khost.h) for the requests it runs;
 * work items go to the pools given at creation (net/pool.h).
 *
 * One iteration, in this order:
 *   1. the before-sleep hook
 *   2. epoll_wait, for as long as the nearest timer allows (not at all with wakeups queued)
 *   3. socket events, in the order epoll returned them
 *   4. expired timers, earliest first
 *   5. the wakeups queued before this phase began (later ones wait for the next iteration)
 *   6. the after-events hook (the owner frees what it closed during the iteration: a
 *      connection is never freed inside its own callback, so later events of the same batch
 *      still find it, marked closed)
 *
 * Contract: everything but zcq_loop_wake() (proto/khost.h wake) and zcq_loop_stop() runs on
 * the loop's thread. Registrations (struct zcq_ev, timers, wakes) are embedded in their
 * owners. Errors: -errno.
 */
#ifndef ZCQ_NET_LOOP_H
#define ZCQ_NET_LOOP_H

#include "proto/khost.h"

#include <stdint.h>

struct zcq_loop;
struct zcq_pools;

/* A socket's registration. revents are EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits. */
struct zcq_ev {
    int fd;
    unsigned events; /* registered */
    void (*cb)(struct zcq_ev *e, unsigned revents);
};

int zcq_loop_new(struct zcq_loop **out, struct zcq_pools *pools);
void zcq_loop_free(struct zcq_loop *l);

/* The host interface the loop implements, for requests it runs. */
struct zcq_khost *zcq_loop_host(struct zcq_loop *l);
struct zcq_loop *zcq_loop_of(struct zcq_khost *h);

int zcq_loop_add(struct zcq_loop *l, struct zcq_ev *e, unsigned events);
int zcq_loop_mod(struct zcq_loop *l, struct zcq_ev *e, unsigned events);
void zcq_loop_del(struct zcq_loop *l, struct zcq_ev *e);

void zcq_loop_timer_start(struct zcq_loop *l, struct zcq_ktimer *t, int64_t delay_ms);
void zcq_loop_timer_stop(struct zcq_loop *l, struct zcq_ktimer *t);
void zcq_loop_wake(struct zcq_loop *l, struct zcq_kwake *w); /* any thread */
void zcq_loop_unwake(struct zcq_loop *l, struct zcq_kwake *w);

void zcq_loop_set_hooks(struct zcq_loop *l, void (*before_sleep)(void *),
                        void (*after_events)(void *), void *arg);

/* Work items this loop queued whose after() has not run yet (a loop must not be freed before
 * they are all back). */
size_t zcq_loop_work_out(struct zcq_loop *l);

/* Milliseconds of CLOCK_MONOTONIC, read once per iteration. */
int64_t zcq_loop_now(struct zcq_loop *l);

/* Run until zcq_loop_stop(). Returns 0, or -errno if epoll fails. */
int zcq_loop_run(struct zcq_loop *l);
void zcq_loop_stop(struct zcq_loop *l); /* any thread */

#endif
