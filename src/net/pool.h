/*
 * Thread pools for work that must not run on an event loop (proto/khost.h, enum zcq_kpool):
 * one pool per kind, so that a slow cold read never delays an fsync that acknowledgements
 * wait for (nginx's named thread pools). A work item runs on a pool thread, which then wakes
 * w->done on w->host (the loop that queued it, which set both).
 *
 * Contract: items run in the order queued on each pool's threads. zcq_pools_free() runs every
 * queued item first.
 * Errors: -errno.
 */
#ifndef ZCQ_NET_POOL_H
#define ZCQ_NET_POOL_H

#include "proto/khost.h"

struct zcq_pools;

/* threads[k] threads for pool k (at least 1 each). */
int zcq_pools_new(struct zcq_pools **out, const int threads[ZCQ_POOL_COUNT]);
void zcq_pools_free(struct zcq_pools *p);

/* Queue w on pool w->pool; when w->work() returned, w->host->wake(&w->done). */
void zcq_pools_queue(struct zcq_pools *p, struct zcq_kwork *w);

#endif
