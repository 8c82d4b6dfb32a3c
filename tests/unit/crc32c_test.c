/* Tests for src/store/crc32c.c: known vectors, hardware against software against a bitwise
 * reference, and chaining. */
#include "harness.h"

#include "store/crc32c.h"

#include <string.h>

/* The definition, one bit at a time: slow, but too simple to share a bug with the tables. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(rng() >> 56);
}

static void check_vector(const void *buf, size_t len, uint32_t want, const char *what)
{
    uint32_t hw = zcq_crc32c(0, buf, len), sw = zcq_crc32c_sw(0, buf, len);

    if (hw != want || sw != want)
        zt_fail(__FILE__, __LINE__, "%s: zcq_crc32c 0x%08x, sw 0x%08x, want 0x%08x", what, hw, sw,
                want);
}

static void known_vectors(void)
{
    uint8_t buf[32];

    /* RFC 3720, appendix B.4 */
    memset(buf, 0, sizeof(buf));
    check_vector(buf, sizeof(buf), 0x8a9136aa, "32 zeros");
    memset(buf, 0xff, sizeof(buf));
    check_vector(buf, sizeof(buf), 0x62a8ab43, "32 x 0xff");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    check_vector(buf, sizeof(buf), 0x46dd794e, "0..31");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    check_vector(buf, sizeof(buf), 0x113fdb5c, "31..0");
    check_vector("123456789", 9, 0xe3069283, "123456789");
    check_vector("", 0, 0, "empty");
    ZT_EQ(zcq_crc32c(0x12345678, NULL, 0), 0x12345678);
    ZT_EQ(zcq_crc32c_sw(0x12345678, NULL, 0), 0x12345678);
}

/* Every length 0..300 at every alignment 0..15, from zero and from a running CRC. */
static void check_small(uint32_t (*fn)(uint32_t, const void *, size_t), const char *name)
{
    static uint8_t buf[300 + 16];

    fill_random(buf, sizeof(buf));
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t seed = (uint32_t)rng();
            uint32_t want = crc_ref(seed, buf + align, len);
            uint32_t got = fn(seed, buf + align, len);

            if (got != want)
                zt_fail(__FILE__, __LINE__, "%s: len %zu align %zu: 0x%08x, want 0x%08x", name, len,
                        align, got, want);
        }
}

static void sw_matches_reference(void)
{
    check_small(zcq_crc32c_sw, "zcq_crc32c_sw");
}

/* Runs whichever path zcq_crc32c picked, so it checks the machine's own path either way. */
static void default_matches_reference(void)
{
    check_small(zcq_crc32c, "zcq_crc32c");
}

/* Lengths that straddle the block sizes the hardware path interleaves over (3 x 256 and
 * 3 x 8192 bytes), and a few large buffers. */
static void big_matches_sw(void)
{
    static const size_t lens[] = {
        767,
        768,
        769,
        775,
        776,
        1536,
        3 * 8192 - 1,
        3 * 8192,
        3 * 8192 + 1,
        3 * 8192 + 8,
        3 * 8192 + 768,
        6 * 8192 + 767,
        100003,
        1 << 20,
        (1 << 20) + 7,
        3 << 20,
    };
    static uint8_t buf[(3 << 20) + 16];

    fill_random(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (size_t align = 0; align < 16; align += 5) {
            uint32_t seed = i & 1 ? (uint32_t)rng() : 0;
            uint32_t sw = zcq_crc32c_sw(seed, buf + align, lens[i]);
            uint32_t hw = zcq_crc32c(seed, buf + align, lens[i]);

            if (hw != sw)
                zt_fail(__FILE__, __LINE__, "len %zu align %zu: 0x%08x, sw 0x%08x", lens[i], align,
                        hw, sw);
        }
    /* And the reference once on a long buffer, in case both table paths agree on a wrong
     * answer. */
    ZT_EQ(zcq_crc32c_sw(0, buf + 3, 100003), crc_ref(0, buf + 3, 100003));
}

static void hw_matches_sw(void)
{
    static uint8_t buf[300 + 16];

    if (!zcq_crc32c_hw())
        zt_skip("this CPU has no SSE 4.2 crc32 instruction; zcq_crc32c is the software path");
    fill_random(buf, sizeof(buf));
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t seed = len & 1 ? (uint32_t)rng() : 0;

            ZT_EQ(zcq_crc32c(seed, buf + align, len), zcq_crc32c_sw(seed, buf + align, len));
        }
}

static void chaining_every_split(void)
{
    static uint8_t buf[1000];
    uint32_t whole, whole_sw;

    fill_random(buf, sizeof(buf));
    whole = zcq_crc32c(0, buf, sizeof(buf));
    whole_sw = zcq_crc32c_sw(0, buf, sizeof(buf));
    ZT_EQ(whole, whole_sw);
    for (size_t split = 0; split <= sizeof(buf); split++) {
        uint32_t a = zcq_crc32c(0, buf, split);
        uint32_t a_sw = zcq_crc32c_sw(0, buf, split);

        ZT_EQ(zcq_crc32c(a, buf + split, sizeof(buf) - split), whole);
        ZT_EQ(zcq_crc32c_sw(a_sw, buf + split, sizeof(buf) - split), whole);
        /* Mixed: either path may continue the other's CRC. */
        ZT_EQ(zcq_crc32c_sw(a, buf + split, sizeof(buf) - split), whole);
    }
    /* Three pieces, across the interleaving threshold. */
    {
        static uint8_t big[5 * 8192 + 11];
        uint32_t c;

        fill_random(big, sizeof(big));
        c = zcq_crc32c(0, big, 5);
        c = zcq_crc32c(c, big + 5, 3 * 8192 + 1);
        c = zcq_crc32c(c, big + 5 + 3 * 8192 + 1, sizeof(big) - 5 - 3 * 8192 - 1);
        ZT_EQ(c, zcq_crc32c_sw(0, big, sizeof(big)));
    }
}

static const struct zcq_test tests[] = {
    {"known_vectors", known_vectors, 10},
    {"sw_matches_reference", sw_matches_reference, 30},
    {"default_matches_reference", default_matches_reference, 30},
    {"big_matches_sw", big_matches_sw, 30},
    {"hw_matches_sw", hw_matches_sw, 30},
    {"chaining_every_split", chaining_every_split, 30},
};

ZT_MAIN(tests)
