/*
 * pool/balance.h: model groups' balancing state and the choice of a target
 * (docs/routing.md "Model groups"). Part of the pool module: its shared state
 * lives in a second shared mapping of the pool handle (fixed-size slots of C11
 * atomics: in-flight counts, the weighted cursor, the latency EWMA, the
 * circuit breaker), and what the config says about each group (the smooth
 * weighted round-robin sequence, the consistent-hash ring, slots) is in the
 * process-local view that llg_pool_sync builds before the workers fork.
 * Choosing a target reads only that memory: no lock, no lookup, no syscall.
 *
 * A target is identified across reloads (and across the instances of a
 * cluster) by its group name, provider name and upstream model: a target
 * present before and after a reload keeps its state.
 */
#ifndef LLG_POOL_BALANCE_H
#define LLG_POOL_BALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pool/pool.h"

/* Targets of every group of a config, all together (a config with more is
 * refused by llg_pool_sync: docs/configuration.md). */
#define LLG_BALANCE_SLOTS 4096u

typedef enum llg_breaker_state {
    LLG_BREAKER_CLOSED = 0,
    LLG_BREAKER_OPEN = 1,
    LLG_BREAKER_HALF_OPEN = 2, /* the cooldown is over: the next choice probes (one at a time) */
} llg_breaker_state_t;

/* "closed", "open", "half_open". */
const char *llg_breaker_state_name(llg_breaker_state_t s);

/* One choice of a target: held from the choice until llg_balance_release
 * (the target's in-flight count includes it meanwhile). */
typedef struct llg_balance_pick {
    int target;        /* index into conf->groups[group].targets; -1: none */
    int32_t slot;      /* internal */
    unsigned group;    /* config index */
    bool probe;        /* this choice is the half-open probe of the target's breaker */
    uint64_t ticket;   /* internal */
    uint32_t gslot;    /* internal */
    uint64_t decay_ms; /* internal */
} llg_balance_pick_t;

/* Chooses a target of group `group` (config index) by its strategy, in the
 * best priority tier that has an available one: its breaker closed (or its
 * cooldown over and no probe in flight: then this choice is the probe) and,
 * for a provider with pool keys, not every key resting. Targets whose bit is
 * set in `tried` are skipped. `key` is the affinity strategy's request key
 * (llg_balance_key_*), ignored by the others. Returns 0 with *out filled (the
 * pick is in flight: report its attempts, then release it), or -1 when no
 * target is available. */
int llg_balance_choose(llg_pool_t *pool, const llg_pool_view_t *view, unsigned group, uint64_t tried, uint64_t key, uint64_t now_ms,
                       llg_balance_pick_t *out);

/* The time to first byte (the response head) of an attempt on the pick's
 * target, for the latency strategy's EWMA. */
void llg_balance_observe(llg_pool_t *pool, const llg_balance_pick_t *pick, uint64_t ttfb_us, uint64_t now_ms);

/* The outcome of one attempt on the pick's target: counters, and the breaker:
 * SERVER and NETWORK are failures (`breaker.failures` in a row open it; a
 * failed probe opens it again), SUCCESS and CLIENT reset the count and, from
 * the half-open probe, close it; the key outcomes
 * (RATE_LIMITED, AUTH, PAYMENT) and CANCELLED leave it as it is. A failure
 * also counts as `latency.error_penalty` for the EWMA. */
void llg_balance_report(llg_pool_t *pool, const llg_pool_view_t *view, llg_balance_pick_t *pick, llg_outcome_t outcome,
                        uint64_t now_ms);

/* Ends the pick (exactly once): in-flight decrement; a probe that no report
 * settled gives its turn back. */
void llg_balance_release(llg_pool_t *pool, const llg_balance_pick_t *pick);

/* ---- request keys of the affinity strategy ------------------------------ */

/* A 64-bit hash of `len` bytes (FNV-1a, then a finalizer), the same on every
 * instance; `seed` chains several pieces. */
uint64_t llg_balance_hash(const void *data, size_t len, uint64_t seed);

/* ---- observability ----------------------------------------------------------- */

typedef struct llg_balance_target_stats {
    llg_breaker_state_t breaker;
    uint64_t open_remaining_ms;
    bool available;
    int32_t in_flight;
    uint64_t requests; /* attempts */
    uint64_t outcomes[LLG_OUTCOME_COUNT];
    uint32_t consecutive_failures;
    double latency_ewma_ms; /* decayed to now; 0: never measured */
} llg_balance_target_stats_t;

int llg_balance_target_stats(const llg_pool_t *pool, const llg_pool_view_t *view, unsigned group, unsigned target, uint64_t now_ms,
                             llg_balance_target_stats_t *out);

/* The llmgate_target_* series (docs/metrics.md). 0, or -1 on a write error. */
int llg_balance_write_metrics(const llg_pool_t *pool, const llg_pool_view_t *view, const llg_conf_t *conf, uint64_t now_ms,
                              FILE *out);

/* {"groups":[...]} for /admin/groups. 0, or -1 on a write error. */
int llg_balance_write_admin_json(const llg_pool_t *pool, const llg_pool_view_t *view, const llg_conf_t *conf, uint64_t now_ms,
                                 FILE *out);

/* ---- sharing breaker state across a cluster (docs/cluster.md) --------------- */

/* The sum of every target's local breaker transitions: unchanged since the
 * last call, nothing to publish. */
uint64_t llg_balance_changes(const llg_pool_t *pool);

/* The number of targets of the view and target `i`'s cluster-wide id (16
 * bytes of a hash of group, provider and model; the same on every instance). */
size_t llg_balance_target_count(const llg_pool_view_t *view);
void llg_balance_target_id(const llg_pool_view_t *view, size_t i, unsigned char out[16]);

/* Target `i`'s local transition count and its breaker now: open with ms left,
 * or closed (a half-open one reports OPEN with 0 left). 0, or -1. */
int llg_balance_share(const llg_pool_t *pool, const llg_pool_view_t *view, size_t i, uint32_t *changes, bool *open,
                      uint64_t *remaining_ms);

/* Applies another instance's state: open for `remaining_ms` from now, or
 * closed. An open never shortens a longer local open (unlike keys': a
 * breaker's cooldown is the group's, the same everywhere, so a shorter one is
 * only older news). `only_longer`: no close either (state read at connect). Not counted as a local transition. 1 when
 * it changed, 0 when not, -1 for a bad index. */
int llg_balance_apply(llg_pool_t *pool, const llg_pool_view_t *view, size_t i, bool open, uint64_t remaining_ms, uint64_t now_ms,
                      bool only_longer);

#endif
