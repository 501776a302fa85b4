/*
 * pool/share.c: what the cluster link (server/cluster.c, docs/cluster.md)
 * reads and writes in the region: the count of local health transitions per
 * key (bumped by health.c, never by a state applied from another instance, so
 * nothing is shared back), a key's shareable state, the application of a
 * state another instance shared, and the link's up/down word that /health and
 * /metrics show.
 */
#include "internal.h"

void pool_key_changed(llg_pool_t *pool, uint32_t slot)
{
    atomic_fetch_add_explicit(&pool->keys[slot].changes, 1, memory_order_release);
    atomic_fetch_add_explicit(&pool->hdr->key_changes, 1, memory_order_release);
}

void llg_pool_set_cluster_state(llg_pool_t *pool, llg_cluster_state_t state)
{
    atomic_store_explicit(&pool->hdr->cluster_state, (uint32_t)state, memory_order_release);
}

llg_cluster_state_t llg_pool_cluster_state(const llg_pool_t *pool)
{
    return (llg_cluster_state_t)atomic_load_explicit(&pool->hdr->cluster_state, memory_order_acquire);
}

uint64_t llg_pool_key_changes(const llg_pool_t *pool)
{
    return atomic_load_explicit(&pool->hdr->key_changes, memory_order_acquire);
}

int llg_pool_key_share(const llg_pool_t *pool, int32_t slot, uint64_t now_ms, uint32_t *changes, llg_share_kind_t *kind,
                       uint64_t *remaining_ms)
{
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return -1;
    /* the count first: a transition after this read is seen by the next poll */
    *changes = atomic_load_explicit(&pool->keys[slot].changes, memory_order_acquire);
    uint64_t w = atomic_load_explicit(&pool->health[slot], memory_order_acquire);
    unsigned k = hw_kind(w);
    uint64_t t = hw_time(w);
    *remaining_ms = 0;
    *kind = LLG_SHARE_USABLE;
    if ((w & HW_PROBING) || k == HW_USABLE || t <= now_ms)
        return 0;
    *kind = k == HW_DISABLED ? LLG_SHARE_DISABLED : LLG_SHARE_COOLING;
    *remaining_ms = t - now_ms;
    return 0;
}

int llg_pool_key_apply(llg_pool_t *pool, int32_t slot, llg_share_kind_t kind, uint64_t remaining_ms, uint64_t now_ms,
                       bool only_longer)
{
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return -1;
    _Atomic uint64_t *hw = &pool->health[slot];
    unsigned nk = kind == LLG_SHARE_DISABLED ? HW_DISABLED : kind == LLG_SHARE_COOLING ? HW_COOLING : HW_USABLE;
    uint64_t until = nk == HW_USABLE ? 0 : now_ms + remaining_ms;
    uint64_t w = atomic_load_explicit(hw, memory_order_acquire), nw;
    do {
        bool resting = hw_kind(w) != HW_USABLE && !(w & HW_PROBING) && hw_time(w) > now_ms;
        if (nk == HW_USABLE && hw_kind(w) == HW_USABLE && !(w & HW_PROBING))
            return 0;
        if (only_longer && (nk == HW_USABLE || (resting && hw_time(w) >= until)))
            return 0;
        if (nk != HW_USABLE && hw_kind(w) == nk && !(w & HW_PROBING) && hw_time(w) == until)
            return 0;
        nw = hw_next(w, nk, false, until);
    } while (!atomic_compare_exchange_weak_explicit(hw, &w, nw, memory_order_acq_rel, memory_order_acquire));
    /* the key may be pickable sooner than a stored "no key usable" hint says */
    uint32_t p = atomic_load_explicit(&pool->keys[slot].provider, memory_order_relaxed);
    if (p < pool->hdr->provider_capacity)
        pool_unblock(&pool->provs[p]);
    return 1;
}
