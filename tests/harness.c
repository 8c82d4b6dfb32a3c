/* The test runner; see harness.h. */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SKIP_CODE 77

static char tmpdir[4096];
static pid_t tmpdir_owner;

void zt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void zt_skip(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "  skipped: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(SKIP_CODE);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tmpdir_cleanup(void)
{
    /* Processes a test forks inherit the handler; only the creator removes the directory. */
    if (tmpdir[0] && getpid() == tmpdir_owner)
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *zt_tmpdir(void)
{
    const char *parent = getenv("ZCQ_TEST_DIR");

    if (tmpdir[0])
        return tmpdir;
    if (!parent)
        parent = access("build", W_OK) == 0 ? "build" : "/var/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/zcq-test-XXXXXX", parent);
    if (!mkdtemp(tmpdir)) {
        tmpdir[0] = '\0';
        zt_fail(__FILE__, __LINE__, "mkdtemp under %s: %s", parent, strerror(errno));
    }
    tmpdir_owner = getpid();
    atexit(tmpdir_cleanup);
    return tmpdir;
}

struct slot {
    pid_t pid;
    size_t test;
    FILE *out;
    struct timespec start;
};

static double since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int selected(int argc, char **argv, const char *name)
{
    int any = 0;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (strstr(name, argv[i]))
            return 1;
    }
    return !any;
}

static pid_t spawn(const struct zcq_test *t, FILE *out)
{
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid != 0)
        return pid;
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(out), STDERR_FILENO);
    setpgid(0, 0); /* a timeout kills helpers the test forked too */
    signal(SIGPIPE, SIG_IGN);
    alarm(t->timeout_s ? t->timeout_s : 60);
    t->fn();
    fflush(stdout);
    exit(0);
}

static void report(const struct zcq_test *t, struct slot *s, int status, unsigned *pass,
                   unsigned *fail, unsigned *skip)
{
    const char *verdict;
    char buf[4096];
    size_t n;

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        verdict = "ok  ";
        (*pass)++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_CODE) {
        verdict = "SKIP";
        (*skip)++;
    } else {
        verdict = "FAIL";
        (*fail)++;
    }
    printf("%s %-48s %6.2fs", verdict, t->name, since(&s->start));
    if (WIFSIGNALED(status))
        printf("  (%s%s)", strsignal(WTERMSIG(status)),
               WTERMSIG(status) == SIGALRM ? ": time limit" : "");
    putchar('\n');
    rewind(s->out);
    while ((n = fread(buf, 1, sizeof(buf), s->out)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(s->out);
    fflush(stdout);
}

int zcq_test_main(int argc, char **argv, const struct zcq_test *tests, size_t n)
{
    const char *env = getenv("ZCQ_TEST_JOBS");
    long jobs = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    unsigned pass = 0, fail = 0, skip = 0;
    struct slot *slots;
    size_t next = 0, running = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0) {
            for (size_t k = 0; k < n; k++)
                puts(tests[k].name);
            return 0;
        }
    }
    if (jobs < 1)
        jobs = 1;
    slots = calloc((size_t)jobs, sizeof(*slots));
    if (!slots)
        return 1;
    for (;;) {
        while (running < (size_t)jobs && next < n) {
            struct slot *s = NULL;

            if (!selected(argc, argv, tests[next].name)) {
                next++;
                continue;
            }
            for (long k = 0; k < jobs; k++) {
                if (!slots[k].pid) {
                    s = &slots[k];
                    break;
                }
            }
            s->out = tmpfile();
            if (!s->out) {
                perror("tmpfile");
                return 1;
            }
            s->test = next;
            clock_gettime(CLOCK_MONOTONIC, &s->start);
            s->pid = spawn(&tests[next], s->out);
            if (s->pid < 0) {
                perror("fork");
                return 1;
            }
            running++;
            next++;
        }
        if (!running)
            break;
        {
            int status;
            pid_t pid = wait(&status);

            if (pid < 0) {
                perror("wait");
                return 1;
            }
            for (long k = 0; k < jobs; k++) {
                if (slots[k].pid == pid) {
                    /* Reap whatever the test left behind in its process group. */
                    kill(-pid, SIGKILL);
                    report(&tests[slots[k].test], &slots[k], status, &pass, &fail, &skip);
                    slots[k].pid = 0;
                    running--;
                }
            }
        }
    }
    free(slots);
    printf("# %s: %u passed, %u failed, %u skipped\n", prog, pass, fail, skip);
    return fail ? 1 : 0;
}
