/*
 * tests/unit/bench_balance.c: the cost of choosing a target of a model group
 * (issue 18: at most 1 us at 64 targets): llg_balance_choose +
 * llg_balance_release in a loop, per strategy, at 64 and 4 targets, in one
 * process. Prints the minimum over RUNS runs of ITERS iterations in ns per
 * choice. Run by hand or with `meson test -C build --benchmark`; numbers
 * that mean anything come from a release build:
 *   meson setup build-rel --buildtype=release && ninja -C build-rel && build-rel/tests/bench_balance
 * An argument overrides ITERS.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "pool/balance.h"
#include "pool/pool.h"

#define RUNS  5
#define ITERS 1000000u

static char *no_env[] = {NULL};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* `n` targets on a provider with pool keys (the availability check reads its
 * "no key usable" hint), weights 1..n (distinct: the weighted sequence's
 * period is n(n+1)/2), one tier. */
static char *yaml_for(const char *strategy, unsigned n)
{
    size_t cap = 1024 + (size_t)n * 64;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap,
                                  "providers:\n"
                                  "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-a-0, sk-a-1]}\n"
                                  "model_groups:\n"
                                  "  - name: g\n"
                                  "    strategy: %s\n"
                                  "    targets:\n",
                                  strategy);
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "      - {provider: a, model: m%u, weight: %u}\n", i, i + 1);
    return s;
}

static int bench(const char *strategy, unsigned n, unsigned iters)
{
    char *yaml = yaml_for(strategy, n);
    llg_conf_errors_t errs = {0};
    llg_conf_t *conf = llg_conf_load_string("bench.yaml", yaml, strlen(yaml), no_env, &errs);
    free(yaml);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "config: %s\n", errs.items[i]);
    llg_conf_errors_free(&errs);
    llg_pool_t *pool = llg_pool_create(0, 0, 0);
    llg_pool_view_t *view = NULL;
    if (conf == NULL || pool == NULL || llg_pool_sync(&pool, conf, &view) != 0) {
        fprintf(stderr, "setup failed\n");
        return -1;
    }
    uint64_t now = llg_pool_now_ms();
    llg_balance_pick_t p;
    /* the latency strategy compares measured values: give every target one */
    for (unsigned t = 0; t < n; t++) {
        if (llg_balance_choose(pool, view, 0, ~(UINT64_C(1) << t), 0, now, &p) == 0) {
            llg_balance_observe(pool, &p, 1000 + 97 * (uint64_t)t, now);
            llg_balance_release(pool, &p);
        }
    }
    double best = 1e18;
    unsigned long long sink = 0, fails = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (unsigned i = 0; i < iters; i++) {
            /* a different key each time (affinity): a multiplicative hash of i */
            uint64_t key = (uint64_t)(i + 1) * UINT64_C(0x9e3779b97f4a7c15);
            if (llg_balance_choose(pool, view, 0, 0, key, now, &p) != 0) {
                fails++;
                continue;
            }
            sink += (unsigned)p.target;
            llg_balance_release(pool, &p);
        }
        double ns = (now_ns() - t0) / iters;
        if (ns < best)
            best = ns;
    }
    printf("bench: balance %-10s %2u targets: %6.1f ns/choice (choose+release, min of %d x %u)%s\n", strategy, n, best, RUNS, iters,
           fails ? " FAILED CHOICES" : "");
    if (sink == 0)
        printf("(sink %llu)\n", sink);
    llg_pool_view_free(view);
    llg_pool_destroy(pool);
    llg_conf_free(conf);
    return fails ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : ITERS;
    if (iters == 0)
        iters = ITERS;
    static const char *const strategies[] = {"weighted", "least_busy", "latency", "affinity"};
    int rc = 0;
    for (unsigned n = 64; n >= 4; n /= 16)
        for (size_t s = 0; s < 4; s++)
            rc |= bench(strategies[s], n, iters);
    return rc ? 1 : 0;
}
