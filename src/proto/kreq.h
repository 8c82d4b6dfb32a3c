/*
 * A Kafka request being handled, and the response it builds.
 *
 * A response is bytes the handler writes (struct zcq_kw) interleaved with record data that is
 * never copied: slices of partition logs (file regions for sendfile, or Direct I/O cache
 * blocks). zcq_kresp lists them in order; the network layer turns them into a send chain.
 *
 * Request lifecycle, as the network layer drives it:
 *
 *     zcq_kreq_new ──> zcq_kreq_handle ──┬── DONE    response ready (zcq_kreq_take_resp)
 *                                        ├── NORESP  nothing to send (Produce with acks=0)
 *                                        ├── CLOSE   close the connection; why says why
 *                                        └── PENDING waiting (long-poll, fsync, cold read,
 *                                              topic creation); later, on the host's thread,
 *                                              on_done(r) reports DONE, NORESP or CLOSE
 *     zcq_kreq_free     once not PENDING
 *     zcq_kreq_cancel   instead of free while PENDING (the connection went away): the request
 *                       stops waiting and frees itself once its outstanding work is back
 *
 * Memory: the frame passed to zcq_kreq_new is borrowed until zcq_kreq_handle returns; a
 * handler that goes PENDING and needs it later copies it (zcq_kreq_keep_frame). The response
 * is the caller's once taken, and holds references to the logs it points into until freed.
 * No response points into the frame.
 *
 * Errors are Kafka error codes in the response wherever the protocol has a field for them;
 * anything else (a malformed frame, an unadvertised version) is CLOSE with a reason.
 */
#ifndef ZCQ_PROTO_KREQ_H
#define ZCQ_PROTO_KREQ_H

#include "proto/kbuf.h"
#include "proto/khost.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zcq_broker;
struct zcq_partition;
struct zcq_log_slice;

/* One piece of a response: bytes [off, off + len) of the writer, or a log slice. */
struct zcq_kresp_part {
    uint32_t off, len;
    struct zcq_log_slice *slice;     /* NULL for bytes */
    struct zcq_partition *partition; /* the slice's log, referenced */
};

struct zcq_kresp {
    struct zcq_kw w;
    struct zcq_kresp_part *parts;
    unsigned n, cap;
    size_t cut;     /* writer bytes before this are in parts already */
    uint64_t total; /* bytes of the whole response, size prefix included */
    struct zcq_broker *broker;
};

enum zcq_kreq_state { ZCQ_KREQ_DONE, ZCQ_KREQ_NORESP, ZCQ_KREQ_CLOSE, ZCQ_KREQ_PENDING };

struct zcq_kreq {
    /* given by the caller */
    struct zcq_khost *host;
    struct zcq_broker *broker;
    void (*on_done)(struct zcq_kreq *r);
    void *owner;           /* the connection; NULL once cancelled */
    const char *peer;      /* the client's address ("127.0.0.1:5000"), valid while the handler
                            * first runs (not after it goes PENDING); NULL if unknown */
    struct zcq_kreq *next; /* the owner's queue */

    /* the frame (payload after the size prefix) and its header */
    const uint8_t *frame;
    size_t frame_len;
    uint8_t *frame_copy; /* owned copy, when kept */
    int16_t api_key, api_version;
    int32_t corr;
    struct zcq_kstr client_id;
    size_t body_off; /* where the body starts in the frame */

    enum zcq_kreq_state state;
    char why[160]; /* for CLOSE: one line */
    struct zcq_kresp *resp;

    /* continuation of a pending request (the API's own state hangs off ctx) */
    void *ctx;
    void (*ctx_cancel)(struct zcq_kreq *r);   /* stop timers, wakes, watches; host thread */
    void (*ctx_expedite)(struct zcq_kreq *r); /* stop waiting for data: answer now */
    void (*ctx_free)(struct zcq_kreq *r);
    int work_out; /* work items not back yet */
    bool cancelled;
    bool offloaded; /* running on a pool: state goes to offload_state */
    enum zcq_kreq_state offload_state;
    bool expedited; /* zcq_kreq_expedite ran (once is enough) */
};

/* A request for the frame; NULL on allocation failure. */
struct zcq_kreq *zcq_kreq_new(struct zcq_khost *host, struct zcq_broker *b, const uint8_t *frame,
                              size_t len);
void zcq_kreq_handle(struct zcq_kreq *r);
void zcq_kreq_free(struct zcq_kreq *r);
void zcq_kreq_cancel(struct zcq_kreq *r);

/* A pending request that waits for data (a long-poll) answers now with what it has; others
 * are unaffected (shutdown uses it). */
void zcq_kreq_expedite(struct zcq_kreq *r);

/* The response, now the caller's (NULL unless DONE). */
struct zcq_kresp *zcq_kreq_take_resp(struct zcq_kreq *r);
void zcq_kresp_free(struct zcq_kresp *resp);

/* API name for log lines ("Produce"), or "unknown". */
const char *zcq_api_name(int16_t key);

/* --- For handlers -------------------------------------------------------------------- */

/* Start the response: size placeholder and correlation id (response header v0). Returns the
 * writer. A handler that restarts (a long-poll retry) calls it again: it discards what was
 * built. */
struct zcq_kw *zcq_kresp_begin(struct zcq_kreq *r);

/* Add a log slice (its length is already written as the records' size) after the bytes
 * written so far. The response takes the slice and the partition reference. 0 or -ENOMEM. */
int zcq_kresp_add_slice(struct zcq_kresp *resp, struct zcq_log_slice *s, struct zcq_partition *p);

/* Finish: patch the size; state DONE. A writer error (out of memory) makes it CLOSE. */
void zcq_kreq_respond(struct zcq_kreq *r);
void zcq_kreq_close(struct zcq_kreq *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy the frame so a pending request can read it again. 0 or -ENOMEM. */
int zcq_kreq_keep_frame(struct zcq_kreq *r);

/* A reader over the body (after the header). */
void zcq_kreq_body(const struct zcq_kreq *r, struct zcq_kr *rd);

/* A pending request's state changed to final: tell the owner (unless cancelled, when the
 * request frees itself once no work is out). */
void zcq_kreq_finish(struct zcq_kreq *r);

/* Run fn(r) on a pool thread (it may block: disk reads, fsync, topic creation) and finish
 * the request when it returns; fn builds the response as a handler does. r goes PENDING. */
void zcq_kreq_offload(struct zcq_kreq *r, enum zcq_kpool pool, void (*fn)(struct zcq_kreq *r));

/* Queue work for r (counted, so a cancelled request outlives it). In after(), call
 * zcq_kreq_work_back(r) first: if it returns true the request was cancelled and freed its
 * state, and the handler must return at once. */
void zcq_kreq_queue_work(struct zcq_kreq *r, struct zcq_kwork *w);
bool zcq_kreq_work_back(struct zcq_kreq *r);

#endif
