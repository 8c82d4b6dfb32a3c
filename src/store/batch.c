/* Kafka record batches (magic v2); see batch.h. */
#include "store/batch.h"

#include "store/crc32c.h"

#include <endian.h>
#include <string.h>

#define OFF_BASE_OFFSET    0
#define OFF_LENGTH         8
#define OFF_EPOCH          12
#define OFF_MAGIC          16
#define OFF_CRC            17
#define OFF_ATTRIBUTES     21
#define OFF_LAST_DELTA     23
#define OFF_BASE_TS        27
#define OFF_MAX_TS         35
#define OFF_PRODUCER_ID    43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQ       53
#define OFF_COUNT          57

/* The smallest batchLength: a header with no records. */
#define MIN_LENGTH (ZCQ_BATCH_HEADER - ZCQ_BATCH_LOG_OVERHEAD)

/* Batches arrive at any alignment inside socket buffers and segment files, so fields are
 * copied out rather than read through cast pointers. */
static uint16_t get16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return be16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return be64toh(v);
}

const char *zcq_batch_strerror(int err)
{
    switch (err) {
    case 0:
        return "valid";
    case ZCQ_BATCH_ETRUNC:
        return "record batch truncated";
    case ZCQ_BATCH_ELENGTH:
        return "record batch length is impossible or does not match its size";
    case ZCQ_BATCH_EMAGIC:
        return "record batch magic is not 2";
    case ZCQ_BATCH_ECRC:
        return "record batch CRC-32C mismatch";
    case ZCQ_BATCH_ECOUNT:
        return "record batch count does not match its last offset delta";
    case ZCQ_BATCH_ERECORD:
        return "malformed record in record batch";
    case ZCQ_BATCH_ECONTROL:
        return "control batch not allowed here";
    case ZCQ_BATCH_ECOMPRESSION:
        return "unknown record batch compression codec";
    default:
        return "unknown record batch error";
    }
}

int64_t zcq_batch_size(const void *p, size_t avail)
{
    int32_t length;

    if (avail < ZCQ_BATCH_LOG_OVERHEAD)
        return ZCQ_BATCH_ETRUNC;
    length = (int32_t)get32((const uint8_t *)p + OFF_LENGTH);
    if (length < MIN_LENGTH)
        return ZCQ_BATCH_ELENGTH;
    return (int64_t)ZCQ_BATCH_LOG_OVERHEAD + length;
}

int zcq_batch_decode(const void *p, size_t avail, struct zcq_batch_info *out)
{
    const uint8_t *b = p;

    if (avail < ZCQ_BATCH_HEADER)
        return ZCQ_BATCH_ETRUNC;
    out->base_offset = (int64_t)get64(b + OFF_BASE_OFFSET);
    out->length = (int32_t)get32(b + OFF_LENGTH);
    out->leader_epoch = (int32_t)get32(b + OFF_EPOCH);
    out->crc = get32(b + OFF_CRC);
    out->attributes = (int16_t)get16(b + OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)get32(b + OFF_LAST_DELTA);
    out->base_timestamp = (int64_t)get64(b + OFF_BASE_TS);
    out->max_timestamp = (int64_t)get64(b + OFF_MAX_TS);
    out->producer_id = (int64_t)get64(b + OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)get16(b + OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)get32(b + OFF_BASE_SEQ);
    out->record_count = (int32_t)get32(b + OFF_COUNT);
    return 0;
}

/* A cursor over the records; every read checks against the bytes left, so no length taken
 * from the input is ever added to a pointer before it is known to fit. */
struct rd {
    const uint8_t *p;
    size_t left;
};

/* Kafka's ByteUtils.readVarint: zigzag, at most 5 bytes; like Java, bits beyond 32 in the
 * fifth byte are dropped rather than rejected, so whatever Kafka accepts is accepted here.
 * Validation decodes about seven of these per record, and most are one or two bytes: those
 * return first (record validation was a fifth of the broker's CPU when appending 100-byte
 * records, docs/benchmarks.md). */
static inline int rd_varint(struct rd *r, int32_t *out)
{
    uint32_t v = 0;

    if (r->left >= 2 && !(r->p[0] & 0x80 && r->p[1] & 0x80)) {
        unsigned n = r->p[0] & 0x80 ? 2 : 1;

        v = n == 1 ? r->p[0] : (uint32_t)(r->p[0] & 0x7f) | (uint32_t)r->p[1] << 7;
        r->p += n;
        r->left -= n;
        *out = (int32_t)((v >> 1) ^ (0u - (v & 1)));
        return 0;
    }
    for (unsigned i = 0; i < 5; i++) {
        uint8_t b;

        if (!r->left)
            return -1;
        b = *r->p++;
        r->left--;
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int32_t)((v >> 1) ^ (0u - (v & 1)));
            return 0;
        }
    }
    return -1;
}

/* ByteUtils.readVarlong: at most 10 bytes. */
static inline int rd_varlong(struct rd *r, int64_t *out)
{
    uint64_t v = 0;

    if (r->left && !(r->p[0] & 0x80)) {
        v = r->p[0];
        r->p++;
        r->left--;
        *out = (int64_t)((v >> 1) ^ (0ull - (v & 1)));
        return 0;
    }
    for (unsigned i = 0; i < 10; i++) {
        uint8_t b;

        if (!r->left)
            return -1;
        b = *r->p++;
        r->left--;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (0ull - (v & 1)));
            return 0;
        }
    }
    return -1;
}

static inline int rd_skip(struct rd *r, int64_t n)
{
    if (n < 0 || (uint64_t)n > r->left)
        return -1;
    r->p += n;
    r->left -= (size_t)n;
    return 0;
}

/* A length-prefixed byte string; -1 means null. Kafka reads any negative length as null, but
 * its own clients only write -1, and what is stored is served to every kind of consumer, so
 * anything else is refused. */
static inline int rd_nullable(struct rd *r)
{
    int32_t n;

    if (rd_varint(r, &n) || n < -1)
        return -1;
    return n == -1 ? 0 : rd_skip(r, n);
}

/* One record's body (after its length), expected at offset delta index. */
/* An unchecked varint for the fast path below: the caller knows 5 bytes (10 for a long) are
 * there. Returns the byte after it, or NULL when it runs past 5 (10) bytes. */
static inline const uint8_t *fast_varint(const uint8_t *p, int64_t *out, unsigned max)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < max; i++) {
        uint8_t b = p[i];

        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (max == 5)
                v &= 0xffffffffu; /* as readVarint: bits past 32 dropped */
            *out = max == 5 ? (int64_t)(int32_t)(((uint32_t)v >> 1) ^ (0u - ((uint32_t)v & 1)))
                            : (int64_t)((v >> 1) ^ (0ull - (v & 1)));
            return p + i + 1;
        }
    }
    return NULL;
}

/* One record's body (after its length), expected at offset delta index. A record whose body
 * holds at least 21 bytes (attributes, and the longest timestamp delta, offset delta and key
 * length) is started without a bounds check per byte: the common case, and a fifth of the
 * broker's CPU when appending 100-byte records before (docs/benchmarks.md). */
static inline int check_record(struct rd *r, int32_t index)
{
    int64_t ts_delta;
    int32_t offset_delta, headers;

    if (r->left >= 21) {
        const uint8_t *p = r->p + 1, *q;
        int64_t v, klen;

        if (!(q = fast_varint(p, &v, 10)) || !(q = fast_varint(q, &v, 5)) || v != index ||
            !(q = fast_varint(q, &klen, 5)) || klen < -1)
            return -1;
        r->left -= (size_t)(q - r->p);
        r->p = q;
        if (klen > 0 && rd_skip(r, klen))
            return -1;
    } else {
        if (rd_skip(r, 1) || rd_varlong(r, &ts_delta) || rd_varint(r, &offset_delta))
            return -1;
        if (offset_delta != index)
            return -1;
        if (rd_nullable(r))
            return -1;
    }
    if (rd_nullable(r))
        return -1;
    if (rd_varint(r, &headers) || headers < 0)
        return -1;
    for (int32_t h = 0; h < headers; h++) {
        int32_t klen;

        if (rd_varint(r, &klen) || klen < 0 || rd_skip(r, klen) || rd_nullable(r))
            return -1;
    }
    return r->left == 0 ? 0 : -1;
}

static int check_records(const uint8_t *p, size_t len, int32_t count)
{
    struct rd r = {p, len};

    /* A huge count cannot run long: each record takes at least one byte. */
    for (int32_t i = 0; i < count; i++) {
        struct rd rec;
        int32_t rlen;

        if (rd_varint(&r, &rlen) || rlen < 0 || (uint32_t)rlen > r.left)
            return ZCQ_BATCH_ERECORD;
        rec.p = r.p;
        rec.left = (size_t)rlen;
        r.p += rlen;
        r.left -= (size_t)rlen;
        if (check_record(&rec, i))
            return ZCQ_BATCH_ERECORD;
    }
    return r.left == 0 ? 0 : ZCQ_BATCH_ERECORD;
}

int zcq_batch_validate(const void *p, size_t len, struct zcq_batch_info *out)
{
    const uint8_t *b = p;
    struct zcq_batch_info info;
    int16_t codec;

    if (len < ZCQ_BATCH_HEADER)
        return ZCQ_BATCH_ETRUNC;
    zcq_batch_decode(b, len, &info);
    /* Filled even when the batch is then refused, so a caller can log what it was. */
    if (out)
        *out = info;
    if (info.length < MIN_LENGTH)
        return ZCQ_BATCH_ELENGTH;
    if ((uint64_t)ZCQ_BATCH_LOG_OVERHEAD + (uint32_t)info.length > len)
        return ZCQ_BATCH_ETRUNC;
    if ((uint64_t)ZCQ_BATCH_LOG_OVERHEAD + (uint32_t)info.length < len)
        return ZCQ_BATCH_ELENGTH;
    /* Magic first: a v0/v1 message set has no CRC-32C where this would look for one. */
    if (b[OFF_MAGIC] != 2)
        return ZCQ_BATCH_EMAGIC;
    if (zcq_crc32c(0, b + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES) != info.crc)
        return ZCQ_BATCH_ECRC;
    if (info.record_count < 1 || (int64_t)info.last_offset_delta + 1 != info.record_count)
        return ZCQ_BATCH_ECOUNT;
    codec = ZCQ_BATCH_COMPRESSION(info.attributes);
    if (codec > 4)
        return ZCQ_BATCH_ECOMPRESSION;
    /* Compressed records are left to the consumer: inflating them here would cost the broker
     * the very copies zcq exists to avoid. */
    if (codec != 0)
        return 0;
    return check_records(b + ZCQ_BATCH_HEADER, len - ZCQ_BATCH_HEADER, info.record_count);
}

void zcq_batch_assign(void *p, int64_t base_offset, int32_t leader_epoch)
{
    uint8_t *b = p;
    uint64_t off = htobe64((uint64_t)base_offset);
    uint32_t epoch = htobe32((uint32_t)leader_epoch);

    memcpy(b + OFF_BASE_OFFSET, &off, sizeof(off));
    memcpy(b + OFF_EPOCH, &epoch, sizeof(epoch));
}

/* --- building and walking (the broker's own logs) ------------------------------------------ */

static size_t varint_len(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;

    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A record's body length: attributes, timestamp delta 0, offset delta i, key, value, no
 * headers. */
static size_t record_body_len(const struct zcq_record *r, int i)
{
    size_t klen = r->key_len > 0 ? (size_t)r->key_len : 0;
    size_t vlen = r->value_len > 0 ? (size_t)r->value_len : 0;

    return 1 + varint_len(0) + varint_len(i) + varint_len(r->key_len < 0 ? -1 : r->key_len) + klen +
           varint_len(r->value_len < 0 ? -1 : r->value_len) + vlen + varint_len(0);
}

size_t zcq_batch_build_size(const struct zcq_record *r, int n)
{
    size_t total = ZCQ_BATCH_HEADER;

    for (int i = 0; i < n; i++) {
        size_t body = record_body_len(&r[i], i);

        total += varint_len((int64_t)body) + body;
    }
    return total;
}

int64_t zcq_batch_build(void *buf, size_t cap, const struct zcq_record *r, int n, int64_t ts)
{
    uint8_t *b = buf, *p;
    size_t len;

    if (n < 1)
        return ZCQ_BATCH_ECOUNT;
    len = zcq_batch_build_size(r, n);
    if (cap < len || len - ZCQ_BATCH_LOG_OVERHEAD > INT32_MAX)
        return ZCQ_BATCH_ETRUNC;
    memset(b, 0, ZCQ_BATCH_HEADER);
    put_be(b + OFF_LENGTH, len - ZCQ_BATCH_LOG_OVERHEAD, 4);
    put_be(b + OFF_EPOCH, (uint64_t)-1, 4);
    b[OFF_MAGIC] = 2;
    put_be(b + OFF_LAST_DELTA, (uint64_t)(n - 1), 4);
    put_be(b + OFF_BASE_TS, (uint64_t)ts, 8);
    put_be(b + OFF_MAX_TS, (uint64_t)ts, 8);
    put_be(b + OFF_PRODUCER_ID, (uint64_t)-1, 8);
    put_be(b + OFF_PRODUCER_EPOCH, (uint64_t)-1, 2);
    put_be(b + OFF_BASE_SEQ, (uint64_t)-1, 4);
    put_be(b + OFF_COUNT, (uint64_t)n, 4);
    p = b + ZCQ_BATCH_HEADER;
    for (int i = 0; i < n; i++) {
        p = put_varint(p, (int64_t)record_body_len(&r[i], i));
        *p++ = 0; /* attributes */
        p = put_varint(p, 0);
        p = put_varint(p, i);
        p = put_varint(p, r[i].key_len < 0 ? -1 : r[i].key_len);
        if (r[i].key_len > 0) {
            memcpy(p, r[i].key, (size_t)r[i].key_len);
            p += r[i].key_len;
        }
        p = put_varint(p, r[i].value_len < 0 ? -1 : r[i].value_len);
        if (r[i].value_len > 0) {
            memcpy(p, r[i].value, (size_t)r[i].value_len);
            p += r[i].value_len;
        }
        p = put_varint(p, 0); /* headers */
    }
    put_be(b + OFF_CRC, zcq_crc32c(0, b + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES), 4);
    return (int64_t)len;
}

/* A nullable byte string: its start and length (-1 for null). */
static int rd_bytes(struct rd *r, const void **p, int32_t *len)
{
    if (rd_varint(r, len) || *len < -1)
        return -1;
    *p = r->p;
    return *len > 0 ? rd_skip(r, *len) : 0;
}

int zcq_batch_each_record(const void *p, size_t len,
                          int (*fn)(void *arg, const struct zcq_record *r), void *arg)
{
    struct zcq_batch_info info;
    struct rd r;

    if (zcq_batch_decode(p, len, &info) < 0 || len < ZCQ_BATCH_HEADER)
        return ZCQ_BATCH_ETRUNC;
    if (ZCQ_BATCH_COMPRESSION(info.attributes) != 0)
        return ZCQ_BATCH_ECOMPRESSION;
    r.p = (const uint8_t *)p + ZCQ_BATCH_HEADER;
    r.left = len - ZCQ_BATCH_HEADER;
    for (int32_t i = 0; i < info.record_count; i++) {
        struct zcq_record rec;
        struct rd body;
        int32_t rlen, delta, headers;
        int64_t ts_delta;
        int rc;

        if (rd_varint(&r, &rlen) || rlen < 0 || (uint32_t)rlen > r.left)
            return ZCQ_BATCH_ERECORD;
        body.p = r.p;
        body.left = (size_t)rlen;
        r.p += rlen;
        r.left -= (size_t)rlen;
        if (rd_skip(&body, 1) || rd_varlong(&body, &ts_delta) || rd_varint(&body, &delta) ||
            rd_bytes(&body, &rec.key, &rec.key_len) ||
            rd_bytes(&body, &rec.value, &rec.value_len) || rd_varint(&body, &headers) ||
            headers < 0)
            return ZCQ_BATCH_ERECORD;
        rec.offset = info.base_offset + delta;
        rc = fn(arg, &rec);
        if (rc)
            return rc;
    }
    return 0;
}
