/*
 * server/proxy.c: the relay to openai-type upstreams (see proxy.h): the
 * proxy's lifecycle and the attempt/retry state machine. Each attempt takes
 * a key (the pool's, or the client's own), sends the request
 * (proxy_request.c) on an upstream client (proxy_upstream.c), and its end
 * decides: the answer goes to the client (proxy_relay.c), or the next key or
 * fallback provider is tried, or the client is told why none could answer.
 */
#include "server/proxy.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"
#include "providers/upstream_error.h"
#include "providers/usage.h"
#include "server/auth.h"
#include "server/chat.h"
#include "server/curl_loop.h"
#include "server/http.h"
#include "server/log.h"
#include "server/otel.h"
#include "server/proxy_internal.h"
#include "server/respond.h"

static void start_attempt(proxy_t *x);
static void next_provider(proxy_t *x);

/* A group's target that failed (5xx, network, timeout) is left for the next
 * target at once; a key's error tries its next key first. */
static void leave_failed_target(proxy_t *x, llg_outcome_t outcome)
{
    if (x->target >= 0 && (outcome == LLG_OUTCOME_SERVER || outcome == LLG_OUTCOME_NETWORK))
        next_provider(x);
}

/* ---- lifecycle --------------------------------------------------------- */

static void unlink_timers(proxy_t *x)
{
    h2o_timeout_unlink(&x->t_gone);
    h2o_timeout_unlink(&x->t_request);
    h2o_timeout_unlink(&x->t_idle);
    h2o_timeout_unlink(&x->t_ping);
    h2o_timeout_unlink(&x->t_queue);
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

/* Anthropic says when its limits reset, as a time: the wait until then
 * becomes the pool's Retry-After hint. */
static void anthropic_reset_hint(proxy_t *x)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strptime(x->anthropic_reset, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return;
    int64_t wait = (int64_t)timegm(&tm) - (int64_t)time(NULL);
    snprintf(x->hint_retry_after, sizeof(x->hint_retry_after), "%lld", (long long)(wait > 0 ? wait : 1));
}

/* Ends the attempt in progress: reports its outcome (unless NONE) and
 * releases its key. The transfer is dropped (cancelled if still running). */
/* What the record says of an attempt that ended with `outcome`. */
static const char *attempt_error_word(const proxy_t *x, llg_outcome_t outcome)
{
    switch (outcome) {
    case LLG_OUTCOME_SUCCESS:
        return NULL;
    case LLG_OUTCOME_RATE_LIMITED:
        return "rate_limited";
    case LLG_OUTCOME_AUTH:
        return "auth";
    case LLG_OUTCOME_PAYMENT:
        return "payment";
    case LLG_OUTCOME_SERVER:
        return "server_error";
    case LLG_OUTCOME_NETWORK:
        return x->last_was_timeout ? "timeout" : "network";
    case LLG_OUTCOME_CLIENT:
        return "client_error";
    default:
        return "cancelled";
    }
}

void proxy_end_attempt(proxy_t *x, int report, llg_outcome_t outcome, int status)
{
    llg_app_t *app = x->app;
    if (x->in_attempt) {
        x->in_attempt = false;
        if (x->rec != NULL)
            llg_reqlog_attempt_end(x->rec, x->ratt, (int)outcome, status, attempt_error_word(x, outcome), llg_http_now_us());
        x->ratt = NULL;
    }
    h2o_timeout_unlink(&x->t_queue);
    proxy_upstream_cancel(x);
    if (x->headers != NULL) {
        /* the lines live in the proxy: nothing to free but the key's copy */
        x->headers = NULL;
        free(x->hnodes_heap);
        x->hnodes_heap = NULL;
        if (x->hbuf.data != NULL)
            memset(x->hbuf.data, 0, x->hbuf.cap);
        x->hbuf.len = 0;
    }
    if (x->xl_reader != NULL)
        x->xl->close(x->xl_reader);
    x->xl_reader = NULL;
    x->relay = PROXY_RELAY_NONE;
    if (x->has_pick) {
        if (outcome == LLG_OUTCOME_RATE_LIMITED && x->anthropic_reset[0] != '\0' && x->hint_retry_after[0] == '\0' &&
            x->hint_retry_after_ms[0] == '\0')
            anthropic_reset_hint(x);
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
    if (report && x->has_bpick)
        llg_balance_report(app->pool, app->view, &x->bpick, outcome, llg_pool_now_ms());
    x->attempt_start_us = 0;
}

/* The proxy is done with h2o and curl: free it once no callback can run. */
void proxy_dispose(proxy_t *x)
{
    if (x->rec != NULL) {
        x->rec->active = false;
        x->rec = NULL;
    }
    if (x->guard != NULL) {
        *x->guard = NULL;
        x->guard = NULL;
    }
    unlink_timers(x);
    proxy_group_release(x);
    if (x->stream_counted)
        llg_pool_stream_end(x->app->pool);
    llg_curl_defer_free(x->app->curl, x, proxy_free);
}

void proxy_client_gone(proxy_t *x)
{
    if (x->rec != NULL)
        x->rec->client_gone = true;
    x->req = NULL;
    /* the upstream transfer stops at once and the key is not blamed */
    proxy_end_attempt(x, 1, LLG_OUTCOME_CANCELLED, 0);
    proxy_dispose(x);
}

static void on_request_dispose(void *p)
{
    proxy_t *x = *(proxy_t **)p;
    if (x != NULL) {
        x->guard = NULL;
        x->rec = NULL; /* logged already, and freed with the pool */
        proxy_client_gone(x);
    }
}

/* ---- timers ------------------------------------------------------------ */

static void on_request_timeout(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_request, entry);
    if (x->req == NULL)
        return;
    /* still waiting for a connection (max_connections): the gateway's own
     * limit, not the key's doing */
    bool queued = proxy_upstream_queued(x);
    x->last_was_timeout = true;
    llg_warn("upstream request timed out after %llu ms (provider %s)%s", (unsigned long long)x->app->conf->timeouts.request_ms,
             x->app->conf->providers[x->provider].name, queued ? " waiting for a connection (max_connections)" : "");
    proxy_end_attempt(x, !queued, queued ? LLG_OUTCOME_CANCELLED : LLG_OUTCOME_NETWORK, 0);
    if (!x->committed) {
        proxy_set_provider_env(x, x->provider);
        proxy_fail(x, 504, "upstream_timeout", "The upstream provider did not answer in time%s.",
                   queued ? " (every connection to it was busy)" : "");
    } else {
        proxy_fail_committed(x, "upstream_timeout", "The upstream provider did not finish in time.");
    }
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_idle, entry);
    if (x->req == NULL)
        return;
    x->last_was_timeout = true;
    proxy_end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
    proxy_fail_committed(x, "upstream_idle", "The upstream provider stopped sending.");
}

/* The attempt waited queue_timeout for a connection of its provider: the
 * provider is at max_connections, which is no key's doing. The next
 * provider of the chain is tried, else the client gets a 503. */
static void on_queue_timeout(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_queue, entry);
    if (x->req == NULL || !proxy_upstream_queued(x))
        return;
    const llg_conf_provider_t *p = &x->app->conf->providers[x->provider];
    llg_warn("provider %s: no connection came free in %llu ms (max_connections %llu), the key is not blamed", p->name,
             (unsigned long long)p->queue_timeout_ms, (unsigned long long)p->max_connections);
    proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    x->last_queued = true;
    x->last_outcome = LLG_OUTCOME_NETWORK;
    next_provider(x);
    start_attempt(x);
}

/* ---- the end of an attempt --------------------------------------------- */

/* An upstream error the client must see as is (its own key, or a fault of the
 * request): an HTTP error, or the last event of a stream already started. */
static void respond_xlate_error(proxy_t *x, const llg_xlate_error_t *err)
{
    int status = err->http_status != 0 ? err->http_status : 502;
    proxy_client_error(x, status, err->type[0] ? err->type : NULL, err->code[0] ? err->code : NULL, NULL, err->message);
}

/* After a translator error: the stream it already ended, or the next attempt,
 * or the error itself. */
static void after_xlate_error(proxy_t *x, llg_xlate_error_t *err, int status)
{
    if (err->http_status == 0) {
        /* the translator ended the client's stream with an error event */
        proxy_end_attempt(x, 1, err->outcome, status);
        x->upstream_done = true;
        proxy_finish(x);
        return;
    }
    bool own_key = !x->has_pick && x->client_key.base != NULL;
    if (err->outcome == LLG_OUTCOME_CLIENT ||
        (own_key &&
         (err->outcome == LLG_OUTCOME_AUTH || err->outcome == LLG_OUTCOME_PAYMENT || err->outcome == LLG_OUTCOME_RATE_LIMITED))) {
        proxy_end_attempt(x, 1, err->outcome, status);
        /* the client's own key: it sees the upstream's own status */
        if (own_key && status >= 400 && status < 500 && err->outcome != LLG_OUTCOME_CLIENT)
            err->http_status = status;
        respond_xlate_error(x, err);
        return;
    }
    proxy_end_attempt(x, 1, err->outcome, status);
    x->last_outcome = err->outcome;
    x->last_status = status;
    /* what the client is told if no other attempt answers */
    if (err != &x->xl_err)
        x->xl_err = *err;
    x->has_last_xl = true;
    llg_strbuf_reset(&x->errbody);
    leave_failed_target(x, err->outcome);
    start_attempt(x);
}

/* The upstream's error, normalised to the OpenAI shape
 * (providers/upstream_error.h), is the client's. */
static void relay_upstream_error(proxy_t *x, int status)
{
    llg_upstream_error_fields_t f;
    llg_upstream_error_fields(x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len, &f);
    proxy_client_error(x, status, f.type[0] ? f.type : NULL, f.code[0] ? f.code : NULL, f.param[0] ? f.param : NULL, f.message);
}

/* The attempt's token counts go to its key (or provider) and access token. */
static void count_usage(proxy_t *x)
{
    if (x->rec != NULL) {
        x->rec->have_usage = true;
        x->rec->prompt_tokens = x->prompt_tokens;
        x->rec->completion_tokens = x->completion_tokens;
    }
    if (x->has_pick)
        llg_pool_key_usage(x->app->pool, x->pick.slot, x->prompt_tokens, x->completion_tokens);
    else
        llg_pool_provider_usage(x->app->pool, x->app->view, (unsigned)x->provider, x->prompt_tokens, x->completion_tokens);
    if (x->token >= 0)
        llg_pool_token_usage(x->app->pool, x->app->view, x->token, x->prompt_tokens, x->completion_tokens);
}

/* proxy_attempt_done() of a translated attempt (egress adapter). */
static void translated_done(proxy_t *x, CURLcode result, int status)
{
    llg_xlate_error_t err;
    memset(&err, 0, sizeof(err));
    if (x->xl_failed) {
        x->xl_failed = false;
        err = x->xl_err;
    } else if (result != CURLE_OK) {
        if (x->upstream_started) {
            proxy_end_attempt(x, 1, LLG_OUTCOME_NETWORK, status);
            proxy_fail_committed(x, "upstream_error", "The upstream provider failed in the middle of the answer.");
            return;
        }
        llg_xlate_set_error(&err, 502, "server_error", "upstream_unavailable", LLG_OUTCOME_NETWORK,
                            "The upstream provider could not be reached (%s).", curl_easy_strerror(result));
        x->last_was_timeout = result == CURLE_OPERATION_TIMEDOUT;
    } else if (status < 200 || status >= 300) {
        x->xl->http_error(status, x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len, &err);
    } else {
        size_t before = x->out[x->cur].len;
        if (proxy_xl_end(x, &err) == 0) {
            proxy_xl_usage(x);
            count_usage(x);
            /* a stream starts now; a whole body goes out with proxy_finish(),
             * with its Content-Length */
            if (x->stream && !x->committed && x->out[x->cur].len > before)
                proxy_commit(x);
            proxy_end_attempt(x, 1, LLG_OUTCOME_SUCCESS, status);
            x->upstream_done = true;
            proxy_finish(x);
            return;
        }
        if (err.http_status == 0 && !x->committed)
            proxy_commit(x);
    }
    after_xlate_error(x, &err, status);
}

/* A whole answer rewritten in the client's protocol (x->in->whole_answer:
 * Ollama's embeddings). One it cannot read is a 502 in the client's shape:
 * as for /v1/embeddings, a 2xx is not retried. Returns 0, or -1 when the
 * proxy is done. */
static int rewrite_whole(proxy_t *x, int status)
{
    llg_strbuf_t *b = &x->out[x->cur], shaped = {0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const struct timeval *begin = &x->req->timestamps.request_begin_at;
    int64_t ns = ((int64_t)now.tv_sec - begin->tv_sec) * 1000000000 + ((int64_t)now.tv_nsec - (int64_t)begin->tv_usec * 1000);
    char err[256];
    if (x->in->whole_answer(b->data != NULL ? b->data : "", b->len, x->model, ns > 0 ? (uint64_t)ns : 0, &shaped, err,
                            sizeof(err)) != 0) {
        llg_strbuf_free(&shaped);
        proxy_end_attempt(x, 1, LLG_OUTCOME_SERVER, status);
        proxy_set_provider_env(x, x->provider);
        proxy_fail(x, 502, "upstream_protocol_error", "%s", err);
        return -1;
    }
    llg_strbuf_free(b);
    *b = shaped;
    x->content_type[0] = '\0'; /* llmgate's JSON now: proxy_commit() says application/json */
    return 0;
}

/* A 2xx answer that ended: the end of the response, or of a stream cut short. */
static void success_done(proxy_t *x, int status)
{
    if (x->stream) {
        /* line ends held back at the end of the last event go out as received */
        llg_strbuf_append(&x->out[x->cur], llg_sse_pending_bytes(&x->sse), llg_sse_pending(&x->sse));
        if (llg_sse_pending_event(&x->sse) || !x->saw_done) {
            proxy_end_attempt(x, 1, LLG_OUTCOME_SERVER, status);
            if (x->saw_error)
                proxy_append_end_marker(x); /* its own error event said why */
            else
                proxy_append_error_event(x, "server_error", "upstream_truncated", NULL,
                                         "The upstream provider ended the stream early.");
            x->upstream_done = true;
            proxy_finish(x);
            return;
        }
    } else {
        /* the body is still whole in the buffer unless a part was sent */
        const llg_strbuf_t *src = x->body_sent ? &x->copy : &x->out[x->cur];
        if (src->len > 0 && llg_usage_may_have(src->data, src->len))
            proxy_take_usage(x, src->data, src->len);
        if (src->len > 0)
            proxy_take_meta(x, src->data, src->len);
        if (x->in->whole_answer != NULL && rewrite_whole(x, status) != 0)
            return;
    }
    if (x->have_usage)
        count_usage(x);
    proxy_end_attempt(x, 1, LLG_OUTCOME_SUCCESS, status);
    x->upstream_done = true;
    proxy_finish(x);
}

/* libcurl's error text of the attempt; "" for the own client (which logs
 * its own reason: libcurl's buffer belongs to another transfer then). */
static const char *attempt_error(proxy_t *x)
{
    return x->via_h1 ? "" : llg_curl_error(x->app->curl);
}

/* A TLS failure before any answer (docs/security.md): the upstream's
 * certificate was refused, or ours, or the handshake failed. It is the
 * gateway's or the upstream's configuration, not the key's: no health change.
 * A refused certificate is the same for every key of the provider, so the
 * next provider of the chain is tried, else the client gets a 502. */
static void tls_failed(proxy_t *x, CURLcode result, llg_curl_tls_failure_t kind)
{
    const char *why = attempt_error(x);
    llg_warn("provider %s: TLS failure, the key is not blamed: %s", x->app->conf->providers[x->provider].name,
             why[0] != '\0' ? why : curl_easy_strerror(result));
    if (x->has_bpick) /* the target's configuration or certificate: its breaker counts it */
        llg_balance_report(x->app->pool, x->app->view, &x->bpick, LLG_OUTCOME_NETWORK, llg_pool_now_ms());
    if (x->in_attempt && x->rec != NULL) /* the record says why; the pool is not told */
        llg_reqlog_attempt_end(x->rec, x->ratt, LLG_OUTCOME_NETWORK, 0, "tls", llg_http_now_us());
    x->in_attempt = false;
    proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    x->last_tls = true;
    x->last_outcome = LLG_OUTCOME_NETWORK;
    if (kind == LLG_TLS_REFUSED)
        next_provider(x);
    llg_strbuf_reset(&x->errbody);
    start_attempt(x);
}

/* The attempt's transfer ended (on either client), with libcurl's result. */
void proxy_attempt_done(proxy_t *x, CURLcode result)
{
    h2o_timeout_unlink(&x->t_idle);
    int status = (int)x->status;
    x->last_tls = x->last_queued = false;
    llg_curl_tls_failure_t tls = llg_curl_tls_failure(result, attempt_error(x));
    if (tls != LLG_TLS_NONE && x->status == 0 && !x->upstream_started && !x->xl_failed) {
        tls_failed(x, result, tls);
        return;
    }

    if (proxy_translated(x)) {
        translated_done(x, result, status);
        return;
    }

    if (result == CURLE_OK && status >= 200 && status < 300) {
        success_done(x, status);
        return;
    }

    if (x->upstream_started) {
        /* after the first byte nothing can be retried */
        proxy_end_attempt(x, 1, result == CURLE_OK ? LLG_OUTCOME_SERVER : LLG_OUTCOME_NETWORK, status);
        if (x->stream && x->saw_error) {
            proxy_append_end_marker(x);
            x->upstream_done = true;
            proxy_finish(x);
            return;
        }
        proxy_fail_committed(x, "upstream_error", "The upstream provider failed in the middle of the answer.");
        return;
    }

    llg_outcome_t outcome;
    if (result != CURLE_OK) {
        outcome = LLG_OUTCOME_NETWORK;
        x->last_was_timeout = result == CURLE_OPERATION_TIMEDOUT;
        const char *why = attempt_error(x);
        llg_warn("upstream %s: %s%s%s%s", x->app->conf->providers[x->provider].name, curl_easy_strerror(result),
                 why[0] != '\0' ? " (" : "", why, why[0] != '\0' ? ")" : "");
    } else {
        llg_upstream_error_class_t cls;
        llg_upstream_error_classify(x->errbody.data != NULL ? x->errbody.data : "", x->errbody.len, &cls);
        outcome = llg_pool_classify(status, cls.code[0] ? cls.code : NULL);
        /* OpenRouter refuses moderation-flagged input with 403 and
         * error.metadata.{reasons,flagged_input}: the request is at fault,
         * not the key (docs/key-health.md) */
        if (status == 403 && cls.flagged_input)
            outcome = LLG_OUTCOME_CLIENT;
        x->last_status = status;
    }
    /* with the client's own key, its auth and quota errors are its own */
    if (outcome == LLG_OUTCOME_CLIENT ||
        (!x->has_pick && x->client_key.base != NULL &&
         (outcome == LLG_OUTCOME_AUTH || outcome == LLG_OUTCOME_PAYMENT || outcome == LLG_OUTCOME_RATE_LIMITED))) {
        /* the request itself is at fault: the upstream's answer is the client's */
        proxy_end_attempt(x, 1, outcome, status);
        relay_upstream_error(x, status);
        return;
    }
    proxy_end_attempt(x, 1, outcome, status);
    x->last_outcome = outcome;
    llg_strbuf_reset(&x->errbody);
    leave_failed_target(x, outcome);
    start_attempt(x);
}

/* ---- attempts ---------------------------------------------------------- */

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
        if (p->type == LLG_PROVIDER_ECHO || p->auth != LLG_AUTH_POOL)
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
        proxy_fail_committed(x, "upstream_unavailable", "No upstream provider could answer the request.");
        return;
    }
    proxy_set_provider_env(x, x->provider);
    if (x->all_cooling) {
        char secs[32];
        uint64_t s = (x->retry_after_ms + 999) / 1000;
        snprintf(secs, sizeof(secs), "%llu", (unsigned long long)(s == 0 ? 1 : s));
        h2o_add_header(&x->req->pool, &x->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, strlen(secs));
        proxy_fail(x, 429, "upstream_rate_limited",
                   "Every upstream key for this model is rate limited or unavailable; retry after %s seconds.", secs);
    } else if (x->group >= 0 && x->attempts == 0) {
        /* every target's breaker open or keys resting, and no fallback */
        proxy_fail(x, 503, "no_available_target", "No target of the model group '%s' is available now.",
                   x->app->conf->groups[x->group].name);
    } else if (x->last_queued) {
        proxy_fail(x, 503, "upstream_busy", "Every connection to the upstream provider was busy (%s, max_connections).", p->name);
    } else if (x->last_was_timeout) {
        proxy_fail(x, 504, "upstream_timeout", "The upstream provider did not answer in time (%s).", p->name);
    } else if (x->attempts == 0) {
        proxy_fail(x, 502, "no_upstream_key", "No upstream key is configured for provider '%s'.", p->name);
    } else if (x->last_tls) {
        proxy_fail(x, 502, "upstream_tls_error", "The TLS connection to the upstream provider failed (%s).", p->name);
    } else if (x->has_last_xl && x->xl_err.message[0] != '\0') {
        /* the last translated attempt said why */
        proxy_fail(x, 502, x->xl_err.code[0] ? x->xl_err.code : "upstream_unavailable", "%s", x->xl_err.message);
    } else {
        proxy_fail(x, 502, "upstream_unavailable", "The upstream provider could not answer the request (%s).", p->name);
    }
}

static void next_provider(proxy_t *x)
{
    proxy_group_release(x);
    x->chain_pos++;
    x->ntried = 0;
}

/* The key of the next attempt on provider `p` (index `idx`): the client's own
 * (or none) once per provider, else a pool key not tried yet in this request.
 * False when the provider has no attempt left: the caller moves on. */
static bool take_key(proxy_t *x, const llg_conf_provider_t *p, int idx, const char **key, size_t *key_len)
{
    llg_app_t *app = x->app;
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
        if (x->ntried > 0)
            return false;
        x->ntried = 1;
        *key = client_key.base;
        *key_len = client_key.len;
        x->client_key = client_key;
        return true;
    }
    /* each key at most once per request: a pick counts as an attempt of the key */
    if (x->ntried >= p->keys.count)
        return false;
    llg_pool_pick_t pick;
    if (llg_pool_pick(app->pool, app->view, (unsigned)idx, llg_pool_now_ms(), &pick) != 0) {
        if (pick.retry_after_ms > 0 || x->ntried > 0) {
            uint64_t wait = pick.retry_after_ms;
            if (!x->all_cooling || wait < x->retry_after_ms)
                x->retry_after_ms = wait;
            x->all_cooling = true;
        }
        return false;
    }
    bool seen = false;
    for (size_t i = 0; i < x->ntried; i++)
        seen = seen || x->tried[i] == pick.slot;
    if (seen || x->ntried == MAX_TRIED) {
        llg_pool_release(app->pool, &pick);
        return false;
    }
    x->tried[x->ntried++] = pick.slot;
    x->pick = pick;
    x->has_pick = true;
    x->client_key = (h2o_iovec_t){NULL, 0};
    *key = p->keys.items[pick.key];
    *key_len = strlen(*key);
    return true;
}

static void start_attempt(proxy_t *x)
{
    llg_app_t *app = x->app;
    const llg_conf_t *conf = app->conf;
    for (;;) {
        if (x->req == NULL)
            return;
        if (x->chain_pos >= x->nchain && x->group >= 0 && !x->group_done)
            proxy_group_next(x);
        if (x->chain_pos >= x->nchain || x->attempts >= x->max_attempts) {
            give_up(x);
            return;
        }
        int idx = x->chain[x->chain_pos];
        const llg_conf_provider_t *p = &conf->providers[idx];
        x->provider = idx;

        if (p->type == LLG_PROVIDER_ECHO && !x->committed && x->endpoint == LLG_ENDPOINT_CHAT) {
            h2o_req_t *req = x->req;
            proxy_set_provider_env(x, idx);
            if (x->has_bpick)
                llg_balance_report(app->pool, app->view, &x->bpick, LLG_OUTCOME_SUCCESS, llg_pool_now_ms());
            x->req = NULL;
            llg_chat_respond_echo(app, req, idx, x->root, x->model);
            proxy_dispose(x);
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
        /* poe, puter and anthropic answer chat requests only (anthropic also
         * counts tokens, which only it can) */
        bool serves = x->endpoint == LLG_ENDPOINT_COUNT_TOKENS ? p->type == LLG_PROVIDER_ANTHROPIC
                                                               : p->type == LLG_PROVIDER_OPENAI || x->endpoint == LLG_ENDPOINT_CHAT;
        if (p->type == LLG_PROVIDER_ECHO || !serves) {
            next_provider(x);
            continue;
        }

        const char *key = NULL;
        size_t key_len = 0;
        if (!take_key(x, p, idx, &key, &key_len)) {
            next_provider(x);
            continue;
        }

        h2o_iovec_t body;
        char url[2048];
        int built = proxy_build_request(x, p, &body, url, sizeof(url));
        if (built != 0) {
            proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
            if (built == -2)
                proxy_fail(x, 400, "invalid_model",
                           "'%s' is not a valid Poe bot name (1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-').", x->model);
            else
                proxy_fail(x, 400, "invalid_request", "The request body could not be prepared for the upstream%s.", "");
            return;
        }
        x->status = 0;
        llg_strbuf_reset(&x->errbody);
        if (x->rec != NULL) {
            const char *um = proxy_upstream_model(x, p);
            x->ratt = llg_reqlog_attempt_begin(x->rec, idx, x->has_pick ? x->pick.slot : -1,
                                               um == x->model ? x->rec->model : um, llg_http_now_us());
            if (x->ratt != NULL && x->app->otel != NULL)
                llg_otel_span_id(x->app, x->ratt->span_id);
            x->in_attempt = true;
        }
        int started = proxy_upstream_post(x, p, url, body, key, key_len);
        if (started > 0) {
            /* it could not start: the next key */
            proxy_end_attempt(x, 1, LLG_OUTCOME_NETWORK, 0);
            continue;
        }
        if (started < 0) {
            proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
            proxy_fail(x, 500, "internal_error", "Out of memory%s.", "");
        } else if (x->app->queue_timeout[idx] != NULL && proxy_upstream_queued(x)) {
            h2o_timeout_link(x->app->ctx.loop, x->app->queue_timeout[idx], &x->t_queue);
        }
        return;
    }
}

/* A proxy for `req`, its chain still empty; NULL when the client was
 * already answered (out of memory). */
proxy_t *proxy_new(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int token, bool authenticated,
                   llg_endpoint_t endpoint)
{
    proxy_t *x = calloc(1, sizeof(*x));
    char *model_copy = strdup(model);
    if (x == NULL || model_copy == NULL) {
        free(x);
        free(model_copy);
        cJSON_Delete(root);
        llg_respond_error(req, 500, NULL, "internal_error", NULL, "Out of memory.");
        return NULL;
    }
    proxy_relay_init(x);
    x->app = app;
    x->req = req;
    x->root = root;
    x->model = model_copy;
    x->token = token;
    x->authenticated = authenticated;
    x->endpoint = endpoint;
    x->group = x->target = -1;
    x->max_attempts = app->conf->retry_attempts;
    x->in = llg_http_ingress(req);
    x->client_body = req->entity;
    if (x->in->whole_answer != NULL) {
        /* a request of another protocol (Ollama's embeddings): the upstream
         * gets the OpenAI request its ingress read */
        char *text = cJSON_PrintUnformatted(root);
        if (text == NULL) {
            proxy_fail(x, 500, "internal_error", "Out of memory%s.", "");
            return NULL;
        }
        x->client_body = h2o_strdup(&req->pool, text, strlen(text));
        cJSON_free(text);
    }
    x->request_id = llg_request_id(app, req);
    x->rec = llg_reqlog(req);
    x->rec->proxied = x->rec->active = true;
    x->t_request.cb = on_request_timeout;
    x->t_idle.cb = on_idle_timeout;
    x->t_queue.cb = on_queue_timeout;
    if (endpoint == LLG_ENDPOINT_CHAT || endpoint == LLG_ENDPOINT_COMPLETIONS) {
        x->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
        const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
        x->client_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage"));
        x->add_usage = x->stream && !x->client_usage;
    }
    x->rec->stream = x->stream;
    return x;
}

/* The proxy's timers, and its first attempt. */
void proxy_go(proxy_t *x)
{
    llg_app_t *app = x->app;
    h2o_req_t *req = x->req;
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

void llg_proxy_start(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int provider, int token, bool authenticated,
                     llg_endpoint_t endpoint)
{
    const llg_conf_t *conf = app->conf;
    proxy_t *x = proxy_new(app, req, root, model, token, authenticated, endpoint);
    if (x == NULL)
        return;
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
    proxy_go(x);
}
