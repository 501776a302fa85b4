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

static pool_token_t *token_slot(llg_pool_t *pool, const llg_pool_view_t *view, int token)
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
int llg_pool_token_admit(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms)
{
    pool_token_t *t = token_slot(pool, view, token);
    if (retry_after_ms != NULL)
        *retry_after_ms = 0;
    if (t == NULL)
        return -1;
    pool_add(&t->requests, 1);
    uint32_t rpm = view->tokens[token].rpm;
    if (rpm == 0)
        return 0;
    uint64_t interval = 60000000000ull / rpm, tau = (uint64_t)(rpm - 1) * interval;
    uint64_t now = now_ms * 1000000u;
    uint64_t tat = atomic_load_explicit(&t->tat, memory_order_relaxed);
    for (;;) {
        uint64_t start = tat > now ? tat : now;
        if (start - now > tau) {
            uint64_t wait = start - now - tau;
            if (retry_after_ms != NULL)
                *retry_after_ms = wait / 1000000u + (wait % 1000000u != 0);
            pool_add(&t->rejected_rate, 1);
            return -1;
        }
        if (atomic_compare_exchange_weak_explicit(&t->tat, &tat, start + interval, memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

void llg_pool_token_reject(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    pool_token_t *t = token_slot(pool, view, token);
    if (t == NULL)
        return;
    /* a refused request is still a request of the token */
    pool_add(&t->requests, 1);
    pool_add(&t->rejected_forbidden, 1);
}

void llg_pool_token_usage(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t prompt, uint64_t completion)
{
    pool_token_t *t = token_slot(pool, view, token);
    if (t == NULL)
        return;
    pool_add(&t->prompt_tokens, prompt);
    pool_add(&t->completion_tokens, completion);
}

int llg_pool_token_stats(const llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_pool_token_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_token_t *t = token_slot((llg_pool_t *)pool, view, token);
    if (t == NULL)
        return -1;
    out->requests = pool_load(&t->requests);
    out->rejected_rate = pool_load(&t->rejected_rate);
    out->rejected_forbidden = pool_load(&t->rejected_forbidden);
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
