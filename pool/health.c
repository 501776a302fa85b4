/*
 * pool/health.c: key selection and health (SPEC section 6): the shared
 * round-robin pick, the half-open probe of a key whose rest is over, and the
 * transitions that an attempt's outcome makes (docs/key-health.md has the
 * state machine). Every transition is one CAS on the key's health word; no
 * lock is ever taken, so a process killed anywhere leaves the others unblocked.
 */
#include "internal.h"

#include <string.h>

static const char *const outcome_names[LLG_OUTCOME_COUNT] = {
    "success", "rate_limited", "auth", "payment", "server", "network", "client", "cancelled",
};

const char *llg_outcome_name(llg_outcome_t outcome)
{
    return (unsigned)outcome < LLG_OUTCOME_COUNT ? outcome_names[outcome] : "unknown";
}

llg_outcome_t llg_pool_classify(int http_status, const char *error_code)
{
    if (error_code != NULL && (strcmp(error_code, "insufficient_quota") == 0 || strcmp(error_code, "insufficient_fund") == 0))
        return LLG_OUTCOME_PAYMENT;
    if (http_status <= 0)
        return LLG_OUTCOME_NETWORK;
    if (http_status < 400)
        return LLG_OUTCOME_SUCCESS;
    switch (http_status) {
    case 429:
        return LLG_OUTCOME_RATE_LIMITED;
    case 401:
    case 403:
        return LLG_OUTCOME_AUTH;
    case 402:
        return LLG_OUTCOME_PAYMENT;
    case 408:
        return LLG_OUTCOME_NETWORK;
    default:
        return http_status < 500 ? LLG_OUTCOME_CLIENT : LLG_OUTCOME_SERVER;
    }
}

llg_key_state_t pool_key_state(uint64_t w, uint64_t now_ms, uint64_t *remaining_ms)
{
    uint64_t t = hw_time(w), rem = 0;
    llg_key_state_t s;
    if (w & HW_PROBING)
        s = LLG_KEY_PROBING;
    else if (hw_kind(w) == HW_USABLE)
        s = LLG_KEY_USABLE;
    else if (hw_kind(w) == HW_COOLING)
        s = t > now_ms ? LLG_KEY_COOLING : LLG_KEY_USABLE; /* over: the next pick probes it */
    else
        s = LLG_KEY_DISABLED;
    if ((s == LLG_KEY_COOLING || s == LLG_KEY_DISABLED) && t > now_ms)
        rem = t - now_ms;
    if (remaining_ms != NULL)
        *remaining_ms = rem;
    return s;
}

/* ---- the "no key usable" hint of a provider --------------------------------- */

/*
 * When a pick finds no usable key it stores, in the provider's `blocked` word,
 * the time the first key becomes pickable, so that picks until then answer at
 * once instead of scanning every key (a flood of requests while all keys cool
 * down costs O(1) each). Bits 0..47: that time; bits 48..63: an epoch. Every
 * transition that makes a key pickable sooner bumps the epoch after changing
 * the key, and a scanner stores its hint only by CAS on the word it read
 * before scanning, so a hint computed from a stale scan is never stored.
 */
#define BL_EPOCH_ONE (UINT64_C(1) << 48)

void pool_unblock(pool_prov_t *prov)
{
    uint64_t b = atomic_load_explicit(&prov->blocked, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&prov->blocked, &b, (b & ~HW_TIME_MASK) + BL_EPOCH_ONE, memory_order_acq_rel,
                                                  memory_order_relaxed))
        ;
}

/* When a key in state `w` may be picked: now (0) when usable, else when its
 * rest ends, or when its probe is deemed abandoned. */
static uint64_t pickable_at(uint64_t w, uint64_t probe_timeout_ms)
{
    if (w & HW_PROBING)
        return hw_time(w) + probe_timeout_ms;
    return hw_kind(w) == HW_USABLE ? 0 : hw_time(w);
}

/* ---- pick ------------------------------------------------------------------------ */

int llg_pool_pick(llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint64_t now_ms, llg_pool_pick_t *out)
{
    memset(out, 0, sizeof(*out));
    out->slot = -1;
    if (provider >= view->provider_count || view->providers[provider].key_count == 0)
        return -1;
    const view_provider_t *vp = &view->providers[provider];
    pool_prov_t *prov = &pool->provs[vp->slot];

    uint64_t b = atomic_load_explicit(&prov->blocked, memory_order_acquire);
    if (now_ms < hw_time(b)) {
        out->retry_after_ms = hw_time(b) - now_ms;
        return -1;
    }

    uint64_t probe_timeout = pool_load(&pool->hdr->probe_timeout_ms);
    uint32_t n = vp->key_count;
    uint32_t idx = (uint32_t)(atomic_fetch_add_explicit(&prov->cursor, 1, memory_order_relaxed) % n);
    uint64_t earliest = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++, idx = idx + 1 == n ? 0 : idx + 1) {
        const view_key_t *vk = &view->keys[vp->first_key + idx];
        _Atomic uint64_t *hw = &pool->health[vk->slot];
        uint64_t w = atomic_load_explicit(hw, memory_order_acquire);
        for (;;) {
            if (hw_kind(w) == HW_USABLE && !(w & HW_PROBING))
                break;
            uint64_t at = pickable_at(w, probe_timeout);
            if (now_ms < at) {
                if (at < earliest)
                    earliest = at;
                goto next;
            }
            /* the rest is over (or the probe abandoned): take the probe turn */
            uint64_t ticket = hw_next(w, hw_kind(w), true, now_ms);
            if (atomic_compare_exchange_weak_explicit(hw, &w, ticket, memory_order_acq_rel, memory_order_acquire)) {
                out->probe = true;
                out->ticket = ticket;
                break;
            }
        }
        out->slot = (int32_t)vk->slot;
        out->key = vk->conf_index;
        pool_key_t *k = &pool->keys[vk->slot];
        pool_add(&k->requests, 1);
        pool_usage_request(&k->use);
        atomic_fetch_add_explicit(&k->in_flight, 1, memory_order_relaxed);
        return 0;
    next:;
    }

    out->retry_after_ms = earliest - now_ms;
    if (view->generation == atomic_load_explicit(&pool->hdr->generation, memory_order_acquire))
        atomic_compare_exchange_strong_explicit(&prov->blocked, &b, (b & ~HW_TIME_MASK) | (earliest & HW_TIME_MASK),
                                                memory_order_acq_rel, memory_order_relaxed);
    return -1;
}

/* ---- report and release ------------------------------------------------------------ */

/* keys.cooldown doubled for each consecutive failure from the `first` on,
 * capped at keys.max_cooldown. */
static uint64_t backoff(const pool_header_t *h, uint32_t failures, uint32_t first)
{
    uint64_t base = pool_load(&h->cooldown_ms), cap = pool_load(&h->max_cooldown_ms);
    uint64_t cd = base;
    for (uint32_t i = first; i < failures && cd < cap; i++)
        cd = cd > UINT64_MAX / 2 ? UINT64_MAX : cd * 2;
    return cd < cap ? cd : (cap > base ? cap : base);
}

/*
 * Moves the key to `kind` (resting until `until`) after an attempt ended.
 * The probe (its ticket still current) settles the key either way. Any other
 * attempt (one that started before the key began resting, or a probe that
 * was taken over) cannot make a resting key usable, and can only lengthen a
 * rest: a later cooldown replaces a shorter one, a disable replaces a
 * cooldown, and a cooldown leaves a disabled key alone. It leaves a probe in
 * flight alone: ending that probe's turn here would let the next pick start a
 * second probe while the first one still runs, and the probe's own outcome is
 * the newer news about the key.
 */
static void transition(llg_pool_t *pool, const llg_pool_pick_t *pick, pool_prov_t *prov, unsigned kind, uint64_t until)
{
    _Atomic uint64_t *hw = &pool->health[pick->slot];
    uint64_t w = atomic_load_explicit(hw, memory_order_acquire), nw;
    do {
        bool mine = pick->probe && w == pick->ticket;
        if (mine) {
            nw = hw_next(w, kind, false, kind == HW_USABLE ? 0 : until);
        } else if (kind == HW_USABLE || (w & HW_PROBING)) {
            return;
        } else {
            unsigned cur = hw_kind(w);
            if (cur == HW_DISABLED && kind == HW_COOLING)
                return;
            if (cur == kind && !(w & HW_PROBING) && hw_time(w) >= until)
                return;
            nw = hw_next(w, kind, false, until);
        }
    } while (!atomic_compare_exchange_weak_explicit(hw, &w, nw, memory_order_acq_rel, memory_order_acquire));
    pool_key_changed(pool, (uint32_t)pick->slot);
    uint64_t pt = pool_load(&pool->hdr->probe_timeout_ms);
    if (prov != NULL && pickable_at(nw, pt) < pickable_at(w, pt))
        pool_unblock(prov);
}

static pool_prov_t *key_provider(llg_pool_t *pool, uint32_t slot)
{
    uint32_t p = atomic_load_explicit(&pool->keys[slot].provider, memory_order_relaxed);
    return p < pool->hdr->provider_capacity ? &pool->provs[p] : NULL;
}

void llg_pool_report(llg_pool_t *pool, const llg_pool_pick_t *pick, llg_outcome_t outcome, int http_status,
                     const llg_pool_hints_t *hints, uint64_t now_ms, int64_t now_epoch_s)
{
    if (pick == NULL || pick->slot < 0 || (uint32_t)pick->slot >= pool->hdr->key_capacity || (unsigned)outcome >= LLG_OUTCOME_COUNT)
        return;
    pool_header_t *h = pool->hdr;
    pool_key_t *k = &pool->keys[pick->slot];
    pool_prov_t *prov = key_provider(pool, (uint32_t)pick->slot);
    pool_add(&k->outcomes[outcome], 1);
    if (prov != NULL)
        pool_add(&prov->attempts[outcome], 1);
    if (outcome == LLG_OUTCOME_CANCELLED)
        return; /* not the key's doing: no health change */
    atomic_store_explicit(&k->last_status, http_status, memory_order_relaxed);

    uint32_t failures;
    switch (outcome) {
    case LLG_OUTCOME_SUCCESS:
    case LLG_OUTCOME_CLIENT:
        atomic_store_explicit(&k->consecutive, 0, memory_order_relaxed);
        transition(pool, pick, prov, HW_USABLE, 0);
        break;
    case LLG_OUTCOME_RATE_LIMITED: {
        failures = atomic_fetch_add_explicit(&k->consecutive, 1, memory_order_relaxed) + 1;
        int64_t hinted = llg_pool_hint_cooldown_ms(hints, now_epoch_s);
        uint64_t cd = hinted >= 0 ? (uint64_t)hinted : backoff(h, failures, 1);
        transition(pool, pick, prov, HW_COOLING, now_ms + cd);
        break;
    }
    case LLG_OUTCOME_AUTH:
    case LLG_OUTCOME_PAYMENT:
        atomic_fetch_add_explicit(&k->consecutive, 1, memory_order_relaxed);
        transition(pool, pick, prov, HW_DISABLED, now_ms + pool_load(&h->probe_after_ms));
        break;
    case LLG_OUTCOME_SERVER:
    case LLG_OUTCOME_NETWORK:
        failures = atomic_fetch_add_explicit(&k->consecutive, 1, memory_order_relaxed) + 1;
        /* a failed probe always rests the key again */
        if (failures >= 3 || pick->probe)
            transition(pool, pick, prov, HW_COOLING, now_ms + backoff(h, failures, 3));
        break;
    default:
        break;
    }
}

void llg_pool_release(llg_pool_t *pool, const llg_pool_pick_t *pick)
{
    if (pick == NULL || pick->slot < 0 || (uint32_t)pick->slot >= pool->hdr->key_capacity)
        return;
    atomic_fetch_sub_explicit(&pool->keys[pick->slot].in_flight, 1, memory_order_relaxed);
    if (!pick->probe)
        return;
    /* still probing under this ticket: nothing settled the key, so give the
     * turn back with the rest over (the next pick probes again) */
    uint64_t w = pick->ticket;
    if (atomic_compare_exchange_strong_explicit(&pool->health[pick->slot], &w, hw_next(w, hw_kind(w), false, 0),
                                                memory_order_acq_rel, memory_order_relaxed)) {
        pool_prov_t *prov = key_provider(pool, (uint32_t)pick->slot);
        if (prov != NULL)
            pool_unblock(prov);
    }
}

/* ---- usage and inspection -------------------------------------------------------- */

void llg_pool_key_usage(llg_pool_t *pool, int32_t slot, uint64_t prompt, uint64_t completion)
{
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return;
    pool_key_t *k = &pool->keys[slot];
    pool_add(&k->prompt_tokens, prompt);
    pool_add(&k->completion_tokens, completion);
    pool_usage_tokens(&k->use, prompt, completion);
    pool_prov_t *prov = key_provider(pool, (uint32_t)slot);
    if (prov != NULL) {
        pool_add(&prov->prompt_tokens, prompt);
        pool_add(&prov->completion_tokens, completion);
    }
}

void llg_pool_provider_usage(llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint64_t prompt, uint64_t completion)
{
    if (provider >= view->provider_count)
        return;
    pool_prov_t *prov = &pool->provs[view->providers[provider].slot];
    pool_add(&prov->prompt_tokens, prompt);
    pool_add(&prov->completion_tokens, completion);
}

void llg_pool_provider_keys(const llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint32_t *total,
                            uint32_t *usable, uint64_t now_ms)
{
    uint32_t t = 0, u = 0;
    if (provider < view->provider_count) {
        const view_provider_t *vp = &view->providers[provider];
        t = vp->key_count;
        for (uint32_t i = 0; i < vp->key_count; i++) {
            uint64_t w = atomic_load_explicit(&pool->health[view->keys[vp->first_key + i].slot], memory_order_relaxed);
            if (pool_key_state(w, now_ms, NULL) == LLG_KEY_USABLE)
                u++;
        }
    }
    if (total != NULL)
        *total = t;
    if (usable != NULL)
        *usable = u;
}

int llg_pool_key_stats(const llg_pool_t *pool, int32_t slot, uint64_t now_ms, llg_pool_key_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (slot < 0 || (uint32_t)slot >= pool->hdr->key_capacity)
        return -1;
    pool_key_t *k = &pool->keys[slot];
    uint64_t w = atomic_load_explicit(&pool->health[slot], memory_order_relaxed);
    out->state = pool_key_state(w, now_ms, &out->cooldown_remaining_ms);
    out->requests = pool_load(&k->requests);
    for (unsigned i = 0; i < LLG_OUTCOME_COUNT; i++)
        out->outcomes[i] = pool_load(&k->outcomes[i]);
    out->consecutive_failures = atomic_load_explicit(&k->consecutive, memory_order_relaxed);
    out->in_flight = atomic_load_explicit(&k->in_flight, memory_order_relaxed);
    out->last_status = atomic_load_explicit(&k->last_status, memory_order_relaxed);
    out->prompt_tokens = pool_load(&k->prompt_tokens);
    out->completion_tokens = pool_load(&k->completion_tokens);
    return 0;
}
