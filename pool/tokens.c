/*
 * pool/tokens.c: client access tokens: lookup in constant time with respect to
 * the secret, the per-token `rpm` limit shared exactly by every process, and
 * the token counters (SPEC sections 3, 5 and 6).
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <string.h>

/* The table is indexed by the digest, whose key the client does not know, so
 * the probe sequence reveals nothing about the secret; each candidate is
 * compared on the full digest with CRYPTO_memcmp. */
int llg_pool_token_lookup(const llg_pool_view_t *view, const char *secret, size_t len)
{
    if (view->token_count == 0 || view->mac == NULL)
        return -1;
    unsigned char d[POOL_DIGEST];
    if (pool_digest(view->mac, 't', secret, len, d) != 0)
        return -1;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    for (size_t i = (size_t)h & view->token_table_mask;; i = (i + 1) & view->token_table_mask) {
        int32_t t = view->token_table[i];
        if (t < 0)
            return -1;
        if (CRYPTO_memcmp(view->tokens[t].digest, d, POOL_DIGEST) == 0) /* t is the first entry of its secret */
            return t;
    }
}

pool_token_t *pool_token_slot(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    if (token < 0 || (size_t)token >= view->token_count)
        return NULL;
    return &pool->tokens[view->tokens[token].slot];
}

/*
 * GCRA (the generic cell rate algorithm) on the token's theoretical arrival
 * time `tat`, in nanoseconds of monotonic time: each request moves it one
 * emission interval T = 60 s / rpm ahead of max(tat, now); a request is
 * refused when that would put it more than tau = (rpm - 1) * T ahead of now.
 * With an idle token, rpm requests pass at once, then one every T: the
 * sustained rate is exactly rpm per minute. One CAS per request makes the
 * decision exact across processes (nothing is counted twice or lost), and a
 * refusal does not move `tat`.
 */
int pool_gcra(pool_token_t *t, uint32_t rpm, uint64_t now_ms, uint64_t *wait_ms)
{
    uint64_t interval = 60000000000ull / rpm, tau = (uint64_t)(rpm - 1) * interval;
    uint64_t now = now_ms * 1000000u;
    uint64_t tat = atomic_load_explicit(&t->tat, memory_order_relaxed);
    for (;;) {
        uint64_t start = tat > now ? tat : now;
        if (start - now > tau) {
            uint64_t wait = start - now - tau;
            *wait_ms = wait / 1000000u + (wait % 1000000u != 0);
            return -1;
        }
        if (atomic_compare_exchange_weak_explicit(&t->tat, &tat, start + interval, memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

/* The host's GCRA; while a cluster is configured, what it admits is counted
 * for the link to add to the cluster's limit when it is back. */
static int admit_local(llg_pool_t *pool, pool_token_t *t, uint32_t rpm, uint64_t now_ms, uint64_t *retry_after_ms)
{
    uint64_t wait = 0;
    if (pool_gcra(t, rpm, now_ms, &wait) != 0) {
        if (retry_after_ms != NULL)
            *retry_after_ms = wait;
        pool_add(&t->rejected_rate, 1);
        return -1;
    }
    if (llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF)
        pool_add(&t->down_admits, 1);
    return 0;
}

int llg_pool_token_admit(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (retry_after_ms != NULL)
        *retry_after_ms = 0;
    if (t == NULL)
        return -1;
    pool_add(&t->requests, 1);
    uint32_t rpm = view->tokens[token].rpm;
    if (rpm == 0)
        return 0;
    if (!pool_cluster_up(pool))
        return admit_local(pool, t, rpm, now_ms, retry_after_ms);
    atomic_store_explicit(&t->last_use, now_ms, memory_order_relaxed);
    int r = llg_pool_token_wait(pool, view, token, now_ms, retry_after_ms);
    if (r == 1)
        atomic_fetch_add_explicit(&t->waiting, 1, memory_order_relaxed); /* the link asks credits for it */
    return r;
}

int llg_pool_token_wait(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return -1;
    int64_t c = atomic_load_explicit(&t->credits, memory_order_acquire);
    while (c > 0 && now_ms < atomic_load_explicit(&t->credit_until, memory_order_acquire))
        if (atomic_compare_exchange_weak_explicit(&t->credits, &c, c - 1, memory_order_acq_rel, memory_order_acquire))
            return 0;
    uint64_t denied = atomic_load_explicit(&t->denied_until, memory_order_acquire);
    if (denied > now_ms) {
        if (retry_after_ms != NULL)
            *retry_after_ms = denied - now_ms;
        pool_add(&t->rejected_rate, 1);
        return -1;
    }
    if (!pool_cluster_up(pool)) /* the link went down meanwhile */
        return admit_local(pool, t, view->tokens[token].rpm, now_ms, retry_after_ms);
    return 1;
}

void llg_pool_token_wait_end(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t != NULL)
        atomic_fetch_sub_explicit(&t->waiting, 1, memory_order_relaxed);
}

int llg_pool_token_admit_local(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return -1;
    if (view->tokens[token].rpm == 0)
        return 0;
    return admit_local(pool, t, view->tokens[token].rpm, now_ms, retry_after_ms);
}

void llg_pool_token_reject(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return;
    /* a refused request is still a request of the token */
    pool_add(&t->requests, 1);
    pool_add(&t->rejected_forbidden, 1);
}

void llg_pool_token_reject_quota(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return;
    pool_add(&t->requests, 1);
    pool_add(&t->rejected_quota, 1);
}

void llg_pool_token_usage(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t prompt, uint64_t completion)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return;
    pool_add(&t->prompt_tokens, prompt);
    pool_add(&t->completion_tokens, completion);
    pool_usage_tokens(&t->use, prompt, completion);
}

int llg_pool_token_stats(const llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_pool_token_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_token_t *t = pool_token_slot((llg_pool_t *)pool, view, token);
    if (t == NULL)
        return -1;
    out->requests = pool_load(&t->requests);
    out->rejected_rate = pool_load(&t->rejected_rate);
    out->rejected_forbidden = pool_load(&t->rejected_forbidden);
    out->rejected_quota = pool_load(&t->rejected_quota);
    out->prompt_tokens = pool_load(&t->prompt_tokens);
    out->completion_tokens = pool_load(&t->completion_tokens);
    return 0;
}

const char *llg_pool_token_label(const llg_pool_view_t *view, int token)
{
    if (token < 0 || (size_t)token >= view->token_count)
        return NULL;
    return view->tokens[view->tokens[token].first].label;
}
