/* Tests for src/proto/kbuf.c: Kafka primitives, written then read back, and hostile input. */
#include "harness.h"

#include "proto/kbuf.h"

#include <errno.h>
#include <string.h>

static void round_trip(void)
{
    struct zcq_kw w;
    struct zcq_kr r;
    struct zcq_kstr s, nul = {NULL, -1}, b = {"\x00\x01\x02", 3};
    size_t at;

    zcq_kw_init(&w, 0);
    zcq_kw_i8(&w, -5);
    zcq_kw_i16(&w, -12345);
    zcq_kw_i32(&w, 0x12345678);
    zcq_kw_i64(&w, -0x123456789abcdefLL);
    zcq_kw_bool(&w, true);
    zcq_kw_uvarint(&w, 0);
    zcq_kw_uvarint(&w, 300);
    zcq_kw_uvarint(&w, UINT32_MAX);
    zcq_kw_cstr(&w, "topic");
    zcq_kw_cstr(&w, NULL);
    zcq_kw_bytes(&w, b);
    zcq_kw_bytes(&w, nul);
    at = zcq_kw_reserve_i32(&w);
    zcq_kw_i16(&w, 7);
    zcq_kw_patch_i32(&w, at, 99);
    ZT_EQ(w.err, 0);

    zcq_kr_init(&r, w.buf, w.len);
    ZT_EQ(zcq_kr_i8(&r), -5);
    ZT_EQ(zcq_kr_i16(&r), -12345);
    ZT_EQ(zcq_kr_i32(&r), 0x12345678);
    ZT_EQ(zcq_kr_i64(&r), -0x123456789abcdefLL);
    ZT_ASSERT(zcq_kr_bool(&r));
    ZT_EQ(zcq_kr_uvarint(&r), 0);
    ZT_EQ(zcq_kr_uvarint(&r), 300);
    ZT_EQ(zcq_kr_uvarint(&r), UINT32_MAX);
    s = zcq_kr_str(&r);
    ZT_ASSERT(s.len == 5 && memcmp(s.p, "topic", 5) == 0);
    s = zcq_kr_nstr(&r);
    ZT_EQ(s.len, -1);
    s = zcq_kr_bytes(&r);
    ZT_ASSERT(s.len == 3 && memcmp(s.p, b.p, 3) == 0);
    s = zcq_kr_nbytes(&r);
    ZT_EQ(s.len, -1);
    ZT_EQ(zcq_kr_i32(&r), 99);
    ZT_EQ(zcq_kr_i16(&r), 7);
    ZT_EQ(zcq_kr_left(&r), 0);
    ZT_EQ(r.err, 0);
    zcq_kw_free(&w);
}

static void errors_are_sticky(void)
{
    static const uint8_t buf[] = {0x00, 0x01, 0x02};
    struct zcq_kr r;

    zcq_kr_init(&r, buf, sizeof(buf));
    ZT_EQ(zcq_kr_i16(&r), 1);
    ZT_EQ(zcq_kr_i32(&r), 0); /* only 1 byte left */
    ZT_EQ(r.err, -EBADMSG);
    ZT_EQ(zcq_kr_i8(&r), 0); /* still failing, even though a byte is there */
    ZT_EQ(zcq_kr_left(&r), 0);
}

static void hostile_lengths(void)
{
    /* A string claiming 0x7fff bytes, a null where none is allowed, an array of 2^31-1. */
    static const uint8_t big_str[] = {0x7f, 0xff, 'a'};
    static const uint8_t null_str[] = {0xff, 0xff};
    static const uint8_t neg_str[] = {0xff, 0xfe};
    static const uint8_t huge_array[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    static const uint8_t null_array[] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t long_varint[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    struct zcq_kr r;

    zcq_kr_init(&r, big_str, sizeof(big_str));
    ZT_EQ(zcq_kr_str(&r).len, -1);
    ZT_EQ(r.err, -EBADMSG);
    zcq_kr_init(&r, null_str, sizeof(null_str));
    (void)zcq_kr_str(&r);
    ZT_EQ(r.err, -EBADMSG);
    zcq_kr_init(&r, null_str, sizeof(null_str));
    ZT_EQ(zcq_kr_nstr(&r).len, -1);
    ZT_EQ(r.err, 0);
    zcq_kr_init(&r, neg_str, sizeof(neg_str));
    (void)zcq_kr_nstr(&r);
    ZT_EQ(r.err, -EBADMSG);
    zcq_kr_init(&r, huge_array, sizeof(huge_array));
    ZT_EQ(zcq_kr_array(&r, 4, false), 0);
    ZT_EQ(r.err, -EBADMSG);
    zcq_kr_init(&r, huge_array + 4, 4); /* count 0 */
    ZT_EQ(zcq_kr_array(&r, 4, false), 0);
    ZT_EQ(r.err, 0);
    zcq_kr_init(&r, null_array, sizeof(null_array));
    ZT_EQ(zcq_kr_array(&r, 4, true), -1);
    ZT_EQ(r.err, 0);
    zcq_kr_init(&r, null_array, sizeof(null_array));
    ZT_EQ(zcq_kr_array(&r, 4, false), 0);
    ZT_EQ(r.err, -EBADMSG);
    zcq_kr_init(&r, long_varint, sizeof(long_varint));
    (void)zcq_kr_uvarint(&r);
    ZT_EQ(r.err, -EBADMSG);
}

static void compact_and_tags(void)
{
    /* compact "ab", compact null, tags: 2 fields (tag 0 size 1 [x], tag 5 size 0), then i8 9 */
    static const uint8_t buf[] = {3, 'a', 'b', 0, 2, 0, 1, 'x', 5, 0, 9};
    struct zcq_kr r;
    struct zcq_kstr s;

    zcq_kr_init(&r, buf, sizeof(buf));
    s = zcq_kr_cstr(&r);
    ZT_ASSERT(s.len == 2 && memcmp(s.p, "ab", 2) == 0);
    ZT_EQ(zcq_kr_cstr(&r).len, -1);
    zcq_kr_skip_tags(&r);
    ZT_EQ(zcq_kr_i8(&r), 9);
    ZT_EQ(r.err, 0);
    /* A tag whose size runs past the end. */
    {
        static const uint8_t bad[] = {1, 0, 100, 'x'};

        zcq_kr_init(&r, bad, sizeof(bad));
        zcq_kr_skip_tags(&r);
        ZT_EQ(r.err, -EBADMSG);
    }
}

static void writer_limits(void)
{
    struct zcq_kw w;
    char big[100];

    memset(big, 'x', sizeof(big));
    zcq_kw_init(&w, 64);
    zcq_kw_raw(&w, big, 60);
    ZT_EQ(w.err, 0);
    zcq_kw_i64(&w, 1); /* 68 > 64 */
    ZT_EQ(w.err, -EMSGSIZE);
    ZT_EQ(w.len, 60);
    zcq_kw_i8(&w, 1); /* dropped */
    ZT_EQ(w.len, 60);
    zcq_kw_reset(&w);
    ZT_EQ(w.err, 0);
    ZT_EQ(w.len, 0);
    zcq_kw_free(&w);

    /* Growth across many doublings keeps the content. */
    zcq_kw_init(&w, 0);
    for (int i = 0; i < 100000; i++)
        zcq_kw_i32(&w, i);
    ZT_EQ(w.len, 400000);
    {
        struct zcq_kr r;

        zcq_kr_init(&r, w.buf, w.len);
        for (int i = 0; i < 100000; i++)
            ZT_EQ(zcq_kr_i32(&r), i);
    }
    zcq_kw_free(&w);
}

static const struct zcq_test tests[] = {
    {"round_trip", round_trip, 10},           {"errors_are_sticky", errors_are_sticky, 10},
    {"hostile_lengths", hostile_lengths, 10}, {"compact_and_tags", compact_and_tags, 10},
    {"writer_limits", writer_limits, 10},
};

ZT_MAIN(tests)
