/*
 * The zcq subcommands. Each takes (argc, argv) with argv[0] the command's name, prints a
 * one-line "zcq <cmd>: ..." message on bad input, and returns the process exit status
 * (0 success, 1 failure, 2 usage error).
 */
#ifndef ZCQ_CLI_CMD_H
#define ZCQ_CLI_CMD_H

struct zcq_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

int zcq_cmd_copies(int argc, char **argv);
int zcq_cmd_serve(int argc, char **argv);

/* Kafka clients over librdkafka (cli/kclient.h): they work against any Kafka broker. */
int zcq_cmd_topics(int argc, char **argv);
int zcq_cmd_produce(int argc, char **argv);
int zcq_cmd_consume(int argc, char **argv);
int zcq_cmd_perf(int argc, char **argv);
int zcq_cmd_groups(int argc, char **argv);

#endif
