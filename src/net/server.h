/*
 * The broker's network front: the listening socket, the worker threads with their event
 * loops (num.network.threads), the thread pools for blocking work, and a graceful shutdown.
 *
 * Contract: zcq_server_new() binds the listener (so a port of 0 is known before clients come)
 * and creates everything; zcq_server_run() starts the workers and returns once
 * zcq_server_shutdown() (safe from any thread, or a signal handler's thread) has drained
 * them: no new connections, parked fetches answered with what they have, every pending
 * response sent (for at most 10 s), connections closed, pool work finished. The broker is the
 * caller's, and outlives the server. Errors: -errno with a one-line reason in why.
 */
#ifndef ZCQ_NET_SERVER_H
#define ZCQ_NET_SERVER_H

#include <stddef.h>

struct zcq_server;
struct zcq_broker;

int zcq_server_new(struct zcq_server **out, struct zcq_broker *b, char *why, size_t why_len);
int zcq_server_port(const struct zcq_server *s);
int zcq_server_run(struct zcq_server *s);
void zcq_server_shutdown(struct zcq_server *s);
void zcq_server_free(struct zcq_server *s);

#endif
