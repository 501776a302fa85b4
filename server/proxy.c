/*
 * server/proxy.c: the relay to openai-type upstreams (see proxy.h).
 *
 * One proxy_t lives for one client request. It is malloc'ed, not in the
 * request's pool, because curl may still hold it for a moment after the
 * client went away; it is freed at a point where neither h2o nor curl can
 * call back into it (llg_curl_defer_free).
 *
 * Relay: upstream bytes go into the accumulating buffer; when no send is in
 * flight the buffer is handed to h2o_send() and the other buffer accumulates
 * (h2o's proxy.c double buffer). When the accumulating buffer passes the high
 * water mark while a send is in flight, curl is paused and resumed from the
 * generator's proceed, so a slow client holds at most two buffers per stream.
 */
#include "server/proxy.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"
#include "providers/json_edit.h"
#include "providers/messages.h"
#include "providers/openai_form.h"
#include "providers/poe.h"
#include "providers/puter.h"
#include "providers/sse.h"
#include "providers/translate.h"
#include "providers/usage.h"
#include "server/auth.h"
#include "server/chat.h"
#include "server/curl_loop.h"
#include "server/h1_client.h"
#include "server/http.h"
#include "server/log.h"
#include "server/respond.h"
#include "server/route.h"
#include "providers/strbuf.h"

#define HIGH_WATER     (64 * 1024)   /* pause the upstream past this much unsent data */
#define ERRBODY_MAX    (64 * 1024)   /* bytes of an upstream error body kept */
#define USAGE_COPY_MAX (1024 * 1024) /* a non-stream body is kept for `usage` up to this size */
#define BODY_HOLD      (16 * 1024)   /* a non-stream body is relayed as it comes only past this size */
#define MAX_CHAIN      16
#define MAX_TRIED      16
#define MAX_HNODES     12 /* upstream request header lines without an allocation */

static const char *const endpoint_paths[] = {"/chat/completions", "/completions", "/embeddings", "/images/generations"};

typedef struct proxy {
    h2o_generator_t super;
    llg_app_t *app;
    h2o_req_t *req; /* NULL once the client is gone or the response is final */
    llg_endpoint_t endpoint;
    cJSON *root;
    h2o_iovec_t client_body;
    char *model;
    bool stream, client_usage, add_usage;
    int token;
    bool authenticated; /* false: the token check was skipped (passthrough) */
    h2o_iovec_t request_id;
    h2o_iovec_t client_key; /* passthrough bearer, or the client_key_header value */

    int chain[MAX_CHAIN];
    size_t nchain, chain_pos;
    unsigned attempts;
    int32_t tried[MAX_TRIED];
    size_t ntried;
    uint64_t retry_after_ms; /* smallest wait seen when every key was cooling */
    bool all_cooling;
    int last_status;       /* status of the last upstream answer; 0 none */
    bool last_was_timeout; /* the last attempt timed out */

    /* the attempt in progress: on libcurl, or on the h1 client (http:// upstreams) */
    CURL *easy;
    llg_h1_transfer_t *h1;
    struct curl_slist *headers; /* hnodes, or hnodes_heap when they do not fit */
    struct curl_slist hnodes[MAX_HNODES];
    struct curl_slist *hnodes_heap;
    llg_strbuf_t hbuf; /* the header lines that are not constant; wiped after the attempt */
    llg_strbuf_t body;
    int provider;
    bool has_pick;
    llg_pool_pick_t pick;
    long status;
    char content_type[128];
    char hint_retry_after[96], hint_retry_after_ms[32], hint_reset_requests[32];
    llg_strbuf_t errbody;

    /* poe and puter: the translator of the attempt in progress */
    llg_poe_stream_t *poe;
    llg_puter_stream_t *puter;
    bool xl_failed;   /* the translator reported an upstream error (in xl_err) */
    bool has_last_xl; /* xl_err holds the error of the last translated attempt */
    llg_xlate_error_t xl_err;

    /* towards the client */
    bool committed;        /* the response was started */
    bool upstream_started; /* a byte of an upstream answer reached the client buffer */
    llg_strbuf_t out[2];
    int cur;      /* the buffer accumulating; out[1 - cur] is in flight when sending */
    bool sending; /* an h2o_send is waiting for proceed */
    bool paused;  /* curl is paused on backpressure */
    bool upstream_done;
    bool error_end; /* end the response with H2O_SEND_STATE_ERROR */
    llg_sse_reader_t sse;
    bool saw_done;
    bool saw_error;             /* the upstream sent an error event of its own */
    llg_outcome_t last_outcome; /* of the last attempt that ended */
    bool have_usage;
    uint64_t prompt_tokens, completion_tokens;
    llg_strbuf_t copy; /* non-stream body, for usage, once a part of it was sent */
    bool body_sent;    /* a part of the non-stream body was handed to h2o */
    bool stream_counted;

    h2o_timeout_entry_t t_request, t_idle, t_ping, t_gone;
    /* in the request's pool: tells the proxy when h2o disposes of the request
     * (a client that leaves before the response started gets no stop call) */
    struct proxy **guard;
} proxy_t;

static void start_attempt(proxy_t *x);
static void finish(proxy_t *x);
static bool translated(const proxy_t *x);
static void flush(proxy_t *x);

/* ---- lifecycle --------------------------------------------------------- */

static void unlink_timers(proxy_t *x)
{
    h2o_timeout_unlink(&x->t_gone);
    h2o_timeout_unlink(&x->t_request);
    h2o_timeout_unlink(&x->t_idle);
    h2o_timeout_unlink(&x->t_ping);
}

static void proxy_free(void *p)
{
    proxy_t *x = p;
    if (x->root != NULL)
        cJSON_Delete(x->root);
    free(x->model);
    llg_strbuf_free(&x->body);
    llg_strbuf_free(&x->errbody);
    llg_strbuf_free(&x->out[0]);
    llg_strbuf_free(&x->out[1]);
    llg_strbuf_free(&x->copy);
    if (x->hbuf.data != NULL)
        memset(x->hbuf.data, 0, x->hbuf.cap);
    llg_strbuf_free(&x->hbuf);
    free(x->hnodes_heap);
    llg_sse_dispose(&x->sse);
    free(x);
}

/* Ends the attempt in progress: reports its outcome (unless NONE) and
 * releases its key. The easy handle is dropped (cancelled if still running). */
static void end_attempt(proxy_t *x, int report, llg_outcome_t outcome, int status)
{
    llg_app_t *app = x->app;
    if (x->easy != NULL) {
        llg_curl_cancel_and_free(app->curl, x->easy);
        x->easy = NULL;
    }
    if (x->h1 != NULL) {
        llg_h1_cancel(x->h1);
        x->h1 = NULL;
    }
    if (x->headers != NULL) {
        /* the lines live in the proxy: nothing to free but the key's copy */
        x->headers = NULL;
        free(x->hnodes_heap);
        x->hnodes_heap = NULL;
        if (x->hbuf.data != NULL)
            memset(x->hbuf.data, 0, x->hbuf.cap);
        x->hbuf.len = 0;
    }
    llg_poe_stream_free(x->poe);
    llg_puter_stream_free(x->puter);
    x->poe = NULL;
    x->puter = NULL;
    if (x->has_pick) {
        if (report) {
            llg_pool_hints_t hints = {
                x->hint_retry_after_ms[0] ? x->hint_retry_after_ms : NULL,
                x->hint_retry_after[0] ? x->hint_retry_after : NULL,
                x->hint_reset_requests[0] ? x->hint_reset_requests : NULL,
            };
            llg_pool_report(app->pool, &x->pick, outcome, status, &hints, llg_pool_now_ms(), (int64_t)time(NULL));
        }
        llg_pool_release(app->pool, &x->pick);
        x->has_pick = false;
    }
}

/* The proxy is done with h2o and curl: free it once no callback can run. */
static void dispose(proxy_t *x)
{
    if (x->guard != NULL) {
        *x->guard = NULL;
        x->guard = NULL;
    }
    unlink_timers(x);
    if (x->stream_counted)
        llg_pool_stream_end(x->app->pool);
    llg_curl_defer_free(x->app->curl, x, proxy_free);
}

static void client_gone(proxy_t *x)
{
    x->req = NULL;
    /* the upstream transfer stops at once and the key is not blamed */
    end_attempt(x, 1, LLG_OUTCOME_CANCELLED, 0);
    dispose(x);
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    client_gone((proxy_t *)self);
}

static void on_request_dispose(void *p)
{
    proxy_t *x = *(proxy_t **)p;
    if (x != NULL) {
        x->guard = NULL;
        client_gone(x);
    }
}

/* ---- responses --------------------------------------------------------- */

static void set_provider_env(proxy_t *x, int provider)
{
    llg_http_set_provider(x->app, x->req, provider);
}

/* An error response before anything was sent; the proxy is done. */
static void fail(proxy_t *x, int status, const char *code, const char *fmt, const char *arg)
{
    h2o_req_t *req = x->req;
    x->req = NULL;
    end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    llg_respond_error(req, status, NULL, code, NULL, fmt, arg);
    dispose(x);
}

static void append_error_event(proxy_t *x, const char *type, const char *code, const char *param, const char *message)
{
    llg_strbuf_t *b = &x->out[x->cur];
    llg_strbuf_appends(b, "data: ");
    llg_render_error(b, type, code, param, message);
    llg_strbuf_appends(b, "\n\ndata: [DONE]\n\n");
}

/* An error the client must see as it is: the last event of a stream that
 * already started (a `: ping` may have started it), else an HTTP error. The
 * proxy is done afterwards. */
static void client_error(proxy_t *x, int status, const char *type, const char *code, const char *param, const char *message)
{
    end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    if (type == NULL)
        type = llg_error_type_for_status(status);
    if (x->committed) {
        append_error_event(x, type, code, param, message);
        x->upstream_done = true;
        finish(x);
        return;
    }
    h2o_req_t *req = x->req;
    x->req = NULL;
    llg_http_set_provider(x->app, req, x->provider);
    llg_respond_error(req, status, type, code, param, "%s", message);
    dispose(x);
}

/* After the first upstream byte: end the response with an error the client
 * can see; a 502 when a non-stream body was still held back. */
static void fail_committed(proxy_t *x, const char *code, const char *message)
{
    end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    if (!x->committed) {
        /* a non-stream body still held back: nothing reached the client */
        set_provider_env(x, x->provider);
        fail(x, 502, code, "%s", message);
        return;
    }
    if (x->stream)
        append_error_event(x, "server_error", code, NULL, message);
    else
        x->error_end = true; /* a truncated JSON body must not look complete */
    x->upstream_done = true;
    finish(x);
}

static void commit(proxy_t *x)
{
    h2o_req_t *req = x->req;
    x->committed = true;
    set_provider_env(x, x->provider);
    if (x->stream) {
        llg_set_sse_headers(req);
        llg_sse_init(&x->sse);
        if (!x->stream_counted) {
            x->stream_counted = true;
            llg_pool_stream_begin(x->app->pool);
        }
    } else {
        req->res.status = 200;
        req->res.reason = "OK";
        const char *ct = x->content_type[0] && !translated(x) ? x->content_type : "application/json";
        /* h2o keeps the pointer, and the head may go out after the proxy is
         * freed (finish() sends a whole non-stream body at once) */
        h2o_iovec_t ctv = h2o_strdup(&req->pool, ct, strlen(ct));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctv.base, ctv.len);
        /* the upstream chose that type: a browser must not guess another */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    }
    h2o_start_response(req, &x->super);
}

/* Sends the accumulating buffer when no send is in flight. */
static void flush(proxy_t *x)
{
    if (x->sending || x->req == NULL || !x->committed)
        return;
    if (x->upstream_done) {
        finish(x);
        return;
    }
    llg_strbuf_t *b = &x->out[x->cur];
    if (b->len == 0)
        return;
    h2o_iovec_t buf = h2o_iovec_init(b->data, b->len);
    x->cur = 1 - x->cur;
    x->out[x->cur].len = 0;
    x->sending = true;
    if (x->app->ping_timeout != NULL && x->stream) {
        h2o_timeout_unlink(&x->t_ping);
        h2o_timeout_link(x->app->ctx.loop, x->app->ping_timeout, &x->t_ping);
    }
    h2o_send(x->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* The last send: whatever is buffered, with the final (or error) state. */
static void finish(proxy_t *x)
{
    x->upstream_done = true;
    if (x->sending || x->req == NULL)
        return; /* proceed comes back here */
    llg_strbuf_t *b = &x->out[x->cur];
    if (!x->committed) {
        /* a whole body in one send: a Content-Length rather than chunks (set
         * before the response starts: h2o picks its encoders then) */
        if (!x->stream && !x->error_end)
            x->req->res.content_length = b->len;
        commit(x);
    }
    h2o_req_t *req = x->req;
    x->req = NULL;
    /* no proceed follows a final send: the bytes must live as long as the request */
    h2o_iovec_t buf = h2o_strdup(&req->pool, b->data != NULL ? b->data : "", b->len);
    h2o_send_state_t state = x->error_end ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
    dispose(x);
    h2o_send(req, &buf, buf.len != 0 ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    proxy_t *x = (proxy_t *)self;
    x->sending = false;
    x->out[1 - x->cur].len = 0;
    if (x->upstream_done) {
        finish(x);
        return;
    }
    flush(x);
    if (x->paused && x->out[x->cur].len < HIGH_WATER) {
        x->paused = false;
        /* may call on_write (and flush, and with h1 the end of the attempt) before it returns */
        if (x->h1 != NULL)
            llg_h1_resume(x->h1);
        else
            llg_curl_resume(x->app->curl, x->easy);
    }
}

/* ---- timers ------------------------------------------------------------ */

static void on_request_timeout(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_request, entry);
    if (x->req == NULL)
        return;
    llg_warn("upstream request timed out after %llu ms (provider %s)", (unsigned long long)x->app->conf->timeouts.request_ms,
             x->app->conf->providers[x->provider].name);
    end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
    if (!x->committed) {
        set_provider_env(x, x->provider);
        fail(x, 504, "upstream_timeout", "The upstream provider did not answer in time%s.", "");
    } else {
        fail_committed(x, "upstream_timeout", "The upstream provider did not finish in time.");
    }
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_idle, entry);
    if (x->req == NULL)
        return;
    end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
    fail_committed(x, "upstream_idle", "The upstream provider stopped sending.");
}

/* HTTP/1.1: h2o reads nothing from a connection while its request is being
 * handled, so a client that leaves before the response starts would go
 * unnoticed until the upstream answered. The socket is checked for a hang-up
 * (POLLRDHUP also sees one behind unread TLS records) every
 * LLG_GONE_CHECK_MS until the response starts. */
static void on_gone_check(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_gone, entry);
    if (x->req == NULL || x->committed)
        return;
    h2o_socket_t *sock = x->req->conn->callbacks->get_socket != NULL ? x->req->conn->callbacks->get_socket(x->req->conn) : NULL;
    int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    struct pollfd pfd = {fd, POLLRDHUP, 0};
    if (fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        h2o_req_t *req = x->req;
        client_gone(x);
        /* the write fails, and h2o closes the connection and frees the request */
        req->http1_is_persistent = 0;
        llg_respond_error(req, 499, NULL, "client_closed_request", NULL, "The client closed the connection%s.", "");
        return;
    }
    h2o_timeout_link(x->app->ctx.loop, x->app->gone_check, &x->t_gone);
}

static void on_ping(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_ping, entry);
    if (x->req == NULL || !x->stream)
        return;
    if (!x->committed)
        commit(x);
    if (!x->sending && x->out[x->cur].len == 0)
        llg_strbuf_appends(&x->out[x->cur], ": ping\n\n");
    flush(x);
    if (!x->sending)
        h2o_timeout_link(x->app->ctx.loop, x->app->ping_timeout, &x->t_ping);
}

/* ---- curl callbacks ---------------------------------------------------- */

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
    x->content_type[0] = x->hint_retry_after[0] = x->hint_retry_after_ms[0] = x->hint_reset_requests[0] = '\0';
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
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (colon != NULL)
        take_header(x, p, (size_t)(colon - p), colon + 1, n - (size_t)(colon - p) - 1);
    return n;
}

/* Reads `usage` from a JSON text that has one (providers/usage.h). */
static void take_usage(proxy_t *x, const char *json, size_t len)
{
    if (llg_usage_read(json, len, &x->prompt_tokens, &x->completion_tokens))
        x->have_usage = true;
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    proxy_t *x = ctx;
    if (ev->has_data) {
        /* an error-only event ({"error":...}) tells the client why the stream
         * ends; an error inside a chunk (OpenRouter) may not reach every client */
        if (ev->data_len > 8 && memcmp(ev->data, "{\"error\":", 9) == 0)
            x->saw_error = true;
        if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
            x->saw_done = true;
        } else if (llg_usage_may_have(ev->data, ev->data_len)) {
            bool had = x->have_usage;
            x->have_usage = false;
            take_usage(x, ev->data, ev->data_len);
            /* the usage-only chunk llmgate asked for is not shown to a client that did not */
            if (x->have_usage && x->add_usage && memmem(ev->data, ev->data_len, "\"choices\":[]", 12) != NULL)
                return 0;
            x->have_usage = x->have_usage || had;
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

/* ---- translated upstreams (poe, puter) --------------------------------- */

static bool translated(const proxy_t *x)
{
    return x->poe != NULL || x->puter != NULL;
}

static int xl_feed(proxy_t *x, const char *p, size_t n, llg_xlate_error_t *err)
{
    llg_strbuf_t *out = &x->out[x->cur];
    return x->poe != NULL ? llg_poe_feed(x->poe, p, n, out, err) : llg_puter_feed(x->puter, p, n, out, err);
}

static int xl_end(proxy_t *x, llg_xlate_error_t *err)
{
    llg_strbuf_t *out = &x->out[x->cur];
    return x->poe != NULL ? llg_poe_end(x->poe, out, err) : llg_puter_end(x->puter, out, err);
}

static void xl_usage(proxy_t *x)
{
    bool estimated;
    if (x->poe != NULL)
        llg_poe_usage(x->poe, &x->prompt_tokens, &x->completion_tokens, &estimated);
    else
        llg_puter_usage(x->puter, &x->prompt_tokens, &x->completion_tokens, &estimated);
    x->have_usage = true;
}

/* An upstream error the client must see as is (its own key, or a fault of the
 * request): an HTTP error, or the last event of a stream already started. */
static void respond_xlate_error(proxy_t *x, const llg_xlate_error_t *err)
{
    int status = err->http_status != 0 ? err->http_status : 502;
    client_error(x, status, err->type[0] ? err->type : NULL, err->code[0] ? err->code : NULL, NULL, err->message);
}

/* After a translator error: the stream it already ended, or the next attempt,
 * or the error itself. */
static void after_xlate_error(proxy_t *x, llg_xlate_error_t *err, int status)
{
    if (err->http_status == 0) {
        /* the translator ended the client's stream with an error event */
        end_attempt(x, 1, err->outcome, status);
        x->upstream_done = true;
        finish(x);
        return;
    }
    bool own_key = !x->has_pick && x->client_key.base != NULL;
    if (err->outcome == LLG_OUTCOME_CLIENT ||
        (own_key &&
         (err->outcome == LLG_OUTCOME_AUTH || err->outcome == LLG_OUTCOME_PAYMENT || err->outcome == LLG_OUTCOME_RATE_LIMITED))) {
        end_attempt(x, 1, err->outcome, status);
        /* the client's own key: it sees the upstream's own status */
        if (own_key && status >= 400 && status < 500 && err->outcome != LLG_OUTCOME_CLIENT)
            err->http_status = status;
        respond_xlate_error(x, err);
        return;
    }
    end_attempt(x, 1, err->outcome, status);
    x->last_outcome = err->outcome;
    x->last_status = status;
    /* what the client is told if no other attempt answers */
    if (err != &x->xl_err)
        x->xl_err = *err;
    x->has_last_xl = true;
    llg_strbuf_reset(&x->errbody);
    start_attempt(x);
}

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
    if (translated(x)) {
        size_t before = x->out[x->cur].len;
        if (xl_feed(x, p, n, &x->xl_err) != 0) {
            /* handled in on_done, outside curl's callbacks, where a retry may start */
            x->xl_failed = true;
            if (x->xl_err.http_status == 0 && !x->committed)
                commit(x);
            return 0;
        }
        if (x->out[x->cur].len > before) {
            if (!x->committed)
                commit(x);
            x->upstream_started = true;
            flush(x);
        }
        return n;
    }
    /* a non-stream answer is committed when it is sent: whole, with its
     * length, or in parts once it passed BODY_HOLD */
    if (!x->committed && x->stream)
        commit(x);
    x->upstream_started = true;
    if (x->stream) {
        if (llg_sse_feed(&x->sse, p, n, on_event, x) != 0) {
            fail_committed(x, "upstream_protocol_error", "The upstream sent an event larger than 1 MiB.");
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
        } else if (b->len < BODY_HOLD) {
            return n;
        } else {
            x->body_sent = true;
            if (b->len <= USAGE_COPY_MAX)
                llg_strbuf_append(&x->copy, b->data, b->len);
        }
        if (!x->committed)
            commit(x);
    }
    flush(x);
    return n;
}

/* An upstream's error `type`, `code` or `param` reaches the client only when
 * it is a short, printable, valid UTF-8 string; otherwise ours is used. */
static const char *clean_error_field(const cJSON *item)
{
    if (!cJSON_IsString(item))
        return NULL;
    const char *s = item->valuestring;
    size_t n = strlen(s);
    return n > 0 && n <= 256 && llg_utf8_printable(s, n) ? s : NULL;
}

/* The upstream's error message, normalised to the OpenAI shape (OpenRouter's
 * numeric `code` becomes a string). */
static void relay_upstream_error(proxy_t *x, int status)
{
    char message[1024] = "The upstream provider rejected the request.";
    char code_buf[64] = "";
    const char *type = NULL, *code = NULL, *param = NULL;
    const char *body = x->errbody.data != NULL ? x->errbody.data : "";
    cJSON *j = cJSON_ParseWithLength(body, x->errbody.len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(err)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(err, "type");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
        const cJSON *pa = cJSON_GetObjectItemCaseSensitive(err, "param");
        type = clean_error_field(t);
        if (cJSON_IsString(c)) {
            code = clean_error_field(c);
        } else if (cJSON_IsNumber(c)) {
            /* OpenRouter's numeric code becomes a string */
            snprintf(code_buf, sizeof(code_buf), "%d", c->valueint);
            code = code_buf;
        }
        param = clean_error_field(pa);
    }
    /* the message, whatever the shape (OpenAI, FastAPI's detail, plain text) */
    llg_upstream_error_t parsed;
    llg_xlate_parse_error_body(body, x->errbody.len, &parsed);
    if (parsed.message[0] != '\0')
        snprintf(message, sizeof(message), "%s", parsed.message);
    if (code == NULL && parsed.code[0] != '\0')
        code = parsed.code;

    client_error(x, status, type, code, param, message);
    cJSON_Delete(j);
}

/* The attempt's transfer ended (on either client), with libcurl's result. */
static void attempt_done(proxy_t *x, CURLcode result)
{
    h2o_timeout_unlink(&x->t_idle);
    int status = (int)x->status;

    if (translated(x)) {
        llg_xlate_error_t err;
        memset(&err, 0, sizeof(err));
        if (x->xl_failed) {
            x->xl_failed = false;
            err = x->xl_err;
        } else if (result != CURLE_OK) {
            if (x->upstream_started) {
                end_attempt(x, 1, LLG_OUTCOME_NETWORK, status);
                fail_committed(x, "upstream_error", "The upstream provider failed in the middle of the answer.");
                return;
            }
            llg_xlate_set_error(&err, 502, "server_error", "upstream_unavailable", LLG_OUTCOME_NETWORK,
                                "The upstream provider could not be reached (%s).", curl_easy_strerror(result));
            x->last_was_timeout = result == CURLE_OPERATION_TIMEDOUT;
        } else if (status < 200 || status >= 300) {
            if (x->poe != NULL)
                llg_poe_http_error(status, x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len, &err);
            else
                llg_puter_http_error(status, x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len, &err);
        } else {
            size_t before = x->out[x->cur].len;
            if (xl_end(x, &err) == 0) {
                xl_usage(x);
                if (x->has_pick)
                    llg_pool_key_usage(x->app->pool, x->pick.slot, x->prompt_tokens, x->completion_tokens);
                else
                    llg_pool_provider_usage(x->app->pool, x->app->view, (unsigned)x->provider, x->prompt_tokens,
                                            x->completion_tokens);
                if (x->token >= 0)
                    llg_pool_token_usage(x->app->pool, x->app->view, x->token, x->prompt_tokens, x->completion_tokens);
                /* before end_attempt frees the translator: commit() asks for it */
                if (!x->committed && x->out[x->cur].len > before)
                    commit(x);
                end_attempt(x, 1, LLG_OUTCOME_SUCCESS, status);
                x->upstream_done = true;
                finish(x);
                return;
            }
            if (err.http_status == 0 && !x->committed)
                commit(x);
        }
        after_xlate_error(x, &err, status);
        return;
    }

    if (result == CURLE_OK && status >= 200 && status < 300) {
        if (x->stream) {
            /* line ends held back at the end of the last event go out as received */
            llg_strbuf_append(&x->out[x->cur], llg_sse_pending_bytes(&x->sse), llg_sse_pending(&x->sse));
            if (llg_sse_pending_event(&x->sse) || !x->saw_done) {
                end_attempt(x, 1, LLG_OUTCOME_SERVER, status);
                if (x->saw_error)
                    llg_strbuf_appends(&x->out[x->cur], "data: [DONE]\n\n"); /* its own error event said why */
                else
                    append_error_event(x, "server_error", "upstream_truncated", NULL,
                                       "The upstream provider ended the stream early.");
                x->upstream_done = true;
                finish(x);
                return;
            }
        } else {
            /* the body is still whole in the buffer unless a part was sent */
            const llg_strbuf_t *src = x->body_sent ? &x->copy : &x->out[x->cur];
            if (src->len > 0 && llg_usage_may_have(src->data, src->len))
                take_usage(x, src->data, src->len);
        }
        if (x->have_usage) {
            if (x->has_pick)
                llg_pool_key_usage(x->app->pool, x->pick.slot, x->prompt_tokens, x->completion_tokens);
            else
                llg_pool_provider_usage(x->app->pool, x->app->view, (unsigned)x->provider, x->prompt_tokens, x->completion_tokens);
            if (x->token >= 0)
                llg_pool_token_usage(x->app->pool, x->app->view, x->token, x->prompt_tokens, x->completion_tokens);
        }
        end_attempt(x, 1, LLG_OUTCOME_SUCCESS, status);
        x->upstream_done = true;
        finish(x);
        return;
    }

    if (x->upstream_started) {
        /* after the first byte nothing can be retried */
        end_attempt(x, 1, result == CURLE_OK ? LLG_OUTCOME_SERVER : LLG_OUTCOME_NETWORK, status);
        if (x->stream && x->saw_error) {
            llg_strbuf_appends(&x->out[x->cur], "data: [DONE]\n\n");
            x->upstream_done = true;
            finish(x);
            return;
        }
        fail_committed(x, "upstream_error", "The upstream provider failed in the middle of the answer.");
        return;
    }

    llg_outcome_t outcome;
    if (result != CURLE_OK) {
        outcome = LLG_OUTCOME_NETWORK;
        x->last_was_timeout = result == CURLE_OPERATION_TIMEDOUT;
        llg_warn("upstream %s: %s", x->app->conf->providers[x->provider].name, curl_easy_strerror(result));
    } else {
        const char *code = NULL;
        cJSON *j = cJSON_ParseWithLength(x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *c = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "code") : NULL;
        const cJSON *t = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "type") : NULL;
        if (cJSON_IsString(c))
            code = c->valuestring;
        else if (cJSON_IsString(t))
            code = t->valuestring;
        outcome = llg_pool_classify(status, code);
        /* OpenRouter refuses moderation-flagged input with 403 and
         * error.metadata.{reasons,flagged_input}: the request is at fault,
         * not the key (docs/key-health.md) */
        const cJSON *meta = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "metadata") : NULL;
        if (status == 403 && cJSON_IsObject(meta) &&
            (cJSON_GetObjectItemCaseSensitive(meta, "flagged_input") != NULL ||
             cJSON_GetObjectItemCaseSensitive(meta, "reasons") != NULL))
            outcome = LLG_OUTCOME_CLIENT;
        cJSON_Delete(j);
        x->last_status = status;
    }
    /* with the client's own key, its auth and quota errors are its own */
    if (outcome == LLG_OUTCOME_CLIENT ||
        (!x->has_pick && x->client_key.base != NULL &&
         (outcome == LLG_OUTCOME_AUTH || outcome == LLG_OUTCOME_PAYMENT || outcome == LLG_OUTCOME_RATE_LIMITED))) {
        /* the request itself is at fault: the upstream's answer is the client's */
        end_attempt(x, 1, outcome, status);
        relay_upstream_error(x, status);
        return;
    }
    end_attempt(x, 1, outcome, status);
    x->last_outcome = outcome;
    llg_strbuf_reset(&x->errbody);
    start_attempt(x);
}

static void on_done(CURL *easy, CURLcode result, void *data)
{
    proxy_t *x = data;
    (void)easy;
    /* curl_loop removed the handle; it is ours to reuse */
    llg_curl_easy_put(x->app->curl, x->easy);
    x->easy = NULL;
    attempt_done(x, result);
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
    attempt_done(x, result);
}

static const llg_h1_callbacks_t h1_callbacks = {on_h1_status, on_h1_header, on_h1_data, on_h1_done};

/* ---- attempts ---------------------------------------------------------- */

/* The upstream body for provider `p`: the client's bytes, with only the
 * members llmgate must set spliced in. */
static int build_body(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *out)
{
    const llg_conf_t *conf = x->app->conf;
    llg_json_patch_t patches[24];
    size_t n = 0;
    llg_strbuf_t model_json = {0};
    char *opts_json = NULL;
    int rc = 0;

    const char *upstream_model = x->model;
    for (size_t i = 0; i < p->model_map.count; i++)
        if (strcmp(p->model_map.items[i].key, x->model) == 0)
            upstream_model = p->model_map.items[i].value;
    const cJSON *body_model = cJSON_GetObjectItemCaseSensitive(x->root, "model");
    if (!cJSON_IsString(body_model) || strcmp(body_model->valuestring, upstream_model) != 0) {
        llg_strbuf_append_json_string(&model_json, upstream_model, strlen(upstream_model));
        patches[n++] = (llg_json_patch_t){"model", model_json.data};
    }
    if (x->endpoint == LLG_ENDPOINT_CHAT || x->endpoint == LLG_ENDPOINT_COMPLETIONS) {
        for (size_t i = 0; i < conf->defaults.param_count && n < 20; i++)
            if (cJSON_GetObjectItemCaseSensitive(x->root, conf->defaults.params[i].key) == NULL)
                patches[n++] = (llg_json_patch_t){conf->defaults.params[i].key, conf->defaults.params[i].json};
    }
    char *messages_json = NULL;
    if (p->message_mode != LLG_MESSAGES_RAW && x->endpoint == LLG_ENDPOINT_CHAT) {
        cJSON *m = llg_messages_apply(p->message_mode, cJSON_GetObjectItemCaseSensitive(x->root, "messages"));
        if (m == NULL) {
            rc = -1;
            goto Exit;
        }
        messages_json = cJSON_PrintUnformatted(m);
        cJSON_Delete(m);
        if (messages_json != NULL)
            patches[n++] = (llg_json_patch_t){"messages", messages_json};
    }
    if (x->add_usage) {
        /* ask for usage to count tokens; the extra chunk is hidden from the client */
        cJSON *opts = cJSON_GetObjectItemCaseSensitive(x->root, "stream_options");
        cJSON *copy = cJSON_IsObject(opts) ? cJSON_Duplicate(opts, 1) : cJSON_CreateObject();
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "include_usage");
        cJSON_AddTrueToObject(copy, "include_usage");
        opts_json = cJSON_PrintUnformatted(copy);
        cJSON_Delete(copy);
        if (opts_json != NULL)
            patches[n++] = (llg_json_patch_t){"stream_options", opts_json};
    }
    if (n == 0) {
        *out = x->client_body;
    } else {
        llg_strbuf_reset(&x->body);
        rc = llg_json_patch_object(x->client_body.base, x->client_body.len, patches, n, &x->body);
        *out = h2o_iovec_init(x->body.data, x->body.len);
    }
Exit:
    llg_strbuf_free(&model_json);
    free(opts_json);
    free(messages_json);
    return rc;
}

/* The upstream request of a poe or puter provider, and the translator of its
 * answer. */
static int build_translated(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *out, char *url, size_t urlsize)
{
    int rc = -1;
    const cJSON *root = x->root;
    cJSON *copy = NULL;
    if (p->message_mode != LLG_MESSAGES_RAW) {
        cJSON *m = llg_messages_apply(p->message_mode, cJSON_GetObjectItemCaseSensitive(x->root, "messages"));
        if (m == NULL || (copy = cJSON_Duplicate(x->root, 1)) == NULL) {
            cJSON_Delete(m);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(copy, "messages", m);
        root = copy;
    }
    const char *upstream_model = x->model;
    for (size_t i = 0; i < p->model_map.count; i++)
        if (strcmp(p->model_map.items[i].key, x->model) == 0)
            upstream_model = p->model_map.items[i].value;

    llg_strbuf_t text = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        llg_message_text(m, &text);
        llg_strbuf_append(&text, " ", 1);
    }
    llg_xlate_params_t params = {
        .model = x->model,
        .stream = x->stream,
        .include_usage = x->client_usage,
        .prompt_tokens_estimate = llg_estimate_tokens(text.data != NULL ? text.data : "", text.len),
        .random = {llg_app_random(x->app), llg_app_random(x->app)},
    };
    llg_strbuf_free(&text);

    llg_strbuf_reset(&x->body);
    if (p->type == LLG_PROVIDER_POE) {
        const char *bot = llg_poe_bot_name(p, x->model);
        if (bot == NULL) {
            rc = -2;
            goto Exit;
        }
        snprintf(url, urlsize, "%s/bot/%s", p->base_url, bot);
        if (llg_poe_build_query(root, &x->body) != 0 || (x->poe = llg_poe_stream_new(&params)) == NULL)
            goto Exit;
    } else {
        snprintf(url, urlsize, "%s/drivers/call", p->base_url);
        if (llg_puter_build_call(root, upstream_model, NULL, x->stream, &x->body) != 0 ||
            (x->puter = llg_puter_stream_new(&params)) == NULL)
            goto Exit;
    }
    *out = h2o_iovec_init(x->body.data, x->body.len);
    rc = 0;
Exit:
    cJSON_Delete(copy);
    return rc;
}

/* Appends a line: a, then c, then its end (a NUL for curl's list, CRLF on
 * the wire for the h1 client). */
static void hbuf_line(llg_strbuf_t *b, const char *a, size_t alen, const char *c, size_t clen, bool crlf)
{
    if (alen > 0)
        llg_strbuf_append(b, a, alen);
    if (clen > 0)
        llg_strbuf_append(b, c, clen);
    if (crlf)
        llg_strbuf_append(b, "\r\n", 2);
    else
        llg_strbuf_append(b, "", 1);
}

/* The upstream request's header lines into x->hbuf (wiped after the
 * attempt: it holds the key). Returns the number of lines. */
static size_t header_lines(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len, bool crlf)
{
    static const char bearer[] = "Authorization: Bearer ", rid[] = "X-Request-Id: ", ct[] = "Content-Type: application/json",
                      ua[] = "User-Agent: llmgate/" LLG_VERSION;
    const char *accept = x->stream ? "Accept: text/event-stream" : "Accept: application/json";
    llg_strbuf_t *b = &x->hbuf;
    b->len = 0;
    /* room for every line at once: the key is never left behind in a block
     * that realloc gave up (each line end is at most 2 bytes) */
    size_t need = sizeof(ct) + strlen(accept) + sizeof(ua) + sizeof(bearer) + key_len + sizeof(rid) + x->request_id.len + 5 * 2;
    for (size_t k = 0; k < p->headers.count; k++)
        need += strlen(p->headers.items[k].key) + 2 + strlen(p->headers.items[k].value) + 2;
    llg_strbuf_reserve(b, need);
    hbuf_line(b, ct, sizeof(ct) - 1, NULL, 0, crlf);
    hbuf_line(b, accept, strlen(accept), NULL, 0, crlf);
    hbuf_line(b, ua, sizeof(ua) - 1, NULL, 0, crlf);
    if (key != NULL)
        hbuf_line(b, bearer, sizeof(bearer) - 1, key, key_len, crlf);
    hbuf_line(b, rid, sizeof(rid) - 1, x->request_id.base, x->request_id.len, crlf);
    for (size_t k = 0; k < p->headers.count; k++) {
        const char *name = p->headers.items[k].key, *v = p->headers.items[k].value;
        llg_strbuf_append(b, name, strlen(name));
        hbuf_line(b, ": ", 2, v, strlen(v), crlf);
    }
    return 4 + (key != NULL) + p->headers.count;
}

/* The lines as a curl_slist whose nodes live in the proxy (no allocation per
 * line; curl only reads the list). */
static struct curl_slist *build_headers(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len)
{
    size_t n = header_lines(x, p, key, key_len, false) + 1;
    struct curl_slist *nodes = x->hnodes;
    if (n > MAX_HNODES) {
        nodes = x->hnodes_heap = calloc(n, sizeof(*nodes));
        if (nodes == NULL)
            return NULL;
    }
    /* never "Expect: 100-continue": it costs a round trip */
    nodes[0].data = (char *)"Expect:";
    char *line = x->hbuf.data;
    for (size_t k = 1; k < n; k++) {
        nodes[k].data = line;
        line += strlen(line) + 1;
    }
    for (size_t k = 0; k < n; k++)
        nodes[k].next = k + 1 < n ? &nodes[k + 1] : NULL;
    return nodes;
}

/* Whether every pool key of the providers tried is resting (cooling or
 * disabled), and the shortest wait until one is usable again. */
static bool chain_resting(proxy_t *x, uint64_t *wait_ms)
{
    const llg_conf_t *conf = x->app->conf;
    uint64_t now = llg_pool_now_ms();
    bool any = false;
    *wait_ms = UINT64_MAX;
    for (size_t i = 0; i < x->nchain; i++) {
        const llg_conf_provider_t *p = &conf->providers[x->chain[i]];
        if (p->type != LLG_PROVIDER_OPENAI || p->auth != LLG_AUTH_POOL)
            continue;
        for (size_t k = 0; k < p->keys.count; k++) {
            llg_pool_key_stats_t st;
            int32_t slot = llg_pool_key_slot(x->app->view, (unsigned)x->chain[i], (unsigned)k);
            if (slot < 0 || llg_pool_key_stats(x->app->pool, slot, now, &st) != 0)
                continue;
            if (st.state != LLG_KEY_COOLING && st.state != LLG_KEY_DISABLED)
                return false;
            any = true;
            if (st.cooldown_remaining_ms < *wait_ms)
                *wait_ms = st.cooldown_remaining_ms;
        }
    }
    return any;
}

static void give_up(proxy_t *x)
{
    const llg_conf_provider_t *p = &x->app->conf->providers[x->provider];
    uint64_t wait_ms;
    /* the last attempt's key was rate limited or refused, and now no key is usable */
    if (!x->all_cooling && x->attempts > 0 &&
        (x->last_outcome == LLG_OUTCOME_RATE_LIMITED || x->last_outcome == LLG_OUTCOME_AUTH ||
         x->last_outcome == LLG_OUTCOME_PAYMENT) &&
        chain_resting(x, &wait_ms)) {
        x->all_cooling = true;
        x->retry_after_ms = wait_ms;
    }
    if (x->committed) {
        fail_committed(x, "upstream_unavailable", "No upstream provider could answer the request.");
        return;
    }
    set_provider_env(x, x->provider);
    if (x->all_cooling) {
        char secs[32];
        uint64_t s = (x->retry_after_ms + 999) / 1000;
        snprintf(secs, sizeof(secs), "%llu", (unsigned long long)(s == 0 ? 1 : s));
        h2o_add_header(&x->req->pool, &x->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, strlen(secs));
        fail(x, 429, "upstream_rate_limited",
             "Every upstream key for this model is rate limited or unavailable; retry after %s seconds.", secs);
    } else if (x->last_was_timeout) {
        fail(x, 504, "upstream_timeout", "The upstream provider did not answer in time (%s).", p->name);
    } else if (x->attempts == 0) {
        fail(x, 502, "no_upstream_key", "No upstream key is configured for provider '%s'.", p->name);
    } else if (x->has_last_xl && x->xl_err.message[0] != '\0') {
        /* the last translated attempt said why */
        fail(x, 502, x->xl_err.code[0] ? x->xl_err.code : "upstream_unavailable", "%s", x->xl_err.message);
    } else {
        fail(x, 502, "upstream_unavailable", "The upstream provider could not answer the request (%s).", p->name);
    }
}

static void next_provider(proxy_t *x)
{
    x->chain_pos++;
    x->ntried = 0;
}

static void start_attempt(proxy_t *x)
{
    llg_app_t *app = x->app;
    const llg_conf_t *conf = app->conf;
    for (;;) {
        if (x->req == NULL)
            return;
        if (x->chain_pos >= x->nchain || x->attempts >= conf->retry_attempts) {
            give_up(x);
            return;
        }
        int idx = x->chain[x->chain_pos];
        const llg_conf_provider_t *p = &conf->providers[idx];
        x->provider = idx;

        if (p->type == LLG_PROVIDER_ECHO && !x->committed && x->endpoint == LLG_ENDPOINT_CHAT) {
            h2o_req_t *req = x->req;
            set_provider_env(x, idx);
            x->req = NULL;
            llg_chat_respond_echo(app, req, idx, x->root, x->model);
            dispose(x);
            return;
        }
        /* a client that was not checked against the access tokens (it was
         * routed to a passthrough provider) never reaches the pool's keys, and
         * its credential goes only to passthrough providers it was meant for */
        if ((!x->authenticated && p->auth != LLG_AUTH_PASSTHROUGH) ||
            (p->auth == LLG_AUTH_PASSTHROUGH && conf->providers[x->chain[0]].auth != LLG_AUTH_PASSTHROUGH)) {
            next_provider(x);
            continue;
        }
        /* poe and puter answer chat completions only */
        if (p->type == LLG_PROVIDER_ECHO || (p->type != LLG_PROVIDER_OPENAI && x->endpoint != LLG_ENDPOINT_CHAT)) {
            next_provider(x);
            continue;
        }

        const char *key = NULL;
        size_t key_len = 0;
        h2o_iovec_t client_key = {NULL, 0};
        if (p->client_key_header != NULL) {
            ssize_t hi = h2o_find_header_by_str(&x->req->headers, p->client_key_header, strlen(p->client_key_header), -1);
            if (hi != -1)
                client_key = x->req->headers.entries[hi].value;
        }
        if (client_key.base == NULL && p->auth == LLG_AUTH_PASSTHROUGH)
            client_key = llg_auth_presented(x->req);
        if (client_key.base != NULL || p->auth != LLG_AUTH_POOL) {
            /* one attempt per provider with the client's own key (or none) */
            if (x->ntried > 0) {
                next_provider(x);
                continue;
            }
            x->ntried = 1;
            key = client_key.base;
            key_len = client_key.len;
            x->client_key = client_key;
        } else {
            /* each key at most once per request: a pick counts as an attempt of the key */
            if (x->ntried >= p->keys.count) {
                next_provider(x);
                continue;
            }
            llg_pool_pick_t pick;
            if (llg_pool_pick(app->pool, app->view, (unsigned)idx, llg_pool_now_ms(), &pick) != 0) {
                if (pick.retry_after_ms > 0 || x->ntried > 0) {
                    uint64_t wait = pick.retry_after_ms;
                    if (!x->all_cooling || wait < x->retry_after_ms)
                        x->retry_after_ms = wait;
                    x->all_cooling = true;
                }
                next_provider(x);
                continue;
            }
            bool seen = false;
            for (size_t i = 0; i < x->ntried; i++)
                seen = seen || x->tried[i] == pick.slot;
            if (seen || x->ntried == MAX_TRIED) {
                llg_pool_release(app->pool, &pick);
                next_provider(x);
                continue;
            }
            x->tried[x->ntried++] = pick.slot;
            x->pick = pick;
            x->has_pick = true;
            x->client_key = (h2o_iovec_t){NULL, 0};
            key = p->keys.items[pick.key];
            key_len = strlen(key);
        }

        h2o_iovec_t body;
        char url[2048];
        int built = p->type == LLG_PROVIDER_OPENAI ? build_body(x, p, &body) : build_translated(x, p, &body, url, sizeof(url));
        if (p->type == LLG_PROVIDER_OPENAI) {
            size_t blen = strlen(p->base_url), plen = strlen(endpoint_paths[x->endpoint]);
            if (blen + plen >= sizeof(url))
                built = -1;
            else
                memcpy(mempcpy(url, p->base_url, blen), endpoint_paths[x->endpoint], plen + 1);
        }
        if (built != 0) {
            end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
            if (built == -2)
                fail(x, 400, "invalid_model",
                     "'%s' is not a valid Poe bot name (1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-').", x->model);
            else
                fail(x, 400, "invalid_request", "The request body could not be prepared for the upstream%s.", "");
            return;
        }
        x->status = 0;
        llg_strbuf_reset(&x->errbody);
        if (app->h1 != NULL && llg_h1_takes(app->h1, url)) {
            header_lines(x, p, key, key_len, true);
            x->h1 = llg_h1_post(app->h1, url, h2o_iovec_init(x->hbuf.data, x->hbuf.len), body, &h1_callbacks, x);
            memset(x->hbuf.data, 0, x->hbuf.cap); /* the client has its own copy */
            x->hbuf.len = 0;
            x->attempts++;
            if (x->h1 == NULL) {
                end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
                continue;
            }
            return;
        }
        CURL *easy = llg_curl_easy_get(app->curl);
        if (easy == NULL) {
            end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
            fail(x, 500, "internal_error", "Out of memory%s.", "");
            return;
        }
        x->headers = build_headers(x, p, key, key_len);
        if (x->headers == NULL) {
            llg_curl_easy_put(app->curl, easy);
            end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
            fail(x, 500, "internal_error", "Out of memory%s.", "");
            return;
        }
        curl_easy_setopt(easy, CURLOPT_URL, url);
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
        x->attempts++;
        if (llg_curl_add(app->curl, easy, on_done, x) != 0) {
            llg_curl_easy_put(app->curl, easy);
            x->easy = NULL;
            end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
            continue;
        }
        return;
    }
}

void llg_proxy_start(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int provider, int token, bool authenticated,
                     llg_endpoint_t endpoint)
{
    const llg_conf_t *conf = app->conf;
    proxy_t *x = calloc(1, sizeof(*x));
    char *model_copy = strdup(model);
    if (x == NULL || model_copy == NULL) {
        free(x);
        free(model_copy);
        cJSON_Delete(root);
        llg_respond_error(req, 500, NULL, "internal_error", NULL, "Out of memory.");
        return;
    }
    x->super.proceed = on_proceed;
    x->super.stop = on_stop;
    x->app = app;
    x->req = req;
    x->root = root;
    x->model = model_copy;
    x->token = token;
    x->authenticated = authenticated;
    x->endpoint = endpoint;
    x->client_body = req->entity;
    x->request_id = llg_request_id(app, req);
    x->t_request.cb = on_request_timeout;
    x->t_idle.cb = on_idle_timeout;
    x->t_ping.cb = on_ping;
    x->t_gone.cb = on_gone_check;
    if (endpoint == LLG_ENDPOINT_CHAT || endpoint == LLG_ENDPOINT_COMPLETIONS) {
        x->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
        const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
        x->client_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage"));
        x->add_usage = x->stream && !x->client_usage;
    }

    /* the routed provider, then its fallbacks in order */
    x->chain[x->nchain++] = provider;
    const llg_conf_provider_t *p = &conf->providers[provider];
    for (size_t i = 0; i < p->fallback.count && x->nchain < MAX_CHAIN; i++) {
        for (size_t j = 0; j < conf->provider_count; j++) {
            if (strcmp(conf->providers[j].name, p->fallback.items[i]) != 0)
                continue;
            bool dup = false;
            for (size_t k = 0; k < x->nchain; k++)
                dup = dup || x->chain[k] == (int)j;
            if (!dup)
                x->chain[x->nchain++] = (int)j;
        }
    }
    x->provider = provider;
    x->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*x->guard), on_request_dispose);
    *x->guard = x;
    if (app->request_timeout != NULL)
        h2o_timeout_link(app->ctx.loop, app->request_timeout, &x->t_request);
    if (x->stream && app->ping_timeout != NULL)
        h2o_timeout_link(app->ctx.loop, app->ping_timeout, &x->t_ping);
    if (req->version < 0x200)
        h2o_timeout_link(app->ctx.loop, app->gone_check, &x->t_gone);
    start_attempt(x);
}
