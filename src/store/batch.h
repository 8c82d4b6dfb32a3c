/*
 * Kafka record batches (magic v2) as bytes: the header layout, validation, and the in-place
 * rewrite of the fields the broker assigns. The broker never parses records beyond what
 * validation needs; batches stay in wire format from socket to disk to socket.
 *
 * Layout (big-endian), offsets in bytes:
 *    0 baseOffset int64      12 partitionLeaderEpoch int32   17 crc uint32 (CRC-32C of 21..end)
 *    8 batchLength int32     16 magic int8                   21 attributes int16
 *   23 lastOffsetDelta int32 27 baseTimestamp int64          35 maxTimestamp int64
 *   43 producerId int64      51 producerEpoch int16          53 baseSequence int32
 *   57 recordCount int32     61 records...
 * batchLength counts the bytes after itself: a batch is 12 + batchLength bytes. The CRC does
 * not cover baseOffset, batchLength, partitionLeaderEpoch or magic, so those are checked on
 * their own.
 *
 * Contract: pure functions over caller memory; nothing is allocated or kept. Errors are the
 * negative ZCQ_BATCH_* codes below (distinct from -errno), with zcq_batch_strerror().
 */
#ifndef ZCQ_STORE_BATCH_H
#define ZCQ_STORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZCQ_BATCH_HEADER       61 /* bytes before the first record */
#define ZCQ_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

enum {
    ZCQ_BATCH_ETRUNC = -30001,       /* fewer bytes than the header or batchLength claims */
    ZCQ_BATCH_ELENGTH = -30002,      /* batchLength impossible (< 49) or not the size given */
    ZCQ_BATCH_EMAGIC = -30003,       /* magic is not 2 */
    ZCQ_BATCH_ECRC = -30004,         /* CRC-32C mismatch */
    ZCQ_BATCH_ECOUNT = -30005,       /* recordCount < 1, or lastOffsetDelta + 1 != recordCount */
    ZCQ_BATCH_ERECORD = -30006,      /* a record (uncompressed batches) is malformed, or its
                                      * offsetDelta is not its index, or the count is wrong */
    ZCQ_BATCH_ECONTROL = -30007,     /* a control batch where only data batches are allowed */
    ZCQ_BATCH_ECOMPRESSION = -30008, /* unknown compression codec (attributes & 7 > 4) */
};

const char *zcq_batch_strerror(int err);

/* The header fields, decoded. */
struct zcq_batch_info {
    int64_t base_offset;
    int32_t length; /* batchLength */
    int32_t leader_epoch;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

#define ZCQ_BATCH_COMPRESSION(attr)      ((attr)&0x7) /* 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd */
#define ZCQ_BATCH_IS_CONTROL(attr)       (((attr)&0x20) != 0)
#define ZCQ_BATCH_IS_TRANSACTIONAL(attr) (((attr)&0x10) != 0)

/* Total size of the batch starting at p if at least 12 bytes are there (12 + batchLength),
 * else ZCQ_BATCH_ETRUNC; ZCQ_BATCH_ELENGTH when batchLength is impossible. Lets a scanner step
 * from batch to batch. */
int64_t zcq_batch_size(const void *p, size_t avail);

/* Decode the header (needs ZCQ_BATCH_HEADER bytes). No validation beyond the length. */
int zcq_batch_decode(const void *p, size_t avail, struct zcq_batch_info *out);

/* Validate one whole batch of exactly len bytes: lengths, magic 2, CRC-32C, record count and
 * offset deltas, and, for uncompressed batches, every record's framing (varint lengths within
 * bounds, offsetDelta equal to its index, recordCount records exactly). Fills *out (may be
 * NULL). Returns 0 or a ZCQ_BATCH_* error. */
int zcq_batch_validate(const void *p, size_t len, struct zcq_batch_info *out);

/* Set baseOffset and partitionLeaderEpoch in place; neither is covered by the CRC. */
void zcq_batch_assign(void *p, int64_t base_offset, int32_t leader_epoch);

/*
 * Building and walking batches, for the broker's own logs (committed offsets): an uncompressed
 * batch of records, each a key and a value (either may be null, length -1), no headers.
 */
struct zcq_record {
    const void *key;
    int32_t key_len; /* -1: null */
    const void *value;
    int32_t value_len; /* -1: null (a tombstone) */
    int64_t offset;    /* filled by zcq_batch_each_record: baseOffset + offsetDelta */
};

/* Bytes zcq_batch_build needs for records r[0..n). */
size_t zcq_batch_build_size(const struct zcq_record *r, int n);

/* Encode r[0..n) as one magic-2 batch at timestamp ts (baseOffset 0, producer id -1, CRC
 * set) into buf. Returns its length, or ZCQ_BATCH_ECOUNT (n < 1), ZCQ_BATCH_ETRUNC (cap is
 * less than zcq_batch_build_size). */
int64_t zcq_batch_build(void *buf, size_t cap, const struct zcq_record *r, int n, int64_t ts);

/* Call fn for each record of the uncompressed batch p[0..len), which zcq_batch_validate
 * accepted, in order; fn's key and value point into p. Stops at fn's first non-zero return
 * and returns it; else 0. ZCQ_BATCH_ECOMPRESSION for a compressed batch, ZCQ_BATCH_ERECORD
 * for malformed records. */
int zcq_batch_each_record(const void *p, size_t len,
                          int (*fn)(void *arg, const struct zcq_record *r), void *arg);

/* Last offset of the batch: baseOffset + lastOffsetDelta. */
static inline int64_t zcq_batch_last_offset(const struct zcq_batch_info *b)
{
    return b->base_offset + b->last_offset_delta;
}

#endif
