/*
 * peer_nats: the workloads of common.h against NATS JetStream, with libnats (the NATS C client).
 *
 *   setup    a stream named --stream taking the subject --stream, file storage, one replica
 *   produce  js_PublishAsync with at most --window publishes awaiting their acknowledgement
 *            (jsOptions.PublishAsync.MaxPending), the way `nats bench --js` publishes
 *   consume  an ordered consumer (an ephemeral push consumer without acks, with flow control
 *            and heartbeats), delivering from the first message: the client's own way to
 *            replay a stream in order. The alternatives, PEER_NATS_CONSUMER=pull (a pull
 *            consumer fetching --batch messages at a time, acknowledging each batch) and =push
 *            (no acks and no flow control) were slower (pull: 205,000 against 360,000 records/s
 *            of 1 KiB here) or lost messages (push: the server cuts a consumer that falls behind
 *            off as a slow consumer)
 *   e2e      the same consumer on its own connection, and js_PublishAsync for each record
 *   reqs     js_Publish: publish, wait for the stream's acknowledgement, and again
 *
 * libnats runs callbacks (acknowledgements, deliveries) on its own threads, one per
 * subscription, so peer_ack and peer_sink_record each still see one thread.
 */
#include "common.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(natsStatus s, const char *what)
{
    if (s != NATS_OK)
        peer_die("%s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
}

static natsConnection *connect_nats(const struct peer_opts *o)
{
    natsConnection *nc = NULL;
    natsOptions *no = NULL;
    char url[300];

    snprintf(url, sizeof(url), "nats://%s:%s", o->host, o->port);
    check(natsOptions_Create(&no), "nats options");
    check(natsOptions_SetURL(no, url), "nats url");
    /* Large enough that the client never waits on its own buffer. */
    check(natsOptions_SetIOBufSize(no, 1 << 20), "nats buffer");
    check(natsConnection_Connect(&nc, no), url);
    natsOptions_Destroy(no);
    return nc;
}

static jsCtx *jetstream(natsConnection *nc, jsOptions *jo)
{
    jsCtx *js = NULL;

    check(natsConnection_JetStream(&js, nc, jo), "JetStream context");
    return js;
}

/* --- setup ---------------------------------------------------------------------------------- */

static int setup(const struct peer_opts *o)
{
    natsConnection *nc = connect_nats(o);
    jsCtx *js = jetstream(nc, NULL);
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *subjects[1] = {o->stream};

    jsStreamConfig_Init(&cfg);
    cfg.Name = o->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    if (js_AddStream(&si, js, &cfg, NULL, &jerr) != NATS_OK)
        peer_die("add stream %s: %s (JetStream error %d)", o->stream, nats_GetLastError(NULL),
                 (int)jerr);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

/* --- producer ------------------------------------------------------------------------------- */

struct producer {
    const struct peer_opts *o;
    natsConnection *nc;
    jsCtx *js;
    struct peer_acks *a;
};

static void ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct peer_acks *a = closure;

    (void)js;
    if (pae && !a->errors)
        fprintf(stderr, "peer_nats: publish failed: %s\n", pae->ErrText ? pae->ErrText : "?");
    peer_ack(a, pa ? peer_get_stamp(natsMsg_GetData(msg)) : 0, pa == NULL);
    natsMsg_Destroy(msg);
}

static void *producer_open(const struct peer_opts *o, struct peer_acks *a)
{
    struct producer *p = peer_calloc(1, sizeof(*p));
    jsOptions jo;

    p->o = o;
    p->a = a;
    p->nc = connect_nats(o);
    jsOptions_Init(&jo);
    /* e2e: no window, every record goes out when it is due. */
    jo.PublishAsync.MaxPending = o->mode == PEER_E2E ? 1000000 : o->window;
    jo.PublishAsync.AckHandler = ack_cb;
    jo.PublishAsync.AckHandlerClosure = a;
    jo.PublishAsync.StallWait = 60000;
    p->js = jetstream(p->nc, &jo);
    return p;
}

static void producer_send(void *arg, const uint8_t *rec)
{
    struct producer *p = arg;

    check(js_PublishAsync(p->js, p->o->stream, rec, p->o->size, NULL), "publish");
}

static void producer_finish(void *arg)
{
    struct producer *p = arg;
    jsPubOptions po;

    jsPubOptions_Init(&po);
    po.MaxWait = 90000;
    check(js_PublishAsyncComplete(p->js, &po), "waiting for acknowledgements");
    jsCtx_Destroy(p->js);
    natsConnection_Destroy(p->nc);
    free(p);
}

/* --- consumer ------------------------------------------------------------------------------- */

struct consumer {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    struct peer_sink *s;
    int batch;
    bool pull;
};

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    peer_sink_record(closure, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static void *consumer_open(const struct peer_opts *o, struct peer_sink *s)
{
    struct consumer *c = peer_calloc(1, sizeof(*c));
    const char *kind = getenv("PEER_NATS_CONSUMER");
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus st;

    c->nc = connect_nats(o);
    c->js = jetstream(c->nc, NULL);
    c->s = s;
    c->batch = o->batch;
    jsSubOptions_Init(&so);
    so.Stream = o->stream;
    so.Config.DeliverPolicy = js_DeliverAll;
    if (kind && strcmp(kind, "pull") == 0) {
        /* A pull consumer, --batch messages a fetch, acknowledged a batch at a time. */
        c->pull = true;
        so.Config.AckPolicy = js_AckAll;
        st = js_PullSubscribe(&c->sub, c->js, o->stream, "peers", NULL, &so, &jerr);
    } else {
        /* PEER_NATS_CONSUMER=push: a push consumer without acks and without flow control,
         * which the server cuts off as a slow consumer when a backlog outruns the client. */
        if (kind && strcmp(kind, "push") == 0)
            so.Config.AckPolicy = js_AckNone;
        else
            so.Ordered = true;
        st = js_Subscribe(&c->sub, c->js, o->stream, on_msg, s, NULL, &so, &jerr);
        /* The client must not drop what it is sent while it catches up. */
        if (st == NATS_OK)
            check(natsSubscription_SetPendingLimits(c->sub, -1, -1), "pending limits");
    }
    if (st != NATS_OK)
        peer_die("subscribe to %s: %s (JetStream error %d)", o->stream, nats_GetLastError(NULL),
                 (int)jerr);
    return c;
}

static void consumer_receive(void *arg)
{
    struct consumer *c = arg;
    struct timespec ts = {.tv_nsec = 100000000};
    natsMsgList list = {0};
    natsStatus st;

    if (!c->pull) {
        nanosleep(&ts, NULL); /* deliveries run on_msg on libnats's thread */
        return;
    }
    st = natsSubscription_Fetch(&list, c->sub, c->batch, 100, NULL);
    if (st == NATS_TIMEOUT)
        return;
    check(st, "fetch");
    for (int i = 0; i < list.Count; i++)
        peer_sink_record(c->s, natsMsg_GetData(list.Msgs[i]),
                         (size_t)natsMsg_GetDataLength(list.Msgs[i]));
    if (list.Count)
        check(natsMsg_Ack(list.Msgs[list.Count - 1], NULL), "ack");
    natsMsgList_Destroy(&list);
}

static void consumer_close(void *arg)
{
    struct consumer *c = arg;

    natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    free(c);
}

/* --- reqs ----------------------------------------------------------------------------------- */

struct conn {
    const struct peer_opts *o;
    natsConnection *nc;
    jsCtx *js;
};

static void *conn_open(const struct peer_opts *o)
{
    struct conn *c = peer_calloc(1, sizeof(*c));

    c->o = o;
    c->nc = connect_nats(o);
    c->js = jetstream(c->nc, NULL);
    return c;
}

static int conn_request(void *arg, const uint8_t *rec)
{
    struct conn *c = arg;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&pa, c->js, c->o->stream, rec, c->o->size, NULL, &jerr);

    jsPubAck_Destroy(pa);
    if (s != NATS_OK)
        fprintf(stderr, "peer_nats: publish: %s\n", natsStatus_GetText(s));
    return s != NATS_OK;
}

static void conn_close(void *arg)
{
    struct conn *c = arg;

    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    free(c);
}

static const struct peer_driver driver = {
    .system = "nats",
    .setup = setup,
    .producer = {.open = producer_open, .send = producer_send, .finish = producer_finish},
    .consumer = {.open = consumer_open, .receive = consumer_receive, .close = consumer_close},
    .reqs = {.open = conn_open, .request = conn_request, .close = conn_close},
};

int main(int argc, char **argv)
{
    return peer_main(argc, argv, &driver);
}
