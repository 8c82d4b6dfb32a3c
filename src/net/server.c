/* The listener, the workers and shutdown; see server.h and conn.h. */
#include "net/server.h"

#include "broker/broker.h"
#include "io/say.h"
#include "net/conn.h"
#include "net/pool.h"

#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF  (256u << 10)
#define SWEEP_MS  1000
#define DRAIN_MAX 10000 /* ms shutdown waits for responses to go out */

/* --- Connection limits -------------------------------------------------------------- */

static size_t ip_slot(const struct sockaddr_storage *a, const void **key, size_t *klen)
{
    const unsigned char *k;
    size_t n, h = 2166136261u;

    if (a->ss_family == AF_INET6) {
        k = (const unsigned char *)&((const struct sockaddr_in6 *)a)->sin6_addr;
        n = 16;
    } else {
        k = (const unsigned char *)&((const struct sockaddr_in *)a)->sin_addr;
        n = 4;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    *key = k;
    *klen = n;
    return h % 256;
}

static struct zcq_ipcount **ip_find(struct zcq_server *s, const struct sockaddr_storage *a)
{
    const void *key;
    size_t klen, slot = ip_slot(a, &key, &klen);
    struct zcq_ipcount **p = &s->ips[slot];

    for (; *p; p = &(*p)->next) {
        const void *k2;
        size_t l2;

        if ((*p)->addr.ss_family != a->ss_family)
            continue;
        ip_slot(&(*p)->addr, &k2, &l2);
        if (l2 == klen && memcmp(k2, key, klen) == 0)
            break;
    }
    return p;
}

bool zcq__server_admit(struct zcq_server *s, const struct sockaddr_storage *addr, char *why,
                       size_t why_len)
{
    const struct zcq_broker_config *c = &s->broker->cfg;
    struct zcq_ipcount **p;
    bool ok = false;

    pthread_mutex_lock(&s->mu);
    p = ip_find(s, addr);
    if (s->nconns >= c->max_connections) {
        snprintf(why, why_len, "max.connections (%d) reached", c->max_connections);
    } else if (*p && (*p)->n >= c->max_connections_per_ip) {
        snprintf(why, why_len, "max.connections.per.ip (%d) reached", c->max_connections_per_ip);
    } else if (!*p && !(*p = calloc(1, sizeof(**p)))) {
        snprintf(why, why_len, "out of memory");
    } else {
        (*p)->addr = *addr;
        (*p)->n++;
        s->nconns++;
        ok = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void zcq__server_release(struct zcq_server *s, const struct sockaddr_storage *addr)
{
    struct zcq_ipcount **p;

    pthread_mutex_lock(&s->mu);
    p = ip_find(s, addr);
    if (*p && --(*p)->n == 0) {
        struct zcq_ipcount *dead = *p;

        *p = dead->next;
        free(dead);
    }
    s->nconns--;
    pthread_mutex_unlock(&s->mu);
}

/* --- Workers ------------------------------------------------------------------------- */

static void on_listen(struct zcq_ev *e, unsigned revents)
{
    struct zcq_worker *w =
        (struct zcq_worker *)((char *)e - offsetof(struct zcq_worker, listen_ev));

    (void)revents;
    if (!w->draining)
        zcq__conn_accept(w, e->fd);
}

static void on_sweep(struct zcq_ktimer *t)
{
    struct zcq_worker *w = (struct zcq_worker *)((char *)t - offsetof(struct zcq_worker, sweep));

    zcq__conn_sweep(w, zcq_loop_now(w->loop));
    zcq_loop_timer_start(w->loop, &w->sweep, SWEEP_MS);
}

/* Each iteration while draining: answer what can be answered; stop once every connection is
 * done (or the deadline passed) and no work is out. */
static void after_events(void *arg)
{
    struct zcq_worker *w = arg;

    zcq__conn_reap(w);
    if (w->draining) {
        bool done = true;
        struct zcq_conn *c, *next;

        for (c = w->conns; c; c = next) {
            next = c->next;
            if (!zcq__conn_drain(c))
                done = false;
        }
        if (done || zcq_loop_now(w->loop) >= w->drain_deadline) {
            for (c = w->conns; c; c = next) {
                next = c->next;
                zcq__conn_close(c, NULL);
            }
            zcq__conn_reap(w);
            /* Cancelled requests with work out free themselves when it is back. */
            if (zcq_loop_work_out(w->loop) == 0)
                zcq_loop_stop(w->loop);
        }
    }
}

static void on_drain(struct zcq_kwake *k)
{
    struct zcq_worker *w =
        (struct zcq_worker *)((char *)k - offsetof(struct zcq_worker, drain_wake));

    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline = zcq_loop_now(w->loop) + DRAIN_MAX;
    zcq_loop_del(w->loop, &w->listen_ev);
    /* after_events runs next (this iteration) and after every one until done: it stops each
     * connection's reading and answers what it can. */
}

static void *worker_main(void *arg)
{
    struct zcq_worker *w = arg;
    int rc = zcq_loop_run(w->loop);

    if (rc < 0)
        zcq_say(ZCQ_ERROR, "worker %d: event loop failed: %s", w->id, strerror(-rc));
    return NULL;
}

/* --- Server -------------------------------------------------------------------------- */

static int listen_on(struct zcq_server *s, const char *host, int port, char *why, size_t why_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    char ports[16];
    int rc, fd = -1, err = 0;

    snprintf(ports, sizeof(ports), "%d", port);
    rc = getaddrinfo(host[0] ? host : NULL, ports, &hints, &res);
    if (rc != 0) {
        snprintf(why, why_len, "listener %s:%d: %s", host, port, gai_strerror(rc));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(why, why_len, "listen on %s:%d: %s", host, port, strerror(err));
        return -err;
    }
    {
        struct sockaddr_storage a;
        socklen_t alen = sizeof(a);

        if (getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
            s->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                                    : ((struct sockaddr_in *)&a)->sin_port);
    }
    s->lfd = fd;
    return 0;
}

int zcq_server_new(struct zcq_server **out, struct zcq_broker *b, char *why, size_t why_len)
{
    const struct zcq_broker_config *c = &b->cfg;
    struct zcq_server *s = calloc(1, sizeof(*s));
    int threads[ZCQ_POOL_COUNT];
    int rc;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->broker = b;
    s->lfd = -1;
    pthread_mutex_init(&s->mu, NULL);
    rc = listen_on(s, c->listen_host, c->listen_port, why, why_len);
    if (rc < 0)
        goto fail;
    threads[ZCQ_POOL_SYNC] = c->sync_threads;
    threads[ZCQ_POOL_READ] = c->read_threads;
    threads[ZCQ_POOL_ADMIN] = 1;
    rc = zcq_pools_new(&s->pools, threads);
    if (rc < 0) {
        snprintf(why, why_len, "start thread pools: %s", strerror(-rc));
        goto fail;
    }
    s->workers = calloc((size_t)c->workers, sizeof(*s->workers));
    if (!s->workers) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < c->workers; i++) {
        struct zcq_worker *w = &s->workers[i];
        struct zcq_xfer_opts xo = {.chunk_max = (size_t)c->send_chunk};
        char xwhy[256];

        w->srv = s;
        w->id = i;
        s->nworkers++;
        rc = zcq_loop_new(&w->loop, s->pools);
        if (rc < 0) {
            snprintf(why, why_len, "event loop: %s", strerror(-rc));
            goto fail;
        }
        w->rbuf_cap = READ_BUF;
        w->rbuf = malloc(w->rbuf_cap);
        if (!w->rbuf) {
            rc = -ENOMEM;
            goto fail;
        }
        /* Splice gets a context per connection (conn.c); the worker's serves the others,
         * and splice's fallback. */
        rc = zcq_xfer_open(&w->x, c->transfer == ZCQ_XFER_SPLICE ? ZCQ_XFER_SENDFILE : c->transfer,
                           &xo, xwhy, sizeof(xwhy));
        if (rc < 0) {
            snprintf(why, why_len, "transfer engine: %s", xwhy);
            goto fail;
        }
        w->listen_ev.fd = s->lfd;
        w->listen_ev.cb = on_listen;
        rc = zcq_loop_add(w->loop, &w->listen_ev, EPOLLIN | EPOLLEXCLUSIVE);
        if (rc < 0) {
            snprintf(why, why_len, "epoll: %s", strerror(-rc));
            goto fail;
        }
        w->sweep.cb = on_sweep;
        zcq_loop_timer_start(w->loop, &w->sweep, SWEEP_MS);
        w->drain_wake.cb = on_drain;
        zcq_loop_set_hooks(w->loop, NULL, after_events, w);
    }
    *out = s;
    return 0;
fail:
    zcq_server_free(s);
    return rc;
}

int zcq_server_port(const struct zcq_server *s)
{
    return s->port;
}

int zcq_server_run(struct zcq_server *s)
{
    int rc = 0, started = 0;

    for (; started < s->nworkers; started++) {
        rc = -pthread_create(&s->workers[started].thread, NULL, worker_main, &s->workers[started]);
        if (rc < 0) {
            zcq_say(ZCQ_ERROR, "start worker %d: %s", started, strerror(-rc));
            zcq_server_shutdown(s);
            break;
        }
    }
    s->running = started;
    for (int i = 0; i < started; i++)
        pthread_join(s->workers[i].thread, NULL);
    s->running = 0;
    return rc;
}

void zcq_server_shutdown(struct zcq_server *s)
{
    if (atomic_exchange((atomic_int *)&s->stopping, 1))
        return;
    for (int i = 0; i < s->nworkers; i++) {
        if (s->workers[i].loop)
            zcq_loop_wake(s->workers[i].loop, &s->workers[i].drain_wake);
    }
}

void zcq_server_free(struct zcq_server *s)
{
    if (!s)
        return;
    /* The pools first: queued work wakes loops, which must still exist. */
    zcq_pools_free(s->pools);
    for (int i = 0; i < s->nworkers; i++) {
        struct zcq_worker *w = &s->workers[i];

        while (w->conns)
            zcq__conn_close(w->conns, NULL);
        zcq__conn_reap(w);
        zcq_xfer_close(w->x);
        free(w->rbuf);
        zcq_loop_free(w->loop);
    }
    free(s->workers);
    if (s->lfd >= 0)
        close(s->lfd);
    for (int i = 0; i < 256; i++) {
        while (s->ips[i]) {
            struct zcq_ipcount *n = s->ips[i]->next;

            free(s->ips[i]);
            s->ips[i] = n;
        }
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}
