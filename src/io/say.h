/*
 * One line per notable event, on standard error: "2026-11-30T05:12:00.123Z INFO  listening on
 * 127.0.0.1:9092". Every layer may report; the line is formatted into a buffer and written
 * with one write(2), so lines of concurrent threads never interleave.
 *
 * Contract: thread-safe, no allocation, never fails (a line that does not fit is cut). The
 * threshold (zcq_say_level) filters debug lines; ZCQ_SAY_QUIET silences all (tests).
 */
#ifndef ZCQ_IO_SAY_H
#define ZCQ_IO_SAY_H

enum zcq_say_level { ZCQ_DEBUG = 0, ZCQ_INFO = 1, ZCQ_WARN = 2, ZCQ_ERROR = 3, ZCQ_SAY_QUIET = 4 };

/* Lines below this level are dropped. Set once at start-up. */
extern int zcq_say_level;

__attribute__((format(printf, 2, 3))) void zcq_say(int level, const char *fmt, ...);

/* A line a client can cause (a bad request, a refused connection), at INFO: at most 20 a
 * second across the process, so a misbehaving client cannot flood the log; the next line
 * after a quiet second says how many were dropped. */
__attribute__((format(printf, 1, 2))) void zcq_say_client(const char *fmt, ...);

#endif
