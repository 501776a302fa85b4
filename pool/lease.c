/*
 * pool/lease.c: the cluster link's side of a token's rpm (docs/cluster.md
 * "Access-token rpm"): the demand and credits it reads, the credits Redis
 * granted and its refusals, credits given back when their time is over, and
 * the admits made by the host's own limit while the link was down. The
 * request's side is in tokens.c.
 */
#include "internal.h"

int llg_pool_lease_state(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t active_ms,
                         uint64_t *waiting, int64_t *credits, bool *active)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL || view->tokens[token].rpm == 0 || view->tokens[token].first != token)
        return -1;
    int64_t w = atomic_load_explicit(&t->waiting, memory_order_relaxed);
    *waiting = w > 0 ? (uint64_t)w : 0;
    int64_t c = atomic_load_explicit(&t->credits, memory_order_acquire);
    *credits = c > 0 && now_ms < pool_load(&t->credit_until) ? c : 0;
    uint64_t last = pool_load(&t->last_use);
    *active = last != 0 && now_ms - last < active_ms;
    return 0;
}

void llg_pool_lease_grant(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t granted, bool short_grant,
                          uint64_t wait_ms, uint64_t full_in_ms, uint64_t now_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return;
    atomic_store_explicit(&t->full_at, now_ms + full_in_ms, memory_order_relaxed);
    if (granted > 0) {
        /* the validity first: a request that sees the new credits sees it */
        atomic_store_explicit(&t->credit_until, now_ms + LLG_CREDIT_TTL_MS, memory_order_release);
        atomic_fetch_add_explicit(&t->credits, (int64_t)granted, memory_order_acq_rel);
    }
    atomic_store_explicit(&t->denied_until, short_grant ? now_ms + (wait_ms ? wait_ms : 1) : 0, memory_order_release);
}

bool llg_pool_lease_denied(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    return t != NULL && pool_load(&t->denied_until) > now_ms;
}

uint64_t llg_pool_lease_expire(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL || now_ms < pool_load(&t->credit_until))
        return 0;
    int64_t c = atomic_exchange_explicit(&t->credits, 0, memory_order_acq_rel);
    return c > 0 ? (uint64_t)c : 0;
}

uint64_t llg_pool_lease_take_down_admits(llg_pool_t *pool, const llg_pool_view_t *view, int token)
{
    pool_token_t *t = pool_token_slot(pool, view, token);
    if (t == NULL)
        return 0;
    uint64_t d = pool_load(&t->down_admits), f = pool_load(&t->fl_down_admits);
    atomic_store_explicit(&t->fl_down_admits, d, memory_order_relaxed);
    return d - f;
}
