/*
 * A tiny test harness (after libuv's and liburing's): a test binary lists its tests in a
 * table; the runner forks one process per test under a time limit, so a crash, a hang or a
 * sanitizer abort fails that test alone. A test passes by returning, fails through ZT_*()
 * (exit 1) or any signal, and skips with zt_skip() (exit 77) when the machine lacks a kernel
 * feature. Tests run ZCQ_TEST_JOBS at a time (default: the number of CPUs).
 *
 * Usage: ./xfer_test [-l] [substring...]   (-l lists the tests)
 * The last line is "# <binary>: N passed, N failed, N skipped"; the exit status is 1 if any
 * test failed.
 */
#ifndef ZCQ_TESTS_HARNESS_H
#define ZCQ_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct zcq_test {
    const char *name;
    void (*fn)(void);
    unsigned timeout_s; /* 0: 60 s */
};

int zcq_test_main(int argc, char **argv, const struct zcq_test *tests, size_t n);

#define ZT_MAIN(table)                                                                             \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return zcq_test_main(argc, argv, table, sizeof(table) / sizeof(table[0]));                 \
    }

__attribute__((noreturn, format(printf, 3, 4))) void zt_fail(const char *file, int line,
                                                             const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void zt_skip(const char *fmt, ...);

#define ZT_ASSERT(c)                                                                               \
    do {                                                                                           \
        if (!(c))                                                                                  \
            zt_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                               \
    } while (0)

#define ZT_EQ(a, b)                                                                                \
    do {                                                                                           \
        long long za_ = (long long)(a), zb_ = (long long)(b);                                      \
        if (za_ != zb_)                                                                            \
            zt_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, za_, #b, zb_);      \
    } while (0)

/* Assert a call returned >= 0; print its value and errno text otherwise. */
#define ZT_OK(expr)                                                                                \
    do {                                                                                           \
        long long zr_ = (long long)(expr);                                                         \
        if (zr_ < 0)                                                                               \
            zt_fail(__FILE__, __LINE__, "%s returned %lld", #expr, zr_);                           \
    } while (0)

/* A scratch directory on a real (non-tmpfs) filesystem, created once per test process and
 * removed when it exits. ZCQ_TEST_DIR overrides the parent (default: build/tmp or /var/tmp). */
const char *zt_tmpdir(void);

#endif
