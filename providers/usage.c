/*
 * providers/usage.c: the token-count reader of OpenAI-form JSON, and of
 * Anthropic's and the Responses API's, with the cached and reasoning counts
 * (see usage.h).
 */
#include "providers/usage.h"

#include <stdlib.h>
#include <string.h>

#include "providers/json_edit.h"

static const char *json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The first `"usage"` in [p, e), or NULL. By its letter u: fewer stops than
 * memmem's setup and hash scan cost on a 250-byte chunk. */
static const char *find_usage_key(const char *p, const char *e)
{
    if (e - p < 7)
        return NULL;
    for (const char *q = p + 1; q < e && (q = memchr(q, 'u', (size_t)(e - q))) != NULL; q++)
        if (q[-1] == '"' && (size_t)(e - q) >= 6 && memcmp(q, "usage\"", 6) == 0)
            return q - 1;
    return NULL;
}

const char *llg_usage_find_null(const char *p, size_t n)
{
    const char *e = p + n;
    for (const char *q = p; (q = find_usage_key(q, e)) != NULL; q += 7)
        if (q > p && q[-1] == ',' && (size_t)(e - q) >= 12 && memcmp(q + 7, ":null", 5) == 0)
            return q - 1;
    return NULL;
}

bool llg_usage_may_have(const char *p, size_t n)
{
    const char *e = p + n, *q = p;
    while ((q = find_usage_key(q, e)) != NULL) {
        q = json_ws(q + 7, e);
        if (q < e && *q == ':') {
            q = json_ws(q + 1, e);
            if (q < e && *q == '{')
                return true;
        }
    }
    return false;
}

/* A token count: member `key` of the JSON object text [o, o + n) when it is
 * a number; -1 when there is no such number. */
static int64_t json_count(const char *o, size_t n, const char *key)
{
    const char *v;
    size_t len;
    if (!llg_json_member(o, n, key, &v, &len) || len == 0 || len > 31 || (*v != '-' && (*v < '0' || *v > '9')))
        return -1;
    uint64_t x = 0;
    size_t i = 0;
    while (i < len && i < 12 && v[i] >= '0' && v[i] <= '9')
        x = x * 10 + (uint64_t)(v[i++] - '0');
    if (i == len)
        return (int64_t)x; /* the usual case: a plain integer */
    char buf[32];
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + len)
        return -1;
    return d > 0 && d < 1e12 ? (int64_t)d : 0;
}

bool llg_usage_read(const char *json, size_t len, uint64_t *prompt_tokens, uint64_t *completion_tokens)
{
    const char *uv = NULL;
    size_t ulen = 0;
    /* the top-level member only: a non-stream answer is not parsed whole
     * for two numbers */
    if (!llg_json_member(json, len, "usage", &uv, &ulen))
        return false;
    int64_t pt = json_count(uv, ulen, "prompt_tokens"), ct = json_count(uv, ulen, "completion_tokens");
    if (pt < 0 && ct < 0)
        return false;
    *prompt_tokens = pt > 0 ? (uint64_t)pt : 0;
    *completion_tokens = ct > 0 ? (uint64_t)ct : 0;
    return true;
}

/* The top-level `usage` member, else the `usage` of the top-level member
 * `outer` (the object an event wraps: Anthropic's message, the Responses
 * API's response). */
static bool find_usage(const char *json, size_t len, const char *outer, const char **uv, size_t *ulen)
{
    const char *ov;
    size_t olen;
    return llg_json_member(json, len, "usage", uv, ulen) ||
           (llg_json_member(json, len, outer, &ov, &olen) && llg_json_member(ov, olen, "usage", uv, ulen));
}

bool llg_usage_read_anthropic(const char *json, size_t len, uint64_t *input, bool *has_input, uint64_t *output, bool *has_output)
{
    const char *uv;
    size_t ulen;
    *has_input = *has_output = false;
    /* message_delta: a top-level usage; message_start: message.usage */
    if (!find_usage(json, len, "message", &uv, &ulen))
        return false;
    int64_t in = json_count(uv, ulen, "input_tokens"), out = json_count(uv, ulen, "output_tokens");
    int64_t cc = json_count(uv, ulen, "cache_creation_input_tokens"), cr = json_count(uv, ulen, "cache_read_input_tokens");
    if (in >= 0) {
        *input = (uint64_t)in + (cc > 0 ? (uint64_t)cc : 0) + (cr > 0 ? (uint64_t)cr : 0);
        *has_input = true;
    }
    if (out >= 0) {
        *output = (uint64_t)out;
        *has_output = true;
    }
    return *has_input || *has_output;
}

bool llg_usage_read_responses(const char *json, size_t len, uint64_t *input, uint64_t *output)
{
    const char *uv;
    size_t ulen;
    /* a whole response: a top-level usage; response.completed: response.usage */
    if (!find_usage(json, len, "response", &uv, &ulen))
        return false;
    int64_t in = json_count(uv, ulen, "input_tokens"), out = json_count(uv, ulen, "output_tokens");
    if (in < 0 && out < 0)
        return false;
    *input = in > 0 ? (uint64_t)in : 0;
    *output = out > 0 ? (uint64_t)out : 0;
    return true;
}

/* The count `key` of the object member `outer` of the usage object [uv, uv
 * + ulen): usage.prompt_tokens_details.cached_tokens and its kin. */
static bool nested_count(const char *uv, size_t ulen, const char *outer, const char *key, uint64_t *out)
{
    const char *ov;
    size_t olen;
    if (!llg_json_member(uv, ulen, outer, &ov, &olen))
        return false;
    int64_t v = json_count(ov, olen, key);
    if (v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* Both finer counts of a usage object, each from its own details object. */
static bool read_details(const char *uv, size_t ulen, const char *in_details, const char *out_details, llg_usage_details_t *d)
{
    bool found = false;
    if (nested_count(uv, ulen, in_details, "cached_tokens", &d->cached_tokens))
        found = d->has_cached = true;
    if (nested_count(uv, ulen, out_details, "reasoning_tokens", &d->reasoning_tokens))
        found = d->has_reasoning = true;
    return found;
}

bool llg_usage_read_details(const char *json, size_t len, llg_usage_details_t *d)
{
    const char *uv;
    size_t ulen;
    return llg_json_member(json, len, "usage", &uv, &ulen) &&
           read_details(uv, ulen, "prompt_tokens_details", "completion_tokens_details", d);
}

bool llg_usage_read_details_anthropic(const char *json, size_t len, llg_usage_details_t *d)
{
    const char *uv;
    size_t ulen;
    if (!find_usage(json, len, "message", &uv, &ulen))
        return false;
    int64_t cr = json_count(uv, ulen, "cache_read_input_tokens");
    if (cr < 0)
        return false;
    d->cached_tokens = (uint64_t)cr;
    d->has_cached = true;
    return true;
}

bool llg_usage_read_details_responses(const char *json, size_t len, llg_usage_details_t *d)
{
    const char *uv;
    size_t ulen;
    return find_usage(json, len, "response", &uv, &ulen) &&
           read_details(uv, ulen, "input_tokens_details", "output_tokens_details", d);
}
