/*
 * tests/mock/scenario.c: the per-request options of llmgate-mock (format,
 * pacing, faults, protocol quirks; docs/mock.md lists them) and the parsers
 * for the places they come from: "k=v,k=v" lists (the /s/<list>/ path prefix,
 * the x-mock header, a "~list" model suffix, a "mock" string in the body,
 * the runtime defaults of POST /_mock/defaults),
 * single options (x-mock-<name> headers, "mock" objects) and the segments of
 * an upstream key (fail<fault>, name=value). tool_input must be a JSON
 * object (cJSON checks it); tool_text sets the same bytes unchecked. An
 * unknown option or a bad value is kept in sc->error and answered with 400,
 * so that typos in tests show.
 */
#include "mock.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mock_scenario_init(struct mock_scenario *sc)
{
    memset(sc, 0, offsetof(struct mock_scenario, set_name));
    sc->reset_requests[0] = sc->error_type[0] = sc->finish[0] = sc->message[0] = sc->models[0] = '\0';
    sc->tool_name[0] = sc->tool_input[0] = '\0';
    sc->format = MOCK_FMT_OPENAI;
    sc->chunks = 8;
    sc->after = 1;
    sc->split_ms = 1;
    sc->pause_ms = 2000;
    sc->dims = 8;
    sc->usage = -1;
    sc->chunked = true;
    sc->retry_after = sc->retry_after_ms = sc->retry_after_date = -1;
    sc->cached = sc->reasoning = -1;
    sc->hash = 1469598103934665603ULL;
}

/* the runtime defaults (POST /_mock/defaults): parsed once, copied as the
 * starting point of every request while set */
static struct mock_scenario defaults_sc;
static bool defaults_on;

void mock_scenario_start(struct mock_scenario *sc)
{
    if (defaults_on)
        memcpy(sc, &defaults_sc, sizeof(*sc));
    else
        mock_scenario_init(sc);
}

bool mock_defaults_set(const char *s, size_t n, char *err, size_t cap)
{
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n == 0) {
        mock_defaults_clear();
        return true;
    }
    static struct mock_scenario tmp;
    mock_scenario_init(&tmp);
    mock_scenario_parse_list(&tmp, s, n, false);
    if (tmp.error[0] != '\0') {
        snprintf(err, cap, "%s", tmp.error);
        return false;
    }
    memcpy(&defaults_sc, &tmp, sizeof(tmp));
    defaults_on = true;
    return true;
}

void mock_defaults_clear(void)
{
    defaults_on = false;
}

void mock_scenario_hash(struct mock_scenario *sc, const void *p, size_t n)
{
    const unsigned char *u = p;
    uint64_t h = sc->hash;
    for (size_t i = 0; i < n; i++) {
        h ^= u[i];
        h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
    sc->hash = h;
}

const char *mock_format_name(enum mock_format f)
{
    static const char *names[] = {"openai", "openrouter", "deepinfra", "poe", "puter", "anthropic", "responses"};
    return names[f];
}

enum opt_type { T_FORMAT, T_MS, T_UINT, T_BOOL, T_USAGE, T_FAULT, T_INT, T_STR, T_JSON_OBJECT };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    size_t size; /* of strings */
};

#define O(n, t, f)                                                                                                                 \
    {                                                                                                                              \
        n, t, offsetof(struct mock_scenario, f), sizeof(((struct mock_scenario *)0)->f)                                            \
    }
static const struct opt opts[] = {
    O("format", T_FORMAT, format),
    O("latency", T_MS, latency_ms),
    O("ttft", T_MS, ttft_ms),
    O("interval", T_MS, interval_ms),
    O("split_ms", T_MS, split_ms),
    O("pause", T_MS, pause_ms),
    O("chunks", T_UINT, chunks),
    O("chunk_size", T_UINT, chunk_size),
    O("after", T_UINT, after),
    O("times", T_UINT, times),
    O("dims", T_UINT, dims),
    O("tools", T_UINT, tools),
    O("usage", T_USAGE, usage),
    O("crlf", T_BOOL, crlf),
    O("split", T_BOOL, split),
    O("comments", T_BOOL, comments),
    O("stamp", T_BOOL, stamp),
    O("chunked", T_BOOL, chunked),
    O("allow_retry", T_BOOL, allow_retry),
    O("thinking", T_BOOL, thinking),
    O("poe_replace", T_BOOL, poe_replace),
    O("poe_extras", T_BOOL, poe_extras),
    O("puter_reasoning", T_BOOL, puter_reasoning),
    O("puter_tools", T_BOOL, puter_tools),
    O("puter_noise", T_BOOL, puter_noise),
    O("puter_nonl", T_BOOL, puter_nonl),
    O("puter_array", T_BOOL, puter_array),
    O("fault", T_FAULT, fault),
    O("retry_after", T_INT, retry_after),
    O("retry_after_ms", T_INT, retry_after_ms),
    O("retry_after_date", T_INT, retry_after_date),
    O("cached", T_INT, cached),
    O("reasoning", T_INT, reasoning),
    O("reset_requests", T_STR, reset_requests),
    O("error_type", T_STR, error_type),
    O("finish", T_STR, finish),
    O("message", T_STR, message),
    O("models", T_STR, models),
    O("tool_name", T_STR, tool_name),
    O("tool_input", T_JSON_OBJECT, tool_input),
    O("tool_text", T_STR, tool_input), /* the same, unchecked: a custom tool's input */
};
#undef O

static const struct {
    const char *name;
    enum mock_fault fault;
} faults[] = {
    {"none", MOCK_FAULT_NONE},
    {"insufficient_quota", MOCK_FAULT_INSUFFICIENT_QUOTA},
    {"reset_midstream", MOCK_FAULT_RESET_MIDSTREAM},
    {"error_midstream", MOCK_FAULT_ERROR_MIDSTREAM},
    {"hang", MOCK_FAULT_HANG},
    {"hang_midstream", MOCK_FAULT_HANG_MIDSTREAM},
    {"truncate", MOCK_FAULT_TRUNCATE},
    {"slow_read", MOCK_FAULT_SLOW_READ},
    {"close_before_headers", MOCK_FAULT_CLOSE_BEFORE_HEADERS},
    {"reset_before_headers", MOCK_FAULT_RESET_BEFORE_HEADERS},
    {"poe_error_before", MOCK_FAULT_POE_ERROR_BEFORE},
    {"poe_error_after", MOCK_FAULT_POE_ERROR_AFTER},
    {"poe_no_done", MOCK_FAULT_POE_NO_DONE},
    {"puter_200_error", MOCK_FAULT_PUTER_200_ERROR},
    {"moderation", MOCK_FAULT_MODERATION},
};

const char *mock_fault_name(const struct mock_scenario *sc, char *tmp, size_t cap)
{
    if (sc->fault == MOCK_FAULT_HTTP) {
        snprintf(tmp, cap, "%d", sc->fault_status);
        return tmp;
    }
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        if (faults[i].fault == sc->fault)
            return faults[i].name;
    return "none";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* percent-decodes (and turns '+' into a space) into out; returns the
 * length, or cap + 1 when the result does not fit */
static size_t pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o == cap)
            return cap + 1;
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static bool parse_u64(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static bool eq(const char *a, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(a, lit, n) == 0;
}

static void set_error(struct mock_scenario *sc, const char *what, const char *name, size_t nlen)
{
    if (sc->error[0] == '\0')
        snprintf(sc->error, sizeof(sc->error), "mock: %s '%.*s'", what, (int)(nlen > 64 ? 64 : nlen), name);
}

#define FAIL(...)                                                                                                                  \
    do {                                                                                                                           \
        set_error(sc, __VA_ARGS__);                                                                                                \
        return;                                                                                                                    \
    } while (0)

void mock_scenario_set(struct mock_scenario *sc, const char *name, size_t nlen, const char *val, size_t vlen)
{
    const struct opt *o = NULL;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (eq(name, nlen, opts[i].name)) {
            o = &opts[i];
            break;
        }
    }
    if (o == NULL) {
        set_error(sc, "unknown option", name, nlen);
        return;
    }
    char *field = (char *)sc + o->off;
    uint64_t u;
    switch (o->type) {
    case T_FORMAT: {
        int f = -1;
        for (int i = 0; i <= MOCK_FMT_RESPONSES; i++)
            if (eq(val, vlen, mock_format_name((enum mock_format)i)))
                f = i;
        if (f < 0)
            FAIL("unknown format", val, vlen);
        sc->format = (enum mock_format)f;
        break;
    }
    case T_MS: {
        size_t n = vlen;
        uint64_t mult = 1;
        if (n > 2 && val[n - 2] == 'm' && val[n - 1] == 's') {
            n -= 2;
        } else if (n > 1 && val[n - 1] == 's') {
            n -= 1;
            mult = 1000;
        }
        if (!parse_u64(val, n, &u) || u * mult > 86400000)
            FAIL("bad duration for", name, nlen);
        *(uint32_t *)field = (uint32_t)(u * mult);
        break;
    }
    case T_UINT:
        if (!parse_u64(val, vlen, &u) || u > (field == (char *)&sc->tools ? 64 : 100000000))
            FAIL("bad number for", name, nlen);
        *(uint32_t *)field = (uint32_t)u;
        break;
    case T_BOOL:
    case T_USAGE: {
        int b;
        if (vlen == 0 || eq(val, vlen, "1") || eq(val, vlen, "true") || eq(val, vlen, "yes") || eq(val, vlen, "on"))
            b = 1;
        else if (eq(val, vlen, "0") || eq(val, vlen, "false") || eq(val, vlen, "no") || eq(val, vlen, "off"))
            b = 0;
        else
            FAIL("bad boolean for", name, nlen);
        if (o->type == T_BOOL)
            *(bool *)field = b;
        else
            *(int *)field = b;
        break;
    }
    case T_FAULT: {
        if (parse_u64(val, vlen, &u)) {
            if (u < 400 || u > 599)
                FAIL("bad fault status", val, vlen);
            sc->fault = MOCK_FAULT_HTTP;
            sc->fault_status = (int)u;
            break;
        }
        size_t i;
        for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
            if (eq(val, vlen, faults[i].name))
                break;
        if (i == sizeof(faults) / sizeof(faults[0]))
            FAIL("unknown fault", val, vlen);
        sc->fault = faults[i].fault;
        sc->fault_status = 0;
        break;
    }
    case T_INT: {
        if (!parse_u64(val, vlen, &u))
            FAIL("bad number for", name, nlen);
        *(int64_t *)field = (int64_t)u;
        break;
    }
    case T_STR:
        if (vlen >= o->size)
            FAIL("value too long for", name, nlen);
        memcpy(field, val, vlen);
        field[vlen] = '\0';
        break;
    case T_JSON_OBJECT: {
        /* sources that do not percent-decode (x-mock headers, the key, the
         * body) may still send it encoded: "%7B..." is decoded here */
        size_t n = vlen;
        if (vlen >= 3 && val[0] == '%' && val[1] == '7' && (val[2] == 'B' || val[2] == 'b'))
            n = pct_decode(val, vlen, field, o->size - 1);
        else if (vlen < o->size)
            memcpy(field, val, vlen);
        else
            n = o->size;
        if (n >= o->size) {
            field[0] = '\0';
            FAIL("value too long for", name, nlen);
        }
        field[n] = '\0';
        cJSON *j = n > 0 ? cJSON_ParseWithOpts(field, NULL, true) : NULL;
        bool object = cJSON_IsObject(j);
        cJSON_Delete(j);
        if (!object) {
            field[0] = '\0';
            FAIL("bad JSON object for", name, nlen);
        }
        break;
    }
    }

    /* remember it for the record (the last value of a name wins) */
    unsigned k;
    for (k = 0; k < sc->nset; k++)
        if (sc->set_name[k] == o->name)
            break;
    if (k == sc->nset) {
        if (sc->nset == MOCK_SC_MAX_SET)
            return;
        sc->nset++;
    }
    sc->set_name[k] = o->name;
    size_t cl = vlen < sizeof(sc->set_val[k]) - 1 ? vlen : sizeof(sc->set_val[k]) - 1;
    memcpy(sc->set_val[k], val, cl);
    sc->set_val[k][cl] = '\0';
}

void mock_scenario_parse_list(struct mock_scenario *sc, const char *s, size_t n, bool pct)
{
    mock_scenario_hash(sc, s, n);
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != ',' && s[e] != ';' && s[e] != '&')
            e++;
        if (e > i) {
            const char *item = s + i;
            size_t ilen = e - i;
            while (ilen > 0 && *item == ' ') {
                item++;
                ilen--;
            }
            const char *eqp = memchr(item, '=', ilen);
            size_t nl = eqp ? (size_t)(eqp - item) : ilen;
            const char *v = eqp ? eqp + 1 : item + ilen;
            size_t vl = eqp ? ilen - nl - 1 : 0;
            char dec[sizeof(sc->tool_input)];
            if (pct) {
                vl = pct_decode(v, vl, dec, sizeof(dec));
                v = dec;
            }
            if (nl > 0 && vl > sizeof(dec))
                set_error(sc, "value too long for", item, nl);
            else if (nl > 0)
                mock_scenario_set(sc, item, nl, v, vl);
        }
        i = e + 1;
    }
}

void mock_scenario_parse_key(struct mock_scenario *sc, const char *key, size_t n)
{
    mock_scenario_hash(sc, key, n);
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && key[e] != '-')
            e++;
        const char *seg = key + i;
        size_t sl = e - i;
        const char *eqp = memchr(seg, '=', sl);
        if (eqp != NULL && eqp > seg)
            mock_scenario_set(sc, seg, (size_t)(eqp - seg), eqp + 1, sl - (size_t)(eqp - seg) - 1);
        else if (sl > 4 && memcmp(seg, "fail", 4) == 0)
            mock_scenario_set(sc, "fault", 5, seg + 4, sl - 4);
        i = e + 1;
    }
}

/* times=N: counts per option set and key, in a small open-addressing table */
#define TIMES_CAP 8192
static struct {
    uint64_t hash;
    uint32_t count;
} times_tab[TIMES_CAP];

bool mock_times_take(uint64_t hash, uint32_t times)
{
    if (hash == 0)
        hash = 1;
    size_t i = (size_t)(hash % TIMES_CAP);
    for (size_t probe = 0; probe < TIMES_CAP; probe++, i = (i + 1) % TIMES_CAP) {
        if (times_tab[i].hash == hash || times_tab[i].hash == 0) {
            times_tab[i].hash = hash;
            if (times_tab[i].count >= times)
                return false;
            times_tab[i].count++;
            return true;
        }
    }
    return true;
}

void mock_times_reset(void)
{
    memset(times_tab, 0, sizeof(times_tab));
}
