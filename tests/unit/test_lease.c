/*
 * tests/unit/test_lease.c: an access token's rpm when a cluster is configured
 * (pool/tokens.c and pool/lease.c, docs/cluster.md "Access-token rpm"), in
 * one process with a fake monotonic clock: without a cluster the host's GCRA;
 * with the link up a request spends a credit, waits when there is none, is
 * refused while Redis said no; credits end LLG_CREDIT_TTL_MS after their grant
 * and are given back; what the host's own limit admits while the link is down
 * is handed to the link once.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "pool/pool.h"
#include "tests/test.h"

#define T0 1000000u /* monotonic ms */

static char *no_env[] = {NULL};

static const char *yaml = "access_tokens:\n"
                          "  - {token: sk-l-rpm, name: r, rpm: 4}\n"
                          "  - {token: sk-l-free, name: f}\n"
                          "providers:\n"
                          "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-a-0]}\n";

enum { RPM, FREE };

typedef struct fixture {
    llg_conf_t *conf;
    llg_pool_t *pool;
    llg_pool_view_t *view;
} fixture_t;

static int setup(fixture_t *f, llg_cluster_state_t state)
{
    memset(f, 0, sizeof(*f));
    llg_conf_errors_t errs = {0};
    f->conf = llg_conf_load_string("t.yaml", yaml, strlen(yaml), no_env, &errs);
    llg_conf_errors_free(&errs);
    f->pool = llg_pool_create(0, 0, 0);
    if (f->conf == NULL || f->pool == NULL || llg_pool_sync(&f->pool, f->conf, &f->view) != 0) {
        fprintf(stderr, "  setup failed\n");
        test_current_failed_ = 1;
        return -1;
    }
    llg_pool_set_cluster_state(f->pool, state);
    return 0;
}

static void teardown(fixture_t *f)
{
    llg_pool_view_free(f->view);
    llg_pool_destroy(f->pool);
    llg_conf_free(f->conf);
}

static void lease(fixture_t *f, uint64_t now, uint64_t *waiting, int64_t *credits, bool *active)
{
    CHECK_EQ_INT(llg_pool_lease_state(f->pool, f->view, RPM, now, 2000, waiting, credits, active), 0);
}

TEST(without_a_cluster_the_host_gcra)
{
    fixture_t f;
    if (setup(&f, LLG_CLUSTER_OFF) != 0)
        return;
    uint64_t retry;
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0, &retry), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0, &retry), -1);
    CHECK_EQ_INT(retry, 15000);
    /* nothing for a link to add: no cluster */
    CHECK_EQ_INT(llg_pool_lease_take_down_admits(f.pool, f.view, RPM), 0);
    /* a token without rpm is never refused nor waits */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, FREE, T0, &retry), 0);
    teardown(&f);
}

TEST(credits_wait_and_refusal)
{
    fixture_t f;
    if (setup(&f, LLG_CLUSTER_UP) != 0)
        return;
    uint64_t retry = 0, waiting;
    int64_t credits;
    bool active;
    /* no credit yet: the request waits, and the link sees it waiting */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0, &retry), 1);
    lease(&f, T0, &waiting, &credits, &active);
    CHECK_EQ_INT(waiting, 1);
    CHECK_EQ_INT(credits, 0);
    CHECK(active);
    CHECK_EQ_INT(llg_pool_token_wait(f.pool, f.view, RPM, T0 + 2, &retry), 1);
    /* Redis granted 2: the waiting request takes one, the next request the other */
    llg_pool_lease_grant(f.pool, f.view, RPM, 2, false, 0, 30000, T0 + 5);
    CHECK_EQ_INT(llg_pool_token_wait(f.pool, f.view, RPM, T0 + 6, &retry), 0);
    llg_pool_token_wait_end(f.pool, f.view, RPM);
    lease(&f, T0 + 6, &waiting, &credits, &active);
    CHECK_EQ_INT(waiting, 0);
    CHECK_EQ_INT(credits, 1);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + 7, &retry), 0);
    /* none left: wait; Redis gives none and says the next cell is 400 ms away */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + 8, &retry), 1);
    llg_pool_lease_grant(f.pool, f.view, RPM, 0, true, 400, 60000, T0 + 10);
    CHECK(llg_pool_lease_denied(f.pool, f.view, RPM, T0 + 10));
    CHECK_EQ_INT(llg_pool_token_wait(f.pool, f.view, RPM, T0 + 12, &retry), -1);
    CHECK_EQ_INT(retry, 398);
    llg_pool_token_wait_end(f.pool, f.view, RPM);
    /* a new request within the refusal is refused at once, without waiting */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + 100, &retry), -1);
    CHECK_EQ_INT(retry, 310);
    CHECK(!llg_pool_lease_denied(f.pool, f.view, RPM, T0 + 410));
    llg_pool_token_stats_t st;
    CHECK_EQ_INT(llg_pool_token_stats(f.pool, f.view, RPM, &st), 0);
    CHECK_EQ_INT(st.requests, 4);
    CHECK_EQ_INT(st.rejected_rate, 2);
    /* the burst as the link last saw it: full in 60 s, so nothing remains */
    llg_pool_limits_t lim;
    llg_pool_token_limits(f.pool, f.view, RPM, T0 + 410, 1796572800, &lim);
    CHECK_EQ_INT(lim.rpm, 4);
    CHECK_EQ_INT(lim.rpm_remaining, 0);
    teardown(&f);
}

TEST(credits_end_and_are_given_back)
{
    fixture_t f;
    if (setup(&f, LLG_CLUSTER_UP) != 0)
        return;
    uint64_t retry = 0, waiting;
    int64_t credits;
    bool active;
    llg_pool_lease_grant(f.pool, f.view, RPM, 3, false, 0, 45000, T0);
    CHECK_EQ_INT(llg_pool_lease_expire(f.pool, f.view, RPM, T0 + LLG_CREDIT_TTL_MS - 1), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + 1, &retry), 0);
    /* at the end of their time the two left are not spent but waited for */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + LLG_CREDIT_TTL_MS, &retry), 1);
    lease(&f, T0 + LLG_CREDIT_TTL_MS, &waiting, &credits, &active);
    CHECK_EQ_INT(credits, 0);
    CHECK_EQ_INT(llg_pool_lease_expire(f.pool, f.view, RPM, T0 + LLG_CREDIT_TTL_MS), 2);
    CHECK_EQ_INT(llg_pool_lease_expire(f.pool, f.view, RPM, T0 + LLG_CREDIT_TTL_MS + 1), 0);
    llg_pool_token_wait_end(f.pool, f.view, RPM);
    /* a token unused for 2 s is no longer active: the link stops its lead */
    lease(&f, T0 + LLG_CREDIT_TTL_MS + 2000, &waiting, &credits, &active);
    CHECK(!active);
    CHECK_EQ_INT(waiting, 0);
    teardown(&f);
}

TEST(link_down_host_limit_then_reconciled)
{
    fixture_t f;
    if (setup(&f, LLG_CLUSTER_DOWN) != 0)
        return;
    uint64_t retry = 0;
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0, &retry), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0, &retry), -1);
    /* the link takes what the host admitted, once */
    CHECK_EQ_INT(llg_pool_lease_take_down_admits(f.pool, f.view, RPM), 4);
    CHECK_EQ_INT(llg_pool_lease_take_down_admits(f.pool, f.view, RPM), 0);
    /* up again: a request waits for the link ... */
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_UP);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, RPM, T0 + 100, &retry), 1);
    /* ... which went down meanwhile: the host's limit answers the waiting request */
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_DOWN);
    CHECK_EQ_INT(llg_pool_token_wait(f.pool, f.view, RPM, T0 + 100, &retry), -1);
    CHECK_EQ_INT(retry, 14900);
    /* a wait that ran out of time applies the host's limit too */
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_UP);
    CHECK_EQ_INT(llg_pool_token_admit_local(f.pool, f.view, RPM, T0 + 15000, &retry), 0);
    CHECK_EQ_INT(llg_pool_lease_take_down_admits(f.pool, f.view, RPM), 1);
    teardown(&f);
}

int main(void)
{
    RUN(without_a_cluster_the_host_gcra);
    RUN(credits_wait_and_refusal);
    RUN(credits_end_and_are_given_back);
    RUN(link_down_host_limit_then_reconciled);
    TEST_MAIN_END();
}
