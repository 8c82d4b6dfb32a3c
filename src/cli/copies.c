/*
 * zcq copies: the lab. Parses options, prepares the source file (the user's, or a generated
 * one that is never visible in the filesystem), runs every requested strategy at every
 * requested cache state, and prints a table, JSON, and/or an SVG chart.
 *
 * Exit status: 0 when every row ran (rows a strategy cannot run on this destination or kernel
 * are results, shown as n/a); 1 when the lab itself failed or a transfer delivered wrong
 * bytes; 2 for bad usage. Errors are one line on stderr.
 */
#include "cli/cmd.h"
#include "cli/lab.h"
#include "cli/units.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xxhash.h>

#define GEN_BLOCK (1u << 20)

static void usage(FILE *f)
{
    fputs("usage: zcq copies [--file PATH | --size SIZE] [--method all|copy,sendfile,...]\n"
          "                  [--to tcp|unix|pipe|null|file] [--cache warm|cold|both]\n"
          "                  [--chunk SIZE] [--runs N] [--json] [--plot FILE.svg]\n"
          "                  [--tcp-cc NAME] [--dir DIR] [--quiet]\n"
          "\n"
          "Measure what each Linux data-transfer technique costs on this machine: a whole file\n"
          "is moved to a real receiver (a process draining a loopback TCP or Unix socket, or a\n"
          "pipe, and checksumming what it gets; /dev/null; or a file) by each method, and the\n"
          "lab reports throughput, CPU per GB for sender and receiver, system calls and context\n"
          "switches per GB, beside the copies and mode switches theory predicts.\n"
          "\n"
          "  --file PATH     transfer this file (read only)\n"
          "  --size SIZE     transfer a generated file of SIZE bytes (default 1G; K/M/G are\n"
          "                  binary multiples); it lives in --dir and has no name, so nothing\n"
          "                  is left behind\n"
          "  --method LIST   all (default), or a comma-separated list of: copy, mmap,\n"
          "                  sendfile, splice, direct, uring, zerocopy, copy_file_range, auto\n"
          "  --to DEST       receiver: tcp (default), unix, pipe, null, file\n"
          "  --cache STATE   warm (default): file in the page cache; cold: pages dropped\n"
          "                  (posix_fadvise DONTNEED) before every run; both\n"
          "  --chunk SIZE    bytes per transfer call and buffer size (default 64K)\n"
          "  --runs N        runs per method and cache state (default 3; the median is shown)\n"
          "  --json          print a JSON array instead of the table\n"
          "  --plot FILE     also write an SVG bar chart\n"
          "  --tcp-cc NAME   TCP congestion control of the sending socket (e.g. cubic, bbr);\n"
          "                  default: the system's. BBR paces every flow, which on loopback\n"
          "                  costs zero-copy methods dearly (see docs/copies.md)\n"
          "  --dir DIR       where generated and destination files go (default $TMPDIR or\n"
          "                  /var/tmp; use a disk, not tmpfs, for cold-cache and direct runs)\n"
          "  --quiet         no progress line\n",
          f);
}

static int __attribute__((format(printf, 1, 2))) bad(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "zcq copies: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* Parse "all" or a comma list into methods[]; returns the count or -1 (message printed). */
static int parse_methods(const char *arg, enum zcq_lab_dest dest, enum zcq_xfer_method *out)
{
    static const enum zcq_xfer_method all[] = {
        ZCQ_XFER_COPY,   ZCQ_XFER_MMAP,  ZCQ_XFER_SENDFILE, ZCQ_XFER_SPLICE,
        ZCQ_XFER_DIRECT, ZCQ_XFER_URING, ZCQ_XFER_ZEROCOPY, ZCQ_XFER_CFR,
    };
    char *dup, *save = NULL;
    int n = 0;

    if (strcmp(arg, "all") == 0) {
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            /* copy_file_range only has something to show with a file destination. */
            if (all[i] == ZCQ_XFER_CFR && dest != ZCQ_LAB_FILE)
                continue;
            out[n++] = all[i];
        }
        return n;
    }
    dup = strdup(arg);
    if (!dup)
        return -1;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        enum zcq_xfer_method m;

        if (zcq_xfer_method_parse(tok, &m) < 0) {
            fprintf(stderr,
                    "zcq copies: unknown method '%s' (known: all, copy, mmap, sendfile, splice, "
                    "direct, uring, zerocopy, copy_file_range, auto)\n",
                    tok);
            free(dup);
            return -1;
        }
        for (int k = 0; k < n; k++) {
            if (out[k] == m)
                goto next;
        }
        if (n == ZCQ_XFER_COUNT)
            break;
        out[n++] = m;
    next:;
    }
    free(dup);
    if (n == 0)
        fprintf(stderr, "zcq copies: --method needs at least one method\n");
    return n ? n : -1;
}

/* Fill fd with size pseudo-random bytes (xorshift: cheap, and misplaced bytes show) and
 * return their XXH3 hash through *hash. */
static int generate(int fd, uint64_t size, uint64_t *hash)
{
    XXH3_state_t *st = XXH3_createState();
    uint64_t *buf = malloc(GEN_BLOCK), s = 0x9e3779b97f4a7c15ull, off = 0;
    int rc = 0;

    if (!st || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(st);
    while (off < size) {
        size_t n = size - off < GEN_BLOCK ? (size_t)(size - off) : GEN_BLOCK;
        size_t w = 0;

        for (size_t i = 0; i < GEN_BLOCK / 8; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            buf[i] = s;
        }
        while (w < n) {
            ssize_t k = write(fd, (char *)buf + w, n - w);

            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                rc = -errno;
                goto out;
            }
            w += (size_t)k;
        }
        XXH3_64bits_update(st, buf, n);
        off += n;
    }
    *hash = XXH3_64bits_digest(st);
out:
    free(buf);
    XXH3_freeState(st);
    return rc;
}

/* Can we write path? Checked before hours of measurement, without leaving a file behind. */
static int check_writable(const char *path)
{
    struct stat sb;
    int existed = stat(path, &sb) == 0;
    int fd;

    if (existed && S_ISDIR(sb.st_mode))
        return -EISDIR;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    if (!existed)
        unlink(path);
    return 0;
}

/* Can a TCP socket use this congestion control? (Unprivileged users get only the ones in
 * net.ipv4.tcp_allowed_congestion_control.) */
static int check_tcp_cc(const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name)) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int zcq_cmd_copies(int argc, char **argv)
{
    enum {
        OPT_FILE = 256,
        OPT_SIZE,
        OPT_METHOD,
        OPT_TO,
        OPT_CACHE,
        OPT_CHUNK,
        OPT_RUNS,
        OPT_JSON,
        OPT_PLOT,
        OPT_DIR,
        OPT_QUIET,
        OPT_HELP,
        OPT_CC
    };
    static const struct option longopts[] = {
        {"file", required_argument, NULL, OPT_FILE},
        {"size", required_argument, NULL, OPT_SIZE},
        {"method", required_argument, NULL, OPT_METHOD},
        {"to", required_argument, NULL, OPT_TO},
        {"cache", required_argument, NULL, OPT_CACHE},
        {"chunk", required_argument, NULL, OPT_CHUNK},
        {"runs", required_argument, NULL, OPT_RUNS},
        {"json", no_argument, NULL, OPT_JSON},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"dir", required_argument, NULL, OPT_DIR},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"tcp-cc", required_argument, NULL, OPT_CC},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *size_arg = NULL, *method_arg = "all", *plot = NULL;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    bool json = false, quiet = false, cold = false, warm = true;
    struct zcq_lab_opts o = {.dest = ZCQ_LAB_TCP, .chunk = 64 * 1024, .runs = 3};
    enum zcq_xfer_method methods[ZCQ_XFER_COUNT];
    struct zcq_lab_result *results = NULL;
    uint64_t size = 1ull << 30, v;
    char srcpath[64];
    struct stat sb;
    struct statfs sf;
    int nm, nres = 0, src = -1, opt, rc, status = 0;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_FILE:
            file = optarg;
            break;
        case OPT_SIZE:
            size_arg = optarg;
            if (zcq_parse_size(optarg, &size) < 0)
                return bad("bad --size '%s' (use bytes or K/M/G, e.g. 1G)", optarg);
            if (size == 0)
                return bad("--size must be greater than 0");
            break;
        case OPT_METHOD:
            method_arg = optarg;
            break;
        case OPT_TO:
            if (zcq_lab_dest_parse(optarg, &o.dest) < 0)
                return bad("unknown --to '%s' (known: tcp, unix, pipe, null, file)", optarg);
            break;
        case OPT_CACHE:
            if (strcmp(optarg, "warm") == 0)
                warm = true, cold = false;
            else if (strcmp(optarg, "cold") == 0)
                warm = false, cold = true;
            else if (strcmp(optarg, "both") == 0)
                warm = cold = true;
            else
                return bad("unknown --cache '%s' (known: warm, cold, both)", optarg);
            break;
        case OPT_CHUNK:
            if (zcq_parse_size(optarg, &v) < 0 || v == 0 || v > ZCQ_XFER_MAX_CHUNK)
                return bad("bad --chunk '%s' (1 byte to 1G, e.g. 64K)", optarg);
            o.chunk = (size_t)v;
            break;
        case OPT_RUNS:
            if (zcq_parse_size(optarg, &v) < 0 || v == 0 || v > ZCQ_LAB_MAX_RUNS)
                return bad("bad --runs '%s' (1 to 100)", optarg);
            o.runs = (unsigned)v;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_PLOT:
            plot = optarg;
            break;
        case OPT_DIR:
            dir = optarg;
            break;
        case OPT_QUIET:
            quiet = true;
            break;
        case OPT_CC:
            if (check_tcp_cc(optarg) < 0)
                return bad("TCP congestion control '%s' is not available here (see "
                           "/proc/sys/net/ipv4/tcp_available_congestion_control)",
                           optarg);
            o.tcp_cc = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            if (optopt)
                return bad("option '%s' needs a value (see zcq copies --help)", argv[optind - 1]);
            return bad("unknown option '%s' (see zcq copies --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s' (see zcq copies --help)", argv[optind]);
    if (file && size_arg)
        return bad("give --file or --size, not both");
    nm = parse_methods(method_arg, o.dest, methods);
    if (nm < 0)
        return 2;
    if (plot) {
        rc = check_writable(plot);
        if (rc < 0) {
            fprintf(stderr, "zcq copies: cannot write plot '%s': %s\n", plot, strerror(-rc));
            return 2;
        }
    }
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "zcq copies: --dir '%s' is not a directory\n", dir);
        return 2;
    }

    /* The source: the user's file, or an unnamed generated one reached via /proc/self/fd. */
    if (file) {
        src = open(file, O_RDONLY | O_CLOEXEC);
        if (src < 0) {
            fprintf(stderr, "zcq copies: cannot open '%s': %s\n", file, strerror(errno));
            return 1;
        }
        if (fstat(src, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            fprintf(stderr, "zcq copies: '%s' is %s, not a regular file\n", file,
                    S_ISDIR(sb.st_mode) ? "a directory" : "special");
            close(src);
            return 1;
        }
        if (sb.st_size == 0) {
            fprintf(stderr, "zcq copies: '%s' is empty; there is nothing to transfer\n", file);
            close(src);
            return 1;
        }
        rc = zcq_lab_hash_fd(src, &o.src_hash, NULL);
        if (rc < 0) {
            fprintf(stderr, "zcq copies: cannot read '%s': %s\n", file, strerror(-rc));
            close(src);
            return 1;
        }
    } else {
        src = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (src < 0) {
            fprintf(stderr, "zcq copies: cannot create a file in '%s': %s\n", dir, strerror(errno));
            return 1;
        }
        if (!quiet && isatty(STDERR_FILENO))
            fprintf(stderr, "generating a %llu-byte file in %s ...\n", (unsigned long long)size,
                    dir);
        rc = generate(src, size, &o.src_hash);
        if (rc < 0) {
            fprintf(stderr, "zcq copies: cannot write %llu bytes in '%s': %s\n",
                    (unsigned long long)size, dir, strerror(-rc));
            close(src);
            return 1;
        }
    }
    snprintf(srcpath, sizeof(srcpath), "/proc/self/fd/%d", src);
    o.file = srcpath;
    o.dir = dir;
    o.progress = !quiet && isatty(STDERR_FILENO);
    if (cold && fstatfs(src, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
        fprintf(stderr, "zcq copies: note: the file is on tmpfs, whose pages cannot leave the "
                        "page cache; cold runs will be warm\n");

    results = calloc((size_t)nm * 2, sizeof(*results));
    if (!results) {
        close(src);
        fputs("zcq copies: out of memory\n", stderr);
        return 1;
    }
    for (int i = 0; i < nm && status == 0; i++) {
        for (int c = 0; c < 2; c++) {
            if ((c == ZCQ_LAB_WARM && !warm) || (c == ZCQ_LAB_COLD && !cold))
                continue;
            rc = zcq_lab_measure(&o, methods[i], (enum zcq_lab_cache)c, &results[nres]);
            if (rc < 0) {
                fprintf(stderr, "zcq copies: the source file became unreadable: %s\n",
                        strerror(-rc));
                status = 1;
                break;
            }
            if (!results[nres].verified && o.dest != ZCQ_LAB_NULL) {
                fprintf(stderr, "zcq copies: %s delivered wrong bytes: %s\n",
                        zcq_xfer_method_name(methods[i]), results[nres].error);
                status = 1;
            }
            nres++;
        }
    }
    if (json)
        zcq_lab_print_json(stdout, &o, results, (size_t)nres);
    else
        zcq_lab_print_table(stdout, &o, results, (size_t)nres);
    if (plot) {
        rc = zcq_lab_write_svg(plot, &o, results, (size_t)nres);
        if (rc < 0) {
            fprintf(stderr, "zcq copies: cannot write plot '%s': %s\n", plot, strerror(-rc));
            unlink(plot);
            status = 1;
        }
    }
    free(results);
    close(src);
    return status;
}
