/*
 * ListOffsets (v1-3): per partition, timestamp -2 gives the log start, -1 the high watermark
 * (the last stable offset too: zcq has no transactions), and any other timestamp the base
 * offset of the first batch whose maxTimestamp reaches it, or -1 when none does (batch
 * granularity, kafka-protocol.md section 6). A lookup by time reads batch headers from the
 * log, so a request with one runs on the read pool; the others answer on the loop.
 */
#include "proto/api.h"

#include "broker/broker.h"
#include "proto/kerr.h"
#include "store/log.h"

static void list_offsets(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version;
    struct zcq_kr rd;
    struct zcq_kw *w = zcq_kresp_begin(r);
    int32_t nt;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_i32(&rd); /* replica id */
    if (v >= 2) {
        (void)zcq_kr_i8(&rd); /* isolation level: last stable offset == hwm */
        zcq_kw_i32(w, 0);     /* throttle */
    }
    nt = zcq_kr_array(&rd, 6, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        int32_t np = zcq_kr_array(&rd, 12, false);

        zcq_kw_str(w, name);
        zcq_kw_i32(w, np);
        for (int32_t i = 0; i < np && !rd.err; i++) {
            int32_t idx = zcq_kr_i32(&rd);
            int64_t ts = zcq_kr_i64(&rd), off = -1, found_ts = -1;
            int16_t err = KERR_NONE;
            struct zcq_partition *p =
                rd.err ? NULL : zcq_topics_get(b->topics, name.p, (size_t)name.len, idx);

            if (!p) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ts == -2) {
                off = zcq_log_start_offset(p->log);
            } else if (ts == -1) {
                off = zcq_log_high_watermark(p->log);
            } else if (ts < 0) {
                err = KERR_INVALID_REQUEST; /* -3 (max timestamp) needs v7 */
            } else {
                int64_t hwm = zcq_log_high_watermark(p->log);

                off = zcq_log_offset_for_time2(p->log, ts, &found_ts);
                if (off < 0 && off > -4096) {
                    err = KERR_KAFKA_STORAGE_ERROR;
                    off = -1;
                } else if (off >= hwm) {
                    off = found_ts = -1; /* no visible record that late */
                }
            }
            if (p)
                zcq_partition_put(b->topics, p);
            zcq_kw_i32(w, idx);
            zcq_kw_i16(w, err);
            zcq_kw_i64(w, err ? -1 : found_ts);
            zcq_kw_i64(w, err ? -1 : off);
        }
    }
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed ListOffsets v%d request", v);
        return;
    }
    zcq_kreq_respond(r);
}

void zcq_h_list_offsets(struct zcq_kreq *r)
{
    int16_t v = r->api_version;
    struct zcq_kr rd;
    bool by_time = false;
    int32_t nt;

    zcq_kreq_body(r, &rd);
    (void)zcq_kr_i32(&rd);
    if (v >= 2)
        (void)zcq_kr_i8(&rd);
    nt = zcq_kr_array(&rd, 6, false);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t np;

        (void)zcq_kr_str(&rd);
        np = zcq_kr_array(&rd, 12, false);
        for (int32_t i = 0; i < np && !rd.err; i++) {
            (void)zcq_kr_i32(&rd);
            if (zcq_kr_i64(&rd) >= 0)
                by_time = true;
        }
    }
    if (rd.err) {
        zcq_kreq_close(r, "malformed ListOffsets v%d request", v);
        return;
    }
    if (by_time)
        zcq_kreq_offload(r, ZCQ_POOL_READ, list_offsets);
    else
        list_offsets(r);
}
