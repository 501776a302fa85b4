/*
 * tests/unit/test_pool.c: the key pool (pool/) in one process with a fake
 * clock, against SPEC section 6 row by row: round robin, every 429 hint, the
 * doubling cooldown, disabled keys and their single half-open probe, the
 * third-failure cooldown of 5xx and network errors, CLIENT and CANCELLED,
 * "no key usable" with its retry-after; then reloads (state kept, removed,
 * added, a region grown), capacity, token lookup and rpm, metrics and the
 * admin JSON (no secret anywhere).
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "pool/balance.h"
#include "pool/pool.h"
#include "tests/test.h"

#define T0    1000000u   /* the fake clock starts here (ms) */
#define EPOCH 1700000000 /* fake wall clock (s): 2023-11-14T22:13:20Z */

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

/* keys.cooldown 1 s, max 5 s, probe_after 60 s; provider `a` with `n` keys
 * sk-a-0.., provider `b` with 2 keys, three tokens. */
static const char *base_yaml =
    "timeout: 10\n"
    "keys: {cooldown: 1s, max_cooldown: 5s, probe_after: 60s}\n"
    "access_tokens:\n"
    "  - sk-gate-plain-0001\n"
    "  - {token: sk-gate-team-a-0002, name: team-a, rpm: 5}\n"
    "  - {token: sk-gate-team-b-0003, name: \"team \\\"b\\\"\"}\n"
    "providers:\n"
    "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\",\n"
    "     keys: [sk-a-secret-0, sk-a-secret-1, sk-a-secret-2]}\n"
    "  - {name: b, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-b-secret-0, sk-b-secret-1]}\n"
    "  - {name: echo, type: echo}\n";

static const char *const secrets[] = {"sk-gate-plain-0001", "sk-gate-team-a-0002", "sk-gate-team-b-0003", "sk-a-secret-0",
                                      "sk-a-secret-1",      "sk-a-secret-2",       "sk-b-secret-0",       "sk-b-secret-1"};

typedef struct fixture {
    llg_conf_t *conf;
    llg_pool_t *pool;
    llg_pool_view_t *view;
} fixture_t;

static int setup(fixture_t *f, const char *yaml)
{
    memset(f, 0, sizeof(*f));
    f->conf = conf_yaml(yaml);
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
    llg_pool_view_free(f->view);
    llg_pool_destroy(f->pool);
    llg_conf_free(f->conf);
}

static llg_pool_key_stats_t stats(fixture_t *f, int32_t slot, uint64_t now)
{
    llg_pool_key_stats_t s;
    llg_pool_key_stats(f->pool, slot, now, &s);
    return s;
}

/* Picks from provider 0 and returns the config key index (-1 when none). */
static int pick(fixture_t *f, unsigned provider, uint64_t now, llg_pool_pick_t *p)
{
    if (llg_pool_pick(f->pool, f->view, provider, now, p) != 0)
        return -1;
    return (int)p->key;
}

/* A whole attempt: pick, report, release. Returns the key index used. */
static int attempt(fixture_t *f, unsigned provider, uint64_t now, llg_outcome_t o, int status, const llg_pool_hints_t *h)
{
    llg_pool_pick_t p;
    int k = pick(f, provider, now, &p);
    if (k < 0)
        return -1;
    llg_pool_report(f->pool, &p, o, status, h, now, EPOCH);
    llg_pool_release(f->pool, &p);
    return k;
}

static int32_t slot_of(fixture_t *f, unsigned provider, unsigned k)
{
    return llg_pool_key_slot(f->view, provider, k);
}

static char *capture_metrics(fixture_t *f, uint64_t now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK_EQ_INT(llg_pool_write_metrics(f->pool, f->view, now, m), 0);
    fclose(m);
    return buf;
}

static char *capture_admin(fixture_t *f, uint64_t now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK_EQ_INT(llg_pool_write_admin_json(f->pool, f->view, now, m), 0);
    fclose(m);
    return buf;
}

static void check_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        fprintf(stderr, "%s: missing in output: %s\n", test_current_name_, needle);
        test_current_failed_ = 1;
    }
}

static void check_no_secret(const char *text)
{
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(text, secrets[i]) != NULL) {
            fprintf(stderr, "%s: secret %s found in output\n", test_current_name_, secrets[i]);
            test_current_failed_ = 1;
        }
    }
}

/* ---- hints ---------------------------------------------------------------------- */

TEST(http_dates)
{
    int64_t t = 0;
    /* RFC 9110's example instant: 1994-11-06T08:49:37Z = 784111777 */
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", EPOCH, &t), 0);
    CHECK_EQ_INT(t, 784111777);
    t = 0;
    CHECK_EQ_INT(llg_pool_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", EPOCH, &t), 0);
    CHECK_EQ_INT(t, 784111777);
    t = 0;
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun Nov  6 08:49:37 1994", EPOCH, &t), 0);
    CHECK_EQ_INT(t, 784111777);
    CHECK_EQ_INT(llg_pool_parse_http_date("  Tue, 14 Nov 2023 22:13:50 GMT ", EPOCH, &t), 0);
    CHECK_EQ_INT(t, EPOCH + 30);
    /* RFC 850 two-digit years: 30 is 2030 (not > 50 years ahead), 94 is 1994 */
    CHECK_EQ_INT(llg_pool_parse_http_date("Monday, 01-Jan-30 00:00:00 GMT", EPOCH, &t), 0);
    CHECK_EQ_INT(t, 1893456000);
    CHECK_EQ_INT(llg_pool_parse_http_date("Thu Feb 29 00:00:00 2024", EPOCH, &t), 0);
    CHECK_EQ_INT(t, 1709164800);
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("Fri Feb 29 00:00:00 2023", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("", EPOCH, &t), -1);
    CHECK_EQ_INT(llg_pool_parse_http_date("120", EPOCH, &t), -1);
}

TEST(reset_durations)
{
    uint64_t ms = 0;
    struct {
        const char *s;
        uint64_t ms;
    } ok[] = {{"1s", 1000},           {"6m0s", 360000}, {"20ms", 20},   {"1m30.5s", 90500}, {"2h", 7200000},
              {"0.5s", 500},          {"150us", 1},     {"1.001ms", 2}, {"3", 3000},        {" 17ms ", 17},
              {"1h2m3s4ms", 3723004}, {"0s", 0},        {"0.1s", 100},  {"999ns", 1},       {"2\xc2\xb5s", 1}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ms = 12345;
        if (llg_pool_parse_reset_duration(ok[i].s, &ms) != 0 || ms != ok[i].ms) {
            fprintf(stderr, "  \"%s\": got %llu, expected %llu\n", ok[i].s, (unsigned long long)ms, (unsigned long long)ok[i].ms);
            test_current_failed_ = 1;
        }
    }
    const char *bad[] = {"", "s", "1x", "1s2", "-1s", "1 s", "abc", NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        CHECK_EQ_INT(llg_pool_parse_reset_duration(bad[i], &ms), -1);
    CHECK_EQ_INT(llg_pool_parse_reset_duration(NULL, &ms), -1);
}

TEST(hint_order)
{
    llg_pool_hints_t h = {"1500.5", "7", "2s"};
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 1501);
    h.retry_after_ms = "garbage";
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 7000);
    h.retry_after = "Tue, 14 Nov 2023 22:13:50 GMT";
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 30000);
    h.retry_after = "Tue, 14 Nov 2023 22:00:00 GMT"; /* in the past: retry now */
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 0);
    h.retry_after = NULL;
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 2000);
    h.ratelimit_reset_requests = "x";
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), -1);
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(NULL, EPOCH), -1);
    h = (llg_pool_hints_t){NULL, "999999999", NULL}; /* capped at a day */
    CHECK_EQ_INT(llg_pool_hint_cooldown_ms(&h, EPOCH), 86400000);
}

TEST(classify)
{
    CHECK_EQ_INT(llg_pool_classify(200, NULL), LLG_OUTCOME_SUCCESS);
    CHECK_EQ_INT(llg_pool_classify(429, NULL), LLG_OUTCOME_RATE_LIMITED);
    CHECK_EQ_INT(llg_pool_classify(429, "insufficient_quota"), LLG_OUTCOME_PAYMENT);
    CHECK_EQ_INT(llg_pool_classify(400, "insufficient_fund"), LLG_OUTCOME_PAYMENT);
    CHECK_EQ_INT(llg_pool_classify(401, NULL), LLG_OUTCOME_AUTH);
    CHECK_EQ_INT(llg_pool_classify(403, NULL), LLG_OUTCOME_AUTH);
    CHECK_EQ_INT(llg_pool_classify(402, NULL), LLG_OUTCOME_PAYMENT);
    CHECK_EQ_INT(llg_pool_classify(400, "invalid_request_error"), LLG_OUTCOME_CLIENT);
    CHECK_EQ_INT(llg_pool_classify(404, NULL), LLG_OUTCOME_CLIENT);
    CHECK_EQ_INT(llg_pool_classify(413, NULL), LLG_OUTCOME_CLIENT);
    CHECK_EQ_INT(llg_pool_classify(422, NULL), LLG_OUTCOME_CLIENT);
    CHECK_EQ_INT(llg_pool_classify(408, NULL), LLG_OUTCOME_NETWORK);
    CHECK_EQ_INT(llg_pool_classify(500, NULL), LLG_OUTCOME_SERVER);
    CHECK_EQ_INT(llg_pool_classify(503, NULL), LLG_OUTCOME_SERVER);
    CHECK_EQ_INT(llg_pool_classify(0, NULL), LLG_OUTCOME_NETWORK);
    CHECK_EQ_STR(llg_outcome_name(LLG_OUTCOME_RATE_LIMITED), "rate_limited");
}

/* ---- selection ------------------------------------------------------------------- */

TEST(round_robin)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    for (int i = 0; i < 9; i++)
        CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_SUCCESS, 200, NULL), i % 3);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(attempt(&f, 1, T0, LLG_OUTCOME_SUCCESS, 200, NULL), i % 2);
    /* a provider without keys, and one out of range */
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 2, T0, &p), -1);
    CHECK_EQ_INT(p.slot, -1);
    CHECK_EQ_INT(p.retry_after_ms, 0);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 9, T0, &p), -1);
    /* a cooling key is skipped: 0, 2, 0, 2 */
    llg_pool_hints_t h = {"5000", NULL, NULL};
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_RATE_LIMITED, 429, &h), 1);
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_SUCCESS, 200, NULL), 2);
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_SUCCESS, 200, NULL), 2);
    int32_t s0 = slot_of(&f, 0, 0);
    llg_pool_key_stats_t st = stats(&f, s0, T0);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK(st.requests >= 5);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_SUCCESS], 5);
    CHECK_EQ_INT(st.last_status, 200);
    teardown(&f);
}

/* A 429 with `h` on key 1 (of 0,1,2): it cools for exactly `expect_ms`. */
static void check_429(const llg_pool_hints_t *h, uint64_t expect_ms)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    int32_t s1 = slot_of(&f, 0, 1);
    uint64_t now = T0 + 100;
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, h), 1);
    llg_pool_key_stats_t st = stats(&f, s1, now);
    CHECK_EQ_INT(st.state, LLG_KEY_COOLING);
    CHECK_EQ_INT(st.cooldown_remaining_ms, expect_ms);
    CHECK_EQ_INT(st.consecutive_failures, 1);
    CHECK_EQ_INT(st.last_status, 429);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_RATE_LIMITED], 1);
    /* skipped until the cooldown ends, then probed */
    for (int i = 0; i < 4; i++)
        CHECK(attempt(&f, 0, now + expect_ms - 1, LLG_OUTCOME_SUCCESS, 200, NULL) != 1);
    st = stats(&f, s1, now + expect_ms);
    CHECK_EQ_INT(st.state, LLG_KEY_USABLE); /* shown usable: the next pick probes it */
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        llg_pool_pick_t p;
        if (pick(&f, 0, now + expect_ms, &p) == 1) {
            seen++;
            CHECK(p.probe);
            llg_pool_report(f.pool, &p, LLG_OUTCOME_SUCCESS, 200, NULL, now + expect_ms, EPOCH);
        }
        llg_pool_release(f.pool, &p);
    }
    CHECK_EQ_INT(seen, 1);
    st = stats(&f, s1, now + expect_ms);
    CHECK_EQ_INT(st.state, LLG_KEY_USABLE);
    CHECK_EQ_INT(st.consecutive_failures, 0);
    teardown(&f);
}

TEST(rate_limited_retry_after_ms)
{
    check_429(&(llg_pool_hints_t){"2500.25", "30", "1m"}, 2501);
}

TEST(rate_limited_retry_after_seconds)
{
    check_429(&(llg_pool_hints_t){NULL, "7", "1m"}, 7000);
}

TEST(rate_limited_retry_after_date)
{
    check_429(&(llg_pool_hints_t){NULL, "Tue, 14 Nov 2023 22:14:05 GMT", "1m"}, 45000);
}

TEST(rate_limited_reset_requests)
{
    check_429(&(llg_pool_hints_t){NULL, NULL, "1m30.5s"}, 90500);
    check_429(&(llg_pool_hints_t){"bad", "bad", "20ms"}, 20);
}

TEST(rate_limited_no_hint_doubles)
{
    fixture_t f;
    /* one key: each failed probe doubles, capped at 5 s */
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    uint64_t now = T0;
    const uint64_t expect[] = {1000, 2000, 4000, 5000, 5000};
    for (size_t i = 0; i < 5; i++) {
        llg_pool_pick_t p;
        CHECK_EQ_INT(pick(&f, 0, now, &p), 0);
        CHECK(p.probe == (i > 0));
        llg_pool_report(f.pool, &p, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){0}, now, EPOCH);
        llg_pool_release(f.pool, &p);
        llg_pool_key_stats_t st = stats(&f, p.slot, now);
        CHECK_EQ_INT(st.consecutive_failures, i + 1);
        CHECK_EQ_INT(st.cooldown_remaining_ms, expect[i]);
        /* no key: -1 with the time to wait */
        CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, now + 1, &p), -1);
        CHECK_EQ_INT(p.retry_after_ms, expect[i] - 1);
        now += expect[i];
    }
    /* a successful probe, then a 429 again: back to the base cooldown */
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(stats(&f, slot_of(&f, 0, 0), now).state, LLG_KEY_USABLE);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, NULL), 0);
    CHECK_EQ_INT(stats(&f, slot_of(&f, 0, 0), now).cooldown_remaining_ms, 1000);
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, now, &p), -1);
    CHECK_EQ_INT(p.retry_after_ms, 1000);
    teardown(&f);
}

/* A key disabled by `o`: skipped, one probe after probe_after, a failed probe
 * disables again, a successful one restores it. */
static void check_disabled(llg_outcome_t o, int status)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    int32_t s0 = slot_of(&f, 1, 0);
    uint64_t now = T0;
    CHECK_EQ_INT(attempt(&f, 1, now, o, status, NULL), 0);
    CHECK(s0 >= 0);
    llg_pool_key_stats_t st = stats(&f, s0, now);
    CHECK_EQ_INT(st.state, LLG_KEY_DISABLED);
    CHECK_EQ_INT(st.cooldown_remaining_ms, 60000);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(attempt(&f, 1, now + 59999, LLG_OUTCOME_SUCCESS, 200, NULL), 1);
    CHECK_EQ_INT(stats(&f, s0, now + 60000).state, LLG_KEY_DISABLED); /* disabled until a probe succeeds */
    uint32_t total, usable;
    llg_pool_provider_keys(f.pool, f.view, 1, &total, &usable, now + 60000);
    CHECK_EQ_INT(total, 2);
    CHECK_EQ_INT(usable, 1);

    /* half-open: while the probe is in flight, every other pick gets key 1 */
    now += 60000;
    llg_pool_pick_t probe, p;
    int k = pick(&f, 1, now, &probe);
    if (k != 0) { /* the cursor was on key 1 */
        llg_pool_release(f.pool, &probe);
        k = pick(&f, 1, now, &probe);
    }
    CHECK_EQ_INT(k, 0);
    CHECK(probe.probe);
    CHECK_EQ_INT(stats(&f, s0, now).state, LLG_KEY_PROBING);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(pick(&f, 1, now, &p), 1);
        CHECK(!p.probe);
        llg_pool_release(f.pool, &p);
    }
    /* the probe fails: disabled again for probe_after */
    llg_pool_report(f.pool, &probe, o, status, NULL, now, EPOCH);
    llg_pool_release(f.pool, &probe);
    st = stats(&f, s0, now);
    CHECK_EQ_INT(st.state, LLG_KEY_DISABLED);
    CHECK_EQ_INT(st.cooldown_remaining_ms, 60000);
    CHECK_EQ_INT(st.consecutive_failures, 2);

    /* the next probe succeeds: usable, failures reset */
    now += 60000;
    k = pick(&f, 1, now, &probe);
    if (k != 0) {
        llg_pool_release(f.pool, &probe);
        k = pick(&f, 1, now, &probe);
    }
    CHECK_EQ_INT(k, 0);
    CHECK(probe.probe);
    llg_pool_report(f.pool, &probe, LLG_OUTCOME_SUCCESS, 200, NULL, now, EPOCH);
    llg_pool_release(f.pool, &probe);
    st = stats(&f, s0, now);
    CHECK_EQ_INT(st.state, LLG_KEY_USABLE);
    CHECK_EQ_INT(st.consecutive_failures, 0);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(st.outcomes[o], 2);
    teardown(&f);
}

TEST(disabled_401)
{
    check_disabled(LLG_OUTCOME_AUTH, 401);
}

TEST(disabled_403)
{
    check_disabled(llg_pool_classify(403, NULL), 403);
}

TEST(disabled_402)
{
    check_disabled(llg_pool_classify(402, NULL), 402);
}

TEST(disabled_insufficient_quota)
{
    check_disabled(llg_pool_classify(429, "insufficient_quota"), 429);
    check_disabled(llg_pool_classify(402, "insufficient_fund"), 402);
}

TEST(probe_released_without_report)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_RATE_LIMITED, 429, NULL), 0);
    llg_pool_pick_t p, q;
    CHECK_EQ_INT(pick(&f, 0, T0 + 1000, &p), 0);
    CHECK(p.probe);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0 + 1000, &q), -1); /* one probe at a time */
    CHECK_EQ_INT(q.retry_after_ms, 121000); /* until the probe counts as abandoned: timeout (120 s) + 1 s */
    /* cancelled: no health change, the turn is given back */
    llg_pool_report(f.pool, &p, LLG_OUTCOME_CANCELLED, 499, NULL, T0 + 1000, EPOCH);
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(pick(&f, 0, T0 + 1001, &q), 0);
    CHECK(q.probe);
    llg_pool_release(f.pool, &q); /* no report at all: same */
    CHECK_EQ_INT(pick(&f, 0, T0 + 1002, &q), 0);
    CHECK(q.probe);
    llg_pool_report(f.pool, &q, LLG_OUTCOME_CLIENT, 400, NULL, T0 + 1002, EPOCH); /* a 400 proves the key works */
    llg_pool_release(f.pool, &q);
    llg_pool_key_stats_t st = stats(&f, q.slot, T0 + 1002);
    CHECK_EQ_INT(st.state, LLG_KEY_USABLE);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_CANCELLED], 1);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_CLIENT], 1);
    CHECK_EQ_INT(st.in_flight, 0);
    teardown(&f);
}

TEST(probe_self_heals)
{
    fixture_t f;
    /* timeout 10 s: a probe older than 11 s is abandoned */
    if (setup(&f, "timeout: 10\nkeys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_RATE_LIMITED, 429, NULL), 0);
    llg_pool_pick_t dead, p;
    CHECK_EQ_INT(pick(&f, 0, T0 + 1000, &dead), 0); /* its process "dies": never reported */
    CHECK(dead.probe);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0 + 11999, &p), -1);
    CHECK_EQ_INT(p.retry_after_ms, 1);
    CHECK_EQ_INT(pick(&f, 0, T0 + 12000, &p), 0);
    CHECK(p.probe);
    CHECK(p.ticket != dead.ticket);
    /* the stale probe's late report and release change nothing */
    llg_pool_report(f.pool, &dead, LLG_OUTCOME_SUCCESS, 200, NULL, T0 + 12000, EPOCH);
    llg_pool_release(f.pool, &dead);
    CHECK_EQ_INT(stats(&f, p.slot, T0 + 12000).state, LLG_KEY_PROBING);
    llg_pool_report(f.pool, &p, LLG_OUTCOME_SUCCESS, 200, NULL, T0 + 12000, EPOCH);
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(stats(&f, p.slot, T0 + 12000).state, LLG_KEY_USABLE);
    teardown(&f);
}

TEST(straggler_cannot_restore)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    llg_pool_pick_t a, b;
    CHECK_EQ_INT(pick(&f, 0, T0, &a), 0);
    CHECK_EQ_INT(pick(&f, 0, T0, &b), 0);
    llg_pool_report(f.pool, &a, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"3000", NULL, NULL}, T0, EPOCH);
    llg_pool_release(f.pool, &a);
    /* b started before the 429: its success does not end the cooldown */
    llg_pool_report(f.pool, &b, LLG_OUTCOME_SUCCESS, 200, NULL, T0 + 10, EPOCH);
    llg_pool_release(f.pool, &b);
    llg_pool_key_stats_t st = stats(&f, a.slot, T0 + 10);
    CHECK_EQ_INT(st.state, LLG_KEY_COOLING);
    CHECK_EQ_INT(st.cooldown_remaining_ms, 2990);
    CHECK_EQ_INT(st.consecutive_failures, 0);
    CHECK_EQ_INT(pick(&f, 0, T0 + 10, &a), -1);
    /* a shorter 429 of another attempt does not shorten it; a 401 disables */
    llg_pool_pick_t c = b;
    c.probe = false;
    llg_pool_report(f.pool, &c, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"100", NULL, NULL}, T0 + 10, EPOCH);
    CHECK_EQ_INT(stats(&f, b.slot, T0 + 10).cooldown_remaining_ms, 2990);
    llg_pool_report(f.pool, &c, LLG_OUTCOME_AUTH, 401, NULL, T0 + 10, EPOCH);
    CHECK_EQ_INT(stats(&f, b.slot, T0 + 10).state, LLG_KEY_DISABLED);
    llg_pool_report(f.pool, &c, LLG_OUTCOME_RATE_LIMITED, 429, NULL, T0 + 10, EPOCH); /* stays disabled */
    CHECK_EQ_INT(stats(&f, b.slot, T0 + 10).state, LLG_KEY_DISABLED);
    teardown(&f);
}

/* An attempt that started before the key rested fails while the key's probe
 * is in flight: the probe keeps its turn (no second probe starts when that
 * failure's rest ends) and still settles the key. */
TEST(straggler_cannot_end_a_probe)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    llg_pool_pick_t straggler, probe, q;
    CHECK_EQ_INT(pick(&f, 0, T0, &straggler), 0);
    CHECK(!straggler.probe);
    CHECK_EQ_INT(attempt(&f, 0, T0, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"10", NULL, NULL}), 0);
    CHECK_EQ_INT(pick(&f, 0, T0 + 10, &probe), 0);
    CHECK(probe.probe);
    /* the straggler's 429 (a short rest) and 401 leave the probe in place */
    llg_pool_report(f.pool, &straggler, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"1", NULL, NULL}, T0 + 20, EPOCH);
    CHECK_EQ_INT(stats(&f, probe.slot, T0 + 30).state, LLG_KEY_PROBING);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0 + 30, &q), -1); /* no second probe */
    llg_pool_report(f.pool, &straggler, LLG_OUTCOME_AUTH, 401, NULL, T0 + 30, EPOCH);
    llg_pool_release(f.pool, &straggler);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0 + 40, &q), -1);
    /* the probe settles it */
    llg_pool_report(f.pool, &probe, LLG_OUTCOME_SUCCESS, 200, NULL, T0 + 50, EPOCH);
    llg_pool_release(f.pool, &probe);
    llg_pool_key_stats_t st = stats(&f, probe.slot, T0 + 50);
    CHECK_EQ_INT(st.state, LLG_KEY_USABLE);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(pick(&f, 0, T0 + 50, &q), 0);
    CHECK(!q.probe);
    llg_pool_release(f.pool, &q);
    teardown(&f);
}

static void check_transient(llg_outcome_t o, int status)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    uint64_t now = T0;
    int32_t s = slot_of(&f, 0, 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    CHECK_EQ_INT(stats(&f, s, now).state, LLG_KEY_USABLE);
    CHECK_EQ_INT(stats(&f, s, now).consecutive_failures, 2);
    /* success resets the count */
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(stats(&f, s, now).consecutive_failures, 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    /* a CLIENT error is not the key's fault: it resets too, and is recorded */
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_CLIENT, 422, NULL), 0);
    CHECK_EQ_INT(stats(&f, s, now).consecutive_failures, 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    /* CANCELLED changes nothing */
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_CANCELLED, 499, NULL), 0);
    CHECK_EQ_INT(stats(&f, s, now).consecutive_failures, 2);
    CHECK_EQ_INT(stats(&f, s, now).last_status, status);
    /* the third in a row: cooldown (base), then doubling */
    CHECK_EQ_INT(attempt(&f, 0, now, o, status, NULL), 0);
    llg_pool_key_stats_t st = stats(&f, s, now);
    CHECK_EQ_INT(st.state, LLG_KEY_COOLING);
    CHECK_EQ_INT(st.cooldown_remaining_ms, 1000);
    CHECK_EQ_INT(st.outcomes[o], 7);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_CLIENT], 1);
    CHECK_EQ_INT(st.outcomes[LLG_OUTCOME_CANCELLED], 1);
    CHECK_EQ_INT(attempt(&f, 0, now + 999, o, status, NULL), -1);
    CHECK_EQ_INT(attempt(&f, 0, now + 1000, o, status, NULL), 0); /* the probe fails */
    CHECK_EQ_INT(stats(&f, s, now + 1000).cooldown_remaining_ms, 2000);
    CHECK_EQ_INT(attempt(&f, 0, now + 3000, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(stats(&f, s, now + 3000).state, LLG_KEY_USABLE);
    teardown(&f);
}

TEST(server_errors)
{
    check_transient(LLG_OUTCOME_SERVER, 502);
}

TEST(network_errors)
{
    check_transient(LLG_OUTCOME_NETWORK, 0);
}

TEST(all_cooling)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t now = T0;
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"9000", 0, 0}), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"4000", 0, 0}), 1);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_AUTH, 401, NULL), 2);
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, now + 500, &p), -1);
    CHECK_EQ_INT(p.retry_after_ms, 3500);
    CHECK_EQ_INT(p.slot, -1);
    /* the hint answers the next ones at once, with the same deadline */
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, now + 1500, &p), -1);
    CHECK_EQ_INT(p.retry_after_ms, 2500);
    uint32_t total, usable;
    llg_pool_provider_keys(f.pool, f.view, 0, &total, &usable, now + 1500);
    CHECK_EQ_INT(total, 3);
    CHECK_EQ_INT(usable, 0);
    /* the other provider is unaffected */
    CHECK_EQ_INT(attempt(&f, 1, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    /* at 4 s key 1 is probed */
    CHECK_EQ_INT(pick(&f, 0, now + 4000, &p), 1);
    CHECK(p.probe);
    llg_pool_pick_t q;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, now + 4000, &q), -1);
    CHECK_EQ_INT(q.retry_after_ms, 5000);
    /* the probe is cancelled: the turn comes back at once despite the hint */
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(pick(&f, 0, now + 4001, &q), 1);
    CHECK(q.probe);
    llg_pool_report(f.pool, &q, LLG_OUTCOME_SUCCESS, 200, NULL, now + 4001, EPOCH);
    llg_pool_release(f.pool, &q);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(attempt(&f, 0, now + 4002, LLG_OUTCOME_SUCCESS, 200, NULL), 1);
    llg_pool_provider_keys(f.pool, f.view, 0, &total, &usable, now + 4002);
    CHECK_EQ_INT(usable, 1);
    teardown(&f);
}

/* ---- ids, reloads, capacity ---------------------------------------------------- */

static bool is_hex8(const char *s)
{
    if (strlen(s) != 8)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

TEST(ids)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    int32_t s = slot_of(&f, 0, 1);
    const char *id = llg_pool_key_id(f.view, s);
    CHECK(id != NULL && strncmp(id, "a-", 2) == 0 && is_hex8(id + 2));
    CHECK(llg_pool_key_id(f.view, -1) == NULL);
    CHECK(llg_pool_key_id(f.view, 9999) == NULL);
    const char *t0 = llg_pool_token_label(f.view, 0);
    CHECK(t0 != NULL && strncmp(t0, "token-", 6) == 0 && is_hex8(t0 + 6));
    CHECK_EQ_STR(llg_pool_token_label(f.view, 1), "team-a");
    CHECK(llg_pool_token_label(f.view, 3) == NULL);
    /* stable across a reload of the same config, with the same slots */
    char saved[64], tsaved[64];
    snprintf(saved, sizeof(saved), "%s", id);
    snprintf(tsaved, sizeof(tsaved), "%s", t0);
    CHECK_EQ_INT(llg_pool_sync(&f.pool, f.conf, &f.view), 0);
    CHECK_EQ_STR(llg_pool_key_id(f.view, s), saved);
    CHECK_EQ_STR(llg_pool_token_label(f.view, 0), tsaved);
    /* another master (another random key): other ids */
    llg_pool_t *other = llg_pool_create(0, 0, 0);
    llg_pool_view_t *ov = NULL;
    CHECK_EQ_INT(llg_pool_sync(&other, f.conf, &ov), 0);
    CHECK(strcmp(llg_pool_key_id(ov, s), saved) != 0);
    llg_pool_view_free(ov);
    llg_pool_destroy(other);
    teardown(&f);
}

TEST(sync_keeps_state)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t now = T0;
    int32_t a0 = slot_of(&f, 0, 0), a1 = slot_of(&f, 0, 1), a2 = slot_of(&f, 0, 2);
    llg_pool_pick_t p;
    /* a0: counters; a1: cooling with failures; a2: removed; team-a: rate window */
    while (pick(&f, 0, now, &p) != 0)
        llg_pool_release(f.pool, &p);
    llg_pool_report(f.pool, &p, LLG_OUTCOME_SUCCESS, 200, NULL, now, EPOCH);
    llg_pool_key_usage(f.pool, p.slot, 11, 22);
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"30000", 0, 0}), 1);
    uint64_t ra;
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, now, &ra), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, now, &ra), -1);
    llg_pool_token_usage(f.pool, f.view, 1, 5, 6);
    llg_pool_count_request(f.pool, f.view, 0, 200, 1500, 700);
    llg_pool_key_stats_t before0 = stats(&f, a0, now), before1 = stats(&f, a1, now);
    const char *removed_id = llg_pool_key_id(f.view, a2);
    char removed[64];
    snprintf(removed, sizeof(removed), "%s", removed_id);

    /* reload: key a-2 removed, a-3 added, provider order changed, b gone,
     * token team-a renamed (same secret), the plain token removed, one added */
    llg_conf_t *c2 = conf_yaml("keys: {cooldown: 2s, max_cooldown: 8s, probe_after: 30s}\n"
                               "access_tokens:\n"
                               "  - {token: sk-gate-new-0004, name: new}\n"
                               "  - {token: sk-gate-team-a-0002, name: team-a2, rpm: 5}\n"
                               "providers:\n"
                               "  - {name: echo, type: echo}\n"
                               "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\",\n"
                               "     keys: [sk-a-secret-3, sk-a-secret-1, sk-a-secret-0]}\n");
    CHECK(c2 != NULL);
    if (c2 == NULL) {
        teardown(&f);
        return;
    }
    llg_pool_t *pool_before = f.pool;
    CHECK_EQ_INT(llg_pool_sync(&f.pool, c2, &f.view), 0);
    CHECK(f.pool == pool_before); /* it fitted */
    llg_conf_free(f.conf);
    f.conf = c2;

    /* same slots, same state */
    CHECK(llg_pool_key_id(f.view, a2) == NULL);
    llg_pool_key_stats_t after0 = stats(&f, a0, now), after1 = stats(&f, a1, now);
    CHECK_EQ_INT(after0.requests, before0.requests);
    CHECK_EQ_INT(after0.outcomes[LLG_OUTCOME_SUCCESS], 1);
    CHECK_EQ_INT(after0.prompt_tokens, 11);
    CHECK_EQ_INT(after0.completion_tokens, 22);
    CHECK_EQ_INT(after1.state, LLG_KEY_COOLING);
    CHECK_EQ_INT(after1.cooldown_remaining_ms, before1.cooldown_remaining_ms);
    CHECK_EQ_INT(after1.consecutive_failures, 1);
    /* the pick maps to the new config's key indices: sk-a-secret-1 is now index 1,
     * sk-a-secret-0 index 2, the new key index 0 */
    int32_t n0 = -1;
    int seen0 = 0;
    for (int i = 0; i < 6; i++) {
        llg_pool_pick_t q;
        CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 1, now, &q), 0);
        CHECK(q.key != 1); /* cooling */
        if (q.key == 2)
            CHECK_EQ_INT(q.slot, a0);
        if (q.key == 0) {
            n0 = q.slot;
            seen0++;
        }
        llg_pool_release(f.pool, &q);
    }
    CHECK_EQ_INT(slot_of(&f, 1, 0), n0);
    CHECK_EQ_INT(slot_of(&f, 1, 1), a1);
    CHECK_EQ_INT(slot_of(&f, 1, 2), a0);
    CHECK(n0 >= 0 && n0 != a0 && n0 != a1 && n0 != a2); /* a freed slot is not reused at once */
    CHECK_EQ_INT(stats(&f, n0, now).requests, seen0);
    CHECK_EQ_INT(stats(&f, n0, now).outcomes[LLG_OUTCOME_SUCCESS], 0);
    /* the policy comes from the new config (probe_after 30 s) */
    llg_pool_pick_t q;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 1, now, &q), 0);
    llg_pool_report(f.pool, &q, LLG_OUTCOME_AUTH, 401, NULL, now, EPOCH);
    llg_pool_release(f.pool, &q);
    CHECK_EQ_INT(stats(&f, q.slot, now).cooldown_remaining_ms, 30000);
    /* token: state kept under its new name, rate window included */
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-a-0002", 19), 1);
    CHECK_EQ_STR(llg_pool_token_label(f.view, 1), "team-a2");
    llg_pool_token_stats_t ts;
    llg_pool_token_stats(f.pool, f.view, 1, &ts);
    CHECK_EQ_INT(ts.requests, 6);
    CHECK_EQ_INT(ts.rejected_rate, 1);
    CHECK_EQ_INT(ts.prompt_tokens, 5);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, now, &ra), -1);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-plain-0001", 18), -1);
    llg_pool_token_stats(f.pool, f.view, 0, &ts);
    CHECK_EQ_INT(ts.requests, 0);

    char *m = capture_metrics(&f, now);
    CHECK(strstr(m, removed) == NULL);
    CHECK(strstr(m, "provider=\"b\"") == NULL);
    check_contains(m, "llmgate_requests_total{provider=\"a\",code=\"200\"} 1\n");
    check_contains(m, "llmgate_token_requests_total{token=\"team-a2\"} 7\n");
    check_contains(m, "llmgate_config_reloads_total{result=\"ok\"} 0\n");
    free(m);
    teardown(&f);
}

/* A YAML config with `nkeys` keys in provider p and `ntokens` tokens. */
static char *big_yaml(unsigned nkeys, unsigned ntokens, const char *key_prefix)
{
    size_t cap = 256 + (size_t)nkeys * 40 + (size_t)ntokens * 40;
    char *y = malloc(cap);
    size_t n = (size_t)snprintf(y, cap, "access_tokens:\n");
    for (unsigned i = 0; i < ntokens; i++)
        n += (size_t)snprintf(y + n, cap - n, "  - sk-tok-%06u\n", i);
    n += (size_t)snprintf(y + n, cap - n, "providers:\n  - name: p\n    type: openai\n    base_url: http://x/v1\n    keys:\n");
    for (unsigned i = 0; i < nkeys; i++)
        n += (size_t)snprintf(y + n, cap - n, "      - %s%06u\n", key_prefix, i);
    return y;
}

TEST(capacity_and_growth)
{
    char *y = big_yaml(10000, 10000, "sk-key-");
    fixture_t f;
    int rc = setup(&f, y);
    free(y);
    if (rc != 0)
        return;
    CHECK_EQ_INT(llg_pool_key_capacity(f.pool), 10000);
    CHECK_EQ_INT(llg_pool_token_capacity(f.pool), 10000);
    printf("region for 10000 keys + 10000 tokens + 64 providers: %zu bytes\n", llg_pool_region_size(f.pool));
    uint32_t total, usable;
    llg_pool_provider_keys(f.pool, f.view, 0, &total, &usable, T0);
    CHECK_EQ_INT(total, 10000);
    CHECK_EQ_INT(usable, 10000);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-tok-009999", 13), 9999);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-tok-000000", 13), 0);

    /* state to keep: a cooling key, counters, a token's window, reload counts */
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0, &p), 0);
    int32_t cooled = p.slot;
    llg_pool_report(f.pool, &p, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"60000", 0, 0}, T0, EPOCH);
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0, &p), 0);
    int32_t used = p.slot;
    llg_pool_key_usage(f.pool, used, 3, 4);
    llg_pool_count_reload(f.pool, true);
    llg_pool_count_reload(f.pool, false);
    llg_pool_count_request(f.pool, f.view, -1, 404, 100, 0);
    llg_pool_token_admit(f.pool, f.view, 42, T0, NULL);
    char cooled_id[64];
    snprintf(cooled_id, sizeof(cooled_id), "%s", llg_pool_key_id(f.view, cooled));
    /* `p` is still in flight in the old region */

    /* 15000 keys, 12000 tokens: the region grows */
    y = big_yaml(15000, 12000, "sk-key-");
    llg_conf_t *c2 = conf_yaml(y);
    free(y);
    llg_pool_t *old = f.pool;
    CHECK_EQ_INT(llg_pool_sync(&f.pool, c2, &f.view), 0);
    llg_conf_free(f.conf);
    f.conf = c2;
    CHECK(f.pool != old);
    CHECK(llg_pool_key_capacity(f.pool) >= 15000);
    CHECK(llg_pool_token_capacity(f.pool) >= 12000);
    CHECK_EQ_STR(llg_pool_key_id(f.view, cooled), cooled_id);
    llg_pool_key_stats_t st = stats(&f, cooled, T0);
    CHECK_EQ_INT(st.state, LLG_KEY_COOLING);
    CHECK_EQ_INT(st.cooldown_remaining_ms, 60000);
    CHECK_EQ_INT(st.consecutive_failures, 1);
    st = stats(&f, used, T0);
    CHECK_EQ_INT(st.requests, 1);
    CHECK_EQ_INT(st.in_flight, 0); /* in-flight attempts stay with the old region */
    CHECK_EQ_INT(st.prompt_tokens, 3);
    llg_pool_token_stats_t ts;
    llg_pool_token_stats(f.pool, f.view, 42, &ts);
    CHECK_EQ_INT(ts.requests, 1);
    llg_pool_provider_keys(f.pool, f.view, 0, &total, &usable, T0);
    CHECK_EQ_INT(total, 15000);
    CHECK_EQ_INT(usable, 14999);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-tok-011999", 13), 11999);
    char *m = capture_metrics(&f, T0);
    check_contains(m, "llmgate_config_reloads_total{result=\"ok\"} 1\n");
    check_contains(m, "llmgate_config_reloads_total{result=\"failed\"} 1\n");
    check_contains(m, "llmgate_requests_total{provider=\"none\",code=\"404\"} 1\n");
    CHECK(strstr(m, "sk-key-") == NULL && strstr(m, "sk-tok-") == NULL);
    free(m);
    /* the key picked after the cooled one keeps its place in the rotation */
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, T0, &p), 0);
    CHECK_EQ_INT(p.key, 2);
    llg_pool_release(f.pool, &p);
    teardown(&f);
}

/* ---- tokens --------------------------------------------------------------------- */

TEST(token_lookup)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-plain-0001", 18), 0);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-a-0002", 19), 1);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-b-0003", 19), 2);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-b-0003", 18), -1); /* a prefix */
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-b-00031", 20), -1);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-gate-team-b-0004", 19), -1);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "", 0), -1);
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "sk-a-secret-0", 13), -1); /* an upstream key is no token */
    teardown(&f);

    /* no tokens at all */
    if (setup(&f, "providers: [{name: echo, type: echo}]\n") != 0)
        return;
    CHECK_EQ_INT(llg_pool_token_lookup(f.view, "x", 1), -1);
    teardown(&f);
}

TEST(token_rpm)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t ra = 0;
    int admitted = 0;
    for (int i = 0; i < 8; i++) {
        if (llg_pool_token_admit(f.pool, f.view, 1, T0, &ra) == 0)
            admitted++;
        else
            CHECK_EQ_INT(ra, 12000);
    }
    CHECK_EQ_INT(admitted, 5);
    /* one every 12 s after the burst */
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, T0 + 11999, &ra), -1);
    CHECK_EQ_INT(ra, 1);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, T0 + 12000, &ra), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 1, T0 + 12000, &ra), -1);
    CHECK_EQ_INT(ra, 12000);
    /* idle for a minute: a full burst again */
    admitted = 0;
    for (int i = 0; i < 8; i++)
        admitted += llg_pool_token_admit(f.pool, f.view, 1, T0 + 90000, &ra) == 0;
    CHECK_EQ_INT(admitted, 5);
    llg_pool_token_reject(f.pool, f.view, 1);
    llg_pool_token_stats_t ts;
    llg_pool_token_stats(f.pool, f.view, 1, &ts);
    CHECK_EQ_INT(ts.requests, 20); /* 19 admissions and the refused request */
    CHECK_EQ_INT(ts.rejected_rate, 8);
    CHECK_EQ_INT(ts.rejected_forbidden, 1);
    /* rpm 0: unlimited */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 0, T0, &ra), 0);
    CHECK_EQ_INT(llg_pool_token_admit(f.pool, f.view, 7, T0, &ra), -1); /* no such token */
    teardown(&f);
}

/* ---- metrics and admin -------------------------------------------------------------- */

TEST(metrics)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t now = T0;
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"2500", 0, 0}), 1);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_AUTH, 401, NULL), 2);
    llg_pool_key_usage(f.pool, slot_of(&f, 0, 0), 10, 20);
    llg_pool_provider_usage(f.pool, f.view, 2, 1, 2);
    llg_pool_count_request(f.pool, f.view, 0, 200, 3000, 800);   /* 3 ms, ttfb 0.8 ms */
    llg_pool_count_request(f.pool, f.view, 0, 200, 70000, 0);    /* 70 ms */
    llg_pool_count_request(f.pool, f.view, 0, 418, 61000000, 0); /* other, +Inf */
    llg_pool_count_request(f.pool, f.view, -1, 401, 50, 0);
    llg_pool_stream_begin(f.pool);
    llg_pool_stream_begin(f.pool);
    llg_pool_stream_end(f.pool);
    llg_pool_count_reload(f.pool, true);
    llg_pool_token_admit(f.pool, f.view, 1, now, NULL);
    llg_pool_token_reject(f.pool, f.view, 1);
    llg_pool_token_admit(f.pool, f.view, 2, now, NULL);

    char *m = capture_metrics(&f, now + 500);
    const char *expect[] = {
        "# HELP llmgate_requests_total ",
        "# TYPE llmgate_requests_total counter\n",
        "llmgate_requests_total{provider=\"a\",code=\"200\"} 2\n",
        "llmgate_requests_total{provider=\"a\",code=\"other\"} 1\n",
        "llmgate_requests_total{provider=\"none\",code=\"401\"} 1\n",
        "# TYPE llmgate_request_duration_seconds histogram\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"0.001\"} 0\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"0.005\"} 1\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"0.05\"} 1\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"0.1\"} 2\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"60\"} 2\n",
        "llmgate_request_duration_seconds_bucket{provider=\"a\",le=\"+Inf\"} 3\n",
        "llmgate_request_duration_seconds_sum{provider=\"a\"} 61.073000\n",
        "llmgate_request_duration_seconds_count{provider=\"a\"} 3\n",
        "llmgate_request_duration_seconds_count{provider=\"none\"} 1\n",
        "llmgate_time_to_first_byte_seconds_bucket{provider=\"a\",le=\"0.001\"} 1\n",
        "llmgate_time_to_first_byte_seconds_count{provider=\"a\"} 1\n",
        "llmgate_time_to_first_byte_seconds_count{provider=\"none\"} 0\n",
        "llmgate_upstream_attempts_total{provider=\"a\",outcome=\"success\"} 1\n",
        "llmgate_upstream_attempts_total{provider=\"a\",outcome=\"rate_limited\"} 1\n",
        "llmgate_upstream_attempts_total{provider=\"a\",outcome=\"auth\"} 1\n",
        "llmgate_tokens_total{provider=\"a\",kind=\"prompt\"} 10\n",
        "llmgate_tokens_total{provider=\"a\",kind=\"completion\"} 20\n",
        "llmgate_tokens_total{provider=\"echo\",kind=\"completion\"} 2\n",
        "# TYPE llmgate_active_streams gauge\nllmgate_active_streams 1\n",
        "llmgate_config_reloads_total{result=\"ok\"} 1\n",
        "llmgate_config_reloads_total{result=\"failed\"} 0\n",
        "# TYPE llmgate_key_state gauge\n",
        "# TYPE llmgate_key_cooldown_seconds gauge\n",
        "llmgate_token_requests_total{token=\"team-a\"} 2\n",         /* admitted, then refused (403) */
        "llmgate_token_requests_total{token=\"team \\\"b\\\"\"} 1\n", /* escaped */
        "llmgate_token_rejections_total{token=\"team-a\",reason=\"forbidden\"} 1\n",
        "llmgate_pool_capacity{kind=\"keys\"} 10000\n",
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        check_contains(m, expect[i]);
    /* per-key series, by id */
    char line[256];
    const char *id1 = llg_pool_key_id(f.view, slot_of(&f, 0, 1)), *id2 = llg_pool_key_id(f.view, slot_of(&f, 0, 2));
    snprintf(line, sizeof(line), "llmgate_key_state{provider=\"a\",key=\"%s\"} 1\n", id1);
    check_contains(m, line);
    snprintf(line, sizeof(line), "llmgate_key_cooldown_seconds{provider=\"a\",key=\"%s\"} 2.000\n", id1);
    check_contains(m, line);
    snprintf(line, sizeof(line), "llmgate_key_state{provider=\"a\",key=\"%s\"} 2\n", id2);
    check_contains(m, line);
    snprintf(line, sizeof(line), "llmgate_key_attempts_total{provider=\"a\",key=\"%s\",outcome=\"auth\"} 1\n", id2);
    check_contains(m, line);
    check_no_secret(m);
    /* every sample line is `name{labels} value` or `name value` */
    for (char *l = strtok(m, "\n"); l != NULL; l = strtok(NULL, "\n")) {
        if (l[0] == '#')
            continue;
        char *sp = strrchr(l, ' ');
        CHECK(sp != NULL && strncmp(l, "llmgate_", 8) == 0 && sp[1] != '\0');
    }
    free(m);
    teardown(&f);
}

TEST(admin_json)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t now = T0;
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_RATE_LIMITED, 429, &(llg_pool_hints_t){"2500", 0, 0}), 1);
    CHECK_EQ_INT(attempt(&f, 0, now, LLG_OUTCOME_PAYMENT, 402, NULL), 2);
    llg_pool_pick_t p;
    CHECK_EQ_INT(pick(&f, 1, now, &p), 0); /* in flight */
    llg_pool_token_admit(f.pool, f.view, 1, now, NULL);
    char *j = capture_admin(&f, now);
    check_no_secret(j);
    cJSON *root = cJSON_Parse(j);
    CHECK(root != NULL);
    if (root != NULL) {
        cJSON *keys = cJSON_GetObjectItem(root, "keys"), *tokens = cJSON_GetObjectItem(root, "tokens");
        CHECK_EQ_INT(cJSON_GetArraySize(keys), 5);
        CHECK_EQ_INT(cJSON_GetArraySize(tokens), 3);
        int cooling = 0, disabled = 0;
        cJSON *k;
        cJSON_ArrayForEach(k, keys)
        {
            const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(k, "state"));
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(k, "id"));
            const char *prov = cJSON_GetStringValue(cJSON_GetObjectItem(k, "provider"));
            CHECK(state != NULL && id != NULL && prov != NULL);
            if (state == NULL || id == NULL || prov == NULL)
                continue;
            CHECK(strncmp(id, prov, strlen(prov)) == 0);
            if (strcmp(state, "cooling") == 0) {
                cooling++;
                CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(k, "cooldown_remaining_ms")), 2500);
                CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(k, "rate_limited")), 1);
                CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(k, "last_status")), 429);
            }
            if (strcmp(state, "disabled") == 0) {
                disabled++;
                CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(k, "payment")), 1);
            }
            if (strcmp(prov, "b") == 0 && strcmp(id, llg_pool_key_id(f.view, p.slot)) == 0)
                CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(k, "in_flight")), 1);
        }
        CHECK_EQ_INT(cooling, 1);
        CHECK_EQ_INT(disabled, 1);
        cJSON *t1 = cJSON_GetArrayItem(tokens, 1), *t0 = cJSON_GetArrayItem(tokens, 0);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(t1, "name")), "team-a");
        CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(t1, "rpm")), 5);
        CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(t1, "requests")), 1);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(t0, "name")));
        CHECK(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(t0, "id")), "token-", 6) == 0);
        cJSON_Delete(root);
    }
    llg_pool_release(f.pool, &p);
    free(j);
    teardown(&f);
}

TEST(duplicate_labels)
{
    fixture_t f;
    if (setup(&f, "access_tokens:\n"
                  "  - {token: sk-dup-one, name: same}\n"
                  "  - {token: sk-dup-two, name: same}\n"
                  "providers: [{name: echo, type: echo}]\n") != 0)
        return;
    const char *l0 = llg_pool_token_label(f.view, 0), *l1 = llg_pool_token_label(f.view, 1);
    CHECK(l0 != NULL && l1 != NULL && strcmp(l0, l1) != 0);
    CHECK(l0 != NULL && strncmp(l0, "same#", 5) == 0 && strlen(l0) == 5 + 16);
    char *m = capture_metrics(&f, T0);
    CHECK(strstr(m, "sk-dup-") == NULL);
    free(m);
    teardown(&f);
}

/* ---- sharing with a cluster (pool/share.c, docs/cluster.md) ------------------- */

TEST(share_counts_local_transitions)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s, probe_after: 10s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-s0, sk-s1]}]\n") != 0)
        return;
    int32_t s0 = slot_of(&f, 0, 0);
    uint64_t total = llg_pool_key_changes(f.pool);
    uint32_t ch, ch0;
    llg_share_kind_t kind;
    uint64_t rem;
    CHECK_EQ_INT(llg_pool_key_share(f.pool, s0, 1000, &ch0, &kind, &rem), 0);
    CHECK_EQ_INT(kind, LLG_SHARE_USABLE);
    /* a success on a usable key changes nothing */
    llg_pool_pick_t p;
    while (pick(&f, 0, 1000, &p) != 0)
        llg_pool_release(f.pool, &p);
    llg_pool_report(f.pool, &p, LLG_OUTCOME_SUCCESS, 200, NULL, 1000, EPOCH);
    llg_pool_release(f.pool, &p);
    CHECK_EQ_INT(llg_pool_key_changes(f.pool), total);
    /* a 429 is counted and shows as cooling with the rest left */
    while (pick(&f, 0, 1000, &p) != 0)
        llg_pool_release(f.pool, &p);
    llg_pool_report(f.pool, &p, LLG_OUTCOME_RATE_LIMITED, 429, NULL, 1000, EPOCH);
    llg_pool_release(f.pool, &p);
    CHECK(llg_pool_key_changes(f.pool) > total);
    llg_pool_key_share(f.pool, s0, 1400, &ch, &kind, &rem);
    CHECK(ch != ch0);
    CHECK_EQ_INT(kind, LLG_SHARE_COOLING);
    CHECK_EQ_INT(rem, 600);
    /* over: usable */
    llg_pool_key_share(f.pool, s0, 2500, &ch, &kind, &rem);
    CHECK_EQ_INT(kind, LLG_SHARE_USABLE);
    CHECK_EQ_INT(rem, 0);
    CHECK_EQ_INT(llg_pool_key_share(f.pool, -1, 0, &ch, &kind, &rem), -1);
    teardown(&f);
}

/* Model groups' breakers across a cluster (pool/balance.h, server/cluster.c):
 * what one instance's link reads from its pool and another's applies to its
 * own. Two pools of one config stand for two instances. */
static const char *breaker_yaml = "providers:\n"
                                  "  - {name: e1, type: echo}\n"
                                  "  - {name: e2, type: echo}\n"
                                  "model_groups:\n"
                                  "  - name: g\n"
                                  "    targets: [{provider: e1, model: m}, {provider: e2, model: m}]\n"
                                  "    breaker: {failures: 2, cooldown: 30s}\n";

/* One attempt on target `t` of group 0 (the other skipped) with `outcome`. */
static int group_attempt(fixture_t *f, unsigned t, llg_outcome_t outcome, uint64_t now)
{
    llg_balance_pick_t p;
    if (llg_balance_choose(f->pool, f->view, 0, UINT64_C(1) << (1 - t), 0, now, &p) != 0)
        return -1;
    int got = p.target;
    llg_balance_report(f->pool, f->view, &p, outcome, now);
    llg_balance_release(f->pool, &p);
    return got;
}

TEST(breaker_share_and_apply)
{
    fixture_t a, b;
    if (setup(&a, breaker_yaml) != 0 || setup(&b, breaker_yaml) != 0)
        return;
    /* the same ids on both instances, distinct per target */
    CHECK_EQ_INT(llg_balance_target_count(a.view), 2);
    unsigned char ia[16], ib[16], ia1[16];
    llg_balance_target_id(a.view, 0, ia);
    llg_balance_target_id(b.view, 0, ib);
    llg_balance_target_id(a.view, 1, ia1);
    CHECK(memcmp(ia, ib, 16) == 0);
    CHECK(memcmp(ia, ia1, 16) != 0);

    uint64_t now = llg_pool_now_ms();
    uint64_t total = llg_balance_changes(a.pool);
    uint32_t ch0, ch;
    bool open;
    uint64_t rem;
    CHECK_EQ_INT(llg_balance_share(a.pool, a.view, 0, &ch0, &open, &rem), 0);
    CHECK(!open);
    /* one failure: nothing to tell; the second opens it: counted */
    CHECK_EQ_INT(group_attempt(&a, 0, LLG_OUTCOME_SERVER, now), 0);
    CHECK_EQ_INT(llg_balance_changes(a.pool), total);
    CHECK_EQ_INT(group_attempt(&a, 0, LLG_OUTCOME_SERVER, now), 0);
    CHECK(llg_balance_changes(a.pool) > total);
    CHECK_EQ_INT(llg_balance_share(a.pool, a.view, 0, &ch, &open, &rem), 0);
    CHECK(ch != ch0);
    CHECK(open);
    CHECK(rem > 25000 && rem <= 30000);
    CHECK_EQ_INT(llg_balance_share(a.pool, a.view, 2, &ch, &open, &rem), -1);

    /* instance b applies it: open, not counted as its own transition */
    uint64_t btotal = llg_balance_changes(b.pool);
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, true, rem, now, false), 1);
    CHECK_EQ_INT(llg_balance_changes(b.pool), btotal);
    llg_balance_target_stats_t st;
    CHECK_EQ_INT(llg_balance_target_stats(b.pool, b.view, 0, 0, now, &st), 0);
    CHECK_EQ_INT(st.breaker, LLG_BREAKER_OPEN);
    CHECK(!st.available);
    for (int i = 0; i < 6; i++) {
        llg_balance_pick_t p;
        CHECK_EQ_INT(llg_balance_choose(b.pool, b.view, 0, 0, 0, now, &p), 0);
        CHECK_EQ_INT(p.target, 1);
        llg_balance_release(b.pool, &p);
    }
    /* the same or a shorter open: nothing; a close at connect: nothing */
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, true, rem, now, false), 0);
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, true, 1000, now, true), 0);
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, false, 0, now, true), 0);
    CHECK_EQ_INT(llg_balance_target_stats(b.pool, b.view, 0, 0, now, &st), 0);
    CHECK_EQ_INT(st.breaker, LLG_BREAKER_OPEN);
    /* a close message closes it, still not counted */
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, false, 0, now, false), 1);
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 0, false, 0, now, false), 0);
    CHECK_EQ_INT(llg_balance_changes(b.pool), btotal);
    CHECK_EQ_INT(llg_balance_target_stats(b.pool, b.view, 0, 0, now, &st), 0);
    CHECK_EQ_INT(st.breaker, LLG_BREAKER_CLOSED);
    CHECK_EQ_INT(llg_balance_apply(b.pool, b.view, 5, false, 0, now, false), -1);

    /* on a, the probe after the cooldown closes it: counted, shared as closed */
    uint64_t later = now + 30001;
    uint64_t before = llg_balance_changes(a.pool);
    CHECK_EQ_INT(llg_balance_target_stats(a.pool, a.view, 0, 0, later, &st), 0);
    CHECK_EQ_INT(st.breaker, LLG_BREAKER_HALF_OPEN);
    CHECK_EQ_INT(group_attempt(&a, 0, LLG_OUTCOME_SUCCESS, later), 0);
    CHECK(llg_balance_changes(a.pool) > before);
    CHECK_EQ_INT(llg_balance_share(a.pool, a.view, 0, &ch0, &open, &rem), 0);
    CHECK(!open);
    CHECK(ch0 != ch);
    teardown(&a);
    teardown(&b);
}

TEST(share_apply_is_not_counted)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s, probe_after: 10s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-s0, sk-s1]}]\n") != 0)
        return;
    int32_t s0 = slot_of(&f, 0, 0), s1 = slot_of(&f, 0, 1);
    uint64_t total = llg_pool_key_changes(f.pool);
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_DISABLED, 5000, 1000, false), 1);
    CHECK_EQ_INT(llg_pool_key_changes(f.pool), total);
    CHECK_EQ_INT(stats(&f, s0, 1000).state, LLG_KEY_DISABLED);
    CHECK_EQ_INT(stats(&f, s0, 1000).cooldown_remaining_ms, 5000);
    /* picks skip it */
    llg_pool_pick_t p;
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(attempt(&f, 0, 1100, LLG_OUTCOME_SUCCESS, 200, NULL), 1);
    (void)p;
    /* the same state again: nothing to do; a shorter one at connect: kept */
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_DISABLED, 5000, 1000, false), 0);
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_COOLING, 100, 1000, true), 0);
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_USABLE, 0, 1000, true), 0);
    CHECK_EQ_INT(stats(&f, s0, 1000).state, LLG_KEY_DISABLED);
    /* a longer one at connect is taken; a message makes it usable again */
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s1, LLG_SHARE_COOLING, 3000, 1000, true), 1);
    CHECK_EQ_INT(stats(&f, s1, 1000).state, LLG_KEY_COOLING);
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_USABLE, 0, 1200, false), 1);
    CHECK_EQ_INT(stats(&f, s0, 1200).state, LLG_KEY_USABLE);
    CHECK_EQ_INT(attempt(&f, 0, 1200, LLG_OUTCOME_SUCCESS, 200, NULL), 0);
    CHECK_EQ_INT(llg_pool_key_changes(f.pool), total);
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, -1, LLG_SHARE_USABLE, 0, 0, false), -1);
    teardown(&f);
}

TEST(share_apply_ends_a_no_key_hint)
{
    fixture_t f;
    if (setup(&f, "keys: {cooldown: 1s, max_cooldown: 5s, probe_after: 10s}\n"
                  "providers: [{name: a, type: openai, base_url: \"http://x/v1\", keys: [sk-only]}]\n") != 0)
        return;
    int32_t s0 = slot_of(&f, 0, 0);
    CHECK_EQ_INT(attempt(&f, 0, 1000, LLG_OUTCOME_AUTH, 401, NULL), 0);
    llg_pool_pick_t p;
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, 2000, &p), -1); /* stores the hint */
    CHECK_EQ_INT(llg_pool_key_apply(f.pool, s0, LLG_SHARE_USABLE, 0, 2000, false), 1);
    CHECK_EQ_INT(llg_pool_pick(f.pool, f.view, 0, 2001, &p), 0);
    CHECK(!p.probe);
    llg_pool_release(f.pool, &p);
    llg_pool_set_cluster_state(f.pool, LLG_CLUSTER_UP);
    CHECK_EQ_INT(llg_pool_cluster_state(f.pool), LLG_CLUSTER_UP);
    teardown(&f);
}

int main(void)
{
    RUN(http_dates);
    RUN(reset_durations);
    RUN(hint_order);
    RUN(classify);
    RUN(round_robin);
    RUN(rate_limited_retry_after_ms);
    RUN(rate_limited_retry_after_seconds);
    RUN(rate_limited_retry_after_date);
    RUN(rate_limited_reset_requests);
    RUN(rate_limited_no_hint_doubles);
    RUN(disabled_401);
    RUN(disabled_403);
    RUN(disabled_402);
    RUN(disabled_insufficient_quota);
    RUN(probe_released_without_report);
    RUN(probe_self_heals);
    RUN(straggler_cannot_restore);
    RUN(straggler_cannot_end_a_probe);
    RUN(server_errors);
    RUN(network_errors);
    RUN(all_cooling);
    RUN(ids);
    RUN(sync_keeps_state);
    RUN(capacity_and_growth);
    RUN(token_lookup);
    RUN(token_rpm);
    RUN(metrics);
    RUN(admin_json);
    RUN(duplicate_labels);
    RUN(share_counts_local_transitions);
    RUN(share_apply_is_not_counted);
    RUN(share_apply_ends_a_no_key_hint);
    RUN(breaker_share_and_apply);
    TEST_MAIN_END();
}
