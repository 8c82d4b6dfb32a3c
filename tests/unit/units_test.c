/* Tests for src/cli/units.c: size parsing and printing. */
#include "harness.h"

#include "cli/units.h"

#include <errno.h>
#include <string.h>

static void parse_plain_and_suffixes(void)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"4096", 4096},
        {"64K", 64u << 10},
        {"64k", 64u << 10},
        {"1M", 1u << 20},
        {"1MiB", 1u << 20},
        {"1mb", 1u << 20},
        {"1G", 1ull << 30},
        {"2T", 2ull << 40},
        {"18446744073709551615", UINT64_MAX},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;

        ZT_EQ(zcq_parse_size(ok[i].in, &v), 0);
        if (v != ok[i].want)
            zt_fail(__FILE__, __LINE__, "%s parsed as %llu", ok[i].in, (unsigned long long)v);
    }
}

static void parse_rejects_junk(void)
{
    static const char *const bad[] = {"",   "K",   "-1",  " 1",   "1 ",
                                      "1Q", "1KK", "1Kx", "1.5G", "0x10"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;

        if (zcq_parse_size(bad[i], &v) != -EINVAL)
            zt_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i]);
        ZT_EQ(v, 7); /* untouched on failure */
    }
    {
        uint64_t v;

        ZT_EQ(zcq_parse_size(NULL, &v), -EINVAL);
        ZT_EQ(zcq_parse_size("18446744073709551616", &v), -ERANGE);
        ZT_EQ(zcq_parse_size("17179869184G", &v), -ERANGE);
    }
}

static void format_round_trips(void)
{
    char buf[32];

    ZT_ASSERT(strcmp(zcq_fmt_size(0, buf, sizeof(buf)), "0") == 0);
    ZT_ASSERT(strcmp(zcq_fmt_size(1023, buf, sizeof(buf)), "1023") == 0);
    ZT_ASSERT(strcmp(zcq_fmt_size(64u << 10, buf, sizeof(buf)), "64K") == 0);
    ZT_ASSERT(strcmp(zcq_fmt_size(1u << 30, buf, sizeof(buf)), "1G") == 0);
    ZT_ASSERT(strcmp(zcq_fmt_size(3u << 29, buf, sizeof(buf)), "1.5G") == 0);
    for (uint64_t n = 1; n < (1ull << 40); n <<= 3) {
        uint64_t back;

        zcq_fmt_size(n, buf, sizeof(buf));
        ZT_EQ(zcq_parse_size(buf, &back), 0);
        ZT_EQ(back, n);
    }
}

static const struct zcq_test tests[] = {
    {"parse_plain_and_suffixes", parse_plain_and_suffixes, 10},
    {"parse_rejects_junk", parse_rejects_junk, 10},
    {"format_round_trips", format_round_trips, 10},
};

ZT_MAIN(tests)
