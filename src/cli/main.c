/* zcq: one binary, subcommands. */
#include "cli/cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct zcq_cmd cmds[] = {
    {"serve", "run the broker (Kafka protocol)", zcq_cmd_serve},
    {"topics", "create, list, describe and delete topics (any Kafka broker)", zcq_cmd_topics},
    {"produce", "send one record per input line to a topic", zcq_cmd_produce},
    {"consume", "print a topic's records (from beginning, end, offset or time)", zcq_cmd_consume},
    {"groups", "list, describe, delete consumer groups and reset their offsets", zcq_cmd_groups},
    {"perf", "measure producer or consumer throughput and latency", zcq_cmd_perf},
    {"copies", "measure every Linux transfer technique on this machine", zcq_cmd_copies},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: zcq <command> [options]\n\n"
               "zcq is a Kafka-protocol message broker built on Linux zero-copy I/O.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n  zcq <command> --help    options of one command\n"
               "  zcq --version           print the version\n");
}

int main(int argc, char **argv)
{
    /* Writes to a closed peer must come back as EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("zcq %s (%s)\n", ZCQ_VERSION, ZCQ_GITREV);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "zcq: unknown command '%s' (try zcq --help)\n", argv[1]);
    return 2;
}
