/*
 * tests/unit/adapter_util.h: what the adapter tests (test_adapters.c,
 * test_responses.c, test_ollama.c) share: the wire fixtures (tests/fixtures,
 * found beside the tests/conf directory meson passes as argv[1]), cJSON
 * getters that accept anything, a client request read into the canonical
 * request and compared to a golden one (or refused, naming the field),
 * running an egress reader over an upstream answer fed in pieces, and
 * blanking the members that vary from run to run (times, durations).
 */
#ifndef LLG_TEST_ADAPTER_UTIL_H
#define LLG_TEST_ADAPTER_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/egress.h"
#include "providers/strbuf.h"
#include "tests/test.h"

static char adapter_fixtures_dir_[1024];

/* argv[1] is tests/conf; the wire fixtures are beside it */
static inline void adapter_fixtures_init(int argc, char **argv)
{
    snprintf(adapter_fixtures_dir_, sizeof(adapter_fixtures_dir_), "%s/../fixtures", argc > 1 ? argv[1] : "tests/conf");
}

/* The fixture `name` (below tests/fixtures), NUL-ended; exits when missing. */
static inline char *read_fixture(const char *name, size_t *len)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", adapter_fixtures_dir_, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- cJSON getters: NULL (or -1) for anything that is not there ----------- */

static inline const cJSON *oget(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static inline const char *sget(const cJSON *o, const char *name)
{
    const cJSON *v = oget(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double nget(const cJSON *o, const char *name)
{
    const cJSON *v = oget(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static inline const cJSON *aget(const cJSON *a, int i)
{
    return cJSON_IsArray(a) ? cJSON_GetArrayItem(a, i) : NULL;
}

/* ---- golden JSON ------------------------------------------------------------ */

/* `got` equals the JSON text `want` (members in any order); prints both when
 * not. */
static inline bool json_is(const cJSON *got, const char *want)
{
    cJSON *w = cJSON_Parse(want);
    if (w == NULL) {
        fprintf(stderr, "the expected JSON does not parse: %s\n", want);
        return false;
    }
    bool same = got != NULL && cJSON_Compare(w, got, true);
    if (!same) {
        char *g = got != NULL ? cJSON_PrintUnformatted(got) : NULL;
        fprintf(stderr, "  got:  %s\n  want: %s\n", g != NULL ? g : "(null)", want);
        cJSON_free(g);
    }
    cJSON_Delete(w);
    return same;
}

/* A client request into the canonical request, as llg_responses_parse,
 * llg_ollama_parse_chat, ...; the last failure's message and field are in
 * parse_err_ and parse_param_. */
typedef cJSON *(*adapter_parse_fn)(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

static char parse_err_[512], parse_param_[128];

static inline cJSON *parse_with(adapter_parse_fn parse, const char *body)
{
    parse_err_[0] = parse_param_[0] = '\0';
    return parse(body, strlen(body), parse_err_, sizeof(parse_err_), parse_param_, sizeof(parse_param_));
}

/* The canonical form of `body` is the JSON text `want`. */
static inline bool canonical_is(adapter_parse_fn parse, const char *body, const char *want)
{
    cJSON *c = parse_with(parse, body);
    if (c == NULL)
        fprintf(stderr, "  refused: %s (param %s)\n", parse_err_, parse_param_);
    bool same = c != NULL && json_is(c, want);
    cJSON_Delete(c);
    return same;
}

/* `body` is refused, naming `param`, with a message. */
static inline bool refused(adapter_parse_fn parse, const char *body, const char *param)
{
    cJSON *c = parse_with(parse, body);
    bool ok = c == NULL && strcmp(parse_param_, param) == 0 && parse_err_[0] != '\0';
    if (!ok)
        fprintf(stderr, "  %s: %s, param \"%s\" (want \"%s\"): %s\n", body, c != NULL ? "accepted" : "refused", parse_param_, param,
                parse_err_);
    cJSON_Delete(c);
    return ok;
}

/* ---- what varies from run to run -------------------------------------------- */

/* In the `len` bytes of `b`, the values of the members that vary from run to
 * run, whatever the protocol: `"<name>":<digits>` -> `"<name>":0` for the
 * times in seconds (created, created_at) and Ollama's durations, and
 * `"created_at":"<text>"` -> `"created_at":""` for Ollama's time. */
static inline void blank_varying(llg_strbuf_t *b)
{
    static const char *const names[] = {"\"created\":", "\"created_at\":", "\"total_duration\":", "\"eval_duration\":"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        llg_strbuf_t in = {0}, o = {0};
        llg_strbuf_append(&in, b->data != NULL ? b->data : "", b->len); /* NUL-ended */
        const char *p = in.data, *q;
        while ((q = strstr(p, names[k])) != NULL) {
            q += strlen(names[k]);
            llg_strbuf_append(&o, p, (size_t)(q - p));
            if (*q == '"') {
                const char *e = strchr(q + 1, '"');
                llg_strbuf_appends(&o, "\"\"");
                q = e != NULL ? e + 1 : q + strlen(q);
            } else {
                llg_strbuf_appends(&o, "0");
                while (*q >= '0' && *q <= '9')
                    q++;
            }
            p = q;
        }
        llg_strbuf_appends(&o, p);
        llg_strbuf_free(&in);
        llg_strbuf_free(b);
        *b = o;
    }
}

/* ---- running an egress reader ---------------------------------------------- */

typedef struct run {
    int rc;
    llg_xlate_error_t err;
    llg_strbuf_t out;
    uint64_t prompt, completion;
    bool estimated;
} run_t;

/* Feeds `in` in pieces: the first `cut` bytes, then (step > 0) `step` bytes
 * at a time, else the rest; then the end. A failure must be repeated by the
 * end, which then writes nothing (else rc is -99). The output's varying
 * members are blanked (blank_varying). */
static inline void run_egress(const llg_egress_t *eg, const llg_xlate_params_t *params, const char *in, size_t len, size_t cut,
                              size_t step, run_t *r)
{
    memset(r, 0, sizeof(*r));
    void *s = eg->open(params);
    r->rc = eg->feed(s, in, cut, &r->out, &r->err);
    size_t pos = cut;
    while (r->rc == 0 && pos < len) {
        size_t n = step > 0 && len - pos > step ? step : len - pos;
        r->rc = eg->feed(s, in + pos, n, &r->out, &r->err);
        pos += n;
    }
    if (r->rc == 0) {
        r->rc = eg->end(s, &r->out, &r->err);
    } else {
        llg_xlate_error_t again;
        size_t before = r->out.len;
        if (eg->end(s, &r->out, &again) != -1 || r->out.len != before || again.http_status != r->err.http_status) {
            fprintf(stderr, "end after a failure: not the same failure\n");
            r->rc = -99;
        }
    }
    eg->usage(s, &r->prompt, &r->completion, &r->estimated);
    eg->close(s);
    blank_varying(&r->out);
}

/* Runs `in` whole, then cut at every byte, then byte by byte: every output
 * and result must be the first one's (left in `whole`). Returns the number
 * of differing runs. */
static inline int run_every_split(const llg_egress_t *eg, const llg_xlate_params_t *params, const char *in, size_t len,
                                  run_t *whole)
{
    run_egress(eg, params, in, len, len, 0, whole);
    int bad = 0;
    for (size_t cut = 0; cut <= len + 1; cut++) {
        run_t r;
        if (cut <= len)
            run_egress(eg, params, in, len, cut, 0, &r);
        else
            run_egress(eg, params, in, len, 0, 1, &r);
        if (r.rc != whole->rc || r.out.len != whole->out.len ||
            (r.out.len > 0 && memcmp(r.out.data, whole->out.data, r.out.len) != 0) || r.err.http_status != whole->err.http_status ||
            strcmp(r.err.code, whole->err.code) != 0 || r.prompt != whole->prompt || r.completion != whole->completion) {
            if (bad++ == 0)
                fprintf(stderr, "output differs when cut at %zu%s\n", cut, cut > len ? " (byte by byte)" : "");
        }
        llg_strbuf_free(&r.out);
    }
    return bad;
}

#endif
