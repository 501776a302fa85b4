/*
 * pool/usage.c: usage by UTC day and month per access token and per key, and
 * the quotas of access tokens (docs/quotas.md): the window words, what a
 * token has used (this host's count, or with a cluster the link's last read of
 * the cluster's total plus what this host has not sent yet), the admission of
 * a request against requests_per_day, the limits shown in x-ratelimit-*
 * headers, and the link's side: taking unsent amounts and storing totals.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

static int64_t test_epoch; /* process-local: llg_pool_set_test_epoch */

void llg_pool_set_test_epoch(int64_t epoch_s)
{
    test_epoch = epoch_s;
}

static int64_t epoch_now(void)
{
    return test_epoch != 0 ? test_epoch : (int64_t)time(NULL);
}

uint64_t llg_pool_utc_day(int64_t epoch_s)
{
    return epoch_s < 0 ? 0 : (uint64_t)epoch_s / 86400u;
}

uint64_t llg_pool_utc_month(int64_t epoch_s)
{
    time_t t = (time_t)(epoch_s < 0 ? 0 : epoch_s);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (uint64_t)(tm.tm_year + 1900) * 12u + (uint64_t)tm.tm_mon;
}

const char *llg_quota_name(llg_quota_t quota)
{
    static const char *const names[LLG_QUOTA_COUNT] = {"requests_per_day", "tokens_per_day", "tokens_per_month"};
    return (unsigned)quota < LLG_QUOTA_COUNT ? names[quota] : "?";
}

int64_t llg_quota_reset_epoch(llg_quota_t quota, int64_t now_epoch_s)
{
    if (quota != LLG_QUOTA_TOKENS_MONTH)
        return ((int64_t)llg_pool_utc_day(now_epoch_s) + 1) * 86400;
    time_t t = (time_t)(now_epoch_s < 0 ? 0 : now_epoch_s);
    struct tm tm;
    gmtime_r(&t, &tm);
    struct tm next = {.tm_year = tm.tm_mon == 11 ? tm.tm_year + 1 : tm.tm_year, .tm_mon = (tm.tm_mon + 1) % 12, .tm_mday = 1};
    return (int64_t)timegm(&next);
}

void pool_win_add(_Atomic uint64_t *w, uint64_t win, uint64_t n)
{
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed), nw;
    do {
        uint64_t count = (old >> WIN_SHIFT) == win ? (old & WIN_COUNT) : 0;
        count = count + n > WIN_COUNT ? WIN_COUNT : count + n;
        nw = win << WIN_SHIFT | count;
    } while (!atomic_compare_exchange_weak_explicit(w, &old, nw, memory_order_relaxed, memory_order_relaxed));
}

/* ---- counting ----------------------------------------------------------------------- */

void pool_usage_request(pool_usage_t *u)
{
    pool_win_add(&u->day_requests, llg_pool_utc_day(epoch_now()), 1);
}

void pool_usage_tokens(pool_usage_t *u, uint64_t prompt, uint64_t completion)
{
    int64_t now = epoch_now();
    uint64_t day = llg_pool_utc_day(now);
    pool_win_add(&u->day_prompt, day, prompt);
    pool_win_add(&u->day_completion, day, completion);
    pool_win_add(&u->month_tokens, llg_pool_utc_month(now), prompt + completion);
}

static uint64_t unsent(uint64_t cum, const _Atomic uint64_t *fl)
{
    uint64_t f = pool_load(fl);
    return cum > f ? cum - f : 0;
}

/* The usage in the window of `now`: this host's, or the cluster's (the link's
 * last totals plus what this host counted and has not sent). `cum` are the
 * host's cumulative requests, prompt and completion tokens. */
static void usage_of(const pool_usage_t *u, const uint64_t cum[3], int64_t now, bool cluster, llg_pool_day_usage_t *out)
{
    uint64_t day = llg_pool_utc_day(now), month = llg_pool_utc_month(now);
    if (!cluster) {
        out->requests = pool_win_count(pool_load(&u->day_requests), day);
        out->prompt_tokens = pool_win_count(pool_load(&u->day_prompt), day);
        out->completion_tokens = pool_win_count(pool_load(&u->day_completion), day);
        out->month_tokens = pool_win_count(pool_load(&u->month_tokens), month);
        return;
    }
    /* the link may mark more as sent after `cum` was read: nothing unsent then */
    uint64_t ur = unsent(cum[0], &u->fl_requests), up = unsent(cum[1], &u->fl_prompt), uc = unsent(cum[2], &u->fl_completion);
    out->requests = pool_win_count(pool_load(&u->cl_day_requests), day) + ur;
    out->prompt_tokens = pool_win_count(pool_load(&u->cl_day_prompt), day) + up;
    out->completion_tokens = pool_win_count(pool_load(&u->cl_day_completion), day) + uc;
    out->month_tokens = pool_win_count(pool_load(&u->cl_month_tokens), month) + up + uc;
}

static void token_cum(pool_token_t *t, uint64_t cum[3])
{
    cum[0] = pool_load(&t->admitted);
    cum[1] = pool_load(&t->prompt_tokens);
    cum[2] = pool_load(&t->completion_tokens);
}

static void key_cum(pool_key_t *k, uint64_t cum[3])
{
    cum[0] = pool_load(&k->requests);
    cum[1] = pool_load(&k->prompt_tokens);
    cum[2] = pool_load(&k->completion_tokens);
}

int llg_pool_token_day_usage(const llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s, bool cluster,
                             llg_pool_day_usage_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_token_t *t = pool_token_slot((llg_pool_t *)pool, view, token);
    if (t == NULL)
        return -1;
    uint64_t cum[3];
    token_cum(t, cum);
    usage_of(&t->use, cum, now_epoch_s, cluster, out);
    return 0;
}

int llg_pool_key_day_usage(const llg_pool_t *pool, int32_t slot, int64_t now_epoch_s, bool cluster, llg_pool_day_usage_t *out)
{
    memset(out, 0, sizeof(*out));
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return -1;
    pool_key_t *k = &pool->keys[slot];
    uint64_t cum[3];
    key_cum(k, cum);
    usage_of(&k->use, cum, now_epoch_s, cluster, out);
    return 0;
}

/* ---- quotas ---------------------------------------------------------------------------- */

static uint64_t quota_used(const llg_pool_day_usage_t *u, llg_quota_t q)
{
    return q == LLG_QUOTA_REQUESTS_DAY ? u->requests
           : q == LLG_QUOTA_TOKENS_DAY ? u->prompt_tokens + u->completion_tokens
                                       : u->month_tokens;
}

uint64_t llg_pool_quota_used(const llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_quota_t quota, int64_t now_epoch_s)
{
    llg_pool_day_usage_t u;
    if (llg_pool_token_day_usage(pool, view, token, now_epoch_s, llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF, &u) != 0)
        return 0;
    return quota_used(&u, quota);
}

int llg_pool_quota_check(const llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s)
{
    if (token < 0 || (size_t)token >= view->token_count)
        return -1;
    const uint64_t *limit = view->tokens[token].quota;
    if (limit[0] == 0 && limit[1] == 0 && limit[2] == 0)
        return -1;
    llg_pool_day_usage_t u;
    llg_pool_token_day_usage(pool, view, token, now_epoch_s, llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF, &u);
    for (int q = 0; q < LLG_QUOTA_COUNT; q++)
        if (limit[q] != 0 && quota_used(&u, (llg_quota_t)q) >= limit[q])
            return q;
    return -1;
}

/* requests_per_day is exact on one host: the count that decides is the one
 * incremented, by CAS (the day word without a cluster, the cumulative
 * `admitted` with one). */
int llg_pool_quota_admit(llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return -1;
    uint64_t limit = view->tokens[token].quota[LLG_QUOTA_REQUESTS_DAY], day = llg_pool_utc_day(now_epoch_s);
    bool cluster = llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF;
    if (limit != 0 && !cluster) {
        uint64_t old = atomic_load_explicit(&t->use.day_requests, memory_order_relaxed), nw;
        do {
            uint64_t count = pool_win_count(old, day);
            if (count >= limit) {
                pool_add(&t->rejected_quota, 1);
                return -1;
            }
            nw = day << WIN_SHIFT | (count + 1);
        } while (
            !atomic_compare_exchange_weak_explicit(&t->use.day_requests, &old, nw, memory_order_relaxed, memory_order_relaxed));
        pool_add(&t->admitted, 1);
        return 0;
    }
    if (limit != 0) {
        uint64_t base = pool_win_count(pool_load(&t->use.cl_day_requests), day), fl = pool_load(&t->use.fl_requests);
        uint64_t a = atomic_load_explicit(&t->admitted, memory_order_relaxed);
        do {
            if (base + (a - fl) >= limit) {
                pool_add(&t->rejected_quota, 1);
                return -1;
            }
        } while (!atomic_compare_exchange_weak_explicit(&t->admitted, &a, a + 1, memory_order_relaxed, memory_order_relaxed));
    } else {
        pool_add(&t->admitted, 1);
    }
    pool_win_add(&t->use.day_requests, day, 1);
    return 0;
}

bool llg_pool_token_limited(const llg_pool_view_t *view, int token)
{
    if (token < 0 || (size_t)token >= view->token_count)
        return false;
    const view_token_t *vt = &view->tokens[token];
    return vt->rpm != 0 || vt->quota[0] != 0 || vt->quota[1] != 0 || vt->quota[2] != 0;
}

void llg_pool_token_limits(const llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, int64_t now_epoch_s,
                           llg_pool_limits_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_token_t *t = pool_token_slot((llg_pool_t *)pool, view, token);
    if (t == NULL)
        return;
    const view_token_t *vt = &view->tokens[token];
    if (vt->rpm != 0) {
        /* the GCRA's state: the host's, or the cluster's as the link last saw it */
        uint64_t interval_us = 60000000u / vt->rpm, ahead_us = 0;
        if (pool_cluster_up(pool)) {
            uint64_t full = pool_load(&t->full_at);
            ahead_us = full > now_ms ? (full - now_ms) * 1000u : 0;
        } else {
            uint64_t tat = pool_load(&t->tat), now = now_ms * 1000000u;
            ahead_us = tat > now ? (tat - now) / 1000u : 0;
        }
        uint64_t used = interval_us ? (ahead_us + interval_us - 1) / interval_us : 0;
        out->rpm = vt->rpm;
        out->rpm_remaining = used >= vt->rpm ? 0 : vt->rpm - used;
        out->rpm_reset_ms = (ahead_us + 999) / 1000;
    }
    llg_pool_day_usage_t u;
    llg_pool_token_day_usage(pool, view, token, now_epoch_s, llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF, &u);
    for (int q = 0; q < LLG_QUOTA_COUNT; q++) {
        if (vt->quota[q] == 0)
            continue;
        uint64_t used = quota_used(&u, (llg_quota_t)q);
        out->quota[q].limit = vt->quota[q];
        out->quota[q].used = used;
        out->quota[q].remaining = used >= vt->quota[q] ? 0 : vt->quota[q] - used;
        out->quota[q].reset_epoch_s = llg_quota_reset_epoch((llg_quota_t)q, now_epoch_s);
    }
}

/* ---- the link's side -------------------------------------------------------------------- */

/* Marks [fl, cum) as sent and returns its size. Only the link writes the
 * marks, so a load and a store suffice. */
static uint64_t take(_Atomic uint64_t *fl, uint64_t cum)
{
    uint64_t f = pool_load(fl);
    atomic_store_explicit(fl, cum, memory_order_relaxed);
    return cum - f;
}

static void take_unsent(pool_usage_t *u, const uint64_t cum[3], llg_pool_unsent_t *out)
{
    out->requests = take(&u->fl_requests, cum[0]);
    out->prompt_tokens = take(&u->fl_prompt, cum[1]);
    out->completion_tokens = take(&u->fl_completion, cum[2]);
}

int llg_pool_token_take_unsent(llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_pool_unsent_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return -1;
    uint64_t cum[3];
    token_cum(t, cum);
    take_unsent(&t->use, cum, out);
    return 0;
}

int llg_pool_key_take_unsent(llg_pool_t *pool, int32_t slot, llg_pool_unsent_t *out)
{
    memset(out, 0, sizeof(*out));
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return -1;
    uint64_t cum[3];
    key_cum(&pool->keys[slot], cum);
    take_unsent(&pool->keys[slot].use, cum, out);
    return 0;
}

static void set_totals(pool_usage_t *u, uint64_t day, uint64_t month, const llg_pool_day_usage_t *v)
{
    uint64_t c = WIN_COUNT;
    atomic_store_explicit(&u->cl_day_requests, day << WIN_SHIFT | (v->requests < c ? v->requests : c), memory_order_relaxed);
    atomic_store_explicit(&u->cl_day_prompt, day << WIN_SHIFT | (v->prompt_tokens < c ? v->prompt_tokens : c),
                          memory_order_relaxed);
    atomic_store_explicit(&u->cl_day_completion, day << WIN_SHIFT | (v->completion_tokens < c ? v->completion_tokens : c),
                          memory_order_relaxed);
    atomic_store_explicit(&u->cl_month_tokens, month << WIN_SHIFT | (v->month_tokens < c ? v->month_tokens : c),
                          memory_order_relaxed);
}

void llg_pool_token_set_totals(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t day, uint64_t month,
                               const llg_pool_day_usage_t *totals)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t != NULL)
        set_totals(&t->use, day, month, totals);
}

void llg_pool_key_set_totals(llg_pool_t *pool, int32_t slot, uint64_t day, uint64_t month, const llg_pool_day_usage_t *totals)
{
    if (slot >= 0 && (uint32_t)slot < pool->hdr->key_capacity)
        set_totals(&pool->keys[slot].use, day, month, totals);
}
