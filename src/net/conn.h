/*
 * Connections and the workers that own them (internal to src/net: server.c and conn.c).
 *
 * A worker is one thread with one event loop. The listening socket is in every worker's epoll
 * (EPOLLEXCLUSIVE), so the kernel hands each new connection to one of them; a connection
 * stays on its worker for life, and everything about it happens on that thread.
 *
 * A connection reads frames (int32 size + payload) into the worker's read buffer and parses
 * every whole one there; only a partial frame is copied into a buffer of the connection's
 * own, sized as it arrives (never the size a frame claims before its bytes come), so an idle
 * connection holds no buffer. Requests run in arrival order and stay in a queue until
 * answered; responses leave in that order (Kafka clients pipeline), through a send chain
 * (io/chain.h): header bytes from memory, record batches as file regions with sendfile (or
 * the configured strategy) or Direct I/O cache blocks. Reading pauses while
 * zcq.max.inflight.requests are unanswered.
 *
 * Lifetimes: a connection closed during a loop iteration is unlinked and freed in the
 * after-events phase, so later events of the same epoll batch still find its memory (marked
 * closing). Its pending requests are cancelled (proto/kreq.h); their work, if any, frees them
 * when it comes back.
 */
#ifndef ZCQ_NET_CONN_H
#define ZCQ_NET_CONN_H

#include "io/chain.h"
#include "io/xfer.h"
#include "net/loop.h"
#include "proto/kreq.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct zcq_server;
struct zcq_broker;
struct zcq_pools;

/* The per-address connection counts (max.connections.per.ip). */
struct zcq_ipcount {
    struct sockaddr_storage addr;
    int n;
    struct zcq_ipcount *next;
};

struct zcq_server {
    struct zcq_broker *broker;
    int lfd;
    int port; /* bound */
    struct zcq_pools *pools;
    struct zcq_worker *workers;
    int nworkers;
    /* connection limits, under mu */
    pthread_mutex_t mu;
    int nconns;
    struct zcq_ipcount *ips[256];
    int running;  /* workers started */
    int stopping; /* atomic: shutdown asked */
};

/* Admit a connection from addr (limits), counting it; or refuse with why. Release when it
 * closes. */
bool zcq__server_admit(struct zcq_server *s, const struct sockaddr_storage *addr, char *why,
                       size_t why_len);
void zcq__server_release(struct zcq_server *s, const struct sockaddr_storage *addr);

struct zcq_conn {
    struct zcq_ev ev;
    struct zcq_worker *w;
    struct zcq_conn *prev, *next; /* the worker's list, or its dead list */
    /* a partial frame: [0, in_len) received of in_cap (the frame's size once known) */
    uint8_t *in;
    size_t in_len, in_cap;
    /* requests in arrival order, answered or not */
    struct zcq_kreq *qhead, *qtail;
    unsigned inflight;
    struct zcq_chain out;
    struct zcq_xfer *x;    /* splice keeps bytes in flight per destination: its own context */
    int64_t last_active;   /* loop ms: a byte in or out */
    int64_t partial_since; /* loop ms: a partial frame has been pending since */
    struct sockaddr_storage addr;
    char peer[64];
    bool closing, paused, counted, parsing;
    bool big;    /* its last frame was large: peek at the next one's size first */
    bool doomed; /* a request was refused behind unanswered ones: read nothing more */
};

struct zcq_worker {
    struct zcq_server *srv;
    int id;
    struct zcq_loop *loop;
    pthread_t thread;
    struct zcq_ev listen_ev; /* the server's listening socket, registered here too */
    struct zcq_conn *conns, *dead;
    int nconns;
    uint8_t *rbuf; /* the read buffer frames are parsed from */
    size_t rbuf_cap;
    struct zcq_xfer *x; /* for sendfile and copy, shared by the worker's connections */
    struct zcq_ktimer sweep;
    struct zcq_kwake drain_wake;
    bool draining;
    int64_t drain_deadline;
};

/* The listening socket became readable: accept what is there. */
void zcq__conn_accept(struct zcq_worker *w, int lfd);

/* Close c now (reason for the log, NULL for a quiet close). */
void zcq__conn_close(struct zcq_conn *c, const char *reason);

/* Free the connections closed during this iteration (the after-events hook). */
void zcq__conn_reap(struct zcq_worker *w);

/* Close connections idle past connections.max.idle.ms, or stuck in a partial frame. */
void zcq__conn_sweep(struct zcq_worker *w, int64_t now);

/* Shutdown: stop reading, answer long-polls now. Returns true when c has nothing left to
 * answer or send. */
bool zcq__conn_drain(struct zcq_conn *c);

#endif
