/*
 * server/otel_span.c: a request's trace context and its spans. The context
 * is set when the request arrives (the client's traceparent continued, or a
 * new trace sampled by trace id ratio); the spans are built once the request
 * is done, from its record (server/reqlog.h), encoded at once (the record's
 * strings die with the request) and queued for the exporter (server/otel.c).
 * Only metadata goes in a span: never message content, keys or header values.
 */
#include <stdio.h>
#include <string.h>

#include "server/access_log.h"
#include "server/app.h"
#include "server/otel.h"
#include "server/otel_encode.h"
#include "server/reqlog.h"
#include "server/traceparent.h"

void llg_otel_span_id(llg_app_t *app, uint8_t id[8])
{
    uint64_t v;
    do
        v = llg_app_random(app);
    while (v == 0);
    memcpy(id, &v, 8);
}

/* TraceIdRatioBased: the trace id's last 8 bytes, as the OTel SDKs read
 * them, below sample * 2^63 (63 bits: 1.0 takes every id) */
static bool ratio_sampled(const uint8_t trace_id[16], double sample)
{
    if (sample >= 1.0)
        return true;
    if (sample <= 0.0)
        return false;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = x << 8 | trace_id[i];
    return (x >> 1) < (uint64_t)(sample * 9223372036854775808.0);
}

void llg_otel_request_start(llg_app_t *app, h2o_req_t *req)
{
    llg_reqlog_t *r = llg_reqlog_find(req);
    if (r == NULL)
        return;
    llg_traceparent_t tp;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
    /* two traceparent fields are no valid one */
    if (i != -1 && h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), i) == -1 &&
        llg_traceparent_parse(req->headers.entries[i].value.base, req->headers.entries[i].value.len, &tp)) {
        r->has_parent = true;
        memcpy(r->trace_id, tp.trace_id, 16);
        memcpy(r->parent_span_id, tp.parent_id, 8);
        r->trace_flags = tp.flags;
        r->sampled = (tp.flags & LLG_TRACE_FLAG_SAMPLED) != 0; /* parent-based */
        ssize_t j = h2o_find_header_by_str(&req->headers, H2O_STRLIT("tracestate"), -1);
        if (j != -1 && llg_tracestate_valid(req->headers.entries[j].value.base, req->headers.entries[j].value.len))
            r->tracestate = req->headers.entries[j].value;
    } else {
        uint64_t a = llg_app_random(app), b = llg_app_random(app);
        if ((a | b) == 0)
            b = 1;
        memcpy(r->trace_id, &a, 8);
        memcpy(r->trace_id + 8, &b, 8);
        r->sampled = ratio_sampled(r->trace_id, app->conf->otel.sample);
        r->trace_flags = r->sampled ? LLG_TRACE_FLAG_SAMPLED : 0;
    }
    llg_otel_span_id(app, r->span_id);
}

/* ---- the spans --------------------------------------------------------- */

/* At most `max` bytes of s, cut at a character boundary: protobuf string
 * fields must be UTF-8 (Go's decoders refuse a whole batch otherwise). */
static size_t clip_utf8(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

static void attr_strn(llg_otel_span_t *s, const char *key, const char *v, size_t n)
{
    if (v == NULL || s->nattrs == LLG_OTEL_MAX_ATTRS)
        return;
    n = clip_utf8(v, n, LLG_OTEL_MAX_STRING);
    if (!llg_utf8_valid(v, n)) /* an upstream's bytes, never checked: left out */
        return;
    s->attrs[s->nattrs++] = (llg_otel_attr_t){.key = key, .type = LLG_OTEL_ATTR_STR, .s = v, .s_len = n};
}

static void attr_str(llg_otel_span_t *s, const char *key, const char *v)
{
    if (v != NULL)
        attr_strn(s, key, v, strlen(v));
}

static void attr_int(llg_otel_span_t *s, const char *key, int64_t v)
{
    if (s->nattrs < LLG_OTEL_MAX_ATTRS)
        s->attrs[s->nattrs++] = (llg_otel_attr_t){.key = key, .type = LLG_OTEL_ATTR_INT, .i = v};
}

static void attr_double(llg_otel_span_t *s, const char *key, double v)
{
    if (s->nattrs < LLG_OTEL_MAX_ATTRS)
        s->attrs[s->nattrs++] = (llg_otel_attr_t){.key = key, .type = LLG_OTEL_ATTR_DOUBLE, .d = v};
}

/* The attributes both kinds share: the request's own and its provider. */
static void common_attrs(llg_app_t *app, llg_otel_span_t *s, const llg_reqlog_t *r, int provider, h2o_iovec_t rid)
{
    attr_str(s, "gen_ai.operation.name", r->operation);
    if (provider >= 0 && (size_t)provider < app->conf->provider_count) {
        attr_str(s, "gen_ai.provider.name", llg_provider_type_name(app->conf->providers[provider].type));
        attr_str(s, "llmgate.provider", app->conf->providers[provider].name);
    }
    if (r->has_max_tokens)
        attr_int(s, "gen_ai.request.max_tokens", r->max_tokens);
    if (r->has_temperature)
        attr_double(s, "gen_ai.request.temperature", r->temperature);
    if (r->has_top_p)
        attr_double(s, "gen_ai.request.top_p", r->top_p);
    if (rid.base != NULL)
        attr_strn(s, "llmgate.request_id", rid.base, rid.len);
}

/* The answer's attributes: on the SERVER span and the attempt that served. */
static void answer_attrs(llg_otel_span_t *s, const llg_reqlog_t *r)
{
    attr_str(s, "gen_ai.response.model", r->response_model);
    attr_str(s, "gen_ai.response.id", r->response_id);
    unsigned nfinish = r->nfinish < LLG_REQLOG_MAX_REASONS ? r->nfinish : LLG_REQLOG_MAX_REASONS;
    bool reasons_ok = nfinish > 0;
    for (unsigned k = 0; k < nfinish && reasons_ok; k++)
        reasons_ok = r->finish_reasons[k] != NULL && llg_utf8_valid(r->finish_reasons[k], strlen(r->finish_reasons[k]));
    if (reasons_ok && s->nattrs < LLG_OTEL_MAX_ATTRS)
        s->attrs[s->nattrs++] = (llg_otel_attr_t){
            .key = "gen_ai.response.finish_reasons", .type = LLG_OTEL_ATTR_STRS, .strs = r->finish_reasons, .nstrs = nfinish};
    if (r->have_usage) {
        attr_int(s, "gen_ai.usage.input_tokens", (int64_t)r->prompt_tokens);
        attr_int(s, "gen_ai.usage.output_tokens", (int64_t)r->completion_tokens);
    }
}

static void span_base(llg_otel_span_t *s, const llg_reqlog_t *r, const char *name, int kind)
{
    memcpy(s->trace_id, r->trace_id, 16);
    s->trace_state = r->tracestate.base;
    s->trace_state_len = r->tracestate.len;
    s->name = name;
    s->kind = kind;
    s->flags = r->trace_flags | LLG_TRACE_FLAG_SAMPLED;
}

static void queue_span(llg_otel_t *o, const llg_otel_span_t *s)
{
    llg_strbuf_t *b = llg_otel_scratch(o);
    b->len = 0;
    llg_otel_encode_span(b, s, llg_otel_protocol(o));
    llg_otel_enqueue(o);
}

static void attempt_span(llg_app_t *app, const llg_reqlog_t *r, unsigned i, const char *name, uint64_t now_us, h2o_iovec_t rid,
                         char status_words[][12])
{
    const llg_reqlog_attempt_t *at = &r->att[i];
    llg_otel_span_t s = {0};
    span_base(&s, r, name, LLG_OTEL_KIND_CLIENT);
    memcpy(s.span_id, at->span_id, 8);
    memcpy(s.parent_id, r->span_id, 8);
    s.has_parent = true;
    uint64_t begin = at->start_us > r->start_us ? at->start_us - r->start_us : 0;
    uint64_t end = (at->end_us != 0 ? at->end_us : now_us);
    end = end > r->start_us ? end - r->start_us : 0;
    s.start_ns = (uint64_t)r->start_unix_ns + begin * 1000;
    s.end_ns = (uint64_t)r->start_unix_ns + (end > begin ? end : begin) * 1000;
    common_attrs(app, &s, r, at->provider, rid);
    attr_str(&s, "gen_ai.request.model", at->model != NULL ? at->model : r->model);
    bool last = i + 1 == r->attempts;
    const char *err = at->error;
    if (err == NULL && at->status >= 400) {
        snprintf(status_words[i], 12, "%d", at->status);
        err = status_words[i];
    }
    if (err == NULL && at->end_us == 0)
        err = "cancelled"; /* the client left while it ran */
    if (last && err == NULL)
        answer_attrs(&s, r);
    const llg_otel_peer_t *peer = llg_otel_peer(app->otel, at->provider);
    if (peer->host != NULL) {
        attr_str(&s, "server.address", peer->host);
        attr_int(&s, "server.port", peer->port);
    }
    if (at->status != 0)
        attr_int(&s, "http.response.status_code", at->status);
    attr_int(&s, "llmgate.attempt", (int64_t)i + 1);
    if (err != NULL) {
        attr_str(&s, "error.type", err);
        s.error = true;
    }
    queue_span(app->otel, &s);
}

void llg_otel_request_end(llg_app_t *app, h2o_req_t *req, const llg_access_t *a)
{
    const llg_reqlog_t *r = a->rec;
    if (app->otel == NULL || r == NULL || !r->sampled || r->operation == NULL)
        return;
    char name[160];
    int len = r->model != NULL ? snprintf(name, sizeof(name), "%s %s", r->operation, r->model)
                               : snprintf(name, sizeof(name), "%s", r->operation);
    if (len >= (int)sizeof(name)) /* a long model name: cut at a character boundary */
        name[clip_utf8(name, sizeof(name) - 1, sizeof(name) - 2)] = '\0';
    if (!llg_utf8_valid(name, strlen(name)))
        snprintf(name, sizeof(name), "%s", r->operation);
    h2o_iovec_t rid = {NULL, 0};
    ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
    if (i != -1)
        rid = req->res.headers.entries[i].value;

    llg_otel_span_t s = {0};
    span_base(&s, r, name, LLG_OTEL_KIND_SERVER);
    memcpy(s.span_id, r->span_id, 8);
    if (r->has_parent) {
        memcpy(s.parent_id, r->parent_span_id, 8);
        s.has_parent = true;
    }
    s.start_ns = (uint64_t)r->start_unix_ns;
    s.end_ns = s.start_ns + (a->now_us > r->start_us ? a->now_us - r->start_us : 0) * 1000;
    common_attrs(app, &s, r, r->provider, rid);
    attr_str(&s, "gen_ai.request.model", r->model);
    answer_attrs(&s, r);
    attr_int(&s, "http.response.status_code", a->status);
    char word[12];
    const char *err = r->error_code;
    if (err == NULL && a->status >= 500) {
        snprintf(word, sizeof(word), "%d", a->status);
        err = word;
    }
    if (err != NULL) {
        attr_str(&s, "error.type", err);
        s.error = true;
    }
    queue_span(app->otel, &s);

    char status_words[LLG_REQLOG_MAX_ATTEMPTS][12];
    unsigned n = r->attempts < LLG_REQLOG_MAX_ATTEMPTS ? r->attempts : LLG_REQLOG_MAX_ATTEMPTS;
    for (unsigned k = 0; k < n; k++)
        attempt_span(app, r, k, name, a->now_us, rid, status_words);
}
