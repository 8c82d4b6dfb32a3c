/* Size parsing and printing; see units.h. */
#include "cli/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int zcq_parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0, mul = 1;
    const char *p = s;

    if (!s || !isdigit((unsigned char)*p))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');

        if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
            return -ERANGE;
        v = v * 10 + d;
    }
    switch (toupper((unsigned char)*p)) {
    case '\0':
        break;
    case 'K':
        mul = 1ull << 10;
        break;
    case 'M':
        mul = 1ull << 20;
        break;
    case 'G':
        mul = 1ull << 30;
        break;
    case 'T':
        mul = 1ull << 40;
        break;
    default:
        return -EINVAL;
    }
    if (*p) {
        p++;
        if (strcasecmp(p, "ib") != 0 && strcasecmp(p, "b") != 0 && *p)
            return -EINVAL;
    }
    if (v && mul > UINT64_MAX / v)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

char *zcq_fmt_size(uint64_t n, char *buf, size_t len)
{
    static const char suffix[] = "KMGT";
    int i = -1;
    double v = (double)n;

    while (v >= 1024 && i < 3) {
        v /= 1024;
        i++;
    }
    if (i < 0)
        snprintf(buf, len, "%llu", (unsigned long long)n);
    else if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%llu%c", (unsigned long long)v, suffix[i]);
    else
        snprintf(buf, len, "%.1f%c", v, suffix[i]);
    return buf;
}
