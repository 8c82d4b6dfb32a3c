/*
 * libFuzzer target for src/store/batch.c (and crc32c.c): whatever the bytes, the batch
 * functions must not crash, read out of bounds or disagree with themselves.
 *
 * Almost every mutation breaks the CRC, which would leave the record walker unexplored, so
 * each input is also validated a second time with batchLength and the CRC made right.
 * Build and run (clang):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
 *       -o build/batch_fuzz tests/fuzz/batch_fuzz.c src/store/batch.c src/store/crc32c.c
 *   build/batch_fuzz -max_len=4096 build/fuzz-corpus tests/fuzz/corpus/batch
 * tests/fuzz/replay.c replays a corpus without libFuzzer, under gcc's sanitizers too.
 */
#include "store/batch.h"
#include "store/crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A valid batch must stay valid, with the new fields, once the broker assigns its offset. */
static void check_assign(uint8_t *p, size_t len)
{
    struct zcq_batch_info before, after;

    if (zcq_batch_validate(p, len, &before) != 0)
        abort();
    zcq_batch_assign(p, INT64_MAX - before.last_offset_delta, -7);
    if (zcq_batch_validate(p, len, &after) != 0)
        abort();
    if (after.base_offset != INT64_MAX - before.last_offset_delta || after.leader_epoch != -7 ||
        after.crc != before.crc || after.record_count != before.record_count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct zcq_batch_info info;
    uint8_t *copy;
    int64_t sz;
    int r;

    /* An exact-size heap copy: the fuzzer's own buffer may have slack ASan cannot see. */
    copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);

    if (zcq_crc32c(0, copy, size) != zcq_crc32c_sw(0, copy, size))
        abort();
    sz = zcq_batch_size(copy, size);
    if (sz != ZCQ_BATCH_ETRUNC && sz != ZCQ_BATCH_ELENGTH && sz < ZCQ_BATCH_HEADER)
        abort();
    r = zcq_batch_decode(copy, size, &info);
    if (r != 0 && r != ZCQ_BATCH_ETRUNC)
        abort();
    r = zcq_batch_validate(copy, size, &info);
    if (r == 0) {
        if (sz != (int64_t)size)
            abort();
        check_assign(copy, size);
    } else if (r > 0 || *zcq_batch_strerror(r) == '\0') {
        abort();
    }

    /* The same bytes with the framing and CRC repaired, to reach the records. */
    if (size >= ZCQ_BATCH_HEADER && size - ZCQ_BATCH_LOG_OVERHEAD <= INT32_MAX) {
        memcpy(copy, data, size);
        put_be32(copy + 8, (uint32_t)(size - ZCQ_BATCH_LOG_OVERHEAD));
        put_be32(copy + 17, zcq_crc32c(0, copy + 21, size - 21));
        r = zcq_batch_validate(copy, size, NULL);
        if (r == ZCQ_BATCH_ETRUNC || r == ZCQ_BATCH_ELENGTH || r == ZCQ_BATCH_ECRC)
            abort();
        if (r == 0)
            check_assign(copy, size);
    }
    free(copy);
    return 0;
}
