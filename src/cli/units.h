/*
 * Parsing and printing of the CLI's sizes: "4096", "64K", "1M", "1G" (binary multiples,
 * K = 1024; "KiB"/"k" spellings accepted). Pure functions, no allocation.
 */
#ifndef ZCQ_CLI_UNITS_H
#define ZCQ_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Parse s into *out. Errors: -EINVAL (not a size, or trailing junk), -ERANGE (overflow). */
int zcq_parse_size(const char *s, uint64_t *out);

/* Print n as "64K", "1M", "1.5G" or "123" into buf; returns buf. */
char *zcq_fmt_size(uint64_t n, char *buf, size_t len);

#endif
