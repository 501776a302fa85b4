/*
 * pool/pool.h: the key pool (SPEC sections 1 and 6): upstream key selection and
 * health, access-token lookup and rate limits, and the metrics counters, all
 * kept in one shared-memory region that the master creates before forking and
 * every worker updates concurrently.
 *
 * The region holds fixed-size data and C11 atomics only: no pointer, no lock,
 * no secret. A process may be SIGKILLed at any instruction without leaving it
 * corrupt or blocking the others (docs/key-health.md says what such a process
 * leaves behind). Secrets stay in the config, in process memory; the region
 * keys its slots by a keyed hash, and a process-local view, built by the master
 * from the config before it forks and never changed afterwards, maps config
 * entries to slots.
 *
 * Times: `now_ms` is CLOCK_MONOTONIC in milliseconds (llg_pool_now_ms()), the
 * same clock in every process of the machine, so absolute monotonic times are
 * stored in the region; tests pass a fake clock. `now_epoch_s` is wall-clock
 * seconds, used only to read HTTP dates.
 *
 * Handles and views are process-local and used by one thread at a time (each
 * worker runs one event loop); the region itself is shared by everyone.
 *
 * This module includes no libuv, h2o or curl header; it uses libcrypto for
 * HMAC-SHA256 and CRYPTO_memcmp.
 */
#ifndef LLG_POOL_H
#define LLG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"

typedef struct llg_pool llg_pool_t;           /* a handle on the shared region (process-local) */
typedef struct llg_pool_view llg_pool_view_t; /* config entries -> slots (process-local, immutable) */

/* The default minimum capacities (SPEC section 6). */
#define LLG_POOL_MIN_KEYS      10000u
#define LLG_POOL_MIN_TOKENS    10000u
#define LLG_POOL_MIN_PROVIDERS 64u

/* ---- the region -------------------------------------------------------- */

/* Maps a new zeroed region (MAP_SHARED | MAP_ANONYMOUS) for at least the given
 * numbers of key, token and provider slots (each raised to its LLG_POOL_MIN_*),
 * and draws the random HMAC key of the slot ids (once per master lifetime: a
 * region that sync grows inherits it). Call before fork(). NULL on failure. */
llg_pool_t *llg_pool_create(uint32_t key_capacity, uint32_t token_capacity, uint32_t provider_capacity);

/* Unmaps this process's mapping and frees the handle; other processes that
 * mapped the region keep it until they unmap or exit. NULL is accepted. */
void llg_pool_destroy(llg_pool_t *pool);

/* Bytes mapped by the region, and its capacities. */
size_t llg_pool_region_size(const llg_pool_t *pool);
uint32_t llg_pool_key_capacity(const llg_pool_t *pool);
uint32_t llg_pool_token_capacity(const llg_pool_t *pool);

/* CLOCK_MONOTONIC in milliseconds: the `now_ms` the server passes. */
uint64_t llg_pool_now_ms(void);

/* ---- the view: config -> slots ----------------------------------------- */

/* Run by the master at start (`*view` NULL) and on every reload, before the
 * (new) workers are forked. Builds the view of `conf`: providers are matched
 * by name, keys by (provider name, keyed hash of the secret), tokens by keyed
 * hash of the secret. Entries present before and after keep all their state;
 * removed ones free their slot (and vanish from metrics); added ones start
 * fresh. Stores conf->keys (cooldown, max_cooldown, probe_after) as the policy
 * every process reads.
 *
 * When the region is too small, a bigger one is created, the retained state is
 * copied into it and `*pool` is replaced (the old region is unmapped here;
 * old workers keep their mapping until they exit, and the counter updates
 * they make after the copy are lost). On success the old view is freed and
 * `*view` replaced; the view owns copies of what it needs, so `conf` may be
 * freed afterwards. Returns 0, or -1 with nothing changed. */
int llg_pool_sync(llg_pool_t **pool, const llg_conf_t *conf, llg_pool_view_t **view);

void llg_pool_view_free(llg_pool_view_t *view);

/* The external id of a key slot, `<provider>-<8 hex>` (8 hex digits of an
 * HMAC-SHA256 of the secret under the per-master random key), or NULL when the
 * slot is not in the view. */
const char *llg_pool_key_id(const llg_pool_view_t *view, int32_t slot);

/* With `cluster:`, ids are the same on every instance of the cluster: the
 * HMAC-SHA256 of `domain` (a provider's name for its keys, "token" for access
 * tokens), a NUL and the secret, under a key derived from the Redis password
 * and prefix (docs/cluster.md). Key ids and unnamed tokens' labels show 8 hex
 * digits of it; the cluster link names keys and tokens in Redis by 16 bytes. */
int llg_pool_cluster_digest(const llg_conf_redis_t *r, const char *domain, const char *secret, unsigned char out[32]);

/* The slot of key `key` (config index) of provider `provider`, or -1. */
int32_t llg_pool_key_slot(const llg_pool_view_t *view, unsigned provider, unsigned key);

/* The label of token `token` (config index): its `name`, else `token-<8 hex>`. */
const char *llg_pool_token_label(const llg_pool_view_t *view, int token);

/* ---- key selection and health (SPEC section 6) ------------------------- */

typedef enum llg_outcome {
    LLG_OUTCOME_SUCCESS,      /* 2xx: resets the consecutive failures; a probe makes the key usable */
    LLG_OUTCOME_RATE_LIMITED, /* 429: cooldown from the hints, else keys.cooldown doubled per failure */
    LLG_OUTCOME_AUTH,         /* 401, 403: disabled, probed again after keys.probe_after */
    LLG_OUTCOME_PAYMENT,      /* 402, insufficient_quota, insufficient_fund: as AUTH */
    LLG_OUTCOME_SERVER,       /* 5xx: cooldown from the third consecutive failure on */
    LLG_OUTCOME_NETWORK,      /* connect error, timeout: as SERVER */
    LLG_OUTCOME_CLIENT,       /* 4xx caused by the request: a success for health, recorded */
    LLG_OUTCOME_CANCELLED,    /* the client went away: not blamed, no health change */
    LLG_OUTCOME_COUNT
} llg_outcome_t;

/* "success", "rate_limited", "auth", "payment", "server", "network", "client", "cancelled". */
const char *llg_outcome_name(llg_outcome_t outcome);

/* The outcome of an upstream answer: `http_status` 0 means no answer (connect
 * error or timeout); `error_code` is the `error.code` (or `error.type`) of the
 * body when known, else NULL. insufficient_quota (OpenAI sends it with 429) and
 * Poe's insufficient_fund are PAYMENT whatever the status; 408 is NETWORK;
 * other 4xx are CLIENT. */
llg_outcome_t llg_pool_classify(int http_status, const char *error_code);

typedef struct llg_pool_pick {
    int32_t slot;            /* the key slot; -1 when none */
    uint32_t key;            /* index of the key in conf->providers[provider].keys.items */
    bool probe;              /* this attempt is the single half-open probe of the key */
    uint64_t ticket;         /* identifies the probe (internal; pass the pick back as is) */
    uint64_t retry_after_ms; /* when pick fails: time until the first key becomes usable */
} llg_pool_pick_t;

/* Picks a key of provider `provider` (config index) by round robin over its
 * usable keys, with a cursor shared by all processes. A key whose cooldown or
 * disabled period is over gets exactly one in-flight probe at a time. Returns
 * 0 (the attempt is counted and in flight: report it, then release it), or -1
 * when no key is usable, with out->retry_after_ms (0 for a provider without
 * keys). */
int llg_pool_pick(llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint64_t now_ms, llg_pool_pick_t *out);

/* The rate-limit headers of an upstream answer, as plain C strings (NULL when
 * absent), read for RATE_LIMITED only, in this order. */
typedef struct llg_pool_hints {
    const char *retry_after_ms;           /* `retry-after-ms`: milliseconds, may be fractional */
    const char *retry_after;              /* `Retry-After`: delta-seconds or an HTTP-date */
    const char *ratelimit_reset_requests; /* `x-ratelimit-reset-requests`: "1s", "6m0s", "20ms", "1m30.5s" */
} llg_pool_hints_t;

/* Records the outcome of the attempt `pick` (at most once per attempt):
 * counters, last status (`http_status`, 0 when there was no answer), health
 * transitions (docs/key-health.md). `hints` may be NULL. */
void llg_pool_report(llg_pool_t *pool, const llg_pool_pick_t *pick, llg_outcome_t outcome, int http_status,
                     const llg_pool_hints_t *hints, uint64_t now_ms, int64_t now_epoch_s);

/* Ends the attempt `pick` (exactly once per successful pick, after its report
 * if any): in-flight decrement; a probe whose report did not settle the key
 * (none, or CANCELLED) gives its turn back so that the next pick probes again. */
void llg_pool_release(llg_pool_t *pool, const llg_pool_pick_t *pick);

/* Adds the `usage` of an answer to the key and its provider. */
void llg_pool_key_usage(llg_pool_t *pool, int32_t slot, uint64_t prompt, uint64_t completion);

/* Adds usage to a provider when no pool key was used (passthrough, client key). */
void llg_pool_provider_usage(llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint64_t prompt,
                             uint64_t completion);

/* Number of keys of `provider` and how many are usable now (usable, or a
 * cooldown that is over; a disabled key counts once a probe restored it). */
void llg_pool_provider_keys(const llg_pool_t *pool, const llg_pool_view_t *view, unsigned provider, uint32_t *total,
                            uint32_t *usable, uint64_t now_ms);

/* A snapshot of one key slot, for tests and tools. */
typedef enum llg_key_state {
    LLG_KEY_USABLE,
    LLG_KEY_COOLING,
    LLG_KEY_DISABLED,
    LLG_KEY_PROBING,
} llg_key_state_t;

typedef struct llg_pool_key_stats {
    llg_key_state_t state;
    uint64_t cooldown_remaining_ms; /* until the key may be probed (COOLING, DISABLED) */
    uint64_t requests;              /* attempts picked */
    uint64_t outcomes[LLG_OUTCOME_COUNT];
    uint32_t consecutive_failures;
    int32_t in_flight;
    int32_t last_status;
    uint64_t prompt_tokens, completion_tokens;
} llg_pool_key_stats_t;

int llg_pool_key_stats(const llg_pool_t *pool, int32_t slot, uint64_t now_ms, llg_pool_key_stats_t *out);

/* ---- sharing key health across a cluster (docs/cluster.md) --------------- */

/* What the cluster link shares of one key: its kind and the rest left. */
typedef enum llg_share_kind { LLG_SHARE_USABLE, LLG_SHARE_COOLING, LLG_SHARE_DISABLED } llg_share_kind_t;

typedef enum llg_cluster_state {
    LLG_CLUSTER_OFF = 0,  /* no `cluster:`: nothing is shown */
    LLG_CLUSTER_DOWN = 1, /* configured, Redis not reachable (local state only) */
    LLG_CLUSTER_UP = 2,
} llg_cluster_state_t;

void llg_pool_set_cluster_state(llg_pool_t *pool, llg_cluster_state_t state);
llg_cluster_state_t llg_pool_cluster_state(const llg_pool_t *pool);

/* The sum of the local transition counts of every key: when it has not moved
 * since the last call, no key changed. */
uint64_t llg_pool_key_changes(const llg_pool_t *pool);

/* Key `slot`'s local transition count and what it is now: kind and ms of rest
 * left (a probe in flight reports the kind it probes; a rest that is over
 * reports USABLE). 0, or -1 for a bad slot. */
int llg_pool_key_share(const llg_pool_t *pool, int32_t slot, uint64_t now_ms, uint32_t *changes, llg_share_kind_t *kind,
                       uint64_t *remaining_ms);

/* Applies a state that another instance shared: the key rests `remaining_ms`
 * from `now_ms` (COOLING, DISABLED) or becomes usable. `only_longer`: change
 * nothing unless the key would rest longer than it does (state read at
 * connect). Not counted as a local transition, so it is never shared back.
 * 1 when the word changed, 0 when not, -1 for a bad slot. */
int llg_pool_key_apply(llg_pool_t *pool, int32_t slot, llg_share_kind_t kind, uint64_t remaining_ms, uint64_t now_ms,
                       bool only_longer);

/* ---- access tokens ------------------------------------------------------ */

/* The config index of the access token `secret` (`len` bytes), or -1. The time
 * taken does not depend on how much of the secret matches a token: the secret
 * is hashed with a keyed HMAC-SHA256 and full digests are compared with
 * CRYPTO_memcmp. */
int llg_pool_token_lookup(const llg_pool_view_t *view, const char *secret, size_t len);

/* Counts a request of token `token` and applies its `rpm`. Without a cluster
 * (or with its link down) the host's own limit, exact across all processes:
 * GCRA on one 64-bit theoretical arrival time updated by CAS; a burst of up to
 * rpm requests, then one per 60/rpm s. With the cluster's link up, one of the
 * credits the link took from the cluster's limit (pool/lease.c). Returns 0
 * when admitted; -1 when refused, with *retry_after_ms set (rounded up to a
 * whole millisecond) and the rejection counted; 1 when the link has no credit
 * yet: call llg_pool_token_wait until it says 0 or -1 (or give up and call
 * llg_pool_token_admit_local). */
int llg_pool_token_admit(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms);

/* For a request that llg_pool_token_admit told to wait: 0 a credit was taken;
 * -1 refused (*retry_after_ms set, counted); 1 nothing yet. */
int llg_pool_token_wait(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms);

/* Ends the wait of a request that llg_pool_token_admit told to wait (once,
 * whatever ended it: a credit, a refusal, the client gone). */
void llg_pool_token_wait_end(llg_pool_t *pool, const llg_pool_view_t *view, int token);

/* The host's own rpm (GCRA), for a wait that ran out of time: 0 or -1 as
 * llg_pool_token_admit, the request not counted again. */
int llg_pool_token_admit_local(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t *retry_after_ms);

/* Counts a request of the token refused before its rpm was applied (403:
 * model not allowed): one request and one rejection. */
void llg_pool_token_reject(llg_pool_t *pool, const llg_pool_view_t *view, int token);

/* Counts a request of the token refused by a quota (429). */
void llg_pool_token_reject_quota(llg_pool_t *pool, const llg_pool_view_t *view, int token);

void llg_pool_token_usage(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t prompt, uint64_t completion);

typedef struct llg_pool_token_stats {
    uint64_t requests;
    uint64_t rejected_rate;      /* refused by rpm */
    uint64_t rejected_forbidden; /* llg_pool_token_reject */
    uint64_t rejected_quota;     /* llg_pool_token_reject_quota */
    uint64_t prompt_tokens, completion_tokens;
} llg_pool_token_stats_t;

int llg_pool_token_stats(const llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_pool_token_stats_t *out);

/* ---- quotas and usage by UTC day (pool/usage.c, docs/quotas.md) ---------- */

typedef enum llg_quota {
    LLG_QUOTA_REQUESTS_DAY, /* requests admitted per UTC day */
    LLG_QUOTA_TOKENS_DAY,   /* prompt + completion tokens per UTC day */
    LLG_QUOTA_TOKENS_MONTH, /* prompt + completion tokens per UTC calendar month */
    LLG_QUOTA_COUNT
} llg_quota_t;

/* "requests_per_day", "tokens_per_day", "tokens_per_month". */
const char *llg_quota_name(llg_quota_t quota);

/* Epoch seconds at which the window of `quota` that holds `now_epoch_s` ends
 * (the next UTC midnight, or the first second of the next month). */
int64_t llg_quota_reset_epoch(llg_quota_t quota, int64_t now_epoch_s);

/* What token `token` has used of `quota` in the window of `now_epoch_s`:
 * without a cluster, this host's count; with `cluster:`, the cluster's total as
 * the link last read it plus what this host counted since (docs/quotas.md). */
uint64_t llg_pool_quota_used(const llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_quota_t quota,
                             int64_t now_epoch_s);

/* Whether a request of the token would be refused by a quota now, without
 * counting it: the first quota used up, or -1 when none is. */
int llg_pool_quota_check(const llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s);

/* Counts an admitted request of the token: its requests of the day (within
 * requests_per_day exactly on this host: 0, or -1 when the last one was taken
 * meanwhile, counted as a quota rejection) and the shared `admitted` total. */
int llg_pool_quota_admit(llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s);

/* A token's limits now, for the x-ratelimit-* headers: `rpm` 0 when it has no
 * rpm; a quota whose limit is 0 is not set. */
typedef struct llg_pool_limits {
    uint32_t rpm;
    uint64_t rpm_remaining, rpm_reset_ms; /* left in the burst; ms until it is whole again */
    struct {
        uint64_t limit, used, remaining;
        int64_t reset_epoch_s;
    } quota[LLG_QUOTA_COUNT];
} llg_pool_limits_t;

/* True when the token has an rpm or a quota (its answers carry the headers). */
bool llg_pool_token_limited(const llg_pool_view_t *view, int token);

void llg_pool_token_limits(const llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, int64_t now_epoch_s,
                           llg_pool_limits_t *out);

/* A token's or key's usage of the day and tokens of the month. `cluster`:
 * the cluster's totals (the link's last read plus this host's unsent
 * amounts); else this host's own counts. */
typedef struct llg_pool_day_usage {
    uint64_t requests, prompt_tokens, completion_tokens, month_tokens;
} llg_pool_day_usage_t;

int llg_pool_token_day_usage(const llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now_epoch_s, bool cluster,
                             llg_pool_day_usage_t *out);
int llg_pool_key_day_usage(const llg_pool_t *pool, int32_t slot, int64_t now_epoch_s, bool cluster, llg_pool_day_usage_t *out);

/* {"day":..., "month":..., "scope":"cluster"|"host", "tokens":[...], "keys":[...]}
 * for /admin/usage (docs/quotas.md). 0, or -1 on a write error. */
int llg_pool_write_usage_json(llg_pool_t *pool, const llg_pool_view_t *view, int64_t now_epoch_s, FILE *out);

/* ---- the cluster link's side of usage and rpm (pool/lease.c) ----------------- */

/* The amounts of a token (`token` >= 0, config index; two entries of one
 * secret share them: take them through one) or a key (`slot` >= 0) counted on
 * this host and not yet added to Redis: the link reads them, marks them sent,
 * then adds them (a connection lost with the command in flight loses them
 * rather than counting them twice). */
typedef struct llg_pool_unsent {
    uint64_t requests, prompt_tokens, completion_tokens;
} llg_pool_unsent_t;

int llg_pool_token_take_unsent(llg_pool_t *pool, const llg_pool_view_t *view, int token, llg_pool_unsent_t *out);
int llg_pool_key_take_unsent(llg_pool_t *pool, int32_t slot, llg_pool_unsent_t *out);

/* Stores the cluster's totals of a token or key for the day `day` and month
 * `month` (pool_utc_day/month numbering: see llg_pool_utc_day). */
void llg_pool_token_set_totals(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t day, uint64_t month,
                               const llg_pool_day_usage_t *totals);
void llg_pool_key_set_totals(llg_pool_t *pool, int32_t slot, uint64_t day, uint64_t month, const llg_pool_day_usage_t *totals);

uint64_t llg_pool_utc_day(int64_t epoch_s);
uint64_t llg_pool_utc_month(int64_t epoch_s);

/* Tests: the wall clock the day and month windows of usage counting read in
 * this process (0: the real one). */
void llg_pool_set_test_epoch(int64_t epoch_s);

/*
 * rpm in a cluster (docs/cluster.md "Access-token rpm"): Redis holds one GCRA
 * per token; the link takes credits from it in batches ahead of demand and a
 * request spends one from the region. A credit unused LLG_CREDIT_TTL_MS
 * after its grant is given back, which bounds what a window can admit above
 * the limit by rpm * LLG_CREDIT_TTL_MS / 60 s.
 */
#define LLG_CREDIT_TTL_MS 1000

/* The link's view of a token's lease: requests waiting for a credit now,
 * credits left, and whether the token was used in the last `active_ms`. 0, or
 * -1 for a token without rpm (or a duplicate entry). */
int llg_pool_lease_state(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms, uint64_t active_ms,
                         uint64_t *waiting, int64_t *credits, bool *active);

/* Redis granted `granted` credits (valid LLG_CREDIT_TTL_MS); when it granted
 * fewer than asked, the next cell is `wait_ms` away: requests finding no credit
 * until then are refused. `full_in_ms`: when the cluster's burst is whole again. */
void llg_pool_lease_grant(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t granted, bool short_grant,
                          uint64_t wait_ms, uint64_t full_in_ms, uint64_t now_ms);

/* Whether Redis' last answer for the token still refuses (denied_until ahead). */
bool llg_pool_lease_denied(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms);

/* Takes back credits whose time is over: how many (to give back to Redis). */
uint64_t llg_pool_lease_expire(llg_pool_t *pool, const llg_pool_view_t *view, int token, uint64_t now_ms);

/* Requests admitted by the local rpm while the link was down and not yet added
 * to Redis; marked as added. */
uint64_t llg_pool_lease_take_down_admits(llg_pool_t *pool, const llg_pool_view_t *view, int token);

/* ---- metrics ------------------------------------------------------------ */

/* Counts a finished client request: `provider` is the config index of the
 * provider that served it, or -1 when it was not routed (label `none`);
 * `ttfb_us` 0 when no byte of an answer was sent. */
void llg_pool_count_request(llg_pool_t *pool, const llg_pool_view_t *view, int provider, int status, uint64_t duration_us,
                            uint64_t ttfb_us);

/* ---- per-model series (pool/model_metrics.c, docs/metrics.md) ----------------- */

/* Live (model, provider) series at most, besides one `other` per provider:
 * past it, a new series is counted as `other`. */
#define LLG_MODEL_SERIES 4096u

typedef enum llg_model_kind {
    LLG_MODEL_PROMPT,
    LLG_MODEL_COMPLETION,
    LLG_MODEL_CACHED,
    LLG_MODEL_REASONING,
    LLG_MODEL_KINDS
} llg_model_kind_t;

/* One finished client request, as the per-model series see it. */
typedef struct llg_pool_model_obs {
    int provider;      /* config index; < 0: not counted */
    const char *model; /* the model asked for; NULL: not counted; a name the config does not know: `other` */
    int status;        /* the status sent (499: the client left) */
    bool has_tokens[LLG_MODEL_KINDS];
    uint64_t tokens[LLG_MODEL_KINDS];
    bool has_ttft; /* an upstream attempt and a status below 400 */
    uint64_t ttft_us;
    bool has_overhead; /* at least one finished attempt */
    uint64_t overhead_us;
} llg_pool_model_obs_t;

/* Counts one request: one hash lookup in the view, one in the shared table
 * (a CAS the first time a series is seen), a few relaxed adds. */
void llg_pool_count_model(llg_pool_t *pool, const llg_pool_view_t *view, const llg_pool_model_obs_t *obs);

typedef struct llg_pool_model_stats {
    uint64_t requests[4]; /* 2xx 3xx 4xx 5xx */
    uint64_t tokens[LLG_MODEL_KINDS];
    uint64_t ttft_count, overhead_count;
} llg_pool_model_stats_t;

/* The counts of series (provider, model label) (tests). 0, or -1 when it has no slot. */
int llg_pool_model_stats(const llg_pool_t *pool, const llg_pool_view_t *view, const char *provider, const char *model,
                         llg_pool_model_stats_t *out);

/* The gauge of provider `provider`'s requests waiting for a connection
 * (max_connections): the workers add and subtract to it directly. */
_Atomic int64_t *llg_pool_queued_gauge(llg_pool_t *pool, const llg_pool_view_t *view, int provider);

void llg_pool_stream_begin(llg_pool_t *pool);
void llg_pool_stream_end(llg_pool_t *pool);

/* The access log's and the trace exporter's counters (docs/observability.md). */
typedef enum llg_obs_counter {
    LLG_OBS_ACCESS_LOG_DROPPED,  /* lines the output did not take in time */
    LLG_OBS_OTEL_SPANS_EXPORTED, /* spans the collector accepted */
    LLG_OBS_OTEL_DROPPED_QUEUE,  /* spans dropped: the queue was full */
    LLG_OBS_OTEL_DROPPED_EXPORT, /* spans dropped: their export failed */
    LLG_OBS_OTEL_EXPORTS_OK,     /* export requests answered 2xx */
    LLG_OBS_OTEL_EXPORTS_FAILED, /* export requests that failed (network, timeout, non-2xx) */
    LLG_OBS_COUNT
} llg_obs_counter_t;

/* Adds `n` to counter `c` (kept when sync replaces the region). */
void llg_pool_obs_add(llg_pool_t *pool, llg_obs_counter_t c, uint64_t n);

/* The gauge of spans waiting for export, all workers: each adds and
 * subtracts its own (llmgate_otel_queue_spans). */
_Atomic int64_t *llg_pool_otel_queue_gauge(llg_pool_t *pool);

/* Counts a configuration reload (kept when sync replaces the region). */
void llg_pool_count_reload(llg_pool_t *pool, bool ok);

/* Prometheus text exposition format (docs/metrics.md). 0, or -1 on a write error. */
int llg_pool_write_metrics(llg_pool_t *pool, const llg_pool_view_t *view, uint64_t now_ms, FILE *out);

/* {"keys":[...],"tokens":[...]} for /admin/keys: ids, states and counters,
 * never a secret. 0, or -1 on a write error. */
int llg_pool_write_admin_json(llg_pool_t *pool, const llg_pool_view_t *view, uint64_t now_ms, FILE *out);

/* ---- rate-limit hints (exposed for tests) ------------------------------- */

/* An HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate, RFC 850, asctime) as
 * epoch seconds. 0 or -1. `now_epoch_s` resolves RFC 850's two-digit year. */
int llg_pool_parse_http_date(const char *s, int64_t now_epoch_s, int64_t *epoch_s);

/* A Go-style duration (`1s`, `6m0s`, `20ms`, `1m30.5s`, `2h`, `150us`; a bare
 * number is seconds), rounded up to whole milliseconds. 0 or -1. */
int llg_pool_parse_reset_duration(const char *s, uint64_t *ms);

/* The cooldown the hints ask for, in ms, or -1 when none of them is valid. */
int64_t llg_pool_hint_cooldown_ms(const llg_pool_hints_t *hints, int64_t now_epoch_s);

#endif
