/*
 * tests/unit/test_model_metrics.c: the per-model series (pool/model_metrics.c):
 * the model label bounded to the names the config knows (else `other`) and
 * to LLG_MODEL_SERIES series, counts by status class and token kind,
 * cumulative histogram buckets, a sync that keeps kept series and drops
 * removed ones (also when the pool's region grows), and four forked
 * processes counting the same fresh series at once.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "pool/pool.h"
#include "tests/test.h"

static char *no_env[] = {NULL};

static llg_conf_t *conf_yaml(const char *yaml)
{
    llg_conf_errors_t errs = {0};
    llg_conf_t *c = llg_conf_load_string("t.yaml", yaml, strlen(yaml), no_env, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "  config: %s\n", errs.items[i]);
    llg_conf_errors_free(&errs);
    return c;
}

/* Known names: smart (group), gpt-x (model_map), gpt-4o (models), listed
 * (list_models), default-m (defaults.model); "claude-*" and "g-*" are globs. */
static const char *base_yaml = "defaults: {model: default-m}\n"
                               "model_groups:\n"
                               "  - {name: smart, targets: [{provider: a}, {provider: b}]}\n"
                               "  - {name: \"g-*\", targets: [{provider: a}]}\n"
                               "providers:\n"
                               "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-a-0],\n"
                               "     models: [gpt-4o, \"claude-*\"], model_map: {gpt-x: up-x}, list_models: [listed]}\n"
                               "  - {name: b, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-b-0]}\n";

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

/* Swaps in a new config (the old one freed after the sync, as the master does). */
static int resync(fixture_t *f, const char *yaml)
{
    llg_conf_t *c = conf_yaml(yaml);
    if (c == NULL || llg_pool_sync(&f->pool, c, &f->view) != 0) {
        llg_conf_free(c);
        return -1;
    }
    llg_conf_free(f->conf);
    f->conf = c;
    return 0;
}

static void count(fixture_t *f, int provider, const char *model, int status)
{
    llg_pool_count_model(f->pool, f->view, &(llg_pool_model_obs_t){.provider = provider, .model = model, .status = status});
}

static char *metrics_text(fixture_t *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    llg_pool_write_metrics(f->pool, f->view, 1000, out);
    fclose(out);
    return buf;
}

static size_t occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The value of the line that starts with `prefix` (-1: none). */
static long long value_of(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, pl) == 0)
            return atoll(p + pl);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

TEST(labels_bounded)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    const char *known[] = {"smart", "gpt-x", "gpt-4o", "listed", "default-m"};
    for (size_t i = 0; i < 5; i++)
        count(&f, 0, known[i], 200);
    count(&f, 0, "unknown-model", 200);
    count(&f, 0, "claude-3", 200); /* matches a glob: not a name */
    count(&f, 0, "g-1", 200);
    count(&f, 1, "smart", 200);
    count(&f, -1, "smart", 200); /* not routed: not counted */
    count(&f, 0, NULL, 200);     /* no model: not counted */
    count(&f, 7, "gpt-4o", 200); /* not a provider of the view */
    llg_pool_model_stats_t st;
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", known[i], &st), 0);
        CHECK_EQ_INT(st.requests[0], 1);
    }
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "other", &st), 0);
    CHECK_EQ_INT(st.requests[0], 3);
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "b", "smart", &st), 0);
    CHECK_EQ_INT(st.requests[0], 1);
    CHECK(llg_pool_model_stats(f.pool, f.view, "a", "unknown-model", &st) != 0);
    CHECK(llg_pool_model_stats(f.pool, f.view, "b", "other", &st) != 0);

    char *m = metrics_text(&f);
    CHECK(m != NULL);
    if (m != NULL) {
        CHECK(strstr(m, "# TYPE llmgate_model_requests_total counter\n") != NULL);
        CHECK(strstr(m, "# TYPE llmgate_model_ttft_seconds histogram\n") != NULL);
        CHECK(strstr(m, "# TYPE llmgate_gateway_overhead_seconds histogram\n") != NULL);
        CHECK_EQ_INT(value_of(m, "llmgate_model_requests_total{model=\"other\",provider=\"a\",status_class=\"2xx\"} "), 3);
        CHECK_EQ_INT(value_of(m, "llmgate_model_requests_total{model=\"gpt-4o\",provider=\"a\",status_class=\"2xx\"} "), 1);
        CHECK(strstr(m, "unknown-model") == NULL);
        CHECK(strstr(m, "claude-3") == NULL);
        CHECK(strstr(m, "sk-a-0") == NULL); /* never a secret */
        CHECK_EQ_INT(value_of(m, "llmgate_model_series{kind=\"live\"} "), 6);
        free(m);
    }
    teardown(&f);
}

TEST(counts_by_class_and_kind)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    int statuses[] = {200, 201, 302, 400, 404, 429, 499, 500, 502};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(*statuses); i++)
        count(&f, 1, "smart", statuses[i]);
    llg_pool_model_obs_t o = {.provider = 1, .model = "smart", .status = 200};
    o.has_tokens[LLG_MODEL_PROMPT] = o.has_tokens[LLG_MODEL_COMPLETION] = true;
    o.tokens[LLG_MODEL_PROMPT] = 11;
    o.tokens[LLG_MODEL_COMPLETION] = 7;
    o.tokens[LLG_MODEL_CACHED] = 1000; /* not given: not added */
    llg_pool_count_model(f.pool, f.view, &o);
    o.has_tokens[LLG_MODEL_CACHED] = o.has_tokens[LLG_MODEL_REASONING] = true;
    o.tokens[LLG_MODEL_CACHED] = 3;
    o.tokens[LLG_MODEL_REASONING] = 5;
    llg_pool_count_model(f.pool, f.view, &o);
    llg_pool_model_stats_t st;
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "b", "smart", &st), 0);
    CHECK_EQ_INT(st.requests[0], 4);
    CHECK_EQ_INT(st.requests[1], 1);
    CHECK_EQ_INT(st.requests[2], 4); /* 400 404 429 499 */
    CHECK_EQ_INT(st.requests[3], 2);
    CHECK_EQ_INT(st.tokens[LLG_MODEL_PROMPT], 22);
    CHECK_EQ_INT(st.tokens[LLG_MODEL_COMPLETION], 14);
    CHECK_EQ_INT(st.tokens[LLG_MODEL_CACHED], 3);
    CHECK_EQ_INT(st.tokens[LLG_MODEL_REASONING], 5);
    CHECK_EQ_INT(st.ttft_count, 0);
    CHECK_EQ_INT(st.overhead_count, 0);
    char *m = metrics_text(&f);
    if (m != NULL) {
        CHECK_EQ_INT(value_of(m, "llmgate_model_requests_total{model=\"smart\",provider=\"b\",status_class=\"4xx\"} "), 4);
        CHECK_EQ_INT(value_of(m, "llmgate_model_tokens_total{model=\"smart\",provider=\"b\",kind=\"cached\"} "), 3);
        CHECK_EQ_INT(value_of(m, "llmgate_model_tokens_total{model=\"smart\",provider=\"b\",kind=\"reasoning\"} "), 5);
        free(m);
    }
    teardown(&f);
}

/* Each histogram's buckets are cumulative, +Inf equals _count, _sum adds up. */
TEST(histogram_buckets)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    uint64_t ttft[] = {500, 1000, 1001, 70000000};    /* 0.5 ms, 1 ms (le 0.001), just over, over 60 s */
    uint64_t overhead[] = {30, 50, 51, 800, 2000000}; /* 30 us, 50 us (le 0.00005), ..., over 1 s */
    for (size_t i = 0; i < 5; i++) {
        llg_pool_model_obs_t o = {.provider = 0, .model = "gpt-4o", .status = 200};
        o.has_ttft = i < 4;
        o.ttft_us = i < 4 ? ttft[i] : 0;
        o.has_overhead = true;
        o.overhead_us = overhead[i];
        llg_pool_count_model(f.pool, f.view, &o);
    }
    char *m = metrics_text(&f);
    if (m == NULL) {
        CHECK(0);
        teardown(&f);
        return;
    }
    const char *t = "llmgate_model_ttft_seconds_bucket{model=\"gpt-4o\",provider=\"a\",le=\"";
    char line[256];
    snprintf(line, sizeof(line), "%s0.001\"} ", t);
    CHECK_EQ_INT(value_of(m, line), 2);
    snprintf(line, sizeof(line), "%s0.005\"} ", t);
    CHECK_EQ_INT(value_of(m, line), 3);
    snprintf(line, sizeof(line), "%s60\"} ", t);
    CHECK_EQ_INT(value_of(m, line), 3);
    snprintf(line, sizeof(line), "%s+Inf\"} ", t);
    CHECK_EQ_INT(value_of(m, line), 4);
    CHECK_EQ_INT(value_of(m, "llmgate_model_ttft_seconds_count{model=\"gpt-4o\",provider=\"a\"} "), 4);
    CHECK(strstr(m, "llmgate_model_ttft_seconds_sum{model=\"gpt-4o\",provider=\"a\"} 70.002501\n") != NULL);

    const char *o = "llmgate_gateway_overhead_seconds_bucket{model=\"gpt-4o\",provider=\"a\",le=\"";
    snprintf(line, sizeof(line), "%s0.00005\"} ", o);
    CHECK_EQ_INT(value_of(m, line), 2);
    snprintf(line, sizeof(line), "%s0.0001\"} ", o);
    CHECK_EQ_INT(value_of(m, line), 3);
    snprintf(line, sizeof(line), "%s0.001\"} ", o);
    CHECK_EQ_INT(value_of(m, line), 4);
    snprintf(line, sizeof(line), "%s1\"} ", o);
    CHECK_EQ_INT(value_of(m, line), 4);
    snprintf(line, sizeof(line), "%s+Inf\"} ", o);
    CHECK_EQ_INT(value_of(m, line), 5);
    CHECK_EQ_INT(value_of(m, "llmgate_gateway_overhead_seconds_count{model=\"gpt-4o\",provider=\"a\"} "), 5);

    /* every bucket line of both families: never less than the one before */
    const char *fams[] = {"llmgate_model_ttft_seconds_bucket{", "llmgate_gateway_overhead_seconds_bucket{"};
    for (size_t k = 0; k < 2; k++) {
        long long prev = -1;
        size_t lines = 0;
        for (const char *p = strstr(m, fams[k]); p != NULL; p = strstr(p + 1, fams[k])) {
            long long v = atoll(strchr(p, '}') + 2);
            CHECK(v >= prev);
            prev = strstr(p, "le=\"+Inf\"}") == strchr(p, '}') - 9 ? -1 : v; /* after +Inf, the next series */
            lines++;
        }
        CHECK_EQ_INT(lines, 15); /* one series, 15 buckets */
    }
    free(m);
    teardown(&f);
}

/* Past LLG_MODEL_SERIES series, a new one is counted as its provider's `other`. */
TEST(series_cap)
{
    size_t n = LLG_MODEL_SERIES + 10;
    size_t cap = 256 + n * 24;
    char *y = malloc(cap);
    if (y == NULL) {
        CHECK(0);
        return;
    }
    size_t len = (size_t)snprintf(
        y, cap, "providers:\n  - name: a\n    type: openai\n    base_url: \"http://127.0.0.1:1/v1\"\n    model_map:\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(y + len, cap - len, "      m%05zu: x\n", i);
    fixture_t f;
    int rc = setup(&f, y);
    free(y);
    if (rc != 0)
        return;
    char name[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "m%05zu", i);
        count(&f, 0, name, 200);
    }
    llg_pool_model_stats_t st;
    size_t own = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "m%05zu", i);
        own += llg_pool_model_stats(f.pool, f.view, "a", name, &st) == 0;
    }
    CHECK_EQ_INT(own, LLG_MODEL_SERIES);
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "other", &st), 0);
    CHECK_EQ_INT(st.requests[0], n - LLG_MODEL_SERIES);
    teardown(&f);
}

/* A reload keeps the counts of series it keeps and drops the others, also
 * when the pool's region is replaced (more providers than its capacity). */
TEST(sync_keeps_and_drops)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    count(&f, 0, "gpt-4o", 200);
    count(&f, 0, "gpt-4o", 500);
    count(&f, 0, "gpt-x", 200);
    count(&f, 1, "smart", 200);
    count(&f, 0, "nope", 404);
    /* gpt-x is gone, provider b is gone, a has a new name; 70 providers grow the region */
    char *y = malloc(8192);
    if (y == NULL) {
        CHECK(0);
        teardown(&f);
        return;
    }
    size_t len = (size_t)snprintf(y, 8192,
                                  "providers:\n"
                                  "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\", keys: [sk-a-0],\n"
                                  "     models: [gpt-4o, fresh]}\n");
    for (int i = 0; i < 70; i++)
        len += (size_t)snprintf(y + len, 8192 - len, "  - {name: e%02d, type: echo}\n", i);
    size_t before = llg_pool_region_size(f.pool);
    CHECK_EQ_INT(resync(&f, y), 0);
    free(y);
    CHECK(llg_pool_region_size(f.pool) > before);
    llg_pool_model_stats_t st;
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "gpt-4o", &st), 0);
    CHECK_EQ_INT(st.requests[0], 1);
    CHECK_EQ_INT(st.requests[3], 1);
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "other", &st), 0);
    CHECK_EQ_INT(st.requests[2], 1);
    CHECK(llg_pool_model_stats(f.pool, f.view, "a", "gpt-x", &st) != 0);
    count(&f, 0, "fresh", 200);
    count(&f, 0, "gpt-x", 200); /* now unknown: other */
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "other", &st), 0);
    CHECK_EQ_INT(st.requests[0], 1);
    char *m = metrics_text(&f);
    if (m != NULL) {
        CHECK(strstr(m, "gpt-x") == NULL);
        CHECK(strstr(m, "smart") == NULL);
        CHECK(strstr(m, "model=\"fresh\",provider=\"a\"") != NULL);
        CHECK_EQ_INT(value_of(m, "llmgate_model_series{kind=\"live\"} "), 2); /* gpt-4o, fresh */
        free(m);
    }

    /* back to the first config: the dropped series start again from 0 */
    CHECK_EQ_INT(resync(&f, base_yaml), 0);
    CHECK(llg_pool_model_stats(f.pool, f.view, "a", "gpt-x", &st) != 0);
    count(&f, 0, "gpt-x", 200);
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "gpt-x", &st), 0);
    CHECK_EQ_INT(st.requests[0], 1);
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "a", "gpt-4o", &st), 0);
    CHECK_EQ_INT(st.requests[0] + st.requests[3], 2);
    teardown(&f);
}

/* Four processes count the same fresh series at once: one slot each, no
 * increment lost. */
TEST(forked_processes)
{
    fixture_t f;
    if (setup(&f, base_yaml) != 0)
        return;
    enum { PROCS = 4, N = 20000 };
    int go[2];
    CHECK_EQ_INT(pipe(go), 0);
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) /* EOF: everyone starts together */
                _exit(2);
            const char *models[] = {"gpt-4o", "smart", "unknown", "gpt-x"};
            for (int n = 0; n < N; n++) {
                llg_pool_model_obs_t o = {.provider = n & 1, .model = models[n % 4], .status = 200};
                o.has_tokens[LLG_MODEL_PROMPT] = true;
                o.tokens[LLG_MODEL_PROMPT] = 2;
                o.has_overhead = true;
                o.overhead_us = 100;
                llg_pool_count_model(f.pool, f.view, &o);
            }
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < PROCS; i++) {
        int st;
        CHECK(waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* n % 4 and n & 1: gpt-4o and unknown on a, smart and gpt-x on b */
    const char *prov[] = {"a", "b", "a", "b"}, *model[] = {"gpt-4o", "smart", "other", "other"};
    for (int k = 0; k < 3; k++) {
        llg_pool_model_stats_t st;
        CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, prov[k], model[k], &st), 0);
        CHECK_EQ_INT(st.requests[0], PROCS * N / 4);
        CHECK_EQ_INT(st.tokens[LLG_MODEL_PROMPT], 2 * PROCS * N / 4);
        CHECK_EQ_INT(st.overhead_count, PROCS * N / 4);
    }
    llg_pool_model_stats_t st;
    CHECK_EQ_INT(llg_pool_model_stats(f.pool, f.view, "b", "gpt-x", &st), 0);
    CHECK_EQ_INT(st.requests[0], PROCS * N / 4);
    char *m = metrics_text(&f);
    if (m != NULL) {
        CHECK_EQ_INT(occurrences(m, "llmgate_model_requests_total{"), 4); /* one line per series: no double claim */
        CHECK_EQ_INT(value_of(m, "llmgate_model_series{kind=\"live\"} "), 3);
        free(m);
    }
    teardown(&f);
}

int main(void)
{
    RUN(labels_bounded);
    RUN(counts_by_class_and_kind);
    RUN(histogram_buckets);
    RUN(series_cap);
    RUN(sync_keeps_and_drops);
    RUN(forked_processes);
    TEST_MAIN_END();
}
