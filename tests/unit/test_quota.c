/*
 * tests/unit/test_quota.c: usage by UTC day and month and the quotas of
 * access tokens (pool/usage.c, docs/quotas.md) in one process with a fake wall
 * clock (llg_pool_set_test_epoch, explicit now_epoch_s): window words that roll
 * over at a UTC day and month boundary (December to January included), the
 * reset times, requests_per_day admitting exactly N a day and again the next
 * day, token quotas, the x-ratelimit limits, and the cluster link's side (the
 * unsent amounts and the totals it stores: cluster usage = totals + unsent).
 */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "pool/pool.h"
#include "tests/test.h"

#define T0 1000000u /* monotonic ms */

/* 2026-12-31T23:59:59Z, the next second, and other instants */
#define DEC31_LAST  1798761599
#define JAN1_FIRST  1798761600
#define FEB1_FIRST  1801440000
#define DEC6_16H    1796572800 /* 2026-12-06T16:00:00Z */
#define DEC7_FIRST  1796601600
#define LEAP_29_12H 1835438400 /* 2028-02-29T12:00:00Z */
#define MAR1_2028   1835481600

static char *no_env[] = {NULL};

static const char *yaml = "access_tokens:\n"
                          "  - {token: sk-q-rpd, name: rpd, quota: {requests_per_day: 3}}\n"
                          "  - {token: sk-q-tok, name: tok, rpm: 4, quota: {tokens_per_day: 100, tokens_per_month: 150}}\n"
                          "  - {token: sk-q-free, name: free}\n"
                          "providers:\n"
                          "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-a-0]}\n";

enum { RPD, TOK, FREE };

typedef struct fixture {
    llg_conf_t *conf;
    llg_pool_t *pool;
    llg_pool_view_t *view;
} fixture_t;

static int setup(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    llg_conf_errors_t errs = {0};
    f->conf = llg_conf_load_string("t.yaml", yaml, strlen(yaml), no_env, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "  config: %s\n", errs.items[i]);
    llg_conf_errors_free(&errs);
    f->pool = llg_pool_create(0, 0, 0);
    if (f->conf == NULL || f->pool == NULL || llg_pool_sync(&f->pool, f->conf, &f->view) != 0) {
        fprintf(stderr, "  setup failed\n");
        test_current_failed_ = 1;
        return -1;
    }
    return 0;
}

static void teardown(fixture_t *f)
{
    llg_pool_set_test_epoch(0);
    llg_pool_view_free(f->view);
    llg_pool_destroy(f->pool);
    llg_conf_free(f->conf);
}

static llg_pool_day_usage_t tok_usage(fixture_t *f, int token, int64_t now, bool cluster)
{
    llg_pool_day_usage_t u;
    CHECK_EQ_INT(llg_pool_token_day_usage(f->pool, f->view, token, now, cluster, &u), 0);
    return u;
}

/* Counts tokens at wall-clock `now` (the counting side reads the test epoch). */
static void add_tokens(fixture_t *f, int token, int64_t now, uint64_t prompt, uint64_t completion)
{
    llg_pool_set_test_epoch(now);
    llg_pool_token_usage(f->pool, f->view, token, prompt, completion);
}

TEST(utc_day_and_month_numbers)
{
    CHECK_EQ_INT(llg_pool_utc_day(JAN1_FIRST) - llg_pool_utc_day(DEC31_LAST), 1);
    CHECK_EQ_INT(llg_pool_utc_day(JAN1_FIRST), JAN1_FIRST / 86400);
    CHECK_EQ_INT(llg_pool_utc_month(DEC31_LAST), 2026 * 12 + 11);
    CHECK_EQ_INT(llg_pool_utc_month(JAN1_FIRST), 2027 * 12 + 0);
    CHECK_EQ_INT(llg_pool_utc_month(LEAP_29_12H), 2028 * 12 + 1);
    CHECK_EQ_INT(llg_pool_utc_month(MAR1_2028) - llg_pool_utc_month(MAR1_2028 - 1), 1);
}

TEST(reset_epochs)
{
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_REQUESTS_DAY, DEC6_16H), DEC7_FIRST);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_DAY, DEC6_16H), DEC7_FIRST);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_REQUESTS_DAY, DEC7_FIRST - 1), DEC7_FIRST);
    /* midnight itself starts a new day: the next reset is a day later */
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_REQUESTS_DAY, DEC7_FIRST), DEC7_FIRST + 86400);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_DAY, DEC31_LAST), JAN1_FIRST);
    /* months: December to January, January to February, a leap February */
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_MONTH, DEC6_16H), JAN1_FIRST);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_MONTH, DEC31_LAST), JAN1_FIRST);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_MONTH, JAN1_FIRST), FEB1_FIRST);
    CHECK_EQ_INT(llg_quota_reset_epoch(LLG_QUOTA_TOKENS_MONTH, LEAP_29_12H), MAR1_2028);
    CHECK_EQ_STR(llg_quota_name(LLG_QUOTA_REQUESTS_DAY), "requests_per_day");
    CHECK_EQ_STR(llg_quota_name(LLG_QUOTA_TOKENS_DAY), "tokens_per_day");
    CHECK_EQ_STR(llg_quota_name(LLG_QUOTA_TOKENS_MONTH), "tokens_per_month");
}

TEST(windows_roll_over_at_new_year)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    add_tokens(&f, FREE, DEC31_LAST, 10, 5);
    llg_pool_day_usage_t u = tok_usage(&f, FREE, DEC31_LAST, false);
    CHECK_EQ_INT(u.prompt_tokens, 10);
    CHECK_EQ_INT(u.completion_tokens, 5);
    CHECK_EQ_INT(u.month_tokens, 15);
    /* read one second later: a new day and a new month, nothing used yet */
    u = tok_usage(&f, FREE, JAN1_FIRST, false);
    CHECK_EQ_INT(u.prompt_tokens, 0);
    CHECK_EQ_INT(u.completion_tokens, 0);
    CHECK_EQ_INT(u.month_tokens, 0);
    /* counted in the new window, the word starts from 0 (no reset needed) */
    add_tokens(&f, FREE, JAN1_FIRST, 1, 2);
    u = tok_usage(&f, FREE, JAN1_FIRST, false);
    CHECK_EQ_INT(u.prompt_tokens, 1);
    CHECK_EQ_INT(u.completion_tokens, 2);
    CHECK_EQ_INT(u.month_tokens, 3);
    /* the old window's count is gone, not mixed in */
    u = tok_usage(&f, FREE, DEC31_LAST, false);
    CHECK_EQ_INT(u.prompt_tokens, 0);
    CHECK_EQ_INT(u.month_tokens, 0);
    /* the cumulative counters keep everything */
    llg_pool_token_stats_t st;
    CHECK_EQ_INT(llg_pool_token_stats(f.pool, f.view, FREE, &st), 0);
    CHECK_EQ_INT(st.prompt_tokens, 11);
    CHECK_EQ_INT(st.completion_tokens, 7);
    /* a new day in the same month keeps the month's tokens */
    add_tokens(&f, FREE, JAN1_FIRST + 86400, 4, 0);
    u = tok_usage(&f, FREE, JAN1_FIRST + 86400, false);
    CHECK_EQ_INT(u.prompt_tokens, 4);
    CHECK_EQ_INT(u.completion_tokens, 0);
    CHECK_EQ_INT(u.month_tokens, 7);
    teardown(&f);
}

TEST(key_windows)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    llg_pool_set_test_epoch(DEC31_LAST);
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0, &p), 0);
    llg_pool_key_usage(f.pool, p.slot, 7, 3);
    llg_pool_release(f.pool, &p);
    llg_pool_day_usage_t u;
    CHECK_EQ_INT(llg_pool_key_day_usage(f.pool, p.slot, DEC31_LAST, false, &u), 0);
    CHECK_EQ_INT(u.requests, 1);
    CHECK_EQ_INT(u.prompt_tokens, 7);
    CHECK_EQ_INT(u.month_tokens, 10);
    CHECK_EQ_INT(llg_pool_key_day_usage(f.pool, p.slot, JAN1_FIRST, false, &u), 0);
    CHECK_EQ_INT(u.requests, 0);
    CHECK_EQ_INT(u.month_tokens, 0);
    CHECK_EQ_INT(llg_pool_key_day_usage(f.pool, -1, JAN1_FIRST, false, &u), -1);
    teardown(&f);
}

TEST(requests_per_day_exactly_n_then_a_new_day)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, RPD, DEC31_LAST), -1);
        CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, DEC31_LAST), 0);
    }
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, RPD, DEC31_LAST), LLG_QUOTA_REQUESTS_DAY);
    /* the admission itself refuses the 4th (a request that passed the check
     * meanwhile), and counts it as a quota rejection (/admin/keys, metrics) */
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, DEC31_LAST), -1);
    llg_pool_token_stats_t st;
    CHECK_EQ_INT(llg_pool_token_stats(f.pool, f.view, RPD, &st), 0);
    CHECK_EQ_INT(st.rejected_quota, 1);
    CHECK_EQ_INT(llg_pool_quota_used(f.pool, f.view, RPD, LLG_QUOTA_REQUESTS_DAY, DEC31_LAST), 3);
    /* one second later, a new UTC day: 3 more */
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, RPD, JAN1_FIRST), -1);
    CHECK_EQ_INT(llg_pool_quota_used(f.pool, f.view, RPD, LLG_QUOTA_REQUESTS_DAY, JAN1_FIRST), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, JAN1_FIRST), 0);
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, JAN1_FIRST), -1);
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, RPD, JAN1_FIRST), LLG_QUOTA_REQUESTS_DAY);
    llg_pool_day_usage_t u = tok_usage(&f, RPD, JAN1_FIRST, false);
    CHECK_EQ_INT(u.requests, 3);
    /* a token without quota is never refused, and its requests are counted */
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, FREE, JAN1_FIRST), 0);
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, FREE, JAN1_FIRST), -1);
    CHECK_EQ_INT(tok_usage(&f, FREE, JAN1_FIRST, false).requests, 10);
    /* out of range */
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, 99, JAN1_FIRST), -1);
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, -1, JAN1_FIRST), -1);
    teardown(&f);
}

TEST(token_quotas_day_and_month)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    int64_t d1 = DEC31_LAST - 3600;
    add_tokens(&f, TOK, d1, 60, 39);
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, TOK, d1), -1); /* 99 < 100 */
    add_tokens(&f, TOK, d1, 0, 1);
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, TOK, d1), LLG_QUOTA_TOKENS_DAY);
    CHECK_EQ_INT(llg_pool_quota_used(f.pool, f.view, TOK, LLG_QUOTA_TOKENS_MONTH, d1), 100);
    /* the next day of the same month (a day earlier in December): use the
     * month's quota up with the day's still open */
    int64_t e0 = DEC6_16H;
    fixture_t g;
    if (setup(&g) != 0) {
        teardown(&f);
        return;
    }
    add_tokens(&g, TOK, e0, 90, 0);
    CHECK_EQ_INT(llg_pool_quota_check(g.pool, g.view, TOK, e0), -1);
    add_tokens(&g, TOK, e0 + 86400, 60, 0); /* Dec 7: the day has 60, the month 150 */
    CHECK_EQ_INT(llg_pool_quota_used(g.pool, g.view, TOK, LLG_QUOTA_TOKENS_DAY, e0 + 86400), 60);
    CHECK_EQ_INT(llg_pool_quota_check(g.pool, g.view, TOK, e0 + 86400), LLG_QUOTA_TOKENS_MONTH);
    /* January: a new month */
    CHECK_EQ_INT(llg_pool_quota_check(g.pool, g.view, TOK, JAN1_FIRST), -1);
    teardown(&g);
    /* f: on New Year's day both are free again */
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, TOK, JAN1_FIRST), -1);
    teardown(&f);
}

TEST(limits_for_headers)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    CHECK(llg_pool_token_limited(f.view, RPD));
    CHECK(llg_pool_token_limited(f.view, TOK));
    CHECK(!llg_pool_token_limited(f.view, FREE));
    CHECK(!llg_pool_token_limited(f.view, 42));
    llg_pool_limits_t lim;
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, DEC6_16H), 0);
    llg_pool_token_limits(f.pool, f.view, RPD, T0, DEC6_16H, &lim);
    CHECK_EQ_INT(lim.rpm, 0);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_REQUESTS_DAY].limit, 3);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_REQUESTS_DAY].used, 1);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_REQUESTS_DAY].remaining, 2);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_REQUESTS_DAY].reset_epoch_s, DEC7_FIRST);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].limit, 0);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_MONTH].limit, 0);

    /* rpm 4: a burst of 4; two taken leave 2, whole again after 2 intervals (30 s) */
    uint64_t retry = 0;
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, TOK, T0, &retry), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, TOK, T0, &retry), 0);
    add_tokens(&f, TOK, DEC6_16H, 30, 10);
    llg_pool_token_limits(f.pool, f.view, TOK, T0, DEC6_16H, &lim);
    CHECK_EQ_INT(lim.rpm, 4);
    CHECK_EQ_INT(lim.rpm_remaining, 2);
    CHECK_EQ_INT(lim.rpm_reset_ms, 30000);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_REQUESTS_DAY].limit, 0);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].limit, 100);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].used, 40);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].remaining, 60);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_MONTH].limit, 150);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_MONTH].remaining, 110);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_MONTH].reset_epoch_s, JAN1_FIRST);
    /* an overshoot shows 0 remaining, not a wrapped number */
    add_tokens(&f, TOK, DEC6_16H, 100, 0);
    llg_pool_token_limits(f.pool, f.view, TOK, T0 + 15000, DEC6_16H, &lim);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].used, 140);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_DAY].remaining, 0);
    CHECK_EQ_INT(lim.quota[LLG_QUOTA_TOKENS_MONTH].remaining, 10);
    CHECK_EQ_INT(lim.rpm_remaining, 3);
    CHECK_EQ_INT(lim.rpm_reset_ms, 15000);
    teardown(&f);
}

TEST(cluster_unsent_and_totals)
{
    fixture_t f;
    if (setup(&f) != 0)
        return;
    int64_t now = DEC6_16H;
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_UP);
    /* 2 requests and 10+5 tokens counted on this host, none sent yet */
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, now), 0);
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, now), 0);
    add_tokens(&f, RPD, now, 10, 5);
    llg_pool_day_usage_t u = tok_usage(&f, RPD, now, true);
    CHECK_EQ_INT(u.requests, 2);
    CHECK_EQ_INT(u.prompt_tokens, 10);
    CHECK_EQ_INT(u.month_tokens, 15);
    /* the link takes them: marked sent */
    llg_pool_unsent_t d;
    CHECK_EQ_INT(llg_pool_token_take_unsent(f.pool, f.view, RPD, &d), 0);
    CHECK_EQ_INT(d.requests, 2);
    CHECK_EQ_INT(d.prompt_tokens, 10);
    CHECK_EQ_INT(d.completion_tokens, 5);
    CHECK_EQ_INT(llg_pool_token_take_unsent(f.pool, f.view, RPD, &d), 0);
    CHECK_EQ_INT(d.requests, 0);
    CHECK_EQ_INT(d.prompt_tokens, 0);
    /* sent but the totals not read back yet: the cluster's view lacks them
     * until the link stores the totals */
    uint64_t day = llg_pool_utc_day(now), month = llg_pool_utc_month(now);
    /* the cluster's totals: this host's 2 + another host's 1 */
    llg_pool_day_usage_t tot = {.requests = 3, .prompt_tokens = 10, .completion_tokens = 5, .month_tokens = 15 + 50};
    llg_pool_token_set_totals(f.pool, f.view, RPD, day, month, &tot);
    u = tok_usage(&f, RPD, now, true);
    CHECK_EQ_INT(u.requests, 3);
    CHECK_EQ_INT(u.month_tokens, 65);
    /* the limit of 3 is reached cluster-wide */
    CHECK_EQ_INT(llg_pool_quota_check(f.pool, f.view, RPD, now), LLG_QUOTA_REQUESTS_DAY);
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, now), -1);
    /* new usage on this host: totals + unsent */
    add_tokens(&f, RPD, now, 4, 1);
    u = tok_usage(&f, RPD, now, true);
    CHECK_EQ_INT(u.prompt_tokens, 14);
    CHECK_EQ_INT(u.completion_tokens, 6);
    CHECK_EQ_INT(u.month_tokens, 70);
    /* the host scope still shows this host's own counts */
    u = tok_usage(&f, RPD, now, false);
    CHECK_EQ_INT(u.requests, 2);
    CHECK_EQ_INT(u.prompt_tokens, 14);
    CHECK_EQ_INT(llg_pool_token_take_unsent(f.pool, f.view, RPD, &d), 0);
    CHECK_EQ_INT(d.prompt_tokens, 4);
    CHECK_EQ_INT(d.completion_tokens, 1);
    /* totals of yesterday's window count 0 today */
    llg_pool_token_set_totals(f.pool, f.view, RPD, day - 1, month, &tot);
    u = tok_usage(&f, RPD, now, true);
    CHECK_EQ_INT(u.requests, 0);
    CHECK_EQ_INT(u.month_tokens, 65);
    CHECK_EQ_INT(llg_pool_quota_admit(f.pool, f.view, RPD, now), 0);
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_OFF);
    teardown(&f);
}

int main(void)
{
    RUN(utc_day_and_month_numbers);
    RUN(reset_epochs);
    RUN(windows_roll_over_at_new_year);
    RUN(key_windows);
    RUN(requests_per_day_exactly_n_then_a_new_day);
    RUN(token_quotas_day_and_month);
    RUN(limits_for_headers);
    RUN(cluster_unsent_and_totals);
    TEST_MAIN_END();
}
