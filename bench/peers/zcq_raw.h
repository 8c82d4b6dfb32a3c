/* zcq_raw.h: the Kafka protocol spoken directly, without librdkafka (zcq_raw.c).
 *
 * reqs: one Produce v7 request of one record at a time on a connection of its own.
 * producer/consumer: thin clients for produce, consume and e2e (PEER_ZCQ_CLIENT=raw), so that
 * the broker's share of a result can be told from the client library's. Every function dies
 * (peer_die) on an error; the memory of each handle is freed by its close or finish. */
#ifndef ZCQ_PEERS_ZCQ_RAW_H
#define ZCQ_PEERS_ZCQ_RAW_H

#include "common.h"

#include <stdint.h>

void *zcq_raw_open(const struct peer_opts *o);
int zcq_raw_request(void *conn, const uint8_t *rec);
void zcq_raw_close(void *conn);

void *zcq_raw_producer_open(const struct peer_opts *o, struct peer_acks *a);
void zcq_raw_producer_send(void *arg, const uint8_t *rec);
void zcq_raw_producer_tick(void *arg);
void zcq_raw_producer_finish(void *arg);

void *zcq_raw_consumer_open(const struct peer_opts *o, struct peer_sink *s);
void zcq_raw_consumer_receive(void *arg);
void zcq_raw_consumer_close(void *arg);

#endif
