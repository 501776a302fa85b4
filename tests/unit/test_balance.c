/*
 * tests/unit/test_balance.c: model groups' choice of a target (pool/balance.h)
 * in one process with a fake clock, against the contract of issue 18: the
 * weighted sequence (exact over a period, smooth, exact across forked
 * processes sharing the cursor), the circuit breaker and its half-open probe,
 * the tried mask, priority tiers, least_busy, latency (P2C over the peak
 * EWMA, its decay, the error penalty), affinity (stable, spread by weight,
 * consistent when a target goes, bounded load), a provider whose keys all
 * rest, reloads, the hash and the cluster share/apply round trip.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "pool/balance.h"
#include "pool/pool.h"
#include "tests/test.h"

#define T0    1000000u   /* the fake clock starts here (ms) */
#define EPOCH 1700000000 /* fake wall clock (s) */

static char *no_env[] = {NULL};

/* ---- helpers ----------------------------------------------------------------- */

static llg_conf_t *conf_yaml(const char *yaml)
{
    llg_conf_errors_t errs = {0};
    llg_conf_t *c = llg_conf_load_string("t.yaml", yaml, strlen(yaml), no_env, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "  config: %s\n", errs.items[i]);
    llg_conf_errors_free(&errs);
    return c;
}

/* Providers: `a` with 3 pool keys, `e` an echo provider (always available),
 * then the groups of the test. */
static const char *providers_yaml = "timeout: 10\n"
                                    "keys: {cooldown: 1s, max_cooldown: 5s, probe_after: 60s}\n"
                                    "providers:\n"
                                    "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\",\n"
                                    "     keys: [sk-a-secret-0, sk-a-secret-1, sk-a-secret-2]}\n"
                                    "  - {name: e, type: echo}\n";

typedef struct fixture {
    llg_conf_t *conf;
    llg_pool_t *pool;
    llg_pool_view_t *view;
} fixture_t;

static char *cat_yaml(const char *groups)
{
    size_t n = strlen(providers_yaml) + strlen(groups) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s", providers_yaml, groups);
    return s;
}

static int setup(fixture_t *f, const char *groups)
{
    memset(f, 0, sizeof(*f));
    char *yaml = cat_yaml(groups);
    f->conf = conf_yaml(yaml);
    free(yaml);
    f->pool = llg_pool_create(0, 0, 0);
    if (f->conf == NULL || f->pool == NULL || llg_pool_sync(&f->pool, f->conf, &f->view) != 0) {
        fprintf(stderr, "  setup failed\n");
        test_current_failed_ = 1;
        return -1;
    }
    return 0;
}

/* Replaces the config with `groups` and syncs the same pool. */
static int resync(fixture_t *f, const char *groups)
{
    char *yaml = cat_yaml(groups);
    llg_conf_t *c = conf_yaml(yaml);
    free(yaml);
    if (c == NULL || llg_pool_sync(&f->pool, c, &f->view) != 0) {
        fprintf(stderr, "  resync failed\n");
        test_current_failed_ = 1;
        llg_conf_free(c);
        return -1;
    }
    llg_conf_free(f->conf);
    f->conf = c;
    return 0;
}

static void teardown(fixture_t *f)
{
    llg_pool_view_free(f->view);
    llg_pool_destroy(f->pool);
    llg_conf_free(f->conf);
}

/* One choice, released at once: the target, or -1. */
static int choose(fixture_t *f, unsigned group, uint64_t tried, uint64_t key, uint64_t now)
{
    llg_balance_pick_t p;
    if (llg_balance_choose(f->pool, f->view, group, tried, key, now, &p) != 0)
        return -1;
    llg_balance_release(f->pool, &p);
    return p.target;
}

/* A whole attempt on target `t` (the others tried): its outcome reported. */
static bool attempt_on(fixture_t *f, unsigned group, int t, llg_outcome_t o, uint64_t now)
{
    llg_balance_pick_t p;
    if (llg_balance_choose(f->pool, f->view, group, ~(UINT64_C(1) << t), 0, now, &p) != 0 || p.target != t)
        return false;
    llg_balance_report(f->pool, f->view, &p, o, now);
    llg_balance_release(f->pool, &p);
    return true;
}

static llg_balance_target_stats_t tstats(fixture_t *f, unsigned group, unsigned target, uint64_t now)
{
    llg_balance_target_stats_t s;
    CHECK_EQ_INT(llg_balance_target_stats(f->pool, f->view, group, target, now, &s), 0);
    return s;
}

/* `n` echo targets e/m0.. with the given weights (NULL: 1 each) and priorities
 * (NULL: 0), in group "g" with `extra` lines of settings. */
static char *group_yaml(const char *strategy, unsigned n, const unsigned *weights, const unsigned *prios, const char *extra)
{
    size_t cap = 512 + (size_t)n * 96 + (extra ? strlen(extra) : 0);
    char *s = malloc(cap);
    size_t len =
        (size_t)snprintf(s, cap, "model_groups:\n  - name: g\n    strategy: %s\n%s    targets:\n", strategy, extra ? extra : "");
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "      - {provider: e, model: m%u, weight: %u, priority: %u}\n", i,
                                weights ? weights[i] : 1, prios ? prios[i] : 0);
    return s;
}

static int setup_group(fixture_t *f, const char *strategy, unsigned n, const unsigned *weights, const unsigned *prios,
                       const char *extra)
{
    char *g = group_yaml(strategy, n, weights, prios, extra);
    int r = setup(f, g);
    free(g);
    return r;
}

/* ---- weighted ---------------------------------------------------------------- */

static void check_split(const unsigned *weights, unsigned n, unsigned periods)
{
    fixture_t f;
    if (setup_group(&f, "weighted", n, weights, NULL, NULL) != 0)
        return;
    unsigned sum = 0, counts[8] = {0};
    for (unsigned i = 0; i < n; i++)
        sum += weights[i];
    for (unsigned i = 0; i < sum * periods; i++) {
        int t = choose(&f, 0, 0, 0, T0);
        CHECK(t >= 0 && t < (int)n);
        if (t >= 0 && t < (int)n)
            counts[t]++;
    }
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ_INT(counts[i], weights[i] * periods);
    teardown(&f);
}

TEST(weighted_exact)
{
    check_split((const unsigned[]){3, 1}, 2, 250);
    check_split((const unsigned[]){5, 3, 2}, 3, 100);
    /* over any window of one period, too: the cursor starts anywhere */
    fixture_t f;
    if (setup_group(&f, "weighted", 3, (const unsigned[]){5, 3, 2}, NULL, NULL) != 0)
        return;
    for (unsigned i = 0; i < 7; i++)
        choose(&f, 0, 0, 0, T0);
    unsigned counts[3] = {0};
    for (unsigned i = 0; i < 10; i++)
        counts[choose(&f, 0, 0, 0, T0)]++;
    CHECK_EQ_INT(counts[0], 5);
    CHECK_EQ_INT(counts[1], 3);
    CHECK_EQ_INT(counts[2], 2);
    teardown(&f);
}

TEST(weighted_smooth)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 3, NULL, NULL, NULL) != 0)
        return;
    int prev = -1;
    for (unsigned i = 0; i < 300; i++) {
        int t = choose(&f, 0, 0, 0, T0);
        CHECK(t != prev);
        prev = t;
    }
    teardown(&f);
    /* 5:3:2: the heaviest never three times in a row */
    if (setup_group(&f, "weighted", 3, (const unsigned[]){5, 3, 2}, NULL, NULL) != 0)
        return;
    int run = 0;
    prev = -1;
    for (unsigned i = 0; i < 100; i++) {
        int t = choose(&f, 0, 0, 0, T0);
        run = t == prev ? run + 1 : 1;
        CHECK(run <= 2);
        prev = t;
    }
    teardown(&f);
}

TEST(weighted_processes)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 3, (const unsigned[]){5, 3, 2}, NULL, NULL) != 0)
        return;
    enum { CHILDREN = 4, EACH = 10000 };
    _Atomic unsigned *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(counts != MAP_FAILED);
    if (counts == MAP_FAILED) {
        teardown(&f);
        return;
    }
    memset((void *)counts, 0, 4096);
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        if (pids[c] == 0) {
            for (int i = 0; i < EACH; i++) {
                int t = choose(&f, 0, 0, 0, T0);
                atomic_fetch_add(&counts[t >= 0 && t < 3 ? t : 3], 1);
            }
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int st = 0;
        CHECK(pids[c] > 0 && waitpid(pids[c], &st, 0) == pids[c] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* 40,000 = 4,000 periods of 10: exact */
    CHECK_EQ_INT(counts[0], 20000);
    CHECK_EQ_INT(counts[1], 12000);
    CHECK_EQ_INT(counts[2], 8000);
    CHECK_EQ_INT(counts[3], 0);
    munmap((void *)counts, 4096);
    teardown(&f);
}

/* ---- the breaker --------------------------------------------------------------- */

static const char *breaker_extra = "    breaker: {failures: 3, cooldown: 10s}\n";

TEST(breaker_opens)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 2, NULL, NULL, breaker_extra) != 0)
        return;
    uint64_t now = T0;
    CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_SERVER, now));
    CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_NETWORK, now));
    CHECK_EQ_INT(tstats(&f, 0, 0, now).breaker, LLG_BREAKER_CLOSED);
    CHECK_EQ_INT(tstats(&f, 0, 0, now).consecutive_failures, 2);
    /* a success in between starts the count again */
    CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_SUCCESS, now));
    CHECK_EQ_INT(tstats(&f, 0, 0, now).consecutive_failures, 0);
    /* key outcomes and cancellations do not count */
    CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_RATE_LIMITED, now));
    CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_CANCELLED, now));
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_SERVER, now));
    llg_balance_target_stats_t s = tstats(&f, 0, 0, now + 1000);
    CHECK_EQ_INT(s.breaker, LLG_BREAKER_OPEN);
    CHECK_EQ_INT(s.open_remaining_ms, 9000);
    CHECK(!s.available);
    CHECK_EQ_INT(s.requests, 8);
    CHECK_EQ_INT(s.outcomes[LLG_OUTCOME_SERVER], 4);
    CHECK_EQ_INT(s.outcomes[LLG_OUTCOME_NETWORK], 1);
    CHECK_EQ_INT(tstats(&f, 0, 1, now).breaker, LLG_BREAKER_CLOSED);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, now + 9999), 1);
    /* both open: nothing */
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 0, 1, LLG_OUTCOME_SERVER, now));
    CHECK_EQ_INT(choose(&f, 0, 0, 0, now + 9999), -1);
    teardown(&f);

    /* failures: 0 is no breaker */
    if (setup_group(&f, "weighted", 2, NULL, NULL, "    breaker: {failures: 0}\n") != 0)
        return;
    for (int i = 0; i < 50; i++)
        CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_SERVER, now));
    CHECK_EQ_INT(tstats(&f, 0, 0, now).breaker, LLG_BREAKER_CLOSED);
    teardown(&f);
}

/* Opens target 0's breaker at `now` and returns the time its cooldown ends. */
static uint64_t open_target0(fixture_t *f, uint64_t now)
{
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(f, 0, 0, LLG_OUTCOME_SERVER, now));
    CHECK_EQ_INT(tstats(f, 0, 0, now).breaker, LLG_BREAKER_OPEN);
    return now + 10000;
}

/* Chooses `n` times at `now` (released at once); counts target 0 and probes. */
static void count_choices(fixture_t *f, unsigned n, uint64_t now, unsigned *zero, unsigned *probes)
{
    *zero = *probes = 0;
    for (unsigned i = 0; i < n; i++) {
        llg_balance_pick_t p;
        if (llg_balance_choose(f->pool, f->view, 0, 0, 0, now, &p) != 0)
            continue;
        *zero += p.target == 0;
        *probes += p.probe;
        llg_balance_release(f->pool, &p);
    }
}

/* Chooses until target 0 comes (at most 10 times), holding it: its pick. */
static bool take_probe(fixture_t *f, uint64_t now, llg_balance_pick_t *probe)
{
    for (int i = 0; i < 10; i++) {
        if (llg_balance_choose(f->pool, f->view, 0, 0, 0, now, probe) != 0)
            return false;
        if (probe->target == 0)
            return true;
        CHECK(!probe->probe);
        llg_balance_release(f->pool, probe);
    }
    return false;
}

TEST(breaker_half_open)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 2, NULL, NULL, breaker_extra) != 0)
        return;
    uint64_t now = open_target0(&f, T0);
    CHECK_EQ_INT(tstats(&f, 0, 0, now).breaker, LLG_BREAKER_HALF_OPEN);
    CHECK(tstats(&f, 0, 0, now).available);

    /* the cooldown over: one probe, the others skip it meanwhile */
    llg_balance_pick_t probe;
    CHECK(take_probe(&f, now, &probe));
    CHECK(probe.probe);
    unsigned zero, probes;
    count_choices(&f, 50, now + 1, &zero, &probes);
    CHECK_EQ_INT(zero, 0);
    CHECK_EQ_INT(probes, 0);
    /* the probe succeeds: closed, chosen again in its turn */
    llg_balance_report(f.pool, f.view, &probe, LLG_OUTCOME_SUCCESS, now + 1);
    llg_balance_release(f.pool, &probe);
    CHECK_EQ_INT(tstats(&f, 0, 0, now + 1).breaker, LLG_BREAKER_CLOSED);
    count_choices(&f, 50, now + 2, &zero, &probes);
    CHECK_EQ_INT(zero, 25);
    CHECK_EQ_INT(probes, 0);

    /* open again; the probe fails: open for a whole cooldown from then */
    now = open_target0(&f, now + 2);
    CHECK(take_probe(&f, now, &probe));
    CHECK(probe.probe);
    llg_balance_report(f.pool, f.view, &probe, LLG_OUTCOME_SERVER, now + 5);
    llg_balance_release(f.pool, &probe);
    llg_balance_target_stats_t s = tstats(&f, 0, 0, now + 5);
    CHECK_EQ_INT(s.breaker, LLG_BREAKER_OPEN);
    CHECK_EQ_INT(s.open_remaining_ms, 10000);
    count_choices(&f, 50, now + 5 + 9999, &zero, &probes);
    CHECK_EQ_INT(zero, 0);

    /* a probe released without a report gives the turn back: the next
     * choice of the target probes again, at once */
    now = now + 5 + 10000;
    CHECK(take_probe(&f, now, &probe));
    CHECK(probe.probe);
    count_choices(&f, 20, now, &zero, &probes);
    CHECK_EQ_INT(zero, 0);
    llg_balance_release(f.pool, &probe);
    CHECK_EQ_INT(tstats(&f, 0, 0, now).breaker, LLG_BREAKER_HALF_OPEN);
    CHECK(take_probe(&f, now, &probe));
    CHECK(probe.probe);
    /* a key's error does not settle it either */
    llg_balance_report(f.pool, f.view, &probe, LLG_OUTCOME_RATE_LIMITED, now);
    llg_balance_release(f.pool, &probe);
    CHECK(take_probe(&f, now, &probe));
    CHECK(probe.probe);
    llg_balance_report(f.pool, f.view, &probe, LLG_OUTCOME_CLIENT, now);
    llg_balance_release(f.pool, &probe);
    CHECK_EQ_INT(tstats(&f, 0, 0, now).breaker, LLG_BREAKER_CLOSED);

    /* a probe whose process died: given again after the probe timeout
     * (timeouts.request, 10 s here, plus slack) */
    now = open_target0(&f, now);
    CHECK(take_probe(&f, now, &probe)); /* never released */
    count_choices(&f, 20, now + 10000, &zero, &probes);
    CHECK_EQ_INT(zero, 0);
    llg_balance_pick_t again;
    CHECK(take_probe(&f, now + 3600000, &again));
    CHECK(again.probe);
    count_choices(&f, 20, now + 3600000, &zero, &probes);
    CHECK_EQ_INT(zero, 0);
    /* the first probe's late report changes nothing: the ticket is not its own */
    llg_balance_report(f.pool, f.view, &probe, LLG_OUTCOME_SERVER, now + 3600000);
    CHECK_EQ_INT(tstats(&f, 0, 0, now + 3600000).breaker, LLG_BREAKER_HALF_OPEN);
    llg_balance_release(f.pool, &probe);
    llg_balance_report(f.pool, f.view, &again, LLG_OUTCOME_SUCCESS, now + 3600000);
    llg_balance_release(f.pool, &again);
    CHECK_EQ_INT(tstats(&f, 0, 0, now + 3600000).breaker, LLG_BREAKER_CLOSED);
    teardown(&f);
}

/* ---- tried, tiers ------------------------------------------------------------------ */

TEST(tried_mask)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 3, (const unsigned[]){5, 3, 2}, NULL, NULL) != 0)
        return;
    for (int i = 0; i < 100; i++) {
        int t = choose(&f, 0, 1, 0, T0);
        CHECK(t == 1 || t == 2);
    }
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(choose(&f, 0, 1 | 4, 0, T0), 1);
    CHECK_EQ_INT(choose(&f, 0, 7, 0, T0), -1);
    teardown(&f);
    /* every strategy honours it */
    const char *const strategies[] = {"least_busy", "latency", "affinity"};
    for (size_t s = 0; s < 3; s++) {
        if (setup_group(&f, strategies[s], 3, NULL, NULL, NULL) != 0)
            return;
        for (uint64_t k = 0; k < 100; k++)
            CHECK_EQ_INT(choose(&f, 0, 1 | 2, llg_balance_hash(&k, sizeof(k), 0), T0), 2);
        CHECK_EQ_INT(choose(&f, 0, 7, 1, T0), -1);
        teardown(&f);
    }
}

TEST(priority_tiers)
{
    /* m0, m1 in tier 0; m2 in tier 5; m3 in tier 9 */
    const char *const strategies[] = {"weighted", "least_busy", "latency", "affinity"};
    for (size_t si = 0; si < 4; si++) {
        fixture_t f;
        if (setup_group(&f, strategies[si], 4, NULL, (const unsigned[]){5, 0, 9, 0}, breaker_extra) != 0)
            return;
        /* targets 1 and 3 are tier 0 */
        for (uint64_t k = 0; k < 200; k++) {
            int t = choose(&f, 0, 0, llg_balance_hash(&k, sizeof(k), 1), T0);
            CHECK(t == 1 || t == 3);
        }
        /* one of tier 0 unavailable: the other takes all */
        for (int i = 0; i < 3; i++)
            CHECK(attempt_on(&f, 0, 1, LLG_OUTCOME_SERVER, T0));
        for (uint64_t k = 0; k < 50; k++)
            CHECK_EQ_INT(choose(&f, 0, 0, llg_balance_hash(&k, sizeof(k), 1), T0), 3);
        /* tier 0 tried: tier 5 */
        CHECK_EQ_INT(choose(&f, 0, 1u << 3, 7, T0), 0);
        /* tier 0 all open: tier 5 */
        for (int i = 0; i < 3; i++)
            CHECK(attempt_on(&f, 0, 3, LLG_OUTCOME_SERVER, T0));
        for (uint64_t k = 0; k < 50; k++)
            CHECK_EQ_INT(choose(&f, 0, 0, llg_balance_hash(&k, sizeof(k), 1), T0), 0);
        /* and tier 9 after that */
        CHECK_EQ_INT(choose(&f, 0, 1, 7, T0), 2);
        /* tier 0 back (its cooldown over, probe turns): tier 0 first again */
        int t = choose(&f, 0, 0, 7, T0 + 10000);
        CHECK(t == 1 || t == 3);
        teardown(&f);
    }
}

/* ---- least_busy ------------------------------------------------------------------- */

TEST(least_busy)
{
    fixture_t f;
    if (setup_group(&f, "least_busy", 2, NULL, NULL, NULL) != 0)
        return;
    /* equal and idle: they take turns */
    unsigned counts[2] = {0};
    for (int i = 0; i < 100; i++)
        counts[choose(&f, 0, 0, 0, T0)]++;
    CHECK_EQ_INT(counts[0], 50);
    CHECK_EQ_INT(counts[1], 50);
    /* picks held on A: every choice goes to B until B holds as many */
    llg_balance_pick_t held[4];
    unsigned h = 0;
    while (h < 4) {
        llg_balance_pick_t p;
        CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 2, 0, T0, &p), 0);
        CHECK_EQ_INT(p.target, 0);
        held[h++] = p;
    }
    CHECK_EQ_INT(tstats(&f, 0, 0, T0).in_flight, 4);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, T0), 1);
    llg_balance_pick_t b[4];
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, 0, T0, &b[i]), 0);
        CHECK_EQ_INT(b[i].target, 1);
    }
    /* 4 and 4: turns again */
    counts[0] = counts[1] = 0;
    for (int i = 0; i < 10; i++)
        counts[choose(&f, 0, 0, 0, T0)]++;
    CHECK_EQ_INT(counts[0], 5);
    for (int i = 0; i < 4; i++) {
        llg_balance_release(f.pool, &held[i]);
        llg_balance_release(f.pool, &b[i]);
    }
    CHECK_EQ_INT(tstats(&f, 0, 0, T0).in_flight, 0);
    CHECK_EQ_INT(tstats(&f, 0, 1, T0).in_flight, 0);
    teardown(&f);

    /* ties broken by weight */
    if (setup_group(&f, "least_busy", 3, (const unsigned[]){1, 4, 2}, NULL, NULL) != 0)
        return;
    for (int i = 0; i < 30; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, T0), 1);
    llg_balance_pick_t p;
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, 0, T0, &p), 0);
    CHECK_EQ_INT(p.target, 1);
    for (int i = 0; i < 30; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, T0), 2);
    llg_balance_release(f.pool, &p);
    teardown(&f);
}

/* ---- latency ---------------------------------------------------------------------- */

TEST(latency)
{
    fixture_t f;
    if (setup_group(&f, "latency", 2, NULL, NULL, "    latency: {decay: 10s, error_penalty: 2s}\n") != 0)
        return;
    llg_balance_pick_t p;
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 2, 0, T0, &p), 0);
    llg_balance_observe(f.pool, &p, 50000, T0);
    llg_balance_release(f.pool, &p);
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 1, 0, T0, &p), 0);
    llg_balance_observe(f.pool, &p, 1000, T0);
    llg_balance_release(f.pool, &p);
    llg_balance_target_stats_t s = tstats(&f, 0, 0, T0);
    CHECK(s.latency_ewma_ms > 49.9 && s.latency_ewma_ms < 50.1);

    unsigned to_b = 0;
    for (int i = 0; i < 1000; i++)
        to_b += choose(&f, 0, 0, 0, T0) == 1;
    CHECK(to_b >= 900);

    /* time passes; B keeps being used and measured at 1 ms, A is not: A's
     * value fades and it is tried again */
    uint64_t now = T0;
    unsigned to_a = 0;
    for (int i = 0; i < 1000; i++) {
        now += 100; /* 100 s in all: 10 decay periods */
        if (llg_balance_choose(f.pool, f.view, 0, 0, 0, now, &p) != 0)
            continue;
        if (p.target == 1)
            llg_balance_observe(f.pool, &p, 1000, now);
        else
            to_a++;
        llg_balance_release(f.pool, &p);
    }
    CHECK(to_a > 0);
    CHECK(tstats(&f, 0, 0, T0 + 100000).latency_ewma_ms < 1.0);

    /* a failure counts as error_penalty */
    CHECK(attempt_on(&f, 0, 1, LLG_OUTCOME_SERVER, now));
    s = tstats(&f, 0, 1, now);
    CHECK(s.latency_ewma_ms > 1999.0 && s.latency_ewma_ms < 2001.0);
    to_b = 0;
    for (int i = 0; i < 100; i++)
        to_b += choose(&f, 0, 0, 0, now) == 1;
    CHECK(to_b <= 10);
    teardown(&f);

    /* in flight counts: a fast target holding many picks loses to a slower idle one */
    if (setup_group(&f, "latency", 2, NULL, NULL, NULL) != 0)
        return;
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 2, 0, T0, &p), 0);
    llg_balance_observe(f.pool, &p, 3000, T0);
    llg_balance_release(f.pool, &p);
    llg_balance_pick_t held[4];
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 1, 0, T0, &held[i]), 0);
        llg_balance_observe(f.pool, &held[i], 1000, T0);
    }
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, T0), 0);
    for (int i = 0; i < 4; i++)
        llg_balance_release(f.pool, &held[i]);
    teardown(&f);
}

/* ---- affinity --------------------------------------------------------------------- */

static uint64_t key_of(unsigned i)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "session-%u", i);
    return llg_balance_hash(buf, (size_t)n, 0);
}

TEST(affinity_stable_spread)
{
    fixture_t f;
    if (setup_group(&f, "affinity", 4, NULL, NULL, NULL) != 0)
        return;
    enum { KEYS = 10000 };
    unsigned counts[4] = {0};
    for (unsigned i = 0; i < KEYS; i++) {
        int t = choose(&f, 0, 0, key_of(i), T0);
        CHECK(t >= 0 && t < 4);
        if (t >= 0 && t < 4)
            counts[t]++;
        if (i < 100)
            for (int j = 0; j < 5; j++)
                CHECK_EQ_INT(choose(&f, 0, 0, key_of(i), T0), t);
    }
    for (int t = 0; t < 4; t++)
        CHECK(counts[t] >= KEYS * 15 / 100 && counts[t] <= KEYS * 35 / 100);
    teardown(&f);

    /* by weight: 3:1 */
    if (setup_group(&f, "affinity", 2, (const unsigned[]){3, 1}, NULL, NULL) != 0)
        return;
    counts[0] = counts[1] = 0;
    for (unsigned i = 0; i < KEYS; i++)
        counts[choose(&f, 0, 0, key_of(i), T0) & 1]++;
    CHECK(counts[0] >= KEYS * 65 / 100 && counts[0] <= KEYS * 85 / 100);
    teardown(&f);

    /* the same on another pool of the same config (another instance) */
    fixture_t g;
    if (setup_group(&f, "affinity", 4, NULL, NULL, NULL) != 0 || setup_group(&g, "affinity", 4, NULL, NULL, NULL) != 0)
        return;
    for (unsigned i = 0; i < 500; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, key_of(i), T0), choose(&g, 0, 0, key_of(i), T0));
    teardown(&f);
    teardown(&g);
}

TEST(affinity_consistent)
{
    fixture_t f;
    if (setup_group(&f, "affinity", 4, NULL, NULL, breaker_extra) != 0)
        return;
    enum { KEYS = 2000 };
    static int before[KEYS];
    for (unsigned i = 0; i < KEYS; i++)
        before[i] = choose(&f, 0, 0, key_of(i), T0);
    /* target 2 unavailable: only its keys move, spread over the others */
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 0, 2, LLG_OUTCOME_SERVER, T0));
    unsigned moved_to[4] = {0};
    for (unsigned i = 0; i < KEYS; i++) {
        int t = choose(&f, 0, 0, key_of(i), T0 + 1);
        CHECK(t != 2);
        if (before[i] != 2)
            CHECK_EQ_INT(t, before[i]);
        else if (t >= 0)
            moved_to[t]++;
    }
    unsigned spread = (moved_to[0] > 0) + (moved_to[1] > 0) + (moved_to[3] > 0);
    CHECK(spread >= 2);
    /* back (the probe succeeds): its keys come back */
    llg_balance_pick_t p;
    for (unsigned i = 0; i < KEYS; i++) {
        if (before[i] != 2)
            continue;
        CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, key_of(i), T0 + 10000, &p), 0);
        CHECK_EQ_INT(p.target, 2);
        CHECK(p.probe);
        llg_balance_report(f.pool, f.view, &p, LLG_OUTCOME_SUCCESS, T0 + 10000);
        llg_balance_release(f.pool, &p);
        break;
    }
    for (unsigned i = 0; i < KEYS; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, key_of(i), T0 + 10001), before[i]);
    /* the tried mask moves a key the same way */
    for (unsigned i = 0; i < KEYS; i++) {
        int t = choose(&f, 0, UINT64_C(1) << 1, key_of(i), T0 + 10001);
        CHECK(t != 1);
        if (before[i] != 1)
            CHECK_EQ_INT(t, before[i]);
    }
    teardown(&f);
}

TEST(affinity_bounded_load)
{
    fixture_t f;
    if (setup_group(&f, "affinity", 4, NULL, NULL, "    affinity: {load_factor: 2}\n") != 0)
        return;
    uint64_t key = key_of(7);
    int home = choose(&f, 0, 0, key, T0);
    CHECK(home >= 0);
    /* load_factor 2, 4 equal targets: a target takes at most
     * ceil(2 * (in flight + 1) / 4); with `home` alone busy that is 1 then 1
     * (1 in flight: ceil(1) = 1, full), so the second pick of the key moves */
    llg_balance_pick_t p[8];
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, key, T0, &p[0]), 0);
    CHECK_EQ_INT(p[0].target, home);
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, key, T0, &p[1]), 0);
    CHECK(p[1].target != home);
    int next = p[1].target;
    /* 2 in flight: ceil(2 * 3 / 4) = 2: home takes one more */
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, key, T0, &p[2]), 0);
    CHECK_EQ_INT(p[2].target, home);
    /* 3 in flight, home holds 2 = ceil(2 * 4 / 4): full again, the same next one */
    CHECK_EQ_INT(llg_balance_choose(f.pool, f.view, 0, 0, key, T0, &p[3]), 0);
    CHECK_EQ_INT(p[3].target, next);
    for (int i = 0; i < 4; i++)
        llg_balance_release(f.pool, &p[i]);
    /* load gone: home again */
    CHECK_EQ_INT(choose(&f, 0, 0, key, T0), home);
    CHECK_EQ_INT(tstats(&f, 0, (unsigned)home, T0).in_flight, 0);
    teardown(&f);
}

/* ---- a provider whose keys all rest -------------------------------------------------- */

TEST(provider_keys_resting)
{
    fixture_t f;
    if (setup(&f, "model_groups:\n"
                  "  - name: g\n"
                  "    targets:\n"
                  "      - {provider: a, model: x}\n"
                  "      - {provider: e, model: y}\n") != 0)
        return;
    unsigned counts[2] = {0};
    for (int i = 0; i < 10; i++)
        counts[choose(&f, 0, 0, 0, T0)]++;
    CHECK_EQ_INT(counts[0], 5);
    CHECK(tstats(&f, 0, 0, T0).available);
    /* every key of `a` rate limited (1 s cooldown) */
    unsigned provider_a = 0;
    CHECK_EQ_STR(f.conf->providers[provider_a].name, "a");
    llg_pool_pick_t kp;
    int n = 0;
    while (llg_pool_pick(f.pool, f.view, provider_a, T0, &kp) == 0 && n++ < 20) {
        llg_pool_report(f.pool, &kp, LLG_OUTCOME_RATE_LIMITED, 429, NULL, T0, EPOCH);
        llg_pool_release(f.pool, &kp);
    }
    CHECK_EQ_INT(n, 3);
    CHECK(!tstats(&f, 0, 0, T0 + 1).available);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(choose(&f, 0, 0, 0, T0 + 1), 1);
    CHECK_EQ_INT(choose(&f, 0, 2, 0, T0 + 1), -1);
    /* the cooldown over: available again */
    CHECK(tstats(&f, 0, 0, T0 + 5000).available);
    counts[0] = counts[1] = 0;
    for (int i = 0; i < 10; i++)
        counts[choose(&f, 0, 0, 0, T0 + 5000)]++;
    CHECK_EQ_INT(counts[0], 5);
    teardown(&f);
}

/* ---- reload ----------------------------------------------------------------------------- */

TEST(reload)
{
    static const char *g1 = "model_groups:\n"
                            "  - name: other\n"
                            "    targets: [{provider: e, model: z}]\n"
                            "  - name: g\n"
                            "    breaker: {failures: 3, cooldown: 10s}\n"
                            "    targets:\n"
                            "      - {provider: e, model: m0}\n"
                            "      - {provider: e, model: m1}\n";
    /* groups reordered, a target added, weights changed: m0 and m1 keep their state */
    static const char *g2 = "model_groups:\n"
                            "  - name: g\n"
                            "    breaker: {failures: 3, cooldown: 10s}\n"
                            "    targets:\n"
                            "      - {provider: e, model: m2}\n"
                            "      - {provider: e, model: m1, weight: 2}\n"
                            "      - {provider: e, model: m0}\n"
                            "  - name: other\n"
                            "    targets: [{provider: e, model: z}]\n";
    /* m0 removed */
    static const char *g3 = "model_groups:\n"
                            "  - name: g\n"
                            "    breaker: {failures: 3, cooldown: 10s}\n"
                            "    targets:\n"
                            "      - {provider: e, model: m1}\n";
    fixture_t f;
    if (setup(&f, g1) != 0)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 1, 0, LLG_OUTCOME_SERVER, T0));
    for (int i = 0; i < 5; i++)
        CHECK(attempt_on(&f, 1, 1, LLG_OUTCOME_SUCCESS, T0));
    CHECK_EQ_INT(tstats(&f, 1, 0, T0).breaker, LLG_BREAKER_OPEN);

    if (resync(&f, g2) != 0) {
        teardown(&f);
        return;
    }
    llg_balance_target_stats_t s0 = tstats(&f, 0, 2, T0 + 1), s1 = tstats(&f, 0, 1, T0 + 1), s2 = tstats(&f, 0, 0, T0 + 1);
    CHECK_EQ_INT(s0.breaker, LLG_BREAKER_OPEN);
    CHECK_EQ_INT(s0.open_remaining_ms, 9999);
    CHECK_EQ_INT(s0.requests, 3);
    CHECK_EQ_INT(s1.requests, 5);
    CHECK_EQ_INT(s1.outcomes[LLG_OUTCOME_SUCCESS], 5);
    CHECK_EQ_INT(s2.requests, 0);
    CHECK_EQ_INT(s2.breaker, LLG_BREAKER_CLOSED);
    for (int i = 0; i < 30; i++)
        CHECK(choose(&f, 0, 0, 0, T0 + 1) != 2);

    /* removed, then added again: fresh */
    if (resync(&f, g3) != 0 || resync(&f, g2) != 0) {
        teardown(&f);
        return;
    }
    s0 = tstats(&f, 0, 2, T0 + 1);
    CHECK_EQ_INT(s0.breaker, LLG_BREAKER_CLOSED);
    CHECK_EQ_INT(s0.requests, 0);
    CHECK_EQ_INT(s0.consecutive_failures, 0);
    CHECK_EQ_INT(tstats(&f, 0, 1, T0 + 1).requests, 5); /* kept throughout */
    teardown(&f);
}

/* `ngroups` groups of 64 targets of provider e, models <prefix><group>-<i>. */
static char *many_groups(const char *prefix, int ngroups)
{
    size_t cap = (size_t)ngroups * 64 * 48 + 64, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "model_groups:\n");
    for (int g = 0; g < ngroups; g++) {
        n += (size_t)snprintf(s + n, cap - n, "  - name: %s%d\n    targets:\n", prefix, g);
        for (int i = 0; i < 64; i++)
            n += (size_t)snprintf(s + n, cap - n, "      - {provider: e, model: %s%d-%d}\n", prefix, g, i);
    }
    return s;
}

/* A reload that replaces 3,200 targets by 3,200 others (more than the 4,096
 * slots hold together): the slots of the dropped targets go to the new ones,
 * which start fresh. */
TEST(reload_replaces_most_slots)
{
    char *g1 = many_groups("x", 50), *g2 = many_groups("y", 50);
    fixture_t f;
    if (setup(&f, g1) != 0) {
        free(g1);
        free(g2);
        return;
    }
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 7, 5, LLG_OUTCOME_SUCCESS, T0));
    CHECK_EQ_INT(tstats(&f, 7, 5, T0).requests, 3);
    if (resync(&f, g2) == 0) {
        CHECK_EQ_INT(llg_balance_target_count(f.view), 3200);
        CHECK_EQ_INT(tstats(&f, 7, 5, T0).requests, 0);
        CHECK(choose(&f, 49, 0, 0, T0) >= 0);
        /* and back: the same again */
        CHECK(resync(&f, g1) == 0);
        CHECK_EQ_INT(tstats(&f, 7, 5, T0).requests, 0);
    }
    teardown(&f);
    free(g1);
    free(g2);
}

/* ---- hash, cluster ------------------------------------------------------------------------ */

TEST(hash)
{
    /* FNV-1a 64 then murmur3's finalizer: fixed forever (the ring, and the
     * ids that instances of a cluster share, depend on it) */
    CHECK(llg_balance_hash("", 0, 0) == UINT64_C(0xefd01f60ba992926));
    CHECK(llg_balance_hash("session-42", 10, 0) == UINT64_C(0x3e6cfda42145251e));
    CHECK(llg_balance_hash("session-42", 10, 7) == UINT64_C(0x72246d6bf3b30d25));
    /* chaining: the seed changes it */
    CHECK(llg_balance_hash("ab", 2, 0) != llg_balance_hash("ab", 2, 1));
}

TEST(cluster_share_apply)
{
    fixture_t f, g;
    if (setup_group(&f, "weighted", 2, NULL, NULL, breaker_extra) != 0)
        return;
    if (setup_group(&g, "weighted", 2, NULL, NULL, breaker_extra) != 0) {
        teardown(&f);
        return;
    }
    CHECK_EQ_INT(llg_balance_target_count(f.view), 2);
    unsigned char id_f[16], id_g[16];
    for (size_t i = 0; i < 2; i++) {
        llg_balance_target_id(f.view, i, id_f);
        llg_balance_target_id(g.view, i, id_g);
        CHECK(memcmp(id_f, id_g, 16) == 0);
    }
    llg_balance_target_id(f.view, 0, id_f);
    llg_balance_target_id(f.view, 1, id_g);
    CHECK(memcmp(id_f, id_g, 16) != 0);

    uint64_t c0 = llg_balance_changes(f.pool);
    uint64_t now = llg_pool_now_ms(); /* share reads the real clock */
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 0, 0, LLG_OUTCOME_SERVER, now));
    CHECK(llg_balance_changes(f.pool) > c0);
    uint32_t changes = 0;
    bool open = false;
    uint64_t remaining = 0;
    CHECK_EQ_INT(llg_balance_share(f.pool, f.view, 0, &changes, &open, &remaining), 0);
    CHECK(open);
    CHECK(changes >= 1);
    CHECK(remaining > 5000 && remaining <= 10000);
    CHECK_EQ_INT(llg_balance_share(f.pool, f.view, 1, &changes, &open, &remaining), 0);
    CHECK(!open);
    CHECK_EQ_INT(llg_balance_share(f.pool, f.view, 2, &changes, &open, &remaining), -1);

    /* applied on the other instance: open there as long, not a local change */
    CHECK_EQ_INT(llg_balance_share(f.pool, f.view, 0, &changes, &open, &remaining), 0);
    uint64_t cg = llg_balance_changes(g.pool);
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, true, remaining, T0, false), 1);
    CHECK_EQ_INT(llg_balance_changes(g.pool), cg);
    llg_balance_target_stats_t s = tstats(&g, 0, 0, T0);
    CHECK_EQ_INT(s.breaker, LLG_BREAKER_OPEN);
    CHECK_EQ_INT(s.open_remaining_ms, remaining);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(choose(&g, 0, 0, 0, T0), 1);
    /* the same again, or shorter: nothing to do */
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, true, remaining, T0, false), 0);
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, true, 10, T0, true), 0);
    /* closed, but only_longer (read at connect): kept open */
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, false, 0, T0, true), 0);
    CHECK_EQ_INT(tstats(&g, 0, 0, T0).breaker, LLG_BREAKER_OPEN);
    /* closed */
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, false, 0, T0, false), 1);
    CHECK_EQ_INT(tstats(&g, 0, 0, T0).breaker, LLG_BREAKER_CLOSED);
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 0, false, 0, T0, false), 0);
    CHECK_EQ_INT(llg_balance_apply(g.pool, g.view, 5, true, 1, T0, false), -1);
    teardown(&f);
    teardown(&g);
}

/* ---- observability ------------------------------------------------------------------------ */

TEST(admin_and_metrics)
{
    fixture_t f;
    if (setup_group(&f, "weighted", 2, (const unsigned[]){3, 1}, NULL, breaker_extra) != 0)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(attempt_on(&f, 0, 1, LLG_OUTCOME_SERVER, T0));
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK_EQ_INT(llg_balance_write_admin_json(f.pool, f.view, f.conf, T0 + 1000, m), 0);
    fclose(m);
    CHECK(strstr(buf, "\"name\":\"g\",\"strategy\":\"weighted\"") != NULL);
    CHECK(strstr(buf, "\"model\":\"m1\",\"weight\":1,\"priority\":0,\"breaker\":\"open\",\"open_remaining_ms\":9000,"
                      "\"available\":false,\"in_flight\":0,\"requests\":3,\"failures\":3,\"consecutive_failures\":3") != NULL);
    free(buf);
    buf = NULL;
    m = open_memstream(&buf, &len);
    CHECK_EQ_INT(llg_balance_write_metrics(f.pool, f.view, f.conf, T0 + 1000, m), 0);
    fclose(m);
    CHECK(strstr(buf, "llmgate_target_requests_total{group=\"g\",provider=\"e\",model=\"m1\",outcome=\"server\"} 3\n") != NULL);
    CHECK(strstr(buf, "llmgate_target_breaker_state{group=\"g\",provider=\"e\",model=\"m1\"} 1\n") != NULL);
    CHECK(strstr(buf, "llmgate_target_breaker_state{group=\"g\",provider=\"e\",model=\"m0\"} 0\n") != NULL);
    free(buf);
    teardown(&f);
}

int main(void)
{
    RUN(weighted_exact);
    RUN(weighted_smooth);
    RUN(weighted_processes);
    RUN(breaker_opens);
    RUN(breaker_half_open);
    RUN(tried_mask);
    RUN(priority_tiers);
    RUN(least_busy);
    RUN(latency);
    RUN(affinity_stable_spread);
    RUN(affinity_consistent);
    RUN(affinity_bounded_load);
    RUN(provider_keys_resting);
    RUN(reload);
    RUN(reload_replaces_most_slots);
    RUN(hash);
    RUN(cluster_share_apply);
    RUN(admin_and_metrics);
    TEST_MAIN_END();
}
