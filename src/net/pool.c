/* Thread pools for blocking work; see pool.h. */
#include "net/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct zcq_kwork *head, *tail;
    pthread_t *threads;
    int nthreads;
    bool stop;
};

struct zcq_pools {
    struct pool p[ZCQ_POOL_COUNT];
};

static void *pool_main(void *arg)
{
    struct pool *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct zcq_kwork *w;

        while (!p->head && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head)
            break; /* stopping, and nothing left to run */
        w = p->head;
        p->head = w->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        w->work(w);
        /* The item may be freed by after() as soon as this wake runs: touch nothing after. */
        w->host->wake(w->host, &w->done);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_stop(struct pool *p)
{
    if (!p->threads)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    p->threads = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

int zcq_pools_new(struct zcq_pools **out, const int threads[ZCQ_POOL_COUNT])
{
    struct zcq_pools *ps = calloc(1, sizeof(*ps));
    int rc = 0;

    *out = NULL;
    if (!ps)
        return -ENOMEM;
    for (int k = 0; k < ZCQ_POOL_COUNT && rc == 0; k++) {
        struct pool *p = &ps->p[k];
        int n = threads[k] > 0 ? threads[k] : 1;

        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        p->threads = calloc((size_t)n, sizeof(*p->threads));
        if (!p->threads) {
            pthread_cond_destroy(&p->cv);
            pthread_mutex_destroy(&p->mu);
            rc = -ENOMEM;
            break;
        }
        for (; p->nthreads < n; p->nthreads++) {
            rc = -pthread_create(&p->threads[p->nthreads], NULL, pool_main, p);
            if (rc < 0)
                break;
        }
    }
    if (rc < 0) {
        zcq_pools_free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void zcq_pools_free(struct zcq_pools *ps)
{
    if (!ps)
        return;
    for (int k = 0; k < ZCQ_POOL_COUNT; k++)
        pool_stop(&ps->p[k]);
    free(ps);
}

void zcq_pools_queue(struct zcq_pools *ps, struct zcq_kwork *w)
{
    struct pool *p = &ps->p[w->pool < ZCQ_POOL_COUNT ? w->pool : ZCQ_POOL_ADMIN];

    w->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = w;
    else
        p->head = w;
    p->tail = w;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
