#include "cli/cmd.h"
int zcq_cmd_copies(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 1;
}
