/*
 * conf/duration.c: the duration syntax of the config (SPEC section 3): a bare
 * non-negative integer is seconds; otherwise an integer followed directly by
 * one unit, ms, s, m or h. No sign, no fraction, no space, no overflow: the
 * value either means exactly one number of milliseconds or is refused.
 */
#include "conf.h"

#include <string.h>

int llg_conf_parse_duration(const char *s, uint64_t *out_ms)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;

    uint64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }

    uint64_t mult;
    if (*p == '\0' || strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 60 * 60 * 1000;
    else
        return -1;

    if (n > UINT64_MAX / mult)
        return -1;
    *out_ms = n * mult;
    return 0;
}
