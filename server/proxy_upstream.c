/*
 * server/proxy_upstream.c: one upstream-client interface over libcurl and
 * llmgate's own HTTP/1.1 client (http:// and https:// upstreams,
 * server/h1_client.h), and
 * the reading of the upstream's answer (see proxy_internal.h): its status and
 * headers, its body or events into the client's buffer (through the egress
 * adapter's reader when translated), its error body, and the pause of the
 * transfer when the client's buffer is full.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/answer_meta.h"
#include "providers/json_edit.h"
#include "providers/usage.h"
#include "server/app.h"
#include "server/curl_loop.h"
#include "server/http.h"
#include "server/proxy_internal.h"

#define ERRBODY_MAX    (64 * 1024)   /* bytes of an upstream error body kept */
#define USAGE_COPY_MAX (1024 * 1024) /* a non-stream body is kept for `usage` up to this size */
#define BODY_HOLD      (16 * 1024)   /* a non-stream body is relayed as it comes only past this size */
#define WHOLE_MAX      (64u << 20)   /* a body rewritten whole (ingress whole_answer) is held up to this size */
#define META_STR_MAX   128           /* bytes of an answer's id, model or finish reason kept in the record */

/* ---- the answer's head, and its events (libcurl's header callback) ----- */

static void copy_header_value(char *dst, size_t dstsize, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= dstsize)
        len = dstsize - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* A new status line (after a 1xx, or the first) resets what was read. */
static void take_status(proxy_t *x, long status)
{
    x->status = status;
    if (status >= 200)
        proxy_first_byte(x);
    x->content_type[0] = x->hint_retry_after[0] = x->hint_retry_after_ms[0] = x->hint_reset_requests[0] = '\0';
    x->anthropic_reset[0] = '\0';
}

/* anthropic-ratelimit-*-reset: an RFC 3339 time; the latest one is kept
 * (as text: every answer has several, and only a 429 reads them) */
static void take_anthropic_reset(proxy_t *x, const char *v, size_t len)
{
    char buf[sizeof(x->anthropic_reset)];
    copy_header_value(buf, sizeof(buf), v, len);
    if (strcmp(buf, x->anthropic_reset) > 0)
        memcpy(x->anthropic_reset, buf, sizeof(buf));
}

static void take_header(proxy_t *x, const char *name, size_t nlen, const char *v, size_t vlen)
{
#define IS(lit) (nlen == sizeof(lit) - 1 && h2o_lcstris(name, nlen, lit, sizeof(lit) - 1))
    if (IS("content-type")) {
        copy_header_value(x->content_type, sizeof(x->content_type), v, vlen);
        /* only a plain media type goes to the client */
        for (const char *c = x->content_type; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                x->content_type[0] = '\0';
    } else if (IS("retry-after"))
        copy_header_value(x->hint_retry_after, sizeof(x->hint_retry_after), v, vlen);
    else if (IS("retry-after-ms"))
        copy_header_value(x->hint_retry_after_ms, sizeof(x->hint_retry_after_ms), v, vlen);
    else if (IS("x-ratelimit-reset-requests"))
        copy_header_value(x->hint_reset_requests, sizeof(x->hint_reset_requests), v, vlen);
    else if (nlen > 26 && h2o_lcstris(name + nlen - 6, 6, "-reset", 6) && h2o_lcstris(name, 20, "anthropic-ratelimit-", 20))
        take_anthropic_reset(x, v, vlen);
#undef IS
}

/* libcurl's header callback: one whole line per call */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    proxy_t *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        take_status(x, sp != NULL ? strtol(sp + 1, NULL, 10) : 0);
        x->head_ended = false;
        x->framed = n < 7 || memcmp(p, "HTTP/1.", 7) != 0 || x->status == 204 || x->status == 304;
        return n;
    }
    if ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n')) {
        x->head_ended = x->status >= 200; /* a 1xx's blank line: its answer follows */
        /* a body until the close: whole only with a close_notify over TLS */
        if (x->head_ended && !x->framed && x->tls_held == NULL)
            x->tls_held = llg_curl_tls_hold(x->easy);
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (colon != NULL) {
        size_t nlen = (size_t)(colon - p);
        x->framed = x->framed || (nlen == 14 && h2o_lcstris(p, nlen, "content-length", 14)) ||
                    (nlen == 17 && h2o_lcstris(p, nlen, "transfer-encoding", 17));
        take_header(x, p, nlen, colon + 1, n - nlen - 1);
    }
    return n;
}

/* The cached and reasoning counts go to the record as they are read (a
 * stream's last one wins, as for the other counts). */
static void take_details(proxy_t *x, const llg_usage_details_t *d)
{
    if (x->rec == NULL)
        return;
    if (d->has_cached) {
        x->rec->have_cached = true;
        x->rec->cached_tokens = d->cached_tokens;
    }
    if (d->has_reasoning) {
        x->rec->have_reasoning = true;
        x->rec->reasoning_tokens = d->reasoning_tokens;
    }
}

/* Reads `usage` from a JSON text that has one (providers/usage.h). */
void proxy_take_usage(proxy_t *x, const char *json, size_t len)
{
    llg_usage_details_t d = {0};
    if (x->relay == PROXY_RELAY_RESPONSES) {
        if (llg_usage_read_responses(json, len, &x->prompt_tokens, &x->completion_tokens)) {
            x->have_usage = true;
            if (llg_usage_read_details_responses(json, len, &d))
                take_details(x, &d);
        }
        return;
    }
    if (x->relay == PROXY_RELAY_ANTHROPIC) {
        /* Anthropic's words: input_tokens (with the cache's), output_tokens */
        uint64_t in, out;
        bool has_in, has_out;
        if (llg_usage_read_anthropic(json, len, &in, &has_in, &out, &has_out)) {
            x->prompt_tokens = has_in ? in : 0;
            x->completion_tokens = has_out ? out : 0;
            x->have_usage = true;
            if (llg_usage_read_details_anthropic(json, len, &d))
                take_details(x, &d);
        }
        return;
    }
    if (llg_usage_read(json, len, &x->prompt_tokens, &x->completion_tokens)) {
        x->have_usage = true;
        if (llg_usage_read_details(json, len, &d))
            take_details(x, &d);
    }
}

/* What the answer says about itself goes to the record, copied into the
 * request's pool: the id and model once (the first text that has them), the
 * finish reasons as they come (one per choice). */
static void take_meta(proxy_t *x, const llg_answer_meta_t *m)
{
    llg_reqlog_t *r = x->rec;
    if (r == NULL || x->req == NULL)
        return;
    if (m->id.p != NULL && r->response_id == NULL)
        r->response_id = llg_reqlog_strdup(x->req, m->id.p, m->id.len, META_STR_MAX);
    if (m->model.p != NULL && r->response_model == NULL)
        r->response_model = llg_reqlog_strdup(x->req, m->model.p, m->model.len, META_STR_MAX);
    for (unsigned i = 0; i < m->nfinish && r->nfinish < LLG_REQLOG_MAX_REASONS; i++)
        r->finish_reasons[r->nfinish++] = llg_reqlog_strdup(x->req, m->finish[i].p, m->finish[i].len, META_STR_MAX);
}

/* The parts of the answer's meta the record still lacks (LLG_META_*); none
 * unless the request is traced: only its spans show them, and reading them
 * costs a scan of every whole answer. */
static unsigned meta_wanted(const proxy_t *x)
{
    if (x->rec == NULL || x->req == NULL || !x->rec->sampled)
        return 0;
    return (x->rec->response_id == NULL && x->rec->response_model == NULL ? LLG_META_ID : 0) | LLG_META_FINISH;
}

/* The wire of the upstream's answer, as the readers of its meta know them. */
typedef enum meta_wire { WIRE_OPENAI, WIRE_ANTHROPIC, WIRE_RESPONSES, WIRE_OTHER } meta_wire_t;

static meta_wire_t upstream_wire(const proxy_t *x)
{
    if (proxy_translated(x))
        /* Poe's and Puter's answers say nothing the record keeps that their
         * translators do not (the counts) */
        return x->xl == llg_egress_for(LLG_PROVIDER_OPENAI)      ? WIRE_OPENAI
               : x->xl == llg_egress_for(LLG_PROVIDER_ANTHROPIC) ? WIRE_ANTHROPIC
                                                                 : WIRE_OTHER;
    return x->relay == PROXY_RELAY_RESPONSES ? WIRE_RESPONSES : x->relay == PROXY_RELAY_ANTHROPIC ? WIRE_ANTHROPIC : WIRE_OPENAI;
}

/* The meta of a whole answer or of one event, in the wire's words. */
static void read_meta(proxy_t *x, meta_wire_t wire, const char *json, size_t len, unsigned want)
{
    llg_answer_meta_t m;
    bool found = wire == WIRE_RESPONSES   ? llg_answer_meta_responses(json, len, want, &m)
                 : wire == WIRE_ANTHROPIC ? llg_answer_meta_anthropic(json, len, want, &m)
                 : wire == WIRE_OPENAI    ? llg_answer_meta_openai(json, len, want, &m)
                                          : false;
    if (found)
        take_meta(x, &m);
}

void proxy_take_meta(proxy_t *x, const char *json, size_t len)
{
    unsigned want = meta_wanted(x);
    if (want != 0)
        read_meta(x, upstream_wire(x), json, len, want);
}

/* An OpenAI chunk's meta: the id and model from the first chunk that names
 * its model, the finish reasons from a chunk that has one that is a string
 * (cheap scans first: most chunks have neither). */
static void take_chunk_meta(proxy_t *x, const char *data, size_t len)
{
    unsigned want = meta_wanted(x);
    if ((want & LLG_META_ID) && memmem(data, len, "\"model\"", 7) == NULL)
        want &= ~(unsigned)LLG_META_ID;
    if ((want & LLG_META_FINISH) && !llg_answer_meta_may_finish(data, len))
        want &= ~(unsigned)LLG_META_FINISH;
    if (want != 0)
        read_meta(x, WIRE_OPENAI, data, len, want);
}

/* An Anthropic event's meta: message_start has the id and model,
 * message_delta the stop reason. */
static void take_anthropic_meta(proxy_t *x, const char *data, size_t len, bool start)
{
    unsigned want = meta_wanted(x) & (start ? LLG_META_ID : LLG_META_FINISH);
    if (want != 0)
        read_meta(x, WIRE_ANTHROPIC, data, len, want);
}

/* A new attempt: the record describes the answer that is relayed, not one
 * of an attempt that failed before it */
static void reset_meta(proxy_t *x)
{
    llg_reqlog_t *r = x->rec;
    if (r == NULL)
        return;
    r->response_id = r->response_model = NULL;
    r->nfinish = 0;
    r->have_cached = r->have_reasoning = false;
    r->cached_tokens = r->reasoning_tokens = 0;
}

/* Anthropic's stream relayed as it is: message_stop is its end, `error` its
 * own error event; usage comes in message_start (input) and message_delta
 * (output). */
static void on_anthropic_event(proxy_t *x, const llg_sse_event_t *ev)
{
#define NAMED(lit) (ev->name_len == sizeof(lit) - 1 && memcmp(ev->name, lit, sizeof(lit) - 1) == 0)
    if (NAMED("message_stop")) {
        x->saw_done = true;
    } else if (NAMED("error")) {
        x->saw_error = true;
        x->saw_done = true; /* Anthropic ends the stream there */
    } else if (NAMED("message_start") || NAMED("message_delta")) {
        uint64_t in, out;
        bool has_in, has_out;
        if (llg_usage_read_anthropic(ev->data, ev->data_len, &in, &has_in, &out, &has_out)) {
            if (has_in)
                x->prompt_tokens = in;
            if (has_out)
                x->completion_tokens = out;
            x->have_usage = true;
            llg_usage_details_t d = {0};
            if (llg_usage_read_details_anthropic(ev->data, ev->data_len, &d))
                take_details(x, &d);
        }
        take_anthropic_meta(x, ev->data, ev->data_len, NAMED("message_start"));
    }
#undef NAMED
}

/* The Responses API's stream relayed as it is: it ends with
 * response.completed or response.incomplete (which carry the usage), or with
 * the upstream's own response.failed or `error` event; there is no [DONE].
 * The event's name is its data's `type` (read there when a server sends no
 * `event:` line). */
static void on_responses_event(proxy_t *x, const llg_sse_event_t *ev)
{
    const char *name = ev->name;
    size_t n = ev->name_len;
    if (n == 0 && llg_json_member(ev->data, ev->data_len, "type", &name, &n) && n >= 2 && name[0] == '"') {
        name++;
        n -= 2;
    }
#define NAMED(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, sizeof(lit) - 1) == 0)
    if (NAMED("response.completed") || NAMED("response.incomplete")) {
        x->saw_done = true;
        if (llg_usage_read_responses(ev->data, ev->data_len, &x->prompt_tokens, &x->completion_tokens)) {
            x->have_usage = true;
            llg_usage_details_t d = {0};
            if (llg_usage_read_details_responses(ev->data, ev->data_len, &d))
                take_details(x, &d);
        }
        proxy_take_meta(x, ev->data, ev->data_len);
    } else if (NAMED("response.failed") || NAMED("error")) {
        x->saw_error = true;
        x->saw_done = true;
        if (NAMED("response.failed")) /* its response: id, model, status failed */
            proxy_take_meta(x, ev->data, ev->data_len);
    }
#undef NAMED
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    proxy_t *x = ctx;
    if (x->relay != PROXY_RELAY_NONE) {
        if (ev->has_data && x->relay == PROXY_RELAY_ANTHROPIC)
            on_anthropic_event(x, ev);
        else if (ev->has_data)
            on_responses_event(x, ev);
        llg_strbuf_append(&x->out[x->cur], ev->raw, ev->raw_len);
        return 0;
    }
    if (ev->has_data) {
        /* an error-only event ({"error":...}) tells the client why the stream
         * ends; an error inside a chunk (OpenRouter) may not reach every client */
        if (ev->data_len > 8 && memcmp(ev->data, "{\"error\":", 9) == 0)
            x->saw_error = true;
        if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
            x->saw_done = true;
        } else {
            take_chunk_meta(x, ev->data, ev->data_len);
            if (llg_usage_may_have(ev->data, ev->data_len)) {
                bool had = x->have_usage;
                x->have_usage = false;
                proxy_take_usage(x, ev->data, ev->data_len);
                /* the usage-only chunk llmgate asked for is not shown to a client that did not */
                if (x->have_usage && x->add_usage && memmem(ev->data, ev->data_len, "\"choices\":[]", 12) != NULL)
                    return 0;
                x->have_usage = x->have_usage || had;
            }
        }
        /* OpenAI adds "usage":null to every chunk once usage is asked for: a
         * client that did not ask does not see it */
        static const char usage_null[] = ",\"usage\":null";
        const char *u;
        if (x->add_usage && (u = llg_usage_find_null(ev->raw, ev->raw_len)) != NULL) {
            size_t head = (size_t)(u - ev->raw), skip = sizeof(usage_null) - 1;
            llg_strbuf_append(&x->out[x->cur], ev->raw, head);
            llg_strbuf_append(&x->out[x->cur], u + skip, ev->raw_len - head - skip);
            return 0;
        }
    }
    llg_strbuf_append(&x->out[x->cur], ev->raw, ev->raw_len);
    return 0;
}

/* ---- translated upstreams (egress adapters) ---------------------------- */

bool proxy_translated(const proxy_t *x)
{
    return x->xl_reader != NULL;
}

static int xl_feed(proxy_t *x, const char *p, size_t n, llg_xlate_error_t *err)
{
    return x->xl->feed(x->xl_reader, p, n, &x->out[x->cur], err);
}

int proxy_xl_end(proxy_t *x, llg_xlate_error_t *err)
{
    return x->xl->end(x->xl_reader, &x->out[x->cur], err);
}

void proxy_xl_usage(proxy_t *x)
{
    bool estimated;
    x->xl->usage(x->xl_reader, &x->prompt_tokens, &x->completion_tokens, &estimated);
    x->have_usage = true;
}

void proxy_xl_tap(void *ctx, const char *name, size_t name_len, const char *data, size_t len)
{
    proxy_t *x = ctx;
    if (x->rec == NULL)
        return;
    meta_wire_t wire = upstream_wire(x);
    llg_usage_details_t d = {0};
    if (name == NULL) { /* a whole answer */
        proxy_take_meta(x, data, len);
        if (wire == WIRE_OPENAI ? llg_usage_read_details(data, len, &d)
                                : wire == WIRE_ANTHROPIC && llg_usage_read_details_anthropic(data, len, &d))
            take_details(x, &d);
        return;
    }
    if (wire == WIRE_ANTHROPIC) {
        bool start = name_len == 13 && memcmp(name, "message_start", 13) == 0;
        if (start || (name_len == 13 && memcmp(name, "message_delta", 13) == 0)) {
            take_anthropic_meta(x, data, len, start);
            if (llg_usage_read_details_anthropic(data, len, &d))
                take_details(x, &d);
        }
    } else if (wire == WIRE_OPENAI) {
        take_chunk_meta(x, data, len);
        if (llg_usage_may_have(data, len) && llg_usage_read_details(data, len, &d))
            take_details(x, &d);
    }
}

/* ---- the answer's body (libcurl's write callback) ---------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    proxy_t *x = ud;
    size_t n = size * nmemb;
    if (x->req == NULL)
        return 0;
    if (x->status < 200 || x->status >= 300) {
        if (x->errbody.len < ERRBODY_MAX)
            llg_strbuf_append(&x->errbody, p, n < ERRBODY_MAX - x->errbody.len ? n : ERRBODY_MAX - x->errbody.len);
        return n;
    }
    /* take all of a delivery or none: curl delivers the same bytes again after a pause */
    if (x->sending && x->out[x->cur].len >= HIGH_WATER) {
        x->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (x->app->idle_timeout != NULL) {
        h2o_timeout_unlink(&x->t_idle);
        h2o_timeout_link(x->app->ctx.loop, x->app->idle_timeout, &x->t_idle);
    }
    if (proxy_translated(x)) {
        size_t before = x->out[x->cur].len;
        if (xl_feed(x, p, n, &x->xl_err) != 0) {
            /* handled in on_done, outside curl's callbacks, where a retry may start */
            x->xl_failed = true;
            if (x->xl_err.http_status == 0 && !x->committed)
                proxy_commit(x);
            return 0;
        }
        if (x->out[x->cur].len > before) {
            if (!x->committed)
                proxy_commit(x);
            x->upstream_started = true;
            proxy_flush(x);
        }
        return n;
    }
    /* a non-stream answer is committed when it is sent: whole, with its
     * length, or in parts once it passed BODY_HOLD */
    if (!x->committed && x->stream)
        proxy_commit(x);
    x->upstream_started = true;
    if (x->stream) {
        if (llg_sse_feed(&x->sse, p, n, on_event, x) != 0) {
            proxy_fail_committed(x, "upstream_protocol_error", "The upstream sent an event larger than 1 MiB.");
            return 0;
        }
    } else {
        /* a non-stream body goes out whole with the final send (one write
         * with the head and the last chunk; no proceed round trip); only a
         * large one is relayed as it comes, and then copied for `usage` */
        llg_strbuf_t *b = &x->out[x->cur];
        llg_strbuf_append(b, p, n);
        if (x->body_sent) {
            if (x->copy.len + n <= USAGE_COPY_MAX)
                llg_strbuf_append(&x->copy, p, n);
        } else if (x->in->whole_answer != NULL) {
            /* rewritten in the client's protocol at the end: held whole */
            if (b->len <= WHOLE_MAX)
                return n;
            proxy_fail_committed(x, "upstream_protocol_error", "The upstream provider's answer is larger than 64 MiB.");
            return 0;
        } else if (b->len < BODY_HOLD) {
            return n;
        } else {
            x->body_sent = true;
            if (b->len <= USAGE_COPY_MAX)
                llg_strbuf_append(&x->copy, b->data, b->len);
        }
        if (!x->committed)
            proxy_commit(x);
    }
    proxy_flush(x);
    return n;
}

static void on_done(CURL *easy, CURLcode result, void *data)
{
    proxy_t *x = data;
    (void)easy;
    /* curl_loop removed the handle; it is ours to reuse */
    llg_curl_easy_put(x->app->curl, x->easy);
    x->easy = NULL;
    /* libcurl 7.88 ends a transfer whose head was cut by the upstream's close
     * (after the status line, before the blank line) with CURLE_OK and that
     * status: an empty 200 for the client. The own client's verdict for the
     * same cut (server/h1_client.c read_head()); found by
     * tests/integration/upstream-tls-hostile.test.mjs, cuthead */
    if (result == CURLE_OK && !x->head_ended)
        result = CURLE_RECV_ERROR;
    /* a body delimited by the close, over TLS, cut by a TCP close without
     * the upstream's close_notify (which libcurl 7.88 reads as the end):
     * as on the own client (server/h1_client.c decode_body(); found by
     * tests/integration/upstream-tls-hostile.test.mjs, http10cut) */
    if (x->tls_held != NULL) {
        if (!llg_curl_tls_release(x->tls_held) && result == CURLE_OK)
            result = CURLE_PARTIAL_FILE;
        x->tls_held = NULL;
    }
    proxy_attempt_done(x, result);
}

/* ---- the h1 client's callbacks ----------------------------------------- */

static void on_h1_status(void *ud, int status)
{
    take_status(ud, status);
}

static void on_h1_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    take_header(ud, name, nlen, value, vlen);
}

static size_t on_h1_data(void *ud, char *p, size_t n)
{
    size_t r = on_write(p, 1, n, ud);
    return r == CURL_WRITEFUNC_PAUSE ? LLG_H1_PAUSE : r;
}

static void on_h1_done(void *ud, CURLcode result)
{
    proxy_t *x = ud;
    x->h1 = NULL;
    proxy_attempt_done(x, result);
}

static const llg_h1_callbacks_t h1_callbacks = {on_h1_status, on_h1_header, on_h1_data, on_h1_done};

/* ---- the transfer ------------------------------------------------------ */

int proxy_upstream_post(proxy_t *x, const llg_conf_provider_t *p, const char *url, h2o_iovec_t body, const char *key,
                        size_t key_len)
{
    llg_app_t *app = x->app;
    const llg_conf_t *conf = app->conf;
    /* https:// comes here when its TLS context was built (not with
     * LLMGATE_UPSTREAM_HTTP2=1: HTTP/2 is libcurl's) */
    bool https = strncmp(url, "https://", 8) == 0;
    x->attempt_start_us = llg_http_now_us();
    reset_meta(x);
    llg_h1_tls_t *tls = https ? app->h1_tls[p - conf->providers] : NULL;
    if (app->h1 != NULL && (!https || tls != NULL) && llg_h1_takes(app->h1, url)) {
        proxy_header_lines(x, p, key, key_len, true);
        x->via_h1 = true;
        x->h1 = llg_h1_post(app->h1, url, tls, &app->caps[p - conf->providers], h2o_iovec_init(x->hbuf.data, x->hbuf.len), body,
                            &h1_callbacks, x);
        memset(x->hbuf.data, 0, x->hbuf.cap); /* the client has its own copy */
        x->hbuf.len = 0;
        x->attempts++;
        return x->h1 == NULL ? 1 : 0;
    }
    x->via_h1 = false;
    CURL *easy = llg_curl_easy_get(app->curl);
    if (easy == NULL)
        return -1;
    x->headers = proxy_build_headers(x, p, key, key_len);
    if (x->headers == NULL) {
        llg_curl_easy_put(app->curl, easy);
        return -1;
    }
    char tls_url[2048]; /* the URL with tls.server_name for its host */
    curl_easy_setopt(easy, CURLOPT_URL,
                     llg_curl_tls_setup(app->curl, easy, (int)(p - conf->providers), url, tls_url, sizeof(tls_url)));
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.base);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    if (conf->timeouts.connect_ms > 0)
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)conf->timeouts.connect_ms);
    if (app->upstream_http2) {
        /* HTTP/2 over TLS when the upstream offers it (ALPN), one connection
         * multiplexed; cleartext upstreams stay on HTTP/1.1 */
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    x->easy = easy;
    x->head_ended = x->framed = false;
    x->attempts++;
    if (llg_curl_add(app->curl, easy, &app->caps[p - conf->providers], on_done, x) != 0) {
        llg_curl_easy_put(app->curl, easy);
        x->easy = NULL;
        return 1;
    }
    return 0;
}

void proxy_upstream_resume(proxy_t *x)
{
    if (x->h1 != NULL)
        llg_h1_resume(x->h1);
    else
        llg_curl_resume(x->app->curl, x->easy);
}

bool proxy_upstream_queued(const proxy_t *x)
{
    return x->h1 != NULL ? llg_h1_queued(x->h1) : x->easy != NULL && llg_curl_queued(x->easy);
}

void proxy_upstream_cancel(proxy_t *x)
{
    if (x->easy != NULL) {
        llg_curl_cancel_and_free(x->app->curl, x->easy);
        x->easy = NULL;
    }
    if (x->tls_held != NULL) {
        llg_curl_tls_release(x->tls_held);
        x->tls_held = NULL;
    }
    if (x->h1 != NULL) {
        llg_h1_cancel(x->h1);
        x->h1 = NULL;
    }
}
