/*
 * zcq serve: the broker. Reads the configuration (defaults, then --config FILE, then flags),
 * recovers every partition, listens, and serves until SIGTERM or SIGINT, then shuts down
 * cleanly: no new connections, in-flight requests answered, logs flushed, clean-shutdown
 * markers written. Every configuration key is also a flag: --log.segment.bytes=1048576 or
 * --log.segment.bytes 1048576 (broker/config.h lists them).
 */
#include "cli/cmd.h"

#include "broker/broker.h"
#include "io/say.h"
#include "net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: zcq serve [--listen HOST:PORT] [--data-dir DIR] [--config FILE]\n"
               "                 [--KEY VALUE | --KEY=VALUE]... [--ready-file FILE]\n"
               "                 [--log-level debug|info|warn|error]\n\n"
               "A Kafka-protocol broker. Defaults need no configuration: listener\n"
               "127.0.0.1:9092, data directory ./data, node id 1. KEY is any broker or log\n"
               "setting by its Kafka name (listeners, advertised.listeners, node.id, log.dirs,\n"
               "num.partitions, auto.create.topics.enable, log.segment.bytes, log.retention.ms,\n"
               "log.flush.interval.messages, zcq.io.mode, zcq.fetch.transfer, ...; docs/broker.md\n"
               "has the table). A --config file holds the same keys as key=value lines (# starts\n"
               "a comment); flags win over it. --ready-file gets \"HOST:PORT\" once clients can\n"
               "connect. SIGTERM or SIGINT stops the broker cleanly.\n");
}

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "zcq serve: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

struct sigctx {
    sigset_t set;
    struct zcq_server *srv;
};

static void *signal_main(void *arg)
{
    struct sigctx *sc = arg;
    int sig;

    if (sigwait(&sc->set, &sig) == 0) {
        zcq_say(ZCQ_INFO, "%s received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        zcq_server_shutdown(sc->srv);
    }
    return NULL;
}

/* Descriptors the broker holds besides its partitions and clients: listener, epoll and eventfd
 * per worker, the pools, the committed-offsets journal, standard streams, and a margin for the
 * files it opens for a moment (checkpoints, directories to sync). */
#define NOFILE_OWN 256

/* Kafka clients open a connection or three each, and every partition holds a file descriptor
 * per segment (its .log file): take every descriptor the hard limit allows. The data
 * directory's partitions are counted first (the registry names them), so that a limit too low
 * for them is said plainly now, not found as EMFILE after opening thousands of logs. Returns
 * 0, or -EMFILE when the partitions cannot all be opened. */
static int raise_nofile(const char *data_dir, int max_conns)
{
    long parts = zcq_topics_count(data_dir);
    unsigned long long cur, max;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    cur = rl.rlim_cur;
    max = rl.rlim_max;
    if (parts < 0)
        parts = 0; /* unreadable: zcq_topics_open() says why */
    if ((unsigned long long)parts + NOFILE_OWN > cur) {
        fail("the data directory holds %ld partitions, each with an open file per segment, but "
             "open files are limited to %llu (hard limit %llu): raise the limit to at least "
             "%ld plus the clients' connections (ulimit -n; LimitNOFILE= under systemd)",
             parts, cur, max, parts + NOFILE_OWN);
        return -EMFILE;
    }
    if ((unsigned long long)parts + NOFILE_OWN + (unsigned long long)max_conns > cur)
        zcq_say(ZCQ_WARN,
                "open files limited to %llu: %ld partitions (a file per segment) leave room for "
                "fewer than max.connections = %d clients; raise it (ulimit -n, LimitNOFILE=)",
                cur, parts, max_conns);
    return 0;
}

int zcq_cmd_serve(int argc, char **argv)
{
    struct zcq_broker_config cfg;
    struct zcq_broker *b = NULL;
    struct zcq_server *srv = NULL;
    const char *config = NULL, *ready = NULL;
    char why[512];
    struct sigctx sc;
    pthread_t sigth;
    int rc, status = 1;

    zcq_broker_config_default(&cfg);
    /* The file first, wherever --config appears: flags override it. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    if (config && zcq_broker_config_load(&cfg, config, why, sizeof(why)) < 0) {
        fail("%s", why);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        char key[128];
        const char *eq;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fail("unexpected argument '%s' (try --help)", a);
            return 2;
        }
        a += 2;
        eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof(key), "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(key, sizeof(key), "%s", a);
            if (i + 1 >= argc) {
                fail("--%s needs a value", key);
                return 2;
            }
            val = argv[++i];
        }
        if (strcmp(key, "config") == 0)
            continue;
        if (strcmp(key, "ready-file") == 0) {
            ready = val;
            continue;
        }
        if (strcmp(key, "log-level") == 0) {
            static const char *const lv[] = {"debug", "info", "warn", "error"};
            int k = 0;

            while (k < 4 && strcmp(val, lv[k]) != 0)
                k++;
            if (k == 4) {
                fail("--log-level must be debug, info, warn or error, not '%s'", val);
                return 2;
            }
            zcq_say_level = k;
            continue;
        }
        if (strcmp(key, "listen") == 0)
            snprintf(key, sizeof(key), "listeners");
        else if (strcmp(key, "data-dir") == 0)
            snprintf(key, sizeof(key), "log.dirs");
        if (zcq_broker_config_set(&cfg, key, val, why, sizeof(why)) < 0) {
            fail("--%s: %s", key, why);
            return 2;
        }
    }
    if (zcq_broker_config_check(&cfg, why, sizeof(why)) < 0) {
        fail("%s", why);
        return 2;
    }

    /* Signals go to the signal thread only: block them before any thread starts. */
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (raise_nofile(cfg.data_dir, cfg.max_connections) < 0)
        return 1;

    zcq_say(ZCQ_INFO, "zcq %s (%s) starting: node %d, data directory %s", ZCQ_VERSION, ZCQ_GITREV,
            cfg.node_id, cfg.data_dir);
    rc = zcq_broker_open(&b, &cfg, why, sizeof(why));
    if (rc < 0) {
        fail("cannot open the data directory: %s", why);
        if (rc == -EMFILE || rc == -ENFILE)
            fail("out of file descriptors: every segment of every partition holds one; raise the "
                 "open-file limit (ulimit -n; LimitNOFILE= under systemd; fs.file-max for "
                 "ENFILE)");
        return 1;
    }
    rc = zcq_server_new(&srv, b, why, sizeof(why));
    if (rc < 0) {
        fail("%s", why);
        goto out;
    }
    if (b->cfg.adv_port == 0)
        b->cfg.adv_port = zcq_server_port(srv); /* listening on port 0: the one given */
    rc = zcq_broker_start_maintenance(b);
    if (rc < 0) {
        fail("start maintenance thread: %s", strerror(-rc));
        goto out;
    }
    zcq_say(ZCQ_INFO, "listening on %s:%d (advertised as %s:%d), %d worker thread(s), fetch by %s",
            cfg.listen_host, zcq_server_port(srv), b->cfg.adv_host, b->cfg.adv_port, cfg.workers,
            zcq_xfer_method_name(cfg.transfer));
    if (ready) {
        char tmp[4200];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
        f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s:%d\n", b->cfg.adv_host, zcq_server_port(srv)) < 0 ||
            fclose(f) != 0 || rename(tmp, ready) < 0) {
            fail("cannot write the ready file %s: %s", ready, strerror(errno));
            goto out;
        }
    }
    sc.srv = srv;
    if (pthread_create(&sigth, NULL, signal_main, &sc) != 0) {
        fail("start the signal thread");
        goto out;
    }
    rc = zcq_server_run(srv);
    pthread_cancel(sigth); /* still in sigwait if the server stopped on its own */
    pthread_join(sigth, NULL);
    status = rc < 0 ? 1 : 0;
out:
    zcq_server_free(srv);
    rc = zcq_broker_close(b);
    if (rc < 0) {
        zcq_say(ZCQ_ERROR, "closing the logs failed: %s (the next start recovers them)",
                strerror(-rc));
        status = 1;
    } else if (status == 0) {
        zcq_say(ZCQ_INFO, "stopped cleanly");
    }
    if (ready)
        unlink(ready);
    return status;
}
