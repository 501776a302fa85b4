/*
 * server/token_limits.c: a token's quotas and rpm at admission (see token_limits.h). A
 * request waits only when the cluster's link is up and this instance holds no
 * credit of the token's rpm: it looks again every LLG_LIMITS_POLL_MS until a
 * credit or a refusal arrives, and after cluster.redis.timeout applies the
 * host's own rpm instead (Redis must never fail or stall a request).
 */
#include "server/token_limits.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/respond.h"

typedef struct limits_wait {
    h2o_timeout_entry_t timer;
    llg_app_t *app;
    h2o_req_t *req;
    int token;
    uint64_t deadline_ms;
    llg_limits_proceed_t proceed;
    void *data;
    bool ended; /* the pool's count of waiting requests no longer has it */
} limits_wait_t;

/* "1s", "6m0s", "20ms", "1h0m0s": the format of OpenAI's x-ratelimit-reset-*. */
static void go_duration(char *buf, size_t size, uint64_t ms)
{
    if (ms < 1000) {
        snprintf(buf, size, "%llums", (unsigned long long)ms);
        return;
    }
    uint64_t s = (ms + 999) / 1000, h = s / 3600, m = s % 3600 / 60;
    if (h > 0)
        snprintf(buf, size, "%lluh%llum%llus", (unsigned long long)h, (unsigned long long)m, (unsigned long long)(s % 60));
    else if (m > 0)
        snprintf(buf, size, "%llum%llus", (unsigned long long)m, (unsigned long long)(s % 60));
    else
        snprintf(buf, size, "%llus", (unsigned long long)s);
}

static void header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t n = h2o_strdup(&req->pool, name, strlen(name)), v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, v.base, v.len);
}

static void header_set(h2o_req_t *req, const char *what, uint64_t limit, uint64_t remaining, uint64_t reset_ms)
{
    char name[64], v[32];
    snprintf(name, sizeof(name), "x-ratelimit-limit-%s", what);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)limit);
    header(req, name, v);
    snprintf(name, sizeof(name), "x-ratelimit-remaining-%s", what);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)remaining);
    header(req, name, v);
    snprintf(name, sizeof(name), "x-ratelimit-reset-%s", what);
    go_duration(v, sizeof(v), reset_ms);
    header(req, name, v);
}

/* OpenAI's names: `requests` is the rpm (else requests_per_day), `tokens` is
 * tokens_per_day (else tokens_per_month); each quota also has its own set
 * (`-requests-day`, `-tokens-day`, `-tokens-month`). docs/quotas.md. */
static void add_headers(llg_app_t *app, h2o_req_t *req, int token)
{
    if (!llg_pool_token_limited(app->view, token))
        return;
    int64_t now_s = (int64_t)time(NULL);
    llg_pool_limits_t lim;
    llg_pool_token_limits(app->pool, app->view, token, llg_pool_now_ms(), now_s, &lim);
    static const char *const names[LLG_QUOTA_COUNT] = {"requests-day", "tokens-day", "tokens-month"};
    uint64_t reset_ms[LLG_QUOTA_COUNT];
    for (int q = 0; q < LLG_QUOTA_COUNT; q++)
        reset_ms[q] = lim.quota[q].limit ? (uint64_t)(lim.quota[q].reset_epoch_s - now_s) * 1000 : 0;
    if (lim.rpm != 0)
        header_set(req, "requests", lim.rpm, lim.rpm_remaining, lim.rpm_reset_ms);
    else if (lim.quota[LLG_QUOTA_REQUESTS_DAY].limit != 0)
        header_set(req, "requests", lim.quota[0].limit, lim.quota[0].remaining, reset_ms[0]);
    int tq = lim.quota[LLG_QUOTA_TOKENS_DAY].limit != 0 ? LLG_QUOTA_TOKENS_DAY : LLG_QUOTA_TOKENS_MONTH;
    if (lim.quota[tq].limit != 0)
        header_set(req, "tokens", lim.quota[tq].limit, lim.quota[tq].remaining, reset_ms[tq]);
    for (int q = 0; q < LLG_QUOTA_COUNT; q++)
        if (lim.quota[q].limit != 0)
            header_set(req, names[q], lim.quota[q].limit, lim.quota[q].remaining, reset_ms[q]);
}

void llg_limits_headers(llg_app_t *app, h2o_req_t *req, int token)
{
    add_headers(app, req, token);
}

static void refuse_rpm(llg_app_t *app, h2o_req_t *req, int token, uint64_t retry_ms)
{
    char secs[32];
    snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((retry_ms + 999) / 1000));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, strlen(secs));
    add_headers(app, req, token);
    llg_respond_error(req, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                      "Rate limit reached for this API key (%u requests per minute); retry after %s seconds.",
                      app->conf->tokens[token].rpm, secs);
}

static void refuse_quota(llg_app_t *app, h2o_req_t *req, int token, llg_quota_t q)
{
    int64_t now = (int64_t)time(NULL), reset = llg_quota_reset_epoch(q, now);
    time_t rt = (time_t)reset;
    struct tm tm;
    gmtime_r(&rt, &tm);
    char when[32], secs[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(secs, sizeof(secs), "%lld", (long long)(reset - now));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, strlen(secs));
    add_headers(app, req, token);
    const llg_conf_token_t *t = &app->conf->tokens[token];
    uint64_t limit = q == LLG_QUOTA_REQUESTS_DAY ? t->quota.requests_per_day
                     : q == LLG_QUOTA_TOKENS_DAY ? t->quota.tokens_per_day
                                                 : t->quota.tokens_per_month;
    llg_respond_error(req, 429, "insufficient_quota", "quota_exceeded", NULL,
                      "This API key has used its quota %s (%llu %s); it resets at %s (in %s seconds).", llg_quota_name(q),
                      (unsigned long long)limit, q == LLG_QUOTA_REQUESTS_DAY ? "requests" : "tokens", when, secs);
}

/* The request is through its rpm: its quota counts it, then it goes on. */
static void admitted(llg_app_t *app, h2o_req_t *req, int token, llg_limits_proceed_t proceed, void *data)
{
    if (llg_pool_quota_admit(app->pool, app->view, token, (int64_t)time(NULL)) != 0) {
        /* the last request of the day was taken by another one meanwhile */
        refuse_quota(app, req, token, LLG_QUOTA_REQUESTS_DAY);
        return;
    }
    add_headers(app, req, token);
    proceed(req, data);
}

static void wait_end(limits_wait_t *w)
{
    if (h2o_timeout_is_linked(&w->timer))
        h2o_timeout_unlink(&w->timer);
    if (!w->ended) {
        w->ended = true;
        llg_pool_token_wait_end(w->app->pool, w->app->view, w->token);
    }
}

static void on_wait_dispose(void *p)
{
    wait_end(p);
}

static void on_poll(h2o_timeout_entry_t *entry)
{
    limits_wait_t *w = H2O_STRUCT_FROM_MEMBER(limits_wait_t, timer, entry);
    uint64_t now = llg_pool_now_ms(), retry = 0;
    int r = llg_pool_token_wait(w->app->pool, w->app->view, w->token, now, &retry);
    if (r == 1 && now >= w->deadline_ms) /* the link did not answer in time: this host's limit */
        r = llg_pool_token_admit_local(w->app->pool, w->app->view, w->token, now, &retry);
    if (r == 1) {
        h2o_timeout_link(w->req->conn->ctx->loop, w->app->limit_poll, &w->timer);
        return;
    }
    wait_end(w);
    if (r == 0)
        admitted(w->app, w->req, w->token, w->proceed, w->data);
    else
        refuse_rpm(w->app, w->req, w->token, retry);
}

void llg_limits_admit(llg_app_t *app, h2o_req_t *req, int token, llg_limits_proceed_t proceed, void *data)
{
    int over = llg_pool_quota_check(app->pool, app->view, token, (int64_t)time(NULL));
    if (over >= 0) {
        llg_pool_token_reject_quota(app->pool, app->view, token);
        refuse_quota(app, req, token, (llg_quota_t)over);
        return;
    }
    uint64_t now = llg_pool_now_ms(), retry = 0;
    int r = llg_pool_token_admit(app->pool, app->view, token, now, &retry);
    if (r < 0) {
        refuse_rpm(app, req, token, retry);
        return;
    }
    if (r == 0) {
        admitted(app, req, token, proceed, data);
        return;
    }
    limits_wait_t *w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), on_wait_dispose);
    memset(w, 0, sizeof(*w));
    w->timer.cb = on_poll;
    w->app = app;
    w->req = req;
    w->token = token;
    w->deadline_ms = now + app->conf->cluster.redis.timeout_ms;
    w->proceed = proceed;
    w->data = data;
    h2o_timeout_link(req->conn->ctx->loop, app->limit_poll, &w->timer);
}
