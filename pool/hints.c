/*
 * pool/hints.c: reading the cooldown an upstream asks for in a 429 answer
 * (SPEC section 6): `retry-after-ms` (milliseconds, possibly fractional),
 * else `Retry-After` (delta-seconds or an HTTP-date, RFC 9110 section 10.2.3),
 * else `x-ratelimit-reset-requests` (OpenAI's Go-style duration, `6m0s`).
 * An invalid header is skipped for the next one. Pure functions of their
 * input: the clock is passed in.
 */
#include "internal.h"

#include <string.h>

/* A hint longer than a day is taken as a day: a garbage header must not park
 * a key for years (it is probed again after that). */
#define HINT_MAX_MS (24ull * 3600 * 1000)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Copies `s` without leading and trailing spaces and tabs (HTTP OWS) into buf;
 * false when it does not fit or is empty. */
static bool trim(const char *s, char *buf, size_t cap)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= cap)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* Reads exactly `n` digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool month(const char **p, int *out)
{
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++) {
        if (strncmp(*p, names[i], 3) == 0) {
            *p += 3;
            *out = i + 1;
            return true;
        }
    }
    return false;
}

/* A day name, short (`Sun`) or long (`Sunday`, RFC 850); its consistency with
 * the date is not checked (RFC 9110 lets recipients ignore it). */
static bool day_name(const char **p, bool long_form)
{
    static const char *const longs[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
    for (int i = 0; i < 7; i++) {
        const char *l = longs[i];
        if (long_form ? lit(p, l) : (strncmp(*p, l, 3) == 0 && (*p += 3, true)))
            return true;
    }
    return false;
}

static bool clock_time(const char **p, int *h, int *m, int *s)
{
    return digits(p, 2, h) && lit(p, ":") && digits(p, 2, m) && lit(p, ":") && digits(p, 2, s) && *h <= 23 && *m <= 59 && *s <= 60;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of(int64_t epoch_s)
{
    int64_t z = (epoch_s >= 0 ? epoch_s : epoch_s - 86399) / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    return yoe + era * 400 + (m <= 2);
}

static bool valid_day(int y, int m, int d)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d >= 1 && d <= len[m - 1] + (m == 2 && leap);
}

int llg_pool_parse_http_date(const char *s, int64_t now_epoch_s, int64_t *epoch_s)
{
    char buf[64];
    if (s == NULL || !trim(s, buf, sizeof(buf)))
        return -1;
    const char *p = buf;
    int y, mo, d, h, mi, se;
    const char *q = p;
    if (day_name(&q, false) && lit(&q, ", ")) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        p = q;
        if (!(digits(&p, 2, &d) && lit(&p, " ") && month(&p, &mo) && lit(&p, " ") && digits(&p, 4, &y) && lit(&p, " ") &&
              clock_time(&p, &h, &mi, &se) && lit(&p, " GMT") && *p == '\0'))
            return -1;
    } else if ((q = p, day_name(&q, true)) && lit(&q, ", ")) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; a two-digit year more than
         * 50 years ahead is the last such year in the past */
        p = q;
        int yy;
        if (!(digits(&p, 2, &d) && lit(&p, "-") && month(&p, &mo) && lit(&p, "-") && digits(&p, 2, &yy) && lit(&p, " ") &&
              clock_time(&p, &h, &mi, &se) && lit(&p, " GMT") && *p == '\0'))
            return -1;
        int64_t cur = year_of(now_epoch_s);
        int64_t cand = cur - cur % 100 + yy;
        if (cand > cur + 50)
            cand -= 100;
        else if (cand + 100 <= cur + 50)
            cand += 100;
        y = (int)cand;
    } else if ((q = p, day_name(&q, false)) && lit(&q, " ")) {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        p = q;
        if (!(month(&p, &mo) && lit(&p, " ")))
            return -1;
        if (*p == ' ') {
            p++;
            if (!digits(&p, 1, &d))
                return -1;
        } else if (!digits(&p, 2, &d)) {
            return -1;
        }
        if (!(lit(&p, " ") && clock_time(&p, &h, &mi, &se) && lit(&p, " ") && digits(&p, 4, &y) && *p == '\0'))
            return -1;
    } else {
        return -1;
    }
    if (!valid_day(y, mo, d))
        return -1;
    *epoch_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* Unit of a Go duration in nanoseconds, advancing past it; 0 if unknown. */
static uint64_t go_unit(const char **p)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},       {"us", 1000},         {"\xc2\xb5s", 1000},   {"\xce\xbcs", 1000},
        {"ms", 1000000}, {"s", 1000000000ull}, {"m", 60000000000ull}, {"h", 3600000000000ull},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) /* "ms" is tried before "m" and "s" */
        if (lit(p, units[i].name))
            return units[i].ns;
    return 0;
}

static bool add_ns(uint64_t *total, uint64_t v)
{
    if (*total > UINT64_MAX - v)
        return false;
    *total += v;
    return true;
}

/* A decimal number `int[.frac]` as an integer and a fraction of up to 9
 * digits (more are truncated): value = ip + fnum / fscale. */
static bool decimal(const char **p, uint64_t *ip, uint64_t *fnum, uint64_t *fscale)
{
    const char *s = *p;
    *ip = 0;
    *fnum = 0;
    *fscale = 1;
    bool any = false;
    for (; is_digit(*s); s++, any = true) {
        if (*ip > (UINT64_MAX - 9) / 10)
            return false;
        *ip = *ip * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        s++;
        for (; is_digit(*s); s++, any = true) {
            if (*fscale < 1000000000ull) {
                *fnum = *fnum * 10 + (uint64_t)(*s - '0');
                *fscale *= 10;
            }
        }
    }
    *p = s;
    return any;
}

/* ip.fnum/fscale units of `unit` ns, added to *total. */
static bool add_scaled(uint64_t *total, uint64_t ip, uint64_t fnum, uint64_t fscale, uint64_t unit)
{
    if (ip != 0 && unit > UINT64_MAX / ip)
        return false;
    /* units of 1 s and more are multiples of every fscale (<= 1e9); smaller
     * ones keep fnum * unit below 1e9 * 1e6 */
    uint64_t frac = unit % fscale == 0 ? fnum * (unit / fscale) : fnum * unit / fscale;
    return add_ns(total, ip * unit) && add_ns(total, frac);
}

int llg_pool_parse_reset_duration(const char *s, uint64_t *ms)
{
    char buf[64];
    if (s == NULL || !trim(s, buf, sizeof(buf)))
        return -1;
    const char *p = buf;
    uint64_t total = 0, ip, fnum, fscale;
    if (!decimal(&p, &ip, &fnum, &fscale))
        return -1;
    if (*p == '\0') { /* a bare number: seconds */
        if (!add_scaled(&total, ip, fnum, fscale, 1000000000ull))
            return -1;
    } else {
        for (;;) {
            uint64_t unit = go_unit(&p);
            if (unit == 0 || !add_scaled(&total, ip, fnum, fscale, unit))
                return -1;
            if (*p == '\0')
                break;
            if (!decimal(&p, &ip, &fnum, &fscale))
                return -1;
        }
    }
    *ms = total / 1000000u + (total % 1000000u != 0);
    return 0;
}

/* retry-after-ms: a non-negative decimal number of milliseconds, rounded up. */
static int parse_ms(const char *s, uint64_t *ms)
{
    char buf[64];
    if (s == NULL || !trim(s, buf, sizeof(buf)))
        return -1;
    const char *p = buf;
    uint64_t ip, fnum, fscale;
    if (!decimal(&p, &ip, &fnum, &fscale) || *p != '\0')
        return -1;
    *ms = ip + (fnum != 0 && ip < UINT64_MAX);
    return 0;
}

/* Retry-After: delta-seconds (1*DIGIT) or an HTTP-date (past: 0). */
static int parse_retry_after(const char *s, int64_t now_epoch_s, uint64_t *ms)
{
    char buf[64];
    if (s == NULL || !trim(s, buf, sizeof(buf)))
        return -1;
    if (is_digit(buf[0])) {
        uint64_t v = 0;
        for (const char *p = buf; *p != '\0'; p++) {
            if (!is_digit(*p))
                return -1;
            if (v < UINT64_MAX / 10000)
                v = v * 10 + (uint64_t)(*p - '0');
        }
        *ms = v < UINT64_MAX / 1000 ? v * 1000 : UINT64_MAX;
        return 0;
    }
    int64_t at;
    if (llg_pool_parse_http_date(buf, now_epoch_s, &at) != 0)
        return -1;
    *ms = at > now_epoch_s ? (uint64_t)(at - now_epoch_s) * 1000u : 0;
    return 0;
}

int64_t llg_pool_hint_cooldown_ms(const llg_pool_hints_t *hints, int64_t now_epoch_s)
{
    if (hints == NULL)
        return -1;
    uint64_t ms;
    if (parse_ms(hints->retry_after_ms, &ms) != 0 && parse_retry_after(hints->retry_after, now_epoch_s, &ms) != 0 &&
        llg_pool_parse_reset_duration(hints->ratelimit_reset_requests, &ms) != 0)
        return -1;
    return (int64_t)(ms > HINT_MAX_MS ? HINT_MAX_MS : ms);
}
