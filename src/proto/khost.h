/*
 * What a protocol handler may ask of the thread that runs it: timers, wakeups from other
 * threads, and work run off the event loop (fsync, cold reads, topic creation). The protocol
 * layer never touches sockets or the loop itself; the network layer (src/net) implements this
 * interface with its event loop and thread pools, and tests or the fuzzer with fakes.
 *
 * Contract
 *   - Every callback a handler registers runs on the thread of its host (the connection's
 *     loop), one at a time, never inside the call that registered it.
 *   - struct zcq_ktimer, zcq_kwake and zcq_kwork are embedded in their owner's memory, which
 *     must outlive them: a timer until it fired or was stopped, a wake until it ran or was
 *     cancelled, a work item until its after() ran (work cannot be cancelled).
 *   - wake() may be called from any thread, any number of times: a wake already queued is not
 *     queued again, so it runs once per batch of calls.
 */
#ifndef ZCQ_PROTO_KHOST_H
#define ZCQ_PROTO_KHOST_H

#include <stddef.h>
#include <stdint.h>

struct zcq_ktimer {
    void (*cb)(struct zcq_ktimer *t);
    /* the host's */
    int64_t when;
    size_t idx; /* position in the host's heap, 0 when not started */
};

struct zcq_kwake {
    void (*cb)(struct zcq_kwake *w);
    /* the host's */
    struct zcq_kwake *next;
    int queued;
};

enum zcq_kpool {
    ZCQ_POOL_SYNC = 0, /* fdatasync of partition logs (group commit) */
    ZCQ_POOL_READ,     /* bringing cold log ranges into memory */
    ZCQ_POOL_ADMIN,    /* topic creation and deletion, anything else that may block */
    ZCQ_POOL_COUNT
};

struct zcq_kwork {
    void (*work)(struct zcq_kwork *w);  /* on a pool thread: may block */
    void (*after)(struct zcq_kwork *w); /* then on the host's thread */
    enum zcq_kpool pool;
    /* the host's */
    struct zcq_kwake done;
    struct zcq_khost *host;
    struct zcq_kwork *next;
};

struct zcq_khost {
    void (*timer_start)(struct zcq_khost *h, struct zcq_ktimer *t, int64_t delay_ms);
    void (*timer_stop)(struct zcq_khost *h, struct zcq_ktimer *t);
    void (*wake)(struct zcq_khost *h, struct zcq_kwake *w);   /* any thread */
    void (*unwake)(struct zcq_khost *h, struct zcq_kwake *w); /* host thread: cancel */
    void (*queue_work)(struct zcq_khost *h, struct zcq_kwork *w);
    int64_t (*now_ms)(struct zcq_khost *h); /* monotonic milliseconds */
};

static inline int zcq_ktimer_active(const struct zcq_ktimer *t)
{
    return t->idx != 0;
}

#endif
