/* Tests for src/store/batch.c: batches built here byte by byte, then broken one field at a
 * time. */
#include "harness.h"

#include "store/batch.h"
#include "store/crc32c.h"

#include <string.h>

#define CAP (1 << 16)

/* A batch under construction: the header is written by bb_end(). */
struct bb {
    uint8_t buf[CAP];
    size_t len;
    int32_t records;
    int16_t attributes;
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_varint(uint8_t *p, int32_t v)
{
    return put_uvarint(p, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

static size_t put_varlong(uint8_t *p, int64_t v)
{
    return put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void bb_begin(struct bb *b, int16_t attributes)
{
    memset(b->buf, 0xee, ZCQ_BATCH_HEADER); /* bb_end must set every header byte */
    b->len = ZCQ_BATCH_HEADER;
    b->records = 0;
    b->attributes = attributes;
}

/* A record whose body (everything after its length varint) is given as is. */
static void bb_raw(struct bb *b, const uint8_t *body, size_t n)
{
    ZT_ASSERT(b->len + 5 + n <= CAP);
    b->len += put_varint(b->buf + b->len, (int32_t)n);
    memcpy(b->buf + b->len, body, n);
    b->len += n;
    b->records++;
}

/* A well-formed record; klen/vlen -1 for null; nheaders headers "h<i>" = "v<i>" (odd ones with a
 * null value). */
static void bb_record(struct bb *b, const char *key, int klen, const char *val, int vlen,
                      int nheaders)
{
    static uint8_t body[CAP];
    size_t n = 0;

    body[n++] = 0; /* attributes */
    n += put_varlong(body + n, b->records * 3);
    n += put_varint(body + n, b->records);
    n += put_varint(body + n, klen);
    if (klen > 0) {
        memcpy(body + n, key, (size_t)klen);
        n += (size_t)klen;
    }
    n += put_varint(body + n, vlen);
    if (vlen > 0) {
        memcpy(body + n, val, (size_t)vlen);
        n += (size_t)vlen;
    }
    n += put_varint(body + n, nheaders);
    for (int h = 0; h < nheaders; h++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "h%d", h);

        n += put_varint(body + n, kl);
        memcpy(body + n, k, (size_t)kl);
        n += (size_t)kl;
        if (h & 1) {
            n += put_varint(body + n, -1);
        } else {
            n += put_varint(body + n, 2);
            body[n++] = 'v';
            body[n++] = (uint8_t)('0' + h % 10);
        }
    }
    bb_raw(b, body, n);
}

/* Arbitrary bytes after the last record (or, compressed, as the whole payload). */
static void bb_bytes(struct bb *b, const void *p, size_t n)
{
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void fix_crc(uint8_t *p, size_t len)
{
    put_be(p + 17, zcq_crc32c(0, p + 21, len - 21), 4);
}

/* Fill in the header: count and lastOffsetDelta from the records added (count may be forced
 * by the caller afterwards, followed by fix_crc). */
static size_t bb_end(struct bb *b)
{
    uint8_t *p = b->buf;

    put_be(p + 0, 1000, 8);                        /* baseOffset */
    put_be(p + 8, b->len - 12, 4);                 /* batchLength */
    put_be(p + 12, 7, 4);                          /* partitionLeaderEpoch */
    p[16] = 2;                                     /* magic */
    put_be(p + 21, (uint16_t)b->attributes, 2);    /* attributes */
    put_be(p + 23, (uint32_t)(b->records - 1), 4); /* lastOffsetDelta */
    put_be(p + 27, 1700000000000ull, 8);           /* baseTimestamp */
    put_be(p + 35, 1700000000000ull + 300, 8);     /* maxTimestamp */
    put_be(p + 43, UINT64_MAX, 8);                 /* producerId -1 */
    put_be(p + 51, UINT16_MAX, 2);                 /* producerEpoch -1 */
    put_be(p + 53, UINT32_MAX, 4);                 /* baseSequence -1 */
    put_be(p + 57, (uint32_t)b->records, 4);       /* recordCount */
    fix_crc(p, b->len);
    return b->len;
}

/* Set a header field and recompute the CRC, so the check under test is the one that fails. */
static void set_field(struct bb *b, size_t off, uint64_t v, int n)
{
    put_be(b->buf + off, v, n);
    fix_crc(b->buf, b->len);
}

static struct bb B, B2;

/* The batch most tests break: two records, one with a key and headers. */
static size_t two_records(struct bb *b)
{
    bb_begin(b, 0);
    bb_record(b, "key", 3, "value", 5, 2);
    bb_record(b, NULL, -1, "v2", 2, 0);
    return bb_end(b);
}

/* Validate a copy of exactly len bytes on the heap, so ASan sees any read past the end. */
static int validate_exact(const uint8_t *p, size_t len, struct zcq_batch_info *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    int r;

    ZT_ASSERT(copy);
    memcpy(copy, p, len);
    r = zcq_batch_validate(copy, len, out);
    free(copy);
    return r;
}

#define VALIDATE_EQ(b, want)                                                                       \
    do {                                                                                           \
        int r_ = validate_exact((b)->buf, (b)->len, NULL);                                         \
        if (r_ != (want))                                                                          \
            zt_fail(__FILE__, __LINE__, "validate: %d (%s), expected %s", r_,                      \
                    zcq_batch_strerror(r_), #want);                                                \
    } while (0)

static void valid_one_record(void)
{
    struct zcq_batch_info info;

    bb_begin(&B, 0);
    bb_record(&B, "k", 1, "hello", 5, 0);
    bb_end(&B);
    ZT_EQ(validate_exact(B.buf, B.len, &info), 0);
    ZT_EQ(info.base_offset, 1000);
    ZT_EQ(info.length, B.len - 12);
    ZT_EQ(info.leader_epoch, 7);
    ZT_EQ(info.attributes, 0);
    ZT_EQ(info.last_offset_delta, 0);
    ZT_EQ(info.base_timestamp, 1700000000000ll);
    ZT_EQ(info.max_timestamp, 1700000000300ll);
    ZT_EQ(info.producer_id, -1);
    ZT_EQ(info.producer_epoch, -1);
    ZT_EQ(info.base_sequence, -1);
    ZT_EQ(info.record_count, 1);
    ZT_EQ(info.crc, zcq_crc32c(0, B.buf + 21, B.len - 21));
    ZT_EQ(zcq_batch_last_offset(&info), 1000);
    ZT_EQ(zcq_batch_size(B.buf, B.len), (int64_t)B.len);
}

static void valid_two_null_keys_and_values(void)
{
    bb_begin(&B, 0);
    bb_record(&B, NULL, -1, NULL, -1, 0);
    bb_record(&B, "", 0, "", 0, 0);
    bb_end(&B);
    VALIDATE_EQ(&B, 0);
    two_records(&B);
    VALIDATE_EQ(&B, 0);
}

static void valid_hundred_with_headers(void)
{
    struct zcq_batch_info info;
    char key[32], val[200];

    memset(val, 'x', sizeof(val));
    bb_begin(&B, 0);
    for (int i = 0; i < 100; i++) {
        int kl = snprintf(key, sizeof(key), "key-%d", i);

        bb_record(&B, i % 7 ? key : NULL, i % 7 ? kl : -1, val, i % 5 ? i * 2 : -1, i % 4);
    }
    bb_end(&B);
    ZT_EQ(validate_exact(B.buf, B.len, &info), 0);
    ZT_EQ(info.record_count, 100);
    ZT_EQ(zcq_batch_last_offset(&info), 1099);
}

/* Compressed records are opaque: only the header is checked. */
static void valid_compressed_header_only(void)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};

    for (int codec = 1; codec <= 4; codec++) {
        bb_begin(&B, (int16_t)codec);
        bb_bytes(&B, junk, sizeof(junk));
        B.records = 5;
        bb_end(&B);
        VALIDATE_EQ(&B, 0);
        /* Even an empty payload. */
        bb_begin(&B, (int16_t)codec);
        B.records = 1;
        bb_end(&B);
        VALIDATE_EQ(&B, 0);
    }
}

/* A control batch (transaction marker) is valid; refusing it is the caller's business. */
static void valid_control_batch(void)
{
    static const uint8_t key[] = {0, 0, 0, 1}, val[] = {0, 0, 0, 0, 0, 5};
    struct zcq_batch_info info;

    bb_begin(&B, 0x30); /* transactional | control */
    bb_record(&B, (const char *)key, sizeof(key), (const char *)val, sizeof(val), 0);
    bb_end(&B);
    ZT_EQ(validate_exact(B.buf, B.len, &info), 0);
    ZT_ASSERT(ZCQ_BATCH_IS_CONTROL(info.attributes));
    ZT_ASSERT(ZCQ_BATCH_IS_TRANSACTIONAL(info.attributes));
    ZT_EQ(ZCQ_BATCH_COMPRESSION(info.attributes), 0);
}

static void decode_needs_header(void)
{
    struct zcq_batch_info info;

    two_records(&B);
    for (size_t n = 0; n < ZCQ_BATCH_HEADER; n++)
        ZT_EQ(zcq_batch_decode(B.buf, n, &info), ZCQ_BATCH_ETRUNC);
    ZT_EQ(zcq_batch_decode(B.buf, ZCQ_BATCH_HEADER, &info), 0);
    ZT_EQ(info.record_count, 2);
    ZT_EQ(info.length, B.len - 12);
}

static void truncated_every_length(void)
{
    size_t total = two_records(&B);

    for (size_t n = 0; n < total; n++) {
        int r = validate_exact(B.buf, n, NULL);

        if (r != ZCQ_BATCH_ETRUNC)
            zt_fail(__FILE__, __LINE__, "%zu of %zu bytes: %d", n, total, r);
    }
    /* More bytes than the batch: the length does not match the size given. */
    ZT_EQ(zcq_batch_validate(B.buf, total + 1, NULL), ZCQ_BATCH_ELENGTH);
}

static void batch_length_lies(void)
{
    size_t total = two_records(&B);

    put_be(B.buf + 8, total - 12 + 1, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ETRUNC);
    put_be(B.buf + 8, 0x7fffffff, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ETRUNC);
    put_be(B.buf + 8, total - 12 - 1, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
    put_be(B.buf + 8, 49, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
    put_be(B.buf + 8, 48, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
    put_be(B.buf + 8, 0, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
    put_be(B.buf + 8, UINT32_MAX, 4); /* -1 */
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
    put_be(B.buf + 8, 0x80000000u, 4); /* INT32_MIN */
    VALIDATE_EQ(&B, ZCQ_BATCH_ELENGTH);
}

static void magic_not_two(void)
{
    static const uint8_t bad[] = {0, 1, 3, 0xff};

    for (size_t i = 0; i < sizeof(bad); i++) {
        two_records(&B);
        B.buf[16] = bad[i];
        VALIDATE_EQ(&B, ZCQ_BATCH_EMAGIC);
    }
}

static void crc_covers_every_bit(void)
{
    size_t total = two_records(&B);

    /* The CRC field itself, and every byte it covers. */
    for (size_t pos = 17; pos < total; pos++)
        for (int bit = 0; bit < 8; bit++) {
            int r;

            B.buf[pos] ^= (uint8_t)(1u << bit);
            r = zcq_batch_validate(B.buf, total, NULL);
            B.buf[pos] ^= (uint8_t)(1u << bit);
            if (r != ZCQ_BATCH_ECRC)
                zt_fail(__FILE__, __LINE__, "bit %d of byte %zu flipped: %d", bit, pos, r);
        }
    VALIDATE_EQ(&B, 0);
}

/* baseOffset and partitionLeaderEpoch are the broker's to rewrite, outside the CRC. */
static void outside_crc_ignored(void)
{
    size_t total = two_records(&B);

    for (size_t pos = 0; pos < 16; pos++) {
        if (pos >= 8 && pos < 12)
            continue; /* batchLength */
        for (int bit = 0; bit < 8; bit++) {
            B.buf[pos] ^= (uint8_t)(1u << bit);
            ZT_EQ(zcq_batch_validate(B.buf, total, NULL), 0);
            B.buf[pos] ^= (uint8_t)(1u << bit);
        }
    }
    memset(B.buf, 0xff, 8);
    memset(B.buf + 12, 0x80, 4);
    VALIDATE_EQ(&B, 0);
}

static void record_count_wrong(void)
{
    two_records(&B);
    set_field(&B, 57, 0, 4); /* recordCount 0, lastOffsetDelta 1 */
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);
    set_field(&B, 23, UINT32_MAX, 4); /* and lastOffsetDelta -1: consistent, but empty */
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);
    set_field(&B, 57, UINT32_MAX, 4); /* recordCount -1 */
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);

    two_records(&B);
    set_field(&B, 23, 0, 4); /* lastOffsetDelta 0 with 2 records */
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);
    set_field(&B, 23, 2, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);
    set_field(&B, 23, 0x7fffffff, 4); /* + 1 must not overflow into a match */
    set_field(&B, 57, 0x80000000u, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ECOUNT);
}

static void codec_unknown(void)
{
    for (int codec = 5; codec <= 7; codec++) {
        two_records(&B);
        set_field(&B, 21, (uint64_t)codec, 2);
        VALIDATE_EQ(&B, ZCQ_BATCH_ECOMPRESSION);
    }
}

static void record_offset_delta_wrong(void)
{
    /* attributes, timestampDelta 0, offsetDelta, null key, null value, no headers */
    uint8_t body[] = {0, 0, 0, 1, 1, 0};

    for (int32_t delta = -1; delta <= 3; delta++) {
        bb_begin(&B, 0);
        bb_record(&B, NULL, -1, "a", 1, 0);
        put_varint(body + 2, delta); /* one byte for -1..3 */
        bb_raw(&B, body, sizeof(body));
        bb_end(&B);
        VALIDATE_EQ(&B, delta == 1 ? 0 : ZCQ_BATCH_ERECORD);
    }
}

static void record_length_overruns(void)
{
    uint8_t body[] = {0, 0, 0, 1, 1, 0};

    /* The last record claims one byte more than the batch holds. */
    bb_begin(&B, 0);
    bb_raw(&B, body, sizeof(body));
    B.buf[ZCQ_BATCH_HEADER] = (uint8_t)(2 * (sizeof(body) + 1));
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* Claims the most a varint can say. */
    bb_begin(&B, 0);
    bb_bytes(&B, "\xfe\xff\xff\xff\x0f", 5);
    bb_bytes(&B, body, sizeof(body));
    B.records = 1;
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* A negative length. */
    bb_begin(&B, 0);
    bb_raw(&B, body, sizeof(body));
    B.buf[ZCQ_BATCH_HEADER] = 1; /* zigzag -1 */
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* The last record's length reaches past the batch, and what it would read there would
     * complete it: only the length check stops the read. */
    bb_begin(&B, 0);
    bb_raw(&B, body, sizeof(body));
    B.len--;
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* A record one byte longer than its fields (its length includes a byte nobody reads). */
    {
        uint8_t longer[] = {0, 0, 0, 1, 1, 0, 0};

        bb_begin(&B, 0);
        bb_raw(&B, longer, sizeof(longer));
        bb_end(&B);
        VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    }
    /* A record one byte shorter than its fields. */
    bb_begin(&B, 0);
    bb_raw(&B, body, sizeof(body) - 1);
    bb_bytes(&B, body + sizeof(body) - 1, 1);
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
}

/* Lengths inside a record that overrun it, or are negative where that is not allowed. */
static void record_fields_bad(void)
{
    static const struct {
        uint8_t body[16];
        size_t n;
        int want;
    } cases[] = {
        {{0, 0, 0, 2, 'k', 1, 0}, 7, 0},                  /* key "k", value null */
        {{0, 0, 0, 4, 'k', 1, 0}, 7, ZCQ_BATCH_ERECORD},  /* key longer than the record */
        {{0, 0, 0, 3, 1, 0}, 6, ZCQ_BATCH_ERECORD},       /* key length -2 */
        {{0, 0, 0, 1, 3, 0}, 6, ZCQ_BATCH_ERECORD},       /* value length -2 */
        {{0, 0, 0, 1, 4, 'v', 0}, 7, ZCQ_BATCH_ERECORD},  /* value longer than the record */
        {{0, 0, 0, 1, 1, 1}, 6, ZCQ_BATCH_ERECORD},       /* headers -1 */
        {{0, 0, 0, 1, 1, 2, 2, 'h', 1}, 9, 0},            /* header h = null */
        {{0, 0, 0, 1, 1, 2, 1, 0}, 8, ZCQ_BATCH_ERECORD}, /* header key null */
        {{0, 0, 0, 1, 1, 2, 0, 3}, 8, ZCQ_BATCH_ERECORD}, /* header value -2 */
        {{0, 0, 0, 1, 1, 4, 0, 1}, 8, ZCQ_BATCH_ERECORD}, /* 2 headers, 1 there */
        {{0, 0, 0, 1, 1, 2, 2, 'h', 4, 'v'}, 10, ZCQ_BATCH_ERECORD}, /* value overruns */
        {{0, 0, 0, 1, 1}, 5, ZCQ_BATCH_ERECORD},                     /* no header count */
        {{0}, 1, ZCQ_BATCH_ERECORD},                                 /* attributes only */
        {{0}, 0, ZCQ_BATCH_ERECORD},                                 /* empty */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r;

        bb_begin(&B, 0);
        bb_raw(&B, cases[i].body, cases[i].n);
        bb_end(&B);
        r = validate_exact(B.buf, B.len, NULL);
        if (r != cases[i].want)
            zt_fail(__FILE__, __LINE__, "case %zu: %d, expected %d", i, r, cases[i].want);
    }
}

static void varint_too_long(void)
{
    /* Five bytes, not minimal, is still a varint (Kafka reads it); six is not. */
    static const uint8_t key5[] = {0, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x00, 'k', 1, 0};
    static const uint8_t key6[] = {0, 0, 0, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 'k', 1, 0};
    /* Ten bytes of timestamp delta are a varlong; eleven are not. */
    static const uint8_t ts10[] = {0,    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x00, 0,    1,    1,    0};
    static const uint8_t ts11[] = {0,    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x00, 0,    1,    1,    0};
    static const uint8_t body[] = {0, 0, 0, 1, 1, 0};

    bb_begin(&B, 0);
    bb_raw(&B, key5, sizeof(key5));
    bb_end(&B);
    VALIDATE_EQ(&B, 0);
    bb_begin(&B, 0);
    bb_raw(&B, key6, sizeof(key6));
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    bb_begin(&B, 0);
    bb_raw(&B, ts10, sizeof(ts10));
    bb_end(&B);
    VALIDATE_EQ(&B, 0);
    bb_begin(&B, 0);
    bb_raw(&B, ts11, sizeof(ts11));
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* The record length itself: six bytes. */
    bb_begin(&B, 0);
    bb_bytes(&B, "\x8c\x80\x80\x80\x80\x00", 6);
    bb_bytes(&B, body, sizeof(body));
    B.records = 1;
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* And a varint cut off by the end of the batch. */
    bb_begin(&B, 0);
    bb_bytes(&B, "\x8c\x80", 2);
    B.records = 1;
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
}

static void fewer_records_than_count(void)
{
    two_records(&B);
    set_field(&B, 57, 3, 4);
    set_field(&B, 23, 2, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    /* More records than the count: the extra one is trailing bytes. */
    two_records(&B);
    set_field(&B, 57, 1, 4);
    set_field(&B, 23, 0, 4);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
}

static void trailing_garbage(void)
{
    static const uint8_t zero = 0;

    bb_begin(&B, 0);
    bb_record(&B, "k", 1, "v", 1, 1);
    bb_bytes(&B, &zero, 1);
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
    bb_begin(&B, 0);
    bb_record(&B, "k", 1, "v", 1, 1);
    bb_bytes(&B, "garbage", 7);
    bb_end(&B);
    VALIDATE_EQ(&B, ZCQ_BATCH_ERECORD);
}

static void assign_keeps_valid(void)
{
    static const struct {
        int64_t off;
        int32_t epoch;
    } cases[] = {{0, 0}, {123456789012345ll, 42}, {INT64_MAX, INT32_MAX}, {-1, -1}};
    struct zcq_batch_info info;
    size_t total = two_records(&B);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zcq_batch_assign(B.buf, cases[i].off, cases[i].epoch);
        ZT_EQ(zcq_batch_validate(B.buf, total, &info), 0);
        ZT_EQ(info.base_offset, cases[i].off);
        ZT_EQ(info.leader_epoch, cases[i].epoch);
        ZT_EQ(info.length, total - 12);
        ZT_EQ(info.record_count, 2);
    }
    /* At an odd address, too. */
    memmove(B.buf + 3, B.buf, total);
    zcq_batch_assign(B.buf + 3, 77, 5);
    ZT_EQ(zcq_batch_validate(B.buf + 3, total, &info), 0);
    ZT_EQ(info.base_offset, 77);
    ZT_EQ(info.leader_epoch, 5);
    ZT_EQ(zcq_batch_last_offset(&info), 78);
}

static void size_steps_over_batches(void)
{
    static uint8_t buf[2 * CAP];
    size_t n1 = two_records(&B), n2, off = 0, count = 0;

    bb_begin(&B2, 0);
    for (int i = 0; i < 10; i++)
        bb_record(&B2, "key", 3, "a longer value", 14, 1);
    n2 = bb_end(&B2);
    memcpy(buf, B.buf, n1);
    memcpy(buf + n1, B2.buf, n2);
    while (off < n1 + n2) {
        int64_t sz = zcq_batch_size(buf + off, n1 + n2 - off);

        ZT_ASSERT(sz > 0);
        ZT_EQ(zcq_batch_validate(buf + off, (size_t)sz, NULL), 0);
        off += (size_t)sz;
        count++;
    }
    ZT_EQ(count, 2);
    ZT_EQ(off, n1 + n2);
    ZT_EQ(zcq_batch_size(buf + n1, 12), (int64_t)n2); /* only the first 12 bytes needed */
    for (size_t n = 0; n < 12; n++)
        ZT_EQ(zcq_batch_size(buf, n), ZCQ_BATCH_ETRUNC);
    put_be(buf + 8, 48, 4);
    ZT_EQ(zcq_batch_size(buf, n1), ZCQ_BATCH_ELENGTH);
    put_be(buf + 8, UINT32_MAX, 4);
    ZT_EQ(zcq_batch_size(buf, n1), ZCQ_BATCH_ELENGTH);
    put_be(buf + 8, 49, 4);
    ZT_EQ(zcq_batch_size(buf, n1), 61);
    put_be(buf + 8, 0x7fffffff, 4);
    ZT_EQ(zcq_batch_size(buf, n1), 0x7fffffffll + 12);
}

static void strerror_names_every_code(void)
{
    static const int codes[] = {ZCQ_BATCH_ETRUNC,   ZCQ_BATCH_ELENGTH,     ZCQ_BATCH_EMAGIC,
                                ZCQ_BATCH_ECRC,     ZCQ_BATCH_ECOUNT,      ZCQ_BATCH_ERECORD,
                                ZCQ_BATCH_ECONTROL, ZCQ_BATCH_ECOMPRESSION};
    const char *unknown = zcq_batch_strerror(-1);

    ZT_ASSERT(unknown && *unknown);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = zcq_batch_strerror(codes[i]);

        ZT_ASSERT(s && *s);
        ZT_ASSERT(strcmp(s, unknown) != 0);
        for (size_t j = 0; j < i; j++)
            ZT_ASSERT(strcmp(s, zcq_batch_strerror(codes[j])) != 0);
    }
}

struct walked {
    int n;
    struct zcq_record r[8];
};

static int walk_cb(void *arg, const struct zcq_record *r)
{
    struct walked *w = arg;

    if (w->n == 8)
        return 1;
    w->r[w->n++] = *r;
    return 0;
}

/* What zcq_batch_build writes, zcq_batch_validate accepts and zcq_batch_each_record gives
 * back: keys and values byte for byte, nulls as nulls, offsets from the assigned base. */
static void build_and_walk(void)
{
    char big[300];
    struct zcq_record in[4] = {
        {"k1", 2, "value one", 9, 0},
        {NULL, -1, "no key", 6, 0},
        {"tomb", 4, NULL, -1, 0},
        {"", 0, big, (int32_t)sizeof(big), 0},
    };
    struct zcq_batch_info info;
    struct walked w = {0};
    uint8_t buf[1024];
    int64_t len;

    memset(big, 'x', sizeof(big));
    ZT_EQ(zcq_batch_build(buf, sizeof(buf), in, 0, 5), ZCQ_BATCH_ECOUNT);
    ZT_EQ(zcq_batch_build(buf, zcq_batch_build_size(in, 4) - 1, in, 4, 5), ZCQ_BATCH_ETRUNC);
    len = zcq_batch_build(buf, sizeof(buf), in, 4, 1234567);
    ZT_EQ(len, (int64_t)zcq_batch_build_size(in, 4));
    ZT_OK(zcq_batch_validate(buf, (size_t)len, &info));
    ZT_EQ(info.record_count, 4);
    ZT_EQ(info.max_timestamp, 1234567);
    ZT_EQ(info.producer_id, -1);
    zcq_batch_assign(buf, 100, 0);
    ZT_OK(zcq_batch_validate(buf, (size_t)len, NULL));
    ZT_OK(zcq_batch_each_record(buf, (size_t)len, walk_cb, &w));
    ZT_EQ(w.n, 4);
    for (int i = 0; i < 4; i++) {
        ZT_EQ(w.r[i].offset, 100 + i);
        ZT_EQ(w.r[i].key_len, in[i].key_len);
        ZT_EQ(w.r[i].value_len, in[i].value_len);
        if (in[i].key_len > 0)
            ZT_ASSERT(memcmp(w.r[i].key, in[i].key, (size_t)in[i].key_len) == 0);
        if (in[i].value_len > 0)
            ZT_ASSERT(memcmp(w.r[i].value, in[i].value, (size_t)in[i].value_len) == 0);
    }
    /* The callback's non-zero return stops the walk and comes back. */
    w.n = 8;
    ZT_EQ(zcq_batch_each_record(buf, (size_t)len, walk_cb, &w), 1);
    /* A compressed batch is not walked. */
    buf[22] |= 1;
    ZT_EQ(zcq_batch_each_record(buf, (size_t)len, walk_cb, &w), ZCQ_BATCH_ECOMPRESSION);
}

static const struct zcq_test tests[] = {
    {"build_and_walk", build_and_walk, 10},
    {"valid_one_record", valid_one_record, 10},
    {"valid_two_null_keys_and_values", valid_two_null_keys_and_values, 10},
    {"valid_hundred_with_headers", valid_hundred_with_headers, 10},
    {"valid_compressed_header_only", valid_compressed_header_only, 10},
    {"valid_control_batch", valid_control_batch, 10},
    {"decode_needs_header", decode_needs_header, 10},
    {"truncated_every_length", truncated_every_length, 10},
    {"batch_length_lies", batch_length_lies, 10},
    {"magic_not_two", magic_not_two, 10},
    {"crc_covers_every_bit", crc_covers_every_bit, 10},
    {"outside_crc_ignored", outside_crc_ignored, 10},
    {"record_count_wrong", record_count_wrong, 10},
    {"codec_unknown", codec_unknown, 10},
    {"record_offset_delta_wrong", record_offset_delta_wrong, 10},
    {"record_length_overruns", record_length_overruns, 10},
    {"record_fields_bad", record_fields_bad, 10},
    {"varint_too_long", varint_too_long, 10},
    {"fewer_records_than_count", fewer_records_than_count, 10},
    {"trailing_garbage", trailing_garbage, 10},
    {"assign_keeps_valid", assign_keeps_valid, 10},
    {"size_steps_over_batches", size_steps_over_batches, 10},
    {"strerror_names_every_code", strerror_names_every_code, 10},
};

ZT_MAIN(tests)
