/*
 * Test helper (header-only): build valid Kafka v2 record batches as a producer would send
 * them (baseOffset 0), for the storage tests. Records have null keys and values of vlen bytes
 * filled from seed, so a batch's bytes identify it.
 */
#ifndef ZCQ_TESTS_BATCHGEN_H
#define ZCQ_TESTS_BATCHGEN_H

#include "store/batch.h"
#include "store/crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void bg_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline size_t bg_varint(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;

    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

/* Build a batch of `records` records at timestamp ts into a malloc'd buffer; *len gets its
 * size. */
static inline uint8_t *bg_build(int records, size_t vlen, int64_t ts, uint32_t seed, size_t *len)
{
    size_t cap = ZCQ_BATCH_HEADER + (size_t)records * (vlen + 32);
    uint8_t *b = malloc(cap), *body = malloc(vlen + 64);
    size_t n = ZCQ_BATCH_HEADER;

    for (int i = 0; i < records; i++) {
        size_t m = 0;

        body[m++] = 0;                /* attributes */
        m += bg_varint(body + m, i);  /* timestampDelta */
        m += bg_varint(body + m, i);  /* offsetDelta */
        m += bg_varint(body + m, -1); /* null key */
        m += bg_varint(body + m, (int64_t)vlen);
        for (size_t k = 0; k < vlen; k++) {
            seed = seed * 1103515245u + 12345u;
            body[m++] = (uint8_t)(seed >> 16);
        }
        m += bg_varint(body + m, 0); /* no headers */
        n += bg_varint(b + n, (int64_t)m);
        memcpy(b + n, body, m);
        n += m;
    }
    free(body);
    bg_be(b + 0, 0, 8);                             /* baseOffset: the broker assigns it */
    bg_be(b + 8, (uint64_t)(n - 12), 4);            /* batchLength */
    bg_be(b + 12, (uint64_t)-1, 4);                 /* partitionLeaderEpoch */
    b[16] = 2;                                      /* magic */
    bg_be(b + 21, 0, 2);                            /* attributes */
    bg_be(b + 23, (uint64_t)(records - 1), 4);      /* lastOffsetDelta */
    bg_be(b + 27, (uint64_t)ts, 8);                 /* baseTimestamp */
    bg_be(b + 35, (uint64_t)(ts + records - 1), 8); /* maxTimestamp */
    bg_be(b + 43, (uint64_t)-1, 8);                 /* producerId */
    bg_be(b + 51, (uint64_t)-1, 2);                 /* producerEpoch */
    bg_be(b + 53, (uint64_t)-1, 4);                 /* baseSequence */
    bg_be(b + 57, (uint64_t)records, 4);            /* recordCount */
    bg_be(b + 17, zcq_crc32c(0, b + 21, n - 21), 4);
    *len = n;
    return b;
}

/* Define fn_pc() and fn_dio(): the test fn run in page-cache and in Direct I/O mode. The test
 * file defines `static int mode_direct`, which fn reads to choose. */
#define ZT_BOTH_MODES(fn)                                                                          \
    static void fn##_pc(void)                                                                      \
    {                                                                                              \
        mode_direct = 0;                                                                           \
        fn();                                                                                      \
    }                                                                                              \
    static void fn##_dio(void)                                                                     \
    {                                                                                              \
        mode_direct = 1;                                                                           \
        fn();                                                                                      \
    }

#endif
