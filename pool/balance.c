/*
 * pool/balance.c: choosing a target of a model group, and what an attempt on
 * it teaches (see balance.h): the four strategies over one priority tier at a
 * time, the circuit breaker (a word changed only by CAS, like a key's health
 * word, so that a process killed anywhere leaves a valid state), the latency
 * EWMA, and the cluster link's view of the breakers.
 */
#include "internal.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

const char *llg_breaker_state_name(llg_breaker_state_t s)
{
    return s == LLG_BREAKER_OPEN ? "open" : s == LLG_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

uint64_t llg_balance_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV-1a spreads the low bits poorly: murmur3's finalizer */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A process-local xorshift for the latency strategy's two random choices
 * and the weighted strategy's spill-over: no shared word, no syscall. */
static uint64_t rand_next(void)
{
    static uint64_t s;
    if (s == 0)
        s = llg_balance_hash(&(pid_t){getpid()}, sizeof(pid_t), llg_pool_now_ms()) | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

static double load_double(const _Atomic uint64_t *w)
{
    uint64_t bits = atomic_load_explicit((_Atomic uint64_t *)w, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static void store_double(_Atomic uint64_t *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    atomic_store_explicit(w, bits, memory_order_relaxed);
}

/* See internal.h. */
double pool_bal_ewma(const bal_slot_t *s, uint64_t decay_ms, uint64_t now_ms)
{
    double c = load_double(&s->ewma);
    uint64_t at = atomic_load_explicit((_Atomic uint64_t *)&s->ewma_at_ms, memory_order_relaxed);
    if (c > 0 && now_ms > at)
        c *= exp(-(double)(now_ms - at) / (double)decay_ms);
    return c;
}

static void ewma_add(bal_slot_t *s, uint64_t decay_ms, double sample_us, uint64_t now_ms)
{
    double c = pool_bal_ewma(s, decay_ms, now_ms);
    /* peak-sensitive: a slower answer counts at once, a faster one gradually */
    c = sample_us > c ? sample_us : c + 0.3 * (sample_us - c);
    store_double(&s->ewma, c);
    atomic_store_explicit(&s->ewma_at_ms, now_ms, memory_order_relaxed);
}

static bal_slot_t *slot_of(const llg_pool_t *pool, int32_t slot)
{
    return &pool->bal->slots[slot];
}

/* ---- availability ------------------------------------------------------------ */

/* Whether the breaker lets an attempt through now; *probe: only as the
 * half-open probe (the caller takes the turn by CAS). */
static bool breaker_allows(uint64_t w, uint64_t now_ms, uint64_t probe_timeout_ms, bool *probe)
{
    *probe = false;
    if (hw_kind(w) == HW_USABLE)
        return true;
    if (w & HW_PROBING)
        return now_ms >= hw_time(w) + probe_timeout_ms; /* a probe of a process that died */
    if (now_ms < hw_time(w))
        return false;
    *probe = true;
    return true;
}

typedef struct choice {
    llg_pool_t *pool;
    const llg_pool_view_t *view;
    const bal_vgroup_t *vg;
    uint64_t skip, now_ms, probe_timeout_ms;
} choice_t;

bool pool_bal_available(const llg_pool_t *pool, const llg_pool_view_t *view, const bal_vtarget_t *vt, uint64_t now_ms,
                        uint64_t probe_timeout_ms)
{
    bool probe;
    uint64_t w = atomic_load_explicit(&slot_of(pool, (int32_t)vt->slot)->breaker, memory_order_acquire);
    if (!breaker_allows(w, now_ms, probe_timeout_ms, &probe))
        return false;
    if (vt->keyed && vt->provider < view->provider_count) {
        /* every key resting: the provider's "no key usable" hint (health.c), O(1) */
        const pool_prov_t *prov = &pool->provs[view->providers[vt->provider].slot];
        if (view->providers[vt->provider].key_count == 0 ||
            now_ms < hw_time(atomic_load_explicit((_Atomic uint64_t *)&prov->blocked, memory_order_acquire)))
            return false;
    }
    return true;
}

static bool available(const choice_t *c, unsigned t)
{
    return !(c->skip & (UINT64_C(1) << t)) &&
           pool_bal_available(c->pool, c->view, &c->vg->targets[t], c->now_ms, c->probe_timeout_ms);
}

static int32_t in_flight(const choice_t *c, unsigned t)
{
    return atomic_load_explicit(&slot_of(c->pool, (int32_t)c->vg->targets[t].slot)->in_flight, memory_order_relaxed);
}

/* ---- the strategies, over one tier: a target index or -1 ------------------------- */

static int pick_weighted(const choice_t *c, const bal_vtier_t *tier)
{
    uint64_t pos = atomic_fetch_add_explicit(&c->pool->bal->gslots[c->vg->gslot].cursor, 1, memory_order_relaxed);
    unsigned t = tier->seq[pos % tier->period];
    if (available(c, t))
        return (int)t;
    /* its turn falls to the others, in proportion to their weights */
    uint64_t sum = 0;
    for (uint32_t i = 0; i < tier->count; i++) {
        unsigned u = c->vg->order[tier->first + i];
        if (available(c, u))
            sum += c->vg->targets[u].weight;
    }
    if (sum == 0)
        return -1;
    uint64_t r = rand_next() % sum;
    for (uint32_t i = 0; i < tier->count; i++) {
        unsigned u = c->vg->order[tier->first + i];
        if (!available(c, u))
            continue;
        if (r < c->vg->targets[u].weight)
            return (int)u;
        r -= c->vg->targets[u].weight;
    }
    return -1;
}

static int pick_least_busy(const choice_t *c, const bal_vtier_t *tier)
{
    /* equal targets take turns: the scan starts at a rotating position */
    uint64_t start = atomic_fetch_add_explicit(&c->pool->bal->gslots[c->vg->gslot].cursor, 1, memory_order_relaxed);
    int best = -1;
    int32_t best_busy = 0;
    uint32_t k = (uint32_t)(start % tier->count);
    for (uint32_t i = 0; i < tier->count; i++, k = k + 1 == tier->count ? 0 : k + 1) {
        unsigned u = c->vg->order[tier->first + k];
        if (!available(c, u))
            continue;
        int32_t busy = in_flight(c, u);
        if (best < 0 || busy < best_busy || (busy == best_busy && c->vg->targets[u].weight > c->vg->targets[best].weight)) {
            best = (int)u;
            best_busy = busy;
        }
    }
    return best;
}

static double latency_score(const choice_t *c, unsigned t)
{
    const bal_slot_t *s = slot_of(c->pool, (int32_t)c->vg->targets[t].slot);
    int32_t busy = atomic_load_explicit((_Atomic int32_t *)&s->in_flight, memory_order_relaxed);
    return pool_bal_ewma(s, c->vg->decay_ms, c->now_ms) * (double)((busy > 0 ? busy : 0) + 1);
}

static int pick_latency(const choice_t *c, const bal_vtier_t *tier)
{
    uint8_t cand[LLG_GROUP_MAX_TARGETS];
    unsigned n = 0;
    for (uint32_t i = 0; i < tier->count; i++) {
        unsigned u = c->vg->order[tier->first + i];
        if (available(c, u))
            cand[n++] = (uint8_t)u;
    }
    if (n <= 1)
        return n == 1 ? cand[0] : -1;
    /* power of two choices: two distinct targets at random, the cheaper one */
    uint64_t r = rand_next();
    unsigned a = (unsigned)(r % n), b = (unsigned)((r >> 32) % (n - 1));
    if (b >= a)
        b++;
    double sa = latency_score(c, cand[a]), sb = latency_score(c, cand[b]);
    return sa <= sb ? cand[a] : cand[b];
}

static int pick_affinity(const choice_t *c, const bal_vtier_t *tier, uint64_t key)
{
    /* the first ring point at or after the key */
    uint32_t lo = 0, hi = tier->ring_len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tier->ring_hash[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t group_busy = atomic_load_explicit(&c->pool->bal->gslots[c->vg->gslot].in_flight, memory_order_relaxed);
    if (group_busy < 0)
        group_busy = 0;
    uint64_t seen = 0;
    int first = -1;
    unsigned left = tier->count;
    for (uint32_t i = 0; i < tier->ring_len && left > 0; i++) {
        unsigned u = tier->ring_target[(lo + i) % tier->ring_len];
        if (seen & (UINT64_C(1) << u))
            continue;
        seen |= UINT64_C(1) << u;
        left--;
        if (!available(c, u))
            continue;
        if (first < 0)
            first = (int)u;
        /* bounded load: at most load_factor times its weighted share of the
         * group's attempts in flight, this one included */
        double bound = ceil(c->vg->load_factor * (double)(group_busy + 1) * c->vg->targets[u].weight / (double)tier->weight_sum);
        if ((double)in_flight(c, u) < bound)
            return (int)u;
    }
    return first;
}

/* ---- choose, observe, report, release ------------------------------------------------ */

int llg_balance_choose(llg_pool_t *pool, const llg_pool_view_t *view, unsigned group, uint64_t tried, uint64_t key, uint64_t now_ms,
                       llg_balance_pick_t *out)
{
    memset(out, 0, sizeof(*out));
    out->target = -1;
    out->slot = -1;
    if (pool->bal == NULL || view->bal == NULL || group >= view->bal->group_count)
        return -1;
    choice_t c = {pool, view, &view->bal->groups[group], tried, now_ms, pool_load(&pool->hdr->probe_timeout_ms)};
    for (size_t ti = 0; ti < c.vg->ntiers; ti++) {
        const bal_vtier_t *tier = &c.vg->tiers[ti];
        for (;;) {
            int t;
            switch (c.vg->strategy) {
            case LLG_STRATEGY_LEAST_BUSY:
                t = pick_least_busy(&c, tier);
                break;
            case LLG_STRATEGY_LATENCY:
                t = pick_latency(&c, tier);
                break;
            case LLG_STRATEGY_AFFINITY:
                t = pick_affinity(&c, tier, key);
                break;
            default:
                t = pick_weighted(&c, tier);
                break;
            }
            if (t < 0)
                break; /* the next tier */
            bal_slot_t *s = slot_of(pool, (int32_t)c.vg->targets[t].slot);
            uint64_t w = atomic_load_explicit(&s->breaker, memory_order_acquire);
            bool probe;
            if (breaker_allows(w, now_ms, c.probe_timeout_ms, &probe)) {
                if (hw_kind(w) != HW_USABLE) {
                    /* the half-open probe: one attempt at a time tests the target */
                    uint64_t ticket = hw_next(w, HW_COOLING, true, now_ms);
                    if (!atomic_compare_exchange_strong_explicit(&s->breaker, &w, ticket, memory_order_acq_rel,
                                                                 memory_order_acquire)) {
                        c.skip |= UINT64_C(1) << t; /* another process took it */
                        continue;
                    }
                    out->probe = true;
                    out->ticket = ticket;
                }
                out->target = t;
                out->slot = (int32_t)c.vg->targets[t].slot;
                out->group = group;
                out->gslot = c.vg->gslot;
                out->decay_ms = c.vg->decay_ms;
                atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&pool->bal->gslots[c.vg->gslot].in_flight, 1, memory_order_relaxed);
                return 0;
            }
            c.skip |= UINT64_C(1) << t; /* its state changed under us */
        }
    }
    return -1;
}

void llg_balance_observe(llg_pool_t *pool, const llg_balance_pick_t *pick, uint64_t ttfb_us, uint64_t now_ms)
{
    if (pick->slot < 0 || pool->bal == NULL)
        return;
    ewma_add(slot_of(pool, pick->slot), pick->decay_ms, (double)ttfb_us, now_ms);
}

/* Opens (until `until_ms`) or closes the breaker; with `only_from_probe`,
 * only while it is still the probe's `ticket`. True when it changed. */
static bool breaker_set(bal_slot_t *s, bool open, uint64_t until_ms, bool only_from_probe, uint64_t ticket)
{
    uint64_t w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    for (;;) {
        if (only_from_probe && w != ticket)
            return false;
        if (!open && hw_kind(w) == HW_USABLE)
            return false;
        uint64_t next = open ? hw_next(w, HW_COOLING, false, until_ms) : hw_next(w, HW_USABLE, false, 0);
        if (atomic_compare_exchange_weak_explicit(&s->breaker, &w, next, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    /* release: the link that reads this count (acquire) sees the new word */
    atomic_fetch_add_explicit(&s->changes, 1, memory_order_release);
    return true;
}

void llg_balance_report(llg_pool_t *pool, const llg_pool_view_t *view, llg_balance_pick_t *pick, llg_outcome_t outcome,
                        uint64_t now_ms)
{
    if (pick->slot < 0 || pool->bal == NULL || view->bal == NULL || pick->group >= view->bal->group_count)
        return;
    const bal_vgroup_t *vg = &view->bal->groups[pick->group];
    bal_slot_t *s = slot_of(pool, pick->slot);
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    if ((unsigned)outcome < LLG_OUTCOME_COUNT)
        atomic_fetch_add_explicit(&s->outcomes[outcome], 1, memory_order_relaxed);
    bool changed = false;
    switch (outcome) {
    case LLG_OUTCOME_SUCCESS:
    case LLG_OUTCOME_CLIENT:
        atomic_store_explicit(&s->consecutive, 0, memory_order_relaxed);
        /* only the probe closes an open breaker: an attempt chosen before it
         * opened proves little, and would close it on every instance */
        if (pick->probe)
            changed = breaker_set(s, false, 0, false, 0);
        pick->probe = false;
        break;
    case LLG_OUTCOME_SERVER:
    case LLG_OUTCOME_NETWORK: {
        uint32_t n = atomic_fetch_add_explicit(&s->consecutive, 1, memory_order_relaxed) + 1;
        ewma_add(s, vg->decay_ms, (double)vg->penalty_us, now_ms);
        if (pick->probe) {
            /* the probe failed: open again for a whole cooldown */
            changed = breaker_set(s, true, now_ms + vg->cooldown_ms, true, pick->ticket);
            pick->probe = false;
        } else if (vg->failures > 0 && n >= vg->failures &&
                   hw_kind(atomic_load_explicit(&s->breaker, memory_order_acquire)) == HW_USABLE) {
            changed = breaker_set(s, true, now_ms + vg->cooldown_ms, false, 0);
        }
        break;
    }
    default:
        break; /* a key's doing, or the client's: the target is not judged */
    }
    if (changed)
        atomic_fetch_add_explicit(&pool->bal->changes, 1, memory_order_relaxed);
}

void llg_balance_release(llg_pool_t *pool, const llg_balance_pick_t *pick)
{
    if (pick->slot < 0 || pool->bal == NULL)
        return;
    bal_slot_t *s = slot_of(pool, pick->slot);
    atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&pool->bal->gslots[pick->gslot].in_flight, 1, memory_order_relaxed);
    if (pick->probe) {
        /* not settled (cancelled, a key's error): the next choice probes,
         * whatever its clock (time 0, as a key's probe given back) */
        uint64_t w = pick->ticket;
        atomic_compare_exchange_strong_explicit(&s->breaker, &w, hw_next(w, HW_COOLING, false, 0), memory_order_acq_rel,
                                                memory_order_relaxed);
    }
}
