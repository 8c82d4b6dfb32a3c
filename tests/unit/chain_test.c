/* Tests for src/io/chain.c: send chains of memory chunks and file regions. */
#include "harness.h"

#include "io/chain.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int released[64];

static void on_release(void *arg)
{
    released[(intptr_t)arg]++;
}

/* A file of n known bytes: byte i is (i * 7 + 3) & 0xff. */
static int make_file(size_t n)
{
    char path[4200];
    unsigned char *b = malloc(n);
    int fd;

    snprintf(path, sizeof(path), "%s/src", zt_tmpdir());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ZT_ASSERT(fd >= 0 && b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + 3);
    ZT_EQ(write(fd, b, n), n);
    free(b);
    return fd;
}

/* Build: "head" (mem), file[10, 10+100000) , "mid" (mem), "x" (mem), file[0,5), "tail". */
static void build(struct zcq_chain *c, int fd)
{
    zcq_chain_init(c);
    ZT_OK(zcq_chain_add_mem(c, "head", 4, on_release, (void *)0));
    ZT_OK(zcq_chain_add_file(c, fd, 10, 100000, on_release, (void *)1));
    ZT_OK(zcq_chain_add_mem(c, "mid", 3, on_release, (void *)2));
    ZT_OK(zcq_chain_add_mem(c, "x", 1, on_release, (void *)3));
    ZT_OK(zcq_chain_add_file(c, fd, 0, 5, on_release, (void *)4));
    ZT_OK(zcq_chain_add_mem(c, "tail", 4, on_release, (void *)5));
    ZT_OK(zcq_chain_add_mem(c, "", 0, on_release, (void *)6)); /* empty: released at once */
    ZT_EQ(released[6], 1);
    ZT_EQ(c->bytes, 4 + 100000 + 3 + 1 + 5 + 4);
}

static void check_stream(const unsigned char *got, size_t n)
{
    size_t at = 0;

    ZT_EQ(n, 100017);
    ZT_ASSERT(memcmp(got, "head", 4) == 0);
    at = 4;
    for (size_t i = 0; i < 100000; i++)
        if (got[at + i] != (unsigned char)((i + 10) * 7 + 3))
            zt_fail(__FILE__, __LINE__, "file byte %zu wrong", i);
    at += 100000;
    ZT_ASSERT(memcmp(got + at, "midx", 4) == 0);
    at += 4;
    for (size_t i = 0; i < 5; i++)
        ZT_EQ(got[at + i], (unsigned char)(i * 7 + 3));
    at += 5;
    ZT_ASSERT(memcmp(got + at, "tail", 4) == 0);
}

/* Send the chain over a non-blocking socket pair, reading in small pieces, with a budget per
 * call; every item is released exactly once, after it went out. */
static void send_resumes(const char *method)
{
    enum zcq_xfer_method m;
    struct zcq_xfer *x;
    struct zcq_chain c;
    int sv[2], fd = make_file(200000), calls = 0, again = 0;
    unsigned char *got = malloc(200000);
    size_t n = 0;
    char why[256];

    ZT_OK(zcq_xfer_method_parse(method, &m));
    ZT_OK(zcq_xfer_open(&x, m, NULL, why, sizeof(why)));
    ZT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    {
        int small = 4096;

        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    }
    memset(released, 0, sizeof(released));
    build(&c, fd);
    while (!zcq_chain_empty(&c)) {
        ssize_t r = zcq_chain_send(&c, sv[0], x, 7000);

        calls++;
        ZT_ASSERT(r == -EAGAIN || (r > 0 && r <= 7000));
        if (r == -EAGAIN)
            again++;
        {
            /* A slow reader: one small read per send, so the socket fills up. */
            ssize_t k = read(sv[1], got + n, 1000);

            if (k > 0)
                n += (size_t)k;
        }
        /* Nothing is released before it is wholly sent. */
        if (c.head < c.n && c.items[c.head].len)
            ZT_EQ(released[(intptr_t)c.items[c.head].arg], 0);
    }
    ZT_ASSERT(calls > 100000 / 7000);
    for (int i = 0; i <= 6; i++)
        ZT_EQ(released[i], 1);
    for (;;) {
        ssize_t k = read(sv[1], got + n, 200000 - n);

        if (k <= 0)
            break;
        n += (size_t)k;
    }
    check_stream(got, n);
    ZT_EQ(zcq_chain_send(&c, sv[0], x, 0), 0); /* empty */
    zcq_chain_clear(&c);
    zcq_xfer_close(x);
    close(sv[0]);
    close(sv[1]);
    close(fd);
    free(got);
    ZT_ASSERT(again > 0); /* the destination did fill up, and the chain resumed */
}

static void send_sendfile(void)
{
    send_resumes("sendfile");
}

static void send_splice(void)
{
    send_resumes("splice");
}

static void send_copy(void)
{
    send_resumes("copy");
}

static void clear_releases_pending(void)
{
    struct zcq_chain c;
    int fd = make_file(200000);

    memset(released, 0, sizeof(released));
    build(&c, fd);
    zcq_chain_clear(&c);
    for (int i = 0; i <= 6; i++)
        ZT_EQ(released[i], 1);
    ZT_ASSERT(zcq_chain_empty(&c));
    close(fd);
}

static void errors(void)
{
    struct zcq_chain c;
    struct zcq_xfer *x;
    int p[2], fd = make_file(100);
    char why[256];

    ZT_OK(zcq_xfer_open(&x, ZCQ_XFER_COPY, NULL, why, sizeof(why)));
    ZT_OK(pipe(p));
    close(p[0]);
    zcq_chain_init(&c);
    ZT_OK(zcq_chain_add_mem(&c, "abc", 3, NULL, NULL));
    ZT_EQ(zcq_chain_send(&c, p[1], x, 0), -EPIPE); /* reader gone */
    zcq_chain_clear(&c);
    /* A region past the end of its file. */
    ZT_OK(pipe(p));
    ZT_OK(zcq_chain_add_file(&c, fd, 90, 20, NULL, NULL));
    ZT_EQ(zcq_chain_send(&c, p[1], x, 0), 10);
    ZT_EQ(zcq_chain_send(&c, p[1], x, 0), -ENODATA);
    zcq_chain_clear(&c);
    zcq_xfer_close(x);
    close(p[0]);
    close(p[1]);
    close(fd);
}

static const struct zcq_test tests[] = {
    {"send_sendfile", send_sendfile, 30},
    {"send_splice", send_splice, 30},
    {"send_copy", send_copy, 30},
    {"clear_releases_pending", clear_releases_pending, 10},
    {"errors", errors, 10},
};

ZT_MAIN(tests)
