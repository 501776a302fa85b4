/*
 * pool/internal.h: what the files of pool/ share and nothing else sees: the
 * layout of the shared region (fixed-size structs of C11 atomics, addressed
 * by offsets, never by pointers stored in it), the process-local handle and
 * view, the health word of a key, and the keyed hash.
 */
#ifndef LLG_POOL_INTERNAL_H
#define LLG_POOL_INTERNAL_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "balance.h"
#include "pool.h"

/* A lock-based atomic in shared memory would hold a process-local lock: the
 * region relies on lock-free 64-bit atomics. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define POOL_MAGIC    0x316c6f6f7067676cULL /* "llgpool1" */
#define POOL_CACHE    64
#define POOL_DIGEST   32 /* HMAC-SHA256 */
#define POOL_ID_HEX   8
#define POOL_HASH_KEY 32

/* A probe older than timeouts.request plus this is abandoned: its process
 * died, and the next pick takes the probe turn over. */
#define POOL_PROBE_SLACK_MS 1000

/* requests_total{code}: these codes, then `other`. */
#define POOL_CODES 16
extern const int pool_codes[POOL_CODES - 1];

/* Histogram upper bounds in microseconds; the last bucket is +Inf. */
#define POOL_BUCKETS 15
extern const uint64_t pool_bucket_us[POOL_BUCKETS - 1];
extern const char *const pool_bucket_label[POOL_BUCKETS - 1];

/* ---- the shared region ------------------------------------------------- */

typedef struct pool_hist {
    _Atomic uint64_t bucket[POOL_BUCKETS]; /* not cumulative; summed when written */
    _Atomic uint64_t sum_us;               /* _count is the sum of the buckets, so the two always agree */
} pool_hist_t;

/* Counts `us` in histogram `h` whose upper bounds are bounds[0..POOL_BUCKETS-1)
 * (pool_bucket_us, or the gateway overhead's pool_overhead_us). */
void pool_observe(pool_hist_t *h, const uint64_t *bounds, uint64_t us);

/* One provider (or the `none` row of unrouted requests). */
typedef struct pool_prov {
    /* hot: every pick */
    _Alignas(POOL_CACHE) _Atomic uint64_t cursor; /* round-robin position */
    _Atomic uint64_t blocked;                     /* no-usable-key hint, see health.c */
    /* once per request or attempt */
    _Alignas(POOL_CACHE) _Atomic uint64_t codes[POOL_CODES];
    pool_hist_t duration;
    pool_hist_t ttfb;
    _Atomic uint64_t attempts[LLG_OUTCOME_COUNT];
    _Atomic uint64_t prompt_tokens, completion_tokens;
    _Atomic int64_t queued; /* requests waiting for a connection (max_connections), all workers */
} pool_prov_t;

/* Usage in the current UTC day and month (pool/usage.c). Each word packs a
 * window number above WIN_SHIFT and a count below it, so that a count and the
 * day it belongs to change together in one CAS, and a new day starts from 0
 * without a reset that could race with an increment. */
#define WIN_SHIFT 44
#define WIN_COUNT ((UINT64_C(1) << WIN_SHIFT) - 1)

typedef struct pool_usage {
    /* this host's counts: day words hold the UTC day, month words the month */
    _Atomic uint64_t day_requests, day_prompt, day_completion, month_tokens;
    /* the cluster's totals as the link last read them from Redis (same packing;
     * this host's flushed amounts included) */
    _Atomic uint64_t cl_day_requests, cl_day_prompt, cl_day_completion, cl_month_tokens;
    /* cumulative amounts of this host the link has added to Redis */
    _Atomic uint64_t fl_requests, fl_prompt, fl_completion;
} pool_usage_t;

/* The counters of one key; its health word lives in a dense array of its own
 * (pool_t.health) so that a pick scans 8 bytes per key. */
typedef struct pool_key {
    _Alignas(POOL_CACHE) _Atomic uint64_t requests;
    _Atomic uint64_t outcomes[LLG_OUTCOME_COUNT];
    _Atomic uint64_t prompt_tokens, completion_tokens;
    _Atomic uint32_t consecutive; /* consecutive failures */
    _Atomic int32_t in_flight;
    _Atomic int32_t last_status;
    _Atomic uint32_t provider; /* provider slot, for report() */
    _Atomic uint32_t changes;  /* bumped by every local health transition (the cluster link publishes them) */
    pool_usage_t use;          /* requests are attempts picked */
} pool_key_t;

typedef struct pool_token {
    _Alignas(POOL_CACHE) _Atomic uint64_t tat; /* GCRA theoretical arrival time, ns of monotonic time */
    _Atomic uint64_t requests;
    _Atomic uint64_t rejected_rate;
    _Atomic uint64_t rejected_forbidden;
    _Atomic uint64_t prompt_tokens, completion_tokens;
    _Atomic uint64_t rejected_quota;
    _Atomic uint64_t admitted; /* requests let through (the usage that is shared and limited) */
    pool_usage_t use;
    /* the cluster's rpm (pool/lease.c): credits granted by Redis to this
     * instance, valid until credit_until (monotonic ms); refusals from Redis
     * until denied_until; demand for the link; admits made while the link was
     * down, for the link to add to Redis when it is back */
    _Alignas(POOL_CACHE) _Atomic int64_t credits;
    _Atomic uint64_t credit_until, denied_until, full_at;
    _Atomic int64_t waiting; /* requests waiting for a credit now */
    _Atomic uint64_t last_use;
    _Atomic uint64_t down_admits, fl_down_admits;
} pool_token_t;

/* The token slot of config token `token`, or NULL. */
pool_token_t *pool_token_slot(llg_pool_t *pool, const llg_pool_view_t *view, int token);

/* The local GCRA of a token (tokens.c): 0 admitted, -1 refused (*wait_ms set). */
int pool_gcra(pool_token_t *t, uint32_t rpm, uint64_t now_ms, uint64_t *wait_ms);

typedef struct pool_header {
    uint64_t magic;
    uint64_t size;
    uint32_t key_capacity, token_capacity, provider_capacity;
    uint64_t off_providers, off_health, off_keys, off_tokens;

    /* written by the master at sync, read by everyone */
    _Atomic uint64_t generation; /* sync count: a view of another generation stores no hint */
    _Atomic uint64_t cooldown_ms, max_cooldown_ms, probe_after_ms;
    _Atomic uint64_t probe_timeout_ms; /* a probe older than this is abandoned (its process died) */

    _Atomic uint64_t reloads_ok, reloads_failed;
    _Atomic int64_t active_streams;

    /* the cluster link (pool/share.c): the sum of every key's `changes`, so
     * that a poll with nothing new reads one word; and the link's state */
    _Atomic uint64_t key_changes;
    _Atomic uint32_t cluster_state; /* llg_cluster_state_t */

    /* the access log's and the trace exporter's counters (all workers) */
    _Atomic uint64_t obs[LLG_OBS_COUNT];
    _Atomic int64_t otel_queued; /* spans waiting for export now */

    pool_prov_t none; /* requests not routed to a provider */
} pool_header_t;

/* The process-local handle: pointers into this process's mapping. */
/* ---- model groups' state (pool/balance.c) -------------------------------- */

/* One target of a group, in the second mapping of the pool. Its breaker word
 * follows the layout of a key's health word (below): kind HW_USABLE is
 * closed, HW_COOLING open until its time; HW_PROBING marks the half-open
 * probe in flight (its time then is when the probe began). */
typedef struct bal_slot {
    _Alignas(POOL_CACHE) _Atomic uint64_t id; /* 0: free; else a hash of group, provider, model */
    _Atomic int32_t in_flight;
    _Atomic uint32_t consecutive; /* failed attempts in a row */
    _Atomic uint64_t breaker;
    _Atomic uint64_t ewma;       /* peak EWMA of time to first byte, microseconds, a double's bits */
    _Atomic uint64_t ewma_at_ms; /* when it was last set */
    _Atomic uint32_t changes;    /* local breaker transitions (the cluster link publishes them) */
    _Atomic uint64_t requests;
    _Atomic uint64_t outcomes[LLG_OUTCOME_COUNT];
} bal_slot_t;

/* One group: its weighted cursor and its attempts in flight. */
typedef struct bal_gslot {
    _Alignas(POOL_CACHE) _Atomic uint64_t id; /* 0: free; else a hash of the group's name */
    _Atomic uint64_t cursor;
    _Atomic int64_t in_flight;
} bal_gslot_t;

#define BAL_GROUP_SLOTS 1024u

typedef struct bal_region {
    _Atomic uint64_t changes; /* the sum of every slot's `changes` */
    bal_slot_t slots[LLG_BALANCE_SLOTS];
    bal_gslot_t gslots[BAL_GROUP_SLOTS];
} bal_region_t;

/* The view's part: a group as the config says it, with what choosing needs
 * precomputed. Target indices are the config's (uint8_t: at most 64). */
typedef struct bal_vtarget {
    uint32_t slot;
    uint32_t weight;
    uint32_t provider; /* config index */
    bool keyed;        /* takes pool keys: skipped while they all rest */
    bool planned;      /* its slot is chosen (while the view is built) */
    unsigned char id[16];
} bal_vtarget_t;

typedef struct bal_vtier {
    uint32_t first, count; /* into the group's `order` */
    uint64_t weight_sum;
    uint8_t *seq; /* the smooth weighted round-robin sequence of one period */
    uint32_t period;
    uint64_t *ring_hash; /* the consistent-hash ring, sorted */
    uint8_t *ring_target;
    uint32_t ring_len;
} bal_vtier_t;

typedef struct bal_vgroup {
    uint32_t gslot;
    uint64_t gid;
    bool gid_planned; /* its slot is chosen (while the view is built) */
    int strategy;     /* llg_group_strategy_t */
    uint32_t failures;
    uint64_t cooldown_ms, decay_ms, penalty_us;
    double load_factor;
    size_t ntargets;
    bal_vtarget_t *targets; /* config order */
    uint8_t *order;         /* target indices by priority (stable) */
    bal_vtier_t *tiers;
    size_t ntiers;
} bal_vgroup_t;

typedef struct bal_view {
    bal_vgroup_t *groups;
    size_t group_count;
    struct {
        uint32_t group, target;
    } * flat; /* every target of every group, for the cluster link */
    size_t flat_count;
} bal_view_t;

/* balance_view.c: the view of `conf`'s groups over `r` (slots planned, not
 * yet written), or NULL when out of memory or out of slots (the config's
 * limits, checked at load, keep the slots enough). */
bal_view_t *pool_balance_view_build(const bal_region_t *r, const llg_conf_t *conf);
/* Writes the plan: ids of new slots (zeroed), frees the slots of targets and
 * groups the config no longer has. Cannot fail. */
void pool_balance_view_commit(bal_region_t *r, const bal_view_t *v);
void pool_balance_view_free(bal_view_t *v);

/* balance.c, shared with balance_stats.c so that what is shown is what a
 * choice sees: the target's EWMA (microseconds) faded to `now_ms` (a target
 * nobody measures drifts back towards 0, so that it is tried again after a
 * while), and whether a choice may take it now (its breaker lets an attempt
 * through, as the half-open probe if need be, and its provider has a key that
 * is not resting). */
double pool_bal_ewma(const bal_slot_t *s, uint64_t decay_ms, uint64_t now_ms);
bool pool_bal_available(const llg_pool_t *pool, const llg_pool_view_t *view, const bal_vtarget_t *vt, uint64_t now_ms,
                        uint64_t probe_timeout_ms);

/* ---- per-model series (pool/model_metrics.c) ------------------------------- */

#define LLG_MODEL_SLOTS 16384u /* a power of two, at least 2 x (LLG_MODEL_SERIES + providers) */
#define MODEL_TOMB      1u     /* a retired slot's id; 0 is a free one */
#define MODEL_CLASSES   4      /* 2xx 3xx 4xx 5xx */

extern const uint64_t pool_overhead_us[POOL_BUCKETS - 1];

/* Only 64-bit atomics, so that zeroing walks it word by word. */
typedef struct model_slot {
    _Alignas(POOL_CACHE) _Atomic uint64_t provider_hash, model_hash; /* the labels, for /metrics and sync */
    _Atomic uint64_t requests[MODEL_CLASSES];
    _Atomic uint64_t tokens[LLG_MODEL_KINDS];
    pool_hist_t ttft;
    pool_hist_t overhead;
} model_slot_t;

typedef struct model_region {
    _Atomic uint64_t live;                 /* claimed series other than `other` (LLG_MODEL_SERIES at most) */
    _Atomic uint64_t ids[LLG_MODEL_SLOTS]; /* dense, so that a probe reads few cache lines */
    model_slot_t slots[LLG_MODEL_SLOTS];
} model_region_t;

/* A model label's hash (never 0 or MODEL_TOMB). */
uint64_t pool_model_hash(const char *s);
/* The view's model names (nv->providers filled first). 0 or -1 (out of memory). */
int pool_model_view_build(llg_pool_view_t *nv, const llg_conf_t *conf);
void pool_model_view_free(llg_pool_view_t *v);
/* The master, at sync: retires the series that `view` does not know. */
void pool_model_retire(llg_pool_t *pool, const llg_pool_view_t *view);
void pool_write_model_metrics(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view);

struct llg_pool {
    pool_header_t *hdr;
    size_t size;
    bal_region_t *bal;      /* model groups' state: a mapping of its own that outlives a resize of the pool's */
    model_region_t *models; /* per-model series: a fixed mapping of its own, like bal */
    pool_prov_t *provs;
    _Atomic uint64_t *health;
    pool_key_t *keys;
    pool_token_t *tokens;
    unsigned char hash_key[POOL_HASH_KEY]; /* HMAC key of slot ids; never in the region */
};

/* Whether the cluster link is up (the region's word). */
static inline bool pool_cluster_up(const llg_pool_t *pool)
{
    return atomic_load_explicit(&pool->hdr->cluster_state, memory_order_acquire) == LLG_CLUSTER_UP;
}

/* ---- the health word of a key ------------------------------------------ */

/*
 * One 64-bit word per key, changed only by CAS, so that every transition is
 * atomic and a process killed between two instructions leaves a valid word:
 *
 *   bits  0..47  COOLING/DISABLED: monotonic ms until which the key rests;
 *                while PROBING: the monotonic ms at which the probe started
 *   bits 48..49  kind: 0 usable, 1 cooling, 2 disabled
 *   bit  50      PROBING: one attempt is testing the key
 *   bits 51..63  sequence, bumped by every transition, so that a word taken as
 *                a probe ticket is never seen again (no ABA)
 */
#define HW_TIME_MASK  ((UINT64_C(1) << 48) - 1)
#define HW_KIND_SHIFT 48
#define HW_KIND_MASK  (UINT64_C(3) << HW_KIND_SHIFT)
#define HW_PROBING    (UINT64_C(1) << 50)
#define HW_SEQ_SHIFT  51
#define HW_SEQ_ONE    (UINT64_C(1) << HW_SEQ_SHIFT)

enum { HW_USABLE = 0, HW_COOLING = 1, HW_DISABLED = 2 };

static inline unsigned hw_kind(uint64_t w)
{
    return (unsigned)((w & HW_KIND_MASK) >> HW_KIND_SHIFT);
}

static inline uint64_t hw_time(uint64_t w)
{
    return w & HW_TIME_MASK;
}

/* The word that follows `old` with this kind, probing flag and time. */
static inline uint64_t hw_next(uint64_t old, unsigned kind, bool probing, uint64_t time)
{
    uint64_t seq = (old & ~(HW_SEQ_ONE - 1)) + HW_SEQ_ONE; /* wraps harmlessly */
    if (time > HW_TIME_MASK)
        time = HW_TIME_MASK;
    return seq | ((uint64_t)kind << HW_KIND_SHIFT) | (probing ? HW_PROBING : 0) | time;
}

/* The state shown outside (metrics, admin, /health). */
llg_key_state_t pool_key_state(uint64_t w, uint64_t now_ms, uint64_t *remaining_ms);

/* ---- the view ------------------------------------------------------------ */

typedef struct view_key {
    uint32_t slot;
    uint32_t provider; /* config index */
    uint32_t conf_index;
    unsigned char digest[POOL_DIGEST];
    unsigned char id_digest[POOL_DIGEST]; /* shown in the id: digest, or the cluster's (llg_pool_cluster_digest) */
    char *id;                             /* <provider>-<8 hex> */
} view_key_t;

typedef struct view_provider {
    char *name;
    uint32_t slot;
    uint32_t key_count;
    uint32_t first_key;  /* into view.keys: this provider's keys are consecutive */
    uint64_t model_hash; /* its name's hash, the provider half of a per-model series id */
} view_provider_t;

typedef struct view_token {
    int32_t first; /* the entry that owns the slot: itself, or the first entry with the same secret */
    uint32_t slot;
    uint32_t rpm;
    uint64_t quota[LLG_QUOTA_COUNT]; /* 0: none */
    unsigned char digest[POOL_DIGEST];
    unsigned char id_digest[POOL_DIGEST]; /* as view_key_t's */
    char *label;                          /* name, else token-<8 hex>; unique within the view; NULL for a duplicate */
    char *name;                           /* the configured name, or NULL */
} view_token_t;

struct llg_pool_view {
    uint64_t generation;
    uint32_t key_capacity, token_capacity, provider_capacity; /* of the region it was built for */

    view_provider_t *providers;
    size_t provider_count;
    view_key_t *keys;
    size_t key_count;
    int32_t *key_by_slot; /* key_capacity entries: index into keys, or -1 */
    view_token_t *tokens; /* one per config token; a duplicate secret shares the slot of the first */
    size_t token_count;
    int32_t *token_table; /* open addressing on the digest: config token index, or -1 */
    size_t token_table_mask;

    /* where the next slot search starts: freed slots are reused last */
    uint32_t next_key, next_token, next_provider;

    EVP_MAC_CTX *mac; /* process-local scratch of lookups, keyed like the pool */

    bal_view_t *bal; /* model groups (pool/balance_view.c) */

    /* per-model series: the model names the config knows, open addressing
     * on their hash (pool/model_metrics.c) */
    struct {
        uint64_t hash;
        char *name; /* NULL: free */
    } * models;
    size_t model_mask;
    uint64_t model_other; /* the hash of `other` */
};

/* ---- the keyed hash ------------------------------------------------------ */

/* HMAC-SHA256 under the pool's random key of `domain` ('k' key, 't' token)
 * followed by the secret. `mac` is a context made by pool_mac_new(). */
EVP_MAC_CTX *pool_mac_new(const unsigned char key[POOL_HASH_KEY]);
void pool_mac_free(EVP_MAC_CTX *mac);
int pool_digest(EVP_MAC_CTX *mac, char domain, const char *secret, size_t len, unsigned char out[POOL_DIGEST]);

/* ---- writing (admin.c, metrics.c) ---------------------------------------- */

/* A JSON string, control characters escaped. */
void pool_json_string(FILE *out, const char *s);
/* A Prometheus label value: backslash, double quote and line feed escaped. */
void pool_metric_label(FILE *out, const char *s);

/* ---- region internals ------------------------------------------------------ */

/* Maps a region of these exact capacities (no minimum applied). */
llg_pool_t *pool_map(uint32_t key_capacity, uint32_t token_capacity, uint32_t provider_capacity);

void pool_zero_key(llg_pool_t *pool, uint32_t slot);
void pool_zero_token(llg_pool_t *pool, uint32_t slot);
void pool_zero_provider(llg_pool_t *pool, uint32_t slot);

/* Counts a local health transition of key `slot` for the cluster link (share.c). */
void pool_key_changed(llg_pool_t *pool, uint32_t slot);

/* Makes every hint of "no key usable" stale (health.c). */
void pool_unblock(pool_prov_t *prov);

/* Adds n to a window word for window `win` (a new window starts from 0). */
void pool_win_add(_Atomic uint64_t *w, uint64_t win, uint64_t n);

/* Counts a request, or tokens, in the day and month windows of `u` (now). */
void pool_usage_request(pool_usage_t *u);
void pool_usage_tokens(pool_usage_t *u, uint64_t prompt, uint64_t completion);

/* The count of a window word in window `win` (0 when it holds another). */
static inline uint64_t pool_win_count(uint64_t word, uint64_t win)
{
    return (word >> WIN_SHIFT) == win ? (word & WIN_COUNT) : 0;
}

/* Relaxed atomic helpers: counters need atomicity, not ordering. */
static inline void pool_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t pool_load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

#endif
