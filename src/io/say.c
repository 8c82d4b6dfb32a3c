/* Event lines on standard error; see say.h. */
#include "io/say.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int zcq_say_level = ZCQ_INFO;

__attribute__((format(printf, 2, 0))) static void vsay(int level, const char *fmt, va_list ap);

void zcq_say(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(level, fmt, ap);
    va_end(ap);
}

void zcq_say_client(const char *fmt, ...)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned in_window, dropped;
    struct timespec ts;
    unsigned report = 0;
    bool say;
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(&mu);
    if (ts.tv_sec != window) {
        window = ts.tv_sec;
        in_window = 0;
        report = dropped;
        dropped = 0;
    }
    say = in_window < 20;
    if (say)
        in_window++;
    else
        dropped++;
    pthread_mutex_unlock(&mu);
    if (report)
        zcq_say(ZCQ_INFO, "(%u more client error lines dropped)", report);
    if (!say)
        return;
    va_start(ap, fmt);
    vsay(ZCQ_INFO, fmt, ap);
    va_end(ap);
}

static void vsay(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    int n;

    if (level < zcq_say_level || level < ZCQ_DEBUG || level > ZCQ_ERROR)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 names[level]);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write: a line is never split between threads. Nothing to do if it fails. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
