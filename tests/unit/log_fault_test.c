/*
 * Injected I/O failures for the partition log (reliability.md sections 2 and 4), through the
 * zcq_sys table: EIO from fdatasync at every k-th call (sticky, fail-stop, never retried,
 * nothing acknowledged or made visible after it), EIO from fsync (directories, checkpoints),
 * EIO and ENOSPC from pwrite with and without a partial write and with the cut-back failing
 * too, the same from the Direct I/O writers' pwritev (always sticky: the append returned
 * before its write), and a real ENOSPC on a size-limited tmpfs and on a loop-mounted ext4
 * (root only).
 * Each case ends by reopening the log: every acknowledged batch is there and appends work.
 */
#include "harness.h"

#include "io/sys.h"
#include "logcheck.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

static char dirpath[LC_DIR];
static int mode_direct;

static void setup(const char *name)
{
    snprintf(dirpath, sizeof(dirpath), "%s/%s", zt_tmpdir(), name);
}

/* --- Fault injection ------------------------------------------------------------------- */

static struct {
    int k;                /* the call that fails first (1-based); calls after it fail too */
    int calls;            /* calls counted */
    int err;              /* errno of the failure */
    bool partial;         /* pwrite: call k writes half the bytes for real; the next one fails */
    size_t written;       /* bytes that partial write put in the file */
    char failed[LC_PATH]; /* the file whose call failed first */
} fault;

/* Only calls on segment files count: index and checkpoint syncs are not the log's data. */
static bool is_segment_fd(int fd)
{
    char link[64], target[LC_PATH];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 5)
        return false;
    target[n] = '\0';
    if (strcmp(target + n - 4, ".log") != 0)
        return false;
    if (fault.calls + 1 == fault.k)
        snprintf(fault.failed, sizeof(fault.failed), "%s", target);
    return true;
}

static void inject(int k, int err, bool partial)
{
    fault.k = k;
    fault.calls = 0;
    fault.err = err;
    fault.partial = partial;
    fault.written = 0;
}

static int fail_fdatasync(int fd)
{
    if (is_segment_fd(fd) && ++fault.calls >= fault.k) {
        errno = fault.err;
        return -1;
    }
    return fdatasync(fd);
}

static int fail_fsync(int fd)
{
    if (++fault.calls >= fault.k) {
        errno = fault.err;
        return -1;
    }
    return fsync(fd);
}

static ssize_t fail_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (!is_segment_fd(fd) || ++fault.calls < fault.k)
        return pwrite(fd, buf, n, off);
    if (fault.partial && fault.calls == fault.k) {
        size_t half = n / 2;

        if (half) {
            ssize_t w = pwrite(fd, buf, half, off);

            if (w > 0)
                fault.written += (size_t)w;
            return w;
        }
    }
    errno = fault.err;
    return -1;
}

/* The Direct I/O writers' call: as fail_pwrite, on the iovecs' bytes. */
static ssize_t fail_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    if (!is_segment_fd(fd) || ++fault.calls < fault.k)
        return pwritev(fd, iov, n, off);
    if (fault.partial && fault.calls == fault.k) {
        size_t total = 0, half;
        struct iovec part[64];
        int k = 0;

        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        half = (total / 2) & ~(size_t)4095; /* O_DIRECT writes whole blocks */
        for (size_t left = half; left && k < n && k < 64; k++) {
            part[k] = iov[k];
            if (part[k].iov_len > left)
                part[k].iov_len = left;
            left -= part[k].iov_len;
        }
        if (half) {
            ssize_t w = pwritev(fd, part, k, off);

            if (w > 0)
                fault.written += (size_t)w;
            return w;
        }
    }
    errno = fault.err;
    return -1;
}

static int fail_ftruncate(int fd, off_t len)
{
    (void)fd;
    (void)len;
    errno = EIO;
    return -1;
}

/* Whether path names the newest (active) segment file of dir. */
static bool is_last_segment(const char *dir, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char last[256] = "";
    struct dirent *e;
    DIR *d = opendir(dir);

    ZT_ASSERT(d);
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);

        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0 && strcmp(e->d_name, last) > 0)
            snprintf(last, sizeof(last), "%s", e->d_name);
    }
    closedir(d);
    return strcmp(base, last) == 0;
}

/* --- fdatasync fails at the k-th call -------------------------------------------------- */

/* Appends with flush.messages = 1 (each acknowledged once synced) until the k-th fdatasync of a
 * segment fails: the active segment's, or that of a segment rolled since the last sync (a roll
 * syncs nothing itself; the next flush syncs it first). */
static void sync_eio_kth(void)
{
    enum { K = 40, MAX = 60 };
    int in_roll = 0, in_append = 0;

    for (int k = 1; k <= K; k++) {
        struct zcq_log_config c;
        struct zcq_log_open_info info;
        struct lc_batch a[MAX], extra;
        struct zcq_log *log;
        struct zcq_log_slice s;
        char name[32], marker[LC_PATH];
        int n = 0, rc = 0, fail_records = 0;
        int64_t durable = 0, leo;

        snprintf(name, sizeof(name), "k%d", k);
        setup(name);
        lc_cfg(&c, mode_direct);
        c.flush_messages = 1;
        c.segment_bytes = 4096; /* rolls (and their syncs) every dozen appends or so */
        log = lc_open(dirpath, &c, NULL);
        inject(k, EIO, false);
        zcq_sys.fdatasync = fail_fdatasync;
        for (int i = 0; i < MAX && rc == 0; i++) {
            struct zcq_append_result r;

            fail_records = 1 + i % 3;
            rc = lc_append(log, fail_records, (size_t)(40 + (i * 29) % 90), 1000 + i,
                           (uint32_t)(k * 1000 + i), 7, 0, &a[n], &r);
            if (rc == 0) {
                ZT_ASSERT(r.synced);
                durable = a[n].last + 1;
                ZT_EQ(zcq_log_durable_offset(log), durable);
                n++;
            }
        }
        if (rc != -EIO)
            zt_fail(__FILE__, __LINE__,
                    "k=%d: append returned %d after %d appends, expected "
                    "-EIO",
                    k, rc, n);
        ZT_EQ(fault.calls, k);
        /* Either way the failed batch was appended first (the flush follows the append). */
        ZT_EQ(zcq_log_end_offset(log), durable + fail_records);
        if (is_last_segment(dirpath, fault.failed))
            in_append++;
        else
            in_roll++;
        /* Sticky; nothing acknowledged, made durable or made visible after the failure. */
        ZT_EQ(zcq_log_error(log), -EIO);
        ZT_EQ(zcq_log_durable_offset(log), durable);
        ZT_EQ(zcq_log_high_watermark(log), durable);
        for (int j = 0; j < 3; j++) {
            ZT_EQ(lc_append(log, 1, 10, 1, 1, 7, 0, &extra, NULL), -EIO);
            ZT_EQ(lc_append(log, 1, 10, 1, 1, 7, ZCQ_APPEND_NOSYNC, &extra, NULL), -EIO);
        }
        ZT_EQ(zcq_log_flush(log), -EIO);
        ZT_EQ(zcq_log_roll(log, 0), -EIO);
        ZT_EQ(fault.calls, k); /* never retried (fsyncgate) */
        ZT_EQ(zcq_log_durable_offset(log), durable);
        ZT_EQ(zcq_log_high_watermark(log), durable);
        /* What was acknowledged can still be read; the unsynced batch cannot. */
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]);
        ZT_OK(zcq_log_read(log, durable, 1, &s));
        ZT_EQ(s.n, 0);
        ZT_EQ(zcq_log_read(log, durable + 1, 1, &s), ZCQ_LOG_EOUTOFRANGE);

        /* Half the time a close: it must fail and leave no clean-shutdown marker. */
        snprintf(marker, sizeof(marker), "%s/clean-shutdown", dirpath);
        if (k % 2)
            ZT_EQ(zcq_log_close(log), -EIO);
        else
            zcq_log_abandon(log);
        ZT_ASSERT(!lc_exists(marker));
        zcq_sys_restore();

        log = lc_open(dirpath, &c, &info);
        ZT_ASSERT(!info.clean);
        leo = zcq_log_end_offset(log);
        /* The failed batch was written (to the page cache) or not, if a roll's sync failed
         * first: recovery may keep it, as unacknowledged data. */
        if (leo != durable && leo != durable + fail_records)
            zt_fail(__FILE__, __LINE__, "k=%d: reopened at %lld, durable was %lld", k,
                    (long long)leo, (long long)durable);
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, leo);
        lc_check_append(log, leo, 1);
        ZT_OK(zcq_log_close(log));
        lc_free(a, n);
    }
    printf("the failed fdatasync was a rolled segment's %d times, the active one's %d times\n",
           in_roll, in_append);
    ZT_ASSERT(in_roll > 0 && in_append > 0);
}

/* Group commit: appends without a sync, a flush every third; only flushed batches are
 * acknowledged. The k-th flush fails. */
static void flush_eio_kth(void)
{
    enum { K = 12, MAX = 60 };

    for (int k = 1; k <= K; k++) {
        struct zcq_log_config c;
        struct lc_batch a[MAX], extra;
        struct zcq_log *log;
        char name[32];
        int n = 0, acked = 0, rc = 0;
        int64_t durable = 0, leo;

        snprintf(name, sizeof(name), "g%d", k);
        setup(name);
        lc_cfg(&c, mode_direct);
        c.segment_bytes = 1 << 20;
        log = lc_open(dirpath, &c, NULL);
        inject(k, EIO, false);
        zcq_sys.fdatasync = fail_fdatasync;
        while (rc == 0 && n < MAX) {
            ZT_OK(lc_append(log, 2, 50, 1000 + n, (uint32_t)n, 3, ZCQ_APPEND_NOSYNC, &a[n], NULL));
            n++;
            if (n % 3 == 0) {
                rc = zcq_log_flush(log);
                if (rc == 0) {
                    acked = n;
                    durable = a[n - 1].last + 1;
                    ZT_EQ(zcq_log_durable_offset(log), durable);
                }
            }
        }
        ZT_EQ(rc, -EIO);
        ZT_EQ(zcq_log_error(log), -EIO);
        ZT_EQ(zcq_log_durable_offset(log), durable);
        ZT_EQ(lc_append(log, 1, 10, 1, 1, 3, ZCQ_APPEND_NOSYNC, &extra, NULL), -EIO);
        ZT_EQ(zcq_log_flush(log), -EIO);
        ZT_EQ(fault.calls, k);
        ZT_EQ(zcq_log_durable_offset(log), durable);
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]); /* lazy mode: written batches were visible */
        zcq_log_abandon(log);
        zcq_sys_restore();

        log = lc_open(dirpath, &c, NULL);
        leo = zcq_log_end_offset(log);
        ZT_ASSERT(leo >= durable);
        for (int i = 0; i < acked; i++)
            lc_check_batch(log, &a[i]);
        lc_check_append(log, leo, 2);
        ZT_OK(zcq_log_close(log));
        lc_free(a, n);
    }
}

/* An unclean open syncs the active segment before accepting appends: if that fails, the open
 * fails, and a later one recovers everything. */
static void open_sync_eio(void)
{
    enum { N = 10 };
    struct zcq_log_config c;
    struct zcq_log_open_info info;
    struct lc_batch a[N];
    struct zcq_log *log = NULL;

    setup("open");
    lc_cfg(&c, mode_direct);
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N, 10);
    zcq_log_abandon(log);
    inject(1, EIO, false);
    zcq_sys.fdatasync = fail_fdatasync;
    ZT_EQ(zcq_log_open(&log, dirpath, &c, &info), -EIO);
    ZT_ASSERT(info.why[0]);
    zcq_sys_restore();
    log = lc_open(dirpath, &c, &info);
    for (int i = 0; i < N; i++)
        lc_check_batch(log, &a[i]);
    lc_check_end(log, a[N - 1].last + 1);
    lc_check_append(log, a[N - 1].last + 1, 3);
    ZT_OK(zcq_log_close(log));
    lc_free(a, N);
}

/* fsync (directories after a segment is created, checkpoints, the clean marker) fails at the
 * k-th call during appends with rolls and a close: an append either succeeds or fails with
 * -EIO, after which all fail; whatever was acknowledged survives a reopen. */
static void fsync_eio_kth(void)
{
    enum { K = 30, MAX = 50 };
    int appends_failed = 0, closes_failed = 0;

    for (int k = 1; k <= K; k++) {
        struct zcq_log_config c;
        struct lc_batch a[MAX];
        struct zcq_log *log;
        char name[32];
        int n = 0, failed_at = -1;
        int64_t leo;

        snprintf(name, sizeof(name), "f%d", k);
        setup(name);
        lc_cfg(&c, mode_direct);
        c.flush_messages = 1;
        c.segment_bytes = 4096;
        log = lc_open(dirpath, &c, NULL);
        inject(k, EIO, false);
        zcq_sys.fsync = fail_fsync;
        for (int i = 0; i < MAX; i++) {
            struct lc_batch b;
            int rc = lc_append(log, 1 + i % 3, 100, 1000 + i, (uint32_t)i, 7, 0, &b, NULL);

            if (rc == 0) {
                if (failed_at >= 0)
                    zt_fail(__FILE__, __LINE__, "k=%d: append %d succeeded after a failure", k, i);
                a[n++] = b;
                continue;
            }
            if (rc != -EIO)
                zt_fail(__FILE__, __LINE__, "k=%d: append %d: %s", k, i, zcq_log_strerror(rc));
            ZT_EQ(zcq_log_error(log), -EIO);
            if (failed_at < 0)
                failed_at = i;
        }
        if (failed_at >= 0) {
            ZT_EQ(zcq_log_durable_offset(log), a[n - 1].last + 1);
            appends_failed++;
        }
        if (zcq_log_close(log) < 0) /* may fail too: the fault stays */
            closes_failed++;
        zcq_sys_restore();

        log = lc_open(dirpath, &c, NULL);
        leo = zcq_log_end_offset(log);
        ZT_ASSERT(n > 0 && leo >= a[n - 1].last + 1);
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]);
        lc_check_append(log, leo, 9);
        ZT_OK(zcq_log_close(log));
        lc_free(a, n);
    }
    printf("appends failed for %d values of k, closes for %d\n", appends_failed, closes_failed);
    ZT_ASSERT(appends_failed > 0 && closes_failed > 0);
}

/* --- pwrite fails ---------------------------------------------------------------------- */

struct pw_case {
    const char *name;
    int err;
    bool partial;   /* half the batch reaches the file first */
    bool cut_fails; /* the cut-back ftruncate fails too */
    bool sticky;    /* the log stops accepting appends */
};

/*
 * Page-cache mode. A failed write is cut back (ftruncate to where the batch began) and the append
 * fails with the write's error. Out of space (ENOSPC, EDQUOT) is not sticky: the log is whole and
 * later appends may succeed once space is freed. Any other write error is fail-stop, like a failed
 * fdatasync (zcq_log_append in log.c: the device may be failing, and recovery at the next open
 * decides what is kept), and so is a cut-back that fails, since the file then holds bytes that
 * are not a batch.
 */
static const struct pw_case pw_cases[] = {
    {"EIO", EIO, false, false, true},
    {"EIO after a partial write", EIO, true, false, true},
    {"EIO, cut-back fails", EIO, true, true, true},
    {"ENOSPC before any byte", ENOSPC, false, false, false},
    {"ENOSPC after a partial write", ENOSPC, true, false, false},
    {"EDQUOT after a partial write", EDQUOT, true, false, false},
    {"ENOSPC, cut-back fails", ENOSPC, true, true, true},
};

static void write_fails(void)
{
    enum { N = 5 };

    for (size_t ci = 0; ci < sizeof(pw_cases) / sizeof(pw_cases[0]); ci++) {
        const struct pw_case *pc = &pw_cases[ci];
        struct zcq_log_config c;
        struct zcq_log_open_info info;
        struct lc_batch a[N + 3], big;
        struct zcq_log *log;
        char name[32], logf[LC_PATH];
        int64_t size0, end;
        int n = N, rc;

        snprintf(name, sizeof(name), "w%zu", ci);
        setup(name);
        lc_cfg(&c, 0);
        c.flush_messages = 1;
        log = lc_open(dirpath, &c, NULL);
        lc_fill(log, a, N, 40);
        lc_seg_path(logf, sizeof(logf), dirpath, 0, "log");
        size0 = lc_file_size(logf);
        end = a[N - 1].last + 1;

        inject(1, pc->err, pc->partial);
        zcq_sys.pwrite = fail_pwrite;
        if (pc->cut_fails)
            zcq_sys.ftruncate = fail_ftruncate;
        rc = lc_append(log, 4, 3000, 2000, 77, 7, 0, &big, NULL);
        zcq_sys_restore();
        if (rc != -pc->err)
            zt_fail(__FILE__, __LINE__, "%s: append returned %d", pc->name, rc);
        ZT_ASSERT(pc->partial == (fault.written > 0));
        ZT_EQ(zcq_log_error(log), pc->sticky ? -EIO : 0);
        ZT_EQ(zcq_log_end_offset(log), end);
        ZT_EQ(zcq_log_durable_offset(log), end);
        ZT_EQ(zcq_log_high_watermark(log), end);
        if (!pc->cut_fails) {
            ZT_EQ(lc_file_size(logf), size0); /* cut back to where the batch began */
        } else {
            /* The partial batch is still there. */
            ZT_ASSERT(lc_file_size(logf) > size0);
        }
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        if (pc->sticky) {
            ZT_EQ(lc_append(log, 1, 10, 1, 1, 7, 0, &big, NULL), -EIO);
        } else {
            /* Not sticky: the next appends go on from the same end. */
            for (int i = 0; i < 3; i++) {
                ZT_OK(lc_append(log, 4, 3000, 2000, (uint32_t)(80 + i), 7, 0, &a[n], NULL));
                ZT_EQ(a[n].base, a[n - 1].last + 1);
                n++;
            }
            for (int i = 0; i < n; i++)
                lc_check_batch(log, &a[i]);
            end = a[n - 1].last + 1;
        }
        zcq_log_abandon(log);

        log = lc_open(dirpath, &c, &info);
        ZT_EQ(zcq_log_end_offset(log), end);
        if (pc->cut_fails)
            ZT_ASSERT(info.truncated_bytes > 0); /* recovery cut what the log could not */
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, end);
        lc_check_append(log, end, 5);
        ZT_OK(zcq_log_close(log));
        lc_free(a, n);
    }
}

/*
 * Direct I/O mode writes appends behind them (src/store/dio.c), so a failed write is found
 * after its append returned: every such failure is sticky, and nothing past it is
 * acknowledged or visible, since under flush.messages = 1 acknowledgement and visibility wait
 * for the write and the sync. A full disk stays a clean, synchronous error there (space is
 * reserved ahead of the appends: see enospc_ext4), so ENOSPC here is a device that fails
 * anyway.
 */
static void write_behind_fails(void)
{
    enum { N = 5 };
    static const struct pw_case cases[] = {
        {"EIO", EIO, false, false, true},
        {"EIO after a partial write", EIO, true, false, true},
        {"ENOSPC after a partial write", ENOSPC, true, false, true},
    };

    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        const struct pw_case *pc = &cases[ci];
        struct zcq_log_config c;
        struct zcq_log_open_info info;
        struct lc_batch a[N + 5], big;
        struct zcq_log *log;
        char name[32];
        int64_t end;
        int rc;

        snprintf(name, sizeof(name), "wb%zu", ci);
        setup(name);
        lc_cfg(&c, 1);
        c.flush_messages = 1;
        log = lc_open(dirpath, &c, NULL);
        lc_fill(log, a, N, 40);
        end = a[N - 1].last + 1;

        inject(1, pc->err, pc->partial);
        zcq_sys.pwritev = fail_pwritev;
        rc = lc_append(log, 4, 3000, 2000, 77, 7, 0, &big, NULL);
        zcq_sys_restore();
        if (rc != -EIO)
            zt_fail(__FILE__, __LINE__, "%s: append returned %d", pc->name, rc);
        ZT_ASSERT(pc->partial == (fault.written > 0));
        ZT_EQ(zcq_log_error(log), -EIO);
        ZT_EQ(zcq_log_durable_offset(log), end);
        ZT_EQ(zcq_log_high_watermark(log), end);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        ZT_EQ(lc_append(log, 1, 10, 1, 1, 7, 0, &big, NULL), -EIO);
        ZT_EQ(zcq_log_flush(log), -EIO);
        zcq_log_abandon(log);

        log = lc_open(dirpath, &c, &info);
        ZT_EQ(zcq_log_end_offset(log), end);
        if (pc->partial)
            ZT_ASSERT(info.truncated_bytes > 0); /* recovery cut the torn write */
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, end);
        lc_check_append(log, end, 5);
        ZT_OK(zcq_log_close(log));
        lc_free(a, N);
    }
}

/* --- Real ENOSPC ----------------------------------------------------------------------- */

static char mnt[LC_DIR - 1024]; /* leaves room for the log directory under it */
static bool mounted;

static void unmount(void)
{
    if (mounted && umount2(mnt, MNT_DETACH) == 0)
        mounted = false;
}

static void on_alarm(int sig)
{
    /* The harness's time limit: unmount before dying (umount2 is a plain system call). */
    if (mounted)
        umount2(mnt, MNT_DETACH);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A private mount namespace: whatever this test process mounts disappears with it, even if it
 * is killed. Skips unless root with CAP_SYS_ADMIN. */
static void private_mounts(void)
{
    if (geteuid() != 0)
        zt_skip("needs root to mount a small filesystem");
    if (unshare(CLONE_NEWNS) < 0)
        zt_skip("unshare(CLONE_NEWNS): %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        zt_skip("make mounts private: %s", strerror(errno));
    snprintf(mnt, sizeof(mnt), "%s/mnt", zt_tmpdir());
    ZT_OK(mkdir(mnt, 0755));
    atexit(unmount);
    signal(SIGALRM, on_alarm);
}

static int run_cmd(char *const argv[])
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A file of len bytes, written (not sparse), to take space. */
static void make_filler(const char *path, int64_t len)
{
    static uint8_t block[64 * 1024];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int64_t done = 0;

    ZT_OK(fd);
    memset(block, 0xa5, sizeof(block));
    while (done < len) {
        size_t n = len - done < (int64_t)sizeof(block) ? (size_t)(len - done) : sizeof(block);
        ssize_t w = write(fd, block, n);

        if (w < 0)
            zt_fail(__FILE__, __LINE__, "filler: %s", strerror(errno));
        done += w;
    }
    ZT_OK(fsync(fd));
    close(fd);
}

static int64_t free_bytes(const char *path)
{
    struct statvfs v;

    ZT_OK(statvfs(path, &v));
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize;
}

/*
 * Fill the filesystem at mnt: a filler file leaves about `room` bytes, then appends (each
 * acknowledged once synced) run until one fails with -ENOSPC. The log must then be whole
 * (every acknowledged batch reads back, no sticky error), keep refusing cleanly while full,
 * reopen with everything, and accept appends again once the filler is deleted.
 */
static void fill_until_enospc(int64_t room, int64_t segment_bytes)
{
    enum { MAX = 4000 };
    struct zcq_log_config c;
    struct zcq_log_open_info info;
    struct lc_batch *a = calloc(MAX + 20, sizeof(*a));
    struct zcq_log *log;
    char filler[LC_PATH + 16];
    int n = 0, rc = 0;
    int64_t end = 0;

    ZT_ASSERT(a);
    snprintf(dirpath, sizeof(dirpath), "%s/p0", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    lc_cfg(&c, mode_direct);
    c.flush_messages = 1;
    c.segment_bytes = segment_bytes;
    c.index_max_bytes = 4096; /* indexes are preallocated: keep them from taking the space */
    log = lc_open(dirpath, &c, NULL);
    make_filler(filler, free_bytes(mnt) - room);

    while (n < MAX) {
        rc = lc_append(log, 4, 1000 + (size_t)(n % 7) * 100, 1000 + n, (uint32_t)n, 7, 0, &a[n],
                       NULL);
        if (rc < 0)
            break;
        end = a[n].last + 1;
        n++;
    }
    if (rc != -ENOSPC)
        zt_fail(__FILE__, __LINE__, "after %d appends: %s, expected ENOSPC", n,
                rc ? zcq_log_strerror(rc) : "never full");
    ZT_ASSERT(n > 0);
    ZT_EQ(zcq_log_error(log), 0);
    ZT_EQ(zcq_log_end_offset(log), end);
    ZT_EQ(zcq_log_durable_offset(log), end);
    for (int i = 0; i < n; i++)
        lc_check_batch(log, &a[i]);
    lc_check_end(log, end);
    /* Still full: refused again, still not sticky. */
    {
        struct lc_batch b;

        ZT_EQ(lc_append(log, 4, 1500, 1, 1, 7, 0, &b, NULL), -ENOSPC);
        ZT_EQ(zcq_log_error(log), 0);
    }
    zcq_log_abandon(log);

    /* A reopen while full must not lose or cut anything; it may fail for want of space for
     * its checkpoint. */
    rc = zcq_log_open(&log, dirpath, &c, &info);
    if (rc == 0) {
        ZT_EQ(zcq_log_end_offset(log), end);
        for (int i = 0; i < n; i++)
            lc_check_batch(log, &a[i]);
        zcq_log_abandon(log);
    } else if (rc != -ENOSPC) {
        zt_fail(__FILE__, __LINE__, "reopen while full: %s (%s)", zcq_log_strerror(rc), info.why);
    } else {
        printf("reopen while full: %s\n", info.why);
    }

    /* Space again. */
    ZT_OK(unlink(filler));
    log = lc_open(dirpath, &c, &info);
    ZT_EQ(zcq_log_end_offset(log), end);
    for (int i = 0; i < n; i++)
        lc_check_batch(log, &a[i]);
    for (int i = 0; i < 20; i++) {
        int r = lc_append(log, 4, 1000, 5000 + i, (uint32_t)(9000 + i), 7, 0, &a[n], NULL);

        if (r < 0)
            zt_fail(__FILE__, __LINE__, "append %d after freeing space: %s", i,
                    zcq_log_strerror(r));
        ZT_EQ(a[n].base, end);
        end = a[n].last + 1;
        n++;
    }
    ZT_OK(zcq_log_close(log));
    log = lc_open(dirpath, &c, &info);
    ZT_ASSERT(info.clean);
    for (int i = 0; i < n; i++)
        lc_check_batch(log, &a[i]);
    lc_check_end(log, end);
    ZT_OK(zcq_log_close(log));
    lc_free(a, n);
    free(a);
    printf("%d batches acknowledged before ENOSPC\n", n - 20);
}

/* tmpfs: an exact limit (but fsync is a no-op there). Page-cache mode only: tmpfs has no
 * O_DIRECT. */
static void enospc_tmpfs(void)
{
    private_mounts();
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
        zt_skip("mount tmpfs: %s", strerror(errno));
    mounted = true;
    fill_until_enospc(512 * 1024, 64 * 1024);
    ZT_OK(umount2(mnt, 0));
    mounted = false;
}

/*
 * An index grows a step at a time (src/store/index.h); the step is allocated before the batch
 * that needs it is written. On a full filesystem that append must fail with ENOSPC with
 * nothing written (a batch without its index entry would be unreadable: with an entry per
 * batch a lookup reads just the entry's header), not sticky, and work once there is space.
 */
static void index_grow_enospc(void)
{
    struct zcq_log_config c;
    struct lc_batch a[400], b;
    struct zcq_log *log;
    char filler[LC_PATH + 16], seg[LC_PATH];
    static uint8_t block[4096];
    int n = 0, fd;
    int64_t size;

    private_mounts();
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
        zt_skip("mount tmpfs: %s", strerror(errno));
    mounted = true;
    snprintf(dirpath, sizeof(dirpath), "%s/p0", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    lc_seg_path(seg, sizeof(seg), dirpath, 0, "log");
    lc_cfg(&c, 0);
    c.index_interval_bytes = 0; /* an entry for every batch */
    c.index_max_bytes = 64 * 1024;
    log = lc_open(dirpath, &c, NULL);
    /* The time index's first page holds 341 entries (4096 / 12), the offset index's 512. */
    {
        char ix[LC_PATH];

        lc_seg_path(ix, sizeof(ix), dirpath, 0, "timeindex");
        ZT_EQ(lc_file_size(ix), 4092);
        lc_seg_path(ix, sizeof(ix), dirpath, 0, "index");
        ZT_EQ(lc_file_size(ix), 4096);
    }
    for (; n < 341; n++)
        ZT_OK(lc_append(log, 1, 20, 1000 + n, (uint32_t)n, 7, 0, &a[n], NULL));
    /* Fill what is left of the filesystem. */
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ZT_OK(fd);
    while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
        ;
    close(fd);
    size = lc_file_size(seg);
    ZT_EQ(lc_append(log, 1, 20, 5000, 5000, 7, 0, &b, NULL), -ENOSPC);
    ZT_EQ(zcq_log_error(log), 0);
    ZT_EQ(lc_file_size(seg), size); /* nothing written */
    ZT_EQ(zcq_log_end_offset(log), a[n - 1].last + 1);
    ZT_OK(unlink(filler));
    for (; n < 400; n++)
        ZT_OK(lc_append(log, 1, 20, 1000 + n, (uint32_t)n, 7, 0, &a[n], NULL));
    for (int i = 0; i < n; i++)
        lc_check_batch(log, &a[i]);
    ZT_OK(zcq_log_close(log));
    log = lc_open(dirpath, &c, NULL);
    for (int i = 0; i < n; i++)
        lc_check_batch(log, &a[i]);
    ZT_OK(zcq_log_close(log));
    lc_free(a, n);
    ZT_OK(umount2(mnt, 0));
    mounted = false;
}

/* ext4 on a loop device: real allocation, real fsync; "-m 0" so that root cannot write into
 * the reserved blocks (reliability.md section 4). */
static void enospc_ext4(void)
{
    char img[LC_PATH + 16], arg[LC_PATH + 32];

    private_mounts();
    snprintf(img, sizeof(img), "%s/ext4.img", zt_tmpdir());
    {
        char *const mkfs[] = {"mkfs.ext4", "-F", "-m", "0", "-q", "-E", "nodiscard", img, NULL};
        int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ZT_OK(fd);
        ZT_OK(ftruncate(fd, 32 << 20));
        close(fd);
        if (run_cmd(mkfs) != 0)
            zt_skip("mkfs.ext4 is missing or failed");
    }
    snprintf(arg, sizeof(arg), "%s", mnt);
    {
        char *const mnt_cmd[] = {"mount", "-o", "loop", img, arg, NULL};

        if (run_cmd(mnt_cmd) != 0)
            zt_skip("mount -o loop failed (no loop devices?)");
    }
    mounted = true;
    fill_until_enospc(1 << 20, 256 * 1024);
    ZT_OK(umount2(mnt, 0)); /* mount -o loop set autoclear: the loop device goes too */
    mounted = false;
}

ZT_BOTH_MODES(sync_eio_kth)
ZT_BOTH_MODES(flush_eio_kth)
ZT_BOTH_MODES(open_sync_eio)
ZT_BOTH_MODES(fsync_eio_kth)

static void write_fails_pc(void)
{
    mode_direct = 0;
    write_fails();
}

ZT_BOTH_MODES(enospc_ext4)

static const struct zcq_test tests[] = {
    {"pagecache/fdatasync_eio_kth", sync_eio_kth_pc, 120},
    {"direct/fdatasync_eio_kth", sync_eio_kth_dio, 120},
    {"pagecache/group_flush_eio_kth", flush_eio_kth_pc, 60},
    {"direct/group_flush_eio_kth", flush_eio_kth_dio, 60},
    {"pagecache/open_sync_eio", open_sync_eio_pc, 30},
    {"direct/open_sync_eio", open_sync_eio_dio, 30},
    {"pagecache/fsync_eio_kth", fsync_eio_kth_pc, 120},
    {"direct/fsync_eio_kth", fsync_eio_kth_dio, 120},
    {"pagecache/write_fails", write_fails_pc, 60},
    {"direct/write_behind_fails", write_behind_fails, 60},
    {"pagecache/enospc_tmpfs", enospc_tmpfs, 60},
    {"pagecache/index_grow_enospc", index_grow_enospc, 60},
    {"pagecache/enospc_ext4", enospc_ext4_pc, 60},
    {"direct/enospc_ext4", enospc_ext4_dio, 60},
};

ZT_MAIN(tests)
