/*
 * tests/unit/test_conf.c: the config loader (conf/), against SPEC sections 3
 * and 4: every default, every key, every environment override, the error
 * format with exact positions, the embedded default config, durations, globs
 * and the JSON rendering of defaults.params. argv[1] is tests/conf/, the
 * directory of the fixture files.
 */
#include "conf/conf.h"
#include "../test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *fixtures = "tests/conf";

/* ---- helpers ---------------------------------------------------------------- */

static llg_conf_t *load_str(const char *yaml, char **env, llg_conf_errors_t *errs)
{
    return llg_conf_load_string("t.yaml", yaml, strlen(yaml), env, errs);
}

static char *fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    return path;
}

/* Compares the error list with the NULL-terminated expected messages, showing
 * each difference. */
static void check_errors_list(const llg_conf_errors_t *e, const char *const *expected)
{
    size_t n = 0;
    while (expected[n] != NULL)
        n++;
    CHECK_EQ_INT(e->count, n);
    for (size_t i = 0; i < n || i < e->count; i++) {
        const char *got = i < e->count ? e->items[i] : "(none)";
        const char *want = i < n ? expected[i] : "(none)";
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "    error %zu:\n      got  %s\n      want %s\n", i, got, want);
            test_current_failed_ = 1;
        }
    }
}

/* Loads `yaml` (as t.yaml) and checks that it fails with exactly `expected`. */
static void expect_errors(const char *yaml, char **env, const char *const *expected)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = load_str(yaml, env, &e);
    CHECK(c == NULL);
    llg_conf_free(c);
    check_errors_list(&e, expected);
    llg_conf_errors_free(&e);
}

#define EXPECT_ERRORS(yaml, env, ...)                                                                                              \
    do {                                                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                                                           \
        expect_errors(yaml, env, want_);                                                                                           \
    } while (0)

/* Loads `yaml` and checks that it has no error. */
static llg_conf_t *load_ok(const char *yaml, char **env)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = load_str(yaml, env, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    for (size_t i = 0; i < e.count; i++)
        fprintf(stderr, "    unexpected error: %s\n", e.items[i]);
    llg_conf_errors_free(&e);
    return c;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (unsigned)n;
}

/* Every default of SPEC section 3. */
static void check_defaults(const llg_conf_t *c)
{
    CHECK_EQ_INT(c->listen_count, 1);
    CHECK_EQ_STR(c->listen[0].address, "0.0.0.0");
    CHECK_EQ_INT(c->listen[0].port, 8080);
    CHECK(c->listen[0].tls_certificate == NULL);
    CHECK(c->listen[0].tls_key == NULL);
    CHECK_EQ_INT(c->workers, online_cpus());
    CHECK_EQ_INT(c->max_body_bytes, 4194304);
    CHECK_EQ_INT(c->timeouts.connect_ms, 10000);
    CHECK_EQ_INT(c->timeouts.request_ms, 120000);
    CHECK_EQ_INT(c->timeouts.idle_ms, 60000);
    CHECK_EQ_INT(c->timeouts.ping_ms, 15000);
    CHECK_EQ_INT(c->timeouts.drain_ms, 30000);
    CHECK_EQ_INT(c->timeouts.client_header_ms, 10000);
    CHECK_EQ_INT(c->timeouts.client_idle_ms, 10000);
    CHECK_EQ_INT(c->max_header_bytes, 65536);
    CHECK_EQ_INT(c->token_count, 0);
    CHECK(c->admin_token == NULL);
    CHECK(c->metrics_token == NULL);
    CHECK_EQ_INT(c->limits.max_connections, 10000);
    CHECK_EQ_INT(c->limits.max_connections_per_client, 1024);
    CHECK_EQ_INT(c->limits.max_buffered_body_bytes_per_client, 64 << 20);
    CHECK_EQ_INT(c->limits.max_buffered_body_bytes, 192 << 20);
    CHECK_EQ_INT(c->cors_allow_origins.count, 1);
    CHECK_EQ_STR(c->cors_allow_origins.items[0], "*");
    CHECK(c->defaults.model == NULL);
    CHECK_EQ_INT(c->defaults.param_count, 0);
    CHECK_EQ_INT(c->retry_attempts, 3);
    CHECK_EQ_INT(c->keys.cooldown_ms, 30000);
    CHECK_EQ_INT(c->keys.max_cooldown_ms, 600000);
    CHECK_EQ_INT(c->keys.probe_after_ms, 600000);
    CHECK_EQ_INT(c->provider_count, 0);
}

static const llg_conf_provider_t *provider(const llg_conf_t *c, const char *name)
{
    for (size_t i = 0; i < c->provider_count; i++)
        if (strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}

/* The routing rule of SPEC section 3: the first provider with a matching glob. */
static const char *route(const llg_conf_t *c, const char *model)
{
    for (size_t i = 0; i < c->provider_count; i++)
        for (size_t j = 0; j < c->providers[i].models.count; j++)
            if (llg_conf_glob_match(c->providers[i].models.items[j], model))
                return c->providers[i].name;
    return "(none)";
}

/* ---- defaults --------------------------------------------------------------- */

TEST(defaults_empty_string)
{
    llg_conf_t *c = load_ok("", NULL);
    if (c == NULL)
        return;
    check_defaults(c);
    CHECK_EQ_STR(c->source, "t.yaml");
    llg_conf_free(c);
}

TEST(defaults_empty_file)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_file(fixture("good-empty.yaml"), NULL, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    if (c != NULL) {
        check_defaults(c);
        CHECK_EQ_STR(c->source, fixture("good-empty.yaml"));
    }
    llg_conf_free(c);
    llg_conf_errors_free(&e);
}

TEST(defaults_comments_only)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_file(fixture("good-comments.yaml"), NULL, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    if (c != NULL)
        check_defaults(c);
    llg_conf_free(c);
    llg_conf_errors_free(&e);
}

TEST(defaults_null_document_and_null_values)
{
    static const char *const docs[] = {
        "---\n", "~\n", "null\n", "# c\n---\n# c\n",
        /* `key:` with no value is the same as leaving the key out */
        ("listen:\nworkers:\ntimeouts:\naccess_tokens:\nadmin_token:\nmetrics_token:\ncors:\n  allow_origins:\n"
         "defaults:\nretry:\nkeys:\nproviders:\ntimeout: ~\nmax_body_bytes: null\n")};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        llg_conf_t *c = load_ok(docs[i], NULL);
        if (c != NULL)
            check_defaults(c);
        llg_conf_free(c);
    }
}

TEST(errors_untouched_on_success)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = load_str("workers: 2\n", NULL, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    CHECK(e.items == NULL);
    llg_conf_free(c);
    llg_conf_free(NULL);
    llg_conf_errors_free(&e);
    llg_conf_errors_free(NULL);
}

/* ---- every key -------------------------------------------------------------- */

TEST(full_file)
{
    char *env[] = {"LLG_TEST_OR_KEYS=sk-or-3, sk-or-1", NULL};
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_file(fixture("good-full.yaml"), env, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    for (size_t i = 0; i < e.count; i++)
        fprintf(stderr, "    unexpected error: %s\n", e.items[i]);
    llg_conf_errors_free(&e);
    if (c == NULL)
        return;

    CHECK_EQ_INT(c->listen_count, 2);
    CHECK_EQ_STR(c->listen[0].address, "127.0.0.1");
    CHECK_EQ_INT(c->listen[0].port, 9001);
    CHECK(c->listen[0].tls_certificate == NULL);
    CHECK_EQ_INT(c->listen[0].mark.line, 3);
    CHECK_EQ_INT(c->listen[0].mark.column, 5);
    CHECK_EQ_STR(c->listen[1].address, "::1");
    CHECK_EQ_INT(c->listen[1].port, 9443);
    /* relative TLS paths are relative to the config file's directory */
    char want[4200];
    snprintf(want, sizeof(want), "%s/tls-cert.pem", fixtures);
    CHECK_EQ_STR(c->listen[1].tls_certificate, want);
    snprintf(want, sizeof(want), "%s/tls-key.pem", fixtures);
    CHECK_EQ_STR(c->listen[1].tls_key, want);
    CHECK_EQ_INT(c->listen[1].mark.line, 5);

    CHECK_EQ_INT(c->workers, 3);
    CHECK_EQ_INT(c->max_body_bytes, 1048576);
    CHECK_EQ_INT(c->timeouts.connect_ms, 5000);
    CHECK_EQ_INT(c->timeouts.request_ms, 120000);
    CHECK_EQ_INT(c->timeouts.idle_ms, 45000);
    CHECK_EQ_INT(c->timeouts.ping_ms, 0);
    CHECK_EQ_INT(c->timeouts.drain_ms, 1500);
    CHECK_EQ_INT(c->timeouts.client_header_ms, 5000);
    CHECK_EQ_INT(c->timeouts.client_idle_ms, 30000);
    CHECK_EQ_INT(c->max_header_bytes, 32768);

    CHECK_EQ_INT(c->token_count, 2);
    CHECK_EQ_STR(c->tokens[0].token, "sk-gate-plain");
    CHECK(c->tokens[0].name == NULL);
    CHECK_EQ_INT(c->tokens[0].rpm, 0);
    CHECK_EQ_INT(c->tokens[0].models.count, 0);
    CHECK(!c->tokens[0].from_env);
    CHECK_EQ_STR(c->tokens[1].token, "sk-gate-team-a");
    CHECK_EQ_STR(c->tokens[1].name, "team-a");
    CHECK_EQ_INT(c->tokens[1].rpm, 600);
    CHECK_EQ_INT(c->tokens[1].models.count, 2);
    CHECK_EQ_STR(c->tokens[1].models.items[0], "gpt-4o*");
    CHECK_EQ_STR(c->tokens[1].models.items[1], "echo");
    CHECK(!c->tokens[1].from_env);

    CHECK_EQ_STR(c->admin_token, "sk-admin");
    CHECK_EQ_INT(c->cors_allow_origins.count, 2);
    CHECK_EQ_STR(c->cors_allow_origins.items[0], "https://app.example.org");
    CHECK_EQ_STR(c->cors_allow_origins.items[1], "http://localhost:3000");

    CHECK_EQ_STR(c->defaults.model, "echo");
    CHECK_EQ_INT(c->defaults.param_count, 7);
    if (c->defaults.param_count == 7) {
        static const char *const keys[] = {"temperature", "max_tokens", "stop", "user", "logprobs", "seed", "metadata"};
        static const char *const json[] = {"0.7",   "1000", "[\"\\n\\n\",\"END\"]",        "\"42\"",
                                           "false", "null", "{\"team\":\"a\",\"level\":2}"};
        for (size_t i = 0; i < 7; i++) {
            CHECK_EQ_STR(c->defaults.params[i].key, keys[i]);
            CHECK_EQ_STR(c->defaults.params[i].json, json[i]);
        }
    }

    CHECK_EQ_INT(c->retry_attempts, 5);
    CHECK_EQ_INT(c->keys.cooldown_ms, 10000);
    CHECK_EQ_INT(c->keys.max_cooldown_ms, 300000);
    CHECK_EQ_INT(c->keys.probe_after_ms, 3600000);

    CHECK_EQ_INT(c->provider_count, 5);
    if (c->provider_count != 5) {
        llg_conf_free(c);
        return;
    }
    const llg_conf_provider_t *p = &c->providers[0];
    CHECK_EQ_STR(p->name, "openrouter");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_OPENAI);
    CHECK_EQ_STR(p->base_url, "https://openrouter.ai/api/v1"); /* trailing slash dropped */
    CHECK_EQ_INT(p->keys.count, 3);                            /* sk-or-1 from the env is a repeat */
    CHECK_EQ_STR(p->keys.items[0], "sk-or-1");
    CHECK_EQ_STR(p->keys.items[1], "sk-or-2");
    CHECK_EQ_STR(p->keys.items[2], "sk-or-3");
    CHECK_EQ_STR(p->keys_env, "LLG_TEST_OR_KEYS");
    CHECK_EQ_INT(p->auth, LLG_AUTH_POOL);
    CHECK_EQ_INT(p->models.count, 1);
    CHECK_EQ_STR(p->models.items[0], "*/*");
    CHECK_EQ_INT(p->model_map.count, 1);
    CHECK_EQ_STR(p->model_map.items[0].key, "gpt-4o");
    CHECK_EQ_STR(p->model_map.items[0].value, "openai/gpt-4o");
    CHECK(p->list_models_set);
    CHECK_EQ_INT(p->list_models.count, 2);
    CHECK_EQ_STR(p->list_models.items[1], "c/d");
    CHECK_EQ_INT(p->headers.count, 2);
    CHECK_EQ_STR(p->headers.items[0].key, "HTTP-Referer");
    CHECK_EQ_STR(p->headers.items[0].value, "https://example.org");
    CHECK_EQ_STR(p->headers.items[1].key, "X-Title");
    CHECK_EQ_STR(p->headers.items[1].value, "llmgate");
    CHECK_EQ_STR(p->client_key_header, "x-openai-key"); /* stored lowercase */
    CHECK_EQ_INT(p->message_mode, LLG_MESSAGES_STANDARD);
    CHECK_EQ_INT(p->fallback.count, 2);
    CHECK_EQ_STR(p->fallback.items[0], "deepinfra");
    CHECK_EQ_STR(p->fallback.items[1], "echo");
    CHECK_EQ_INT(p->delay_ms, 0);
    CHECK_EQ_INT(p->mark.line, 45);
    CHECK_EQ_INT(p->mark.column, 5);

    p = &c->providers[1];
    CHECK_EQ_STR(p->name, "deepinfra");
    CHECK_EQ_INT(p->keys.count, 1);
    CHECK(p->keys_env == NULL);
    CHECK_EQ_INT(p->message_mode, LLG_MESSAGES_FULL);
    CHECK(!p->list_models_set);
    CHECK_EQ_INT(p->models.count, 1);
    CHECK_EQ_STR(p->models.items[0], "*"); /* default */
    CHECK_EQ_INT(p->fallback.count, 0);
    CHECK(p->client_key_header == NULL);

    p = &c->providers[2];
    CHECK_EQ_STR(p->name, "poe");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_POE);
    CHECK_EQ_INT(p->auth, LLG_AUTH_NONE);
    CHECK(p->list_models_set); /* given, even empty */
    CHECK_EQ_INT(p->list_models.count, 0);
    CHECK_EQ_INT(p->message_mode, LLG_MESSAGES_RAW);

    p = &c->providers[3];
    CHECK_EQ_STR(p->name, "puter");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_PUTER);
    CHECK_EQ_INT(p->auth, LLG_AUTH_PASSTHROUGH);
    CHECK_EQ_STR(p->base_url, "https://api.puter.com"); /* default for puter */

    p = &c->providers[4];
    CHECK_EQ_STR(p->name, "echo");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_ECHO);
    CHECK(p->base_url == NULL);
    CHECK_EQ_INT(p->delay_ms, 50);
    CHECK_EQ_INT(p->models.count, 2);
    CHECK_EQ_STR(p->models.items[1], "echo-*");
    llg_conf_free(c);
}

TEST(tls_absolute_paths_and_cwd)
{
    /* load_string has no file: relative paths are relative to the cwd */
    char yaml[9000];
    snprintf(yaml, sizeof(yaml), "listen:\n  - port: 8443\n    tls:\n      certificate: %s\n      key: %s\n",
             fixture("tls-cert.pem"), "/nonexistent/key.pem");
    EXPECT_ERRORS(yaml, NULL, "t.yaml:5:12: listen[0].tls.key: cannot read \"/nonexistent/key.pem\": No such file or directory");
    EXPECT_ERRORS("listen:\n  - tls: {certificate: no-such-cert.pem, key: no-such-key.pem}\n", NULL,
                  "t.yaml:2:24: listen[0].tls.certificate: cannot read \"no-such-cert.pem\": No such file or directory",
                  "t.yaml:2:47: listen[0].tls.key: cannot read \"no-such-key.pem\": No such file or directory");
}

TEST(provider_name_and_glob_chars)
{
    llg_conf_t *c = load_ok("providers:\n"
                            "  - {name: a-b_c9, type: echo}\n"
                            "  - {name: x, type: openai, base_url: 'http://127.0.0.1:11434/v1', models: ['[a-c]?', '\\*']}\n",
                            NULL);
    if (c == NULL)
        return;
    CHECK_EQ_STR(c->providers[0].name, "a-b_c9");
    CHECK_EQ_STR(c->providers[1].base_url, "http://127.0.0.1:11434/v1");
    CHECK_EQ_STR(c->providers[1].models.items[0], "[a-c]?");
    CHECK_EQ_STR(llg_provider_type_name(c->providers[0].type), "echo");
    CHECK_EQ_STR(llg_provider_type_name(c->providers[1].type), "openai");
    CHECK_EQ_STR(llg_provider_type_name(LLG_PROVIDER_POE), "poe");
    CHECK_EQ_STR(llg_provider_type_name(LLG_PROVIDER_PUTER), "puter");
    llg_conf_free(c);
}

TEST(provider_type_anthropic)
{
    llg_conf_t *c = load_ok("providers:\n"
                            "  - {name: a, type: anthropic, keys: [k1]}\n"
                            "  - {name: b, type: anthropic, base_url: 'http://127.0.0.1:9/v1/'}\n",
                            NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->providers[0].type, LLG_PROVIDER_ANTHROPIC);
    CHECK_EQ_STR(c->providers[0].base_url, "https://api.anthropic.com"); /* the default */
    CHECK_EQ_STR(c->providers[1].base_url, "http://127.0.0.1:9/v1");
    CHECK_EQ_STR(llg_provider_type_name(LLG_PROVIDER_ANTHROPIC), "anthropic");
    llg_conf_free(c);
}

TEST(workers_auto_and_number)
{
    llg_conf_t *c = load_ok("workers: auto\n", NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->workers, online_cpus());
    llg_conf_free(c);
    c = load_ok("workers: 1024\n", NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->workers, 1024);
    llg_conf_free(c);
    c = load_ok("workers: \"2\"\n", NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->workers, 2);
    llg_conf_free(c);
}

TEST(listen_ipv6_and_second_default_port)
{
    llg_conf_t *c = load_ok("listen:\n  - address: '::'\n    port: 80\n  - address: 127.0.0.1\n", NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->listen_count, 2);
    CHECK_EQ_STR(c->listen[0].address, "::");
    CHECK_EQ_INT(c->listen[0].port, 80);
    CHECK_EQ_STR(c->listen[1].address, "127.0.0.1");
    CHECK_EQ_INT(c->listen[1].port, 8080);
    CHECK_EQ_INT(c->listen[1].mark.line, 4);
    CHECK_EQ_INT(c->listen[1].mark.column, 5);
    llg_conf_free(c);
}

TEST(cors_empty_list)
{
    llg_conf_t *c = load_ok("cors: {allow_origins: []}\n", NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->cors_allow_origins.count, 0);
    llg_conf_free(c);
}

TEST(yaml_anchors_and_aliases)
{
    llg_conf_t *c =
        load_ok("providers:\n"
                "  - {name: a, type: openai, base_url: 'https://x', headers: &h {X-Title: llmgate}, keys: &k [k1, k2]}\n"
                "  - {name: b, type: openai, base_url: 'https://y', headers: *h, keys: *k}\n",
                NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->providers[1].headers.count, 1);
    CHECK_EQ_STR(c->providers[1].headers.items[0].value, "llmgate");
    CHECK_EQ_INT(c->providers[1].keys.count, 2);
    CHECK_EQ_STR(c->providers[1].keys.items[1], "k2");
    llg_conf_free(c);
}

/* ---- the timeout alias ------------------------------------------------------- */

TEST(timeout_alias)
{
    llg_conf_t *c = load_ok("timeout: 45\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.request_ms, 45000);
        CHECK_EQ_INT(c->timeouts.connect_ms, 10000);
    }
    llg_conf_free(c);
    c = load_ok("timeout: 2m\ntimeouts: {connect: 3}\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.request_ms, 120000);
        CHECK_EQ_INT(c->timeouts.connect_ms, 3000);
    }
    llg_conf_free(c);
    c = load_ok("timeout: \"250ms\"\n", NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->timeouts.request_ms, 250);
    llg_conf_free(c);
    /* both spellings at once: the second one in the file is the error */
    EXPECT_ERRORS(
        "timeout: 5\ntimeouts:\n  request: 6\n", NULL,
        "t.yaml:3:12: timeouts.request: \"timeout\" is an alias of \"timeouts.request\", and both are set (first at line 1)");
    EXPECT_ERRORS("timeouts:\n  request: 6\ntimeout: 5\n", NULL,
                  "t.yaml:3:1: timeout: \"timeout\" is an alias of \"timeouts.request\", and both are set (first at line 2)");
}

/* ---- durations -------------------------------------------------------------- */

TEST(duration_table)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1000},
        {"120", 0, 120000},
        {"250ms", 0, 250},
        {"0ms", 0, 0},
        {"30s", 0, 30000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"007s", 0, 7000},
        {"18446744073709551615ms", 0, UINT64_MAX},
        {"18446744073709551616ms", -1, 0}, /* overflow of the number */
        {"18446744073709551615s", -1, 0},  /* overflow of the product */
        {"5124095576030432h", -1, 0},
        {"", -1, 0},
        {"-1", -1, 0},
        {"-5s", -1, 0},
        {"+5", -1, 0},
        {"1.5", -1, 0},
        {"1.5s", -1, 0},
        {".5s", -1, 0},
        {"s", -1, 0},
        {"ms", -1, 0},
        {"5 s", -1, 0},
        {" 5", -1, 0},
        {"5x", -1, 0},
        {"5d", -1, 0},
        {"5sec", -1, 0},
        {"5S", -1, 0},
        {"5ms5", -1, 0},
        {"1e3", -1, 0},
        {"0x10", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 12345;
        int rc = llg_conf_parse_duration(cases[i].in, &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms)) {
            fprintf(stderr, "    duration \"%s\": rc %d ms %llu, want rc %d ms %llu\n", cases[i].in, rc, (unsigned long long)ms,
                    cases[i].rc, (unsigned long long)cases[i].ms);
            test_current_failed_ = 1;
        }
        if (rc != 0)
            CHECK_EQ_INT(ms, 12345); /* untouched on failure */
    }
    uint64_t ms;
    CHECK_EQ_INT(llg_conf_parse_duration(NULL, &ms), -1);
}

TEST(duration_in_yaml)
{
    llg_conf_t *c = load_ok("timeouts: {connect: 5, request: '90s', idle: \"1m\", ping: 0, drain: 1500ms}\n"
                            "keys: {cooldown: 1, max_cooldown: 2h, probe_after: 0}\n",
                            NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->timeouts.connect_ms, 5000);
    CHECK_EQ_INT(c->timeouts.request_ms, 90000);
    CHECK_EQ_INT(c->timeouts.idle_ms, 60000);
    CHECK_EQ_INT(c->timeouts.ping_ms, 0);
    CHECK_EQ_INT(c->timeouts.drain_ms, 1500);
    CHECK_EQ_INT(c->keys.cooldown_ms, 1000);
    CHECK_EQ_INT(c->keys.max_cooldown_ms, 7200000);
    CHECK_EQ_INT(c->keys.probe_after_ms, 0);
    llg_conf_free(c);
}

TEST(duration_errors)
{
    EXPECT_ERRORS("timeouts:\n  connect: -1\n  request: 1.5s\n  idle: 99999999999999999999h\n  ping: [1]\n  drain: ''\n", NULL,
                  "t.yaml:2:12: timeouts.connect: must not be negative, got \"-1\"",
                  "t.yaml:3:12: timeouts.request: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), "
                  "got \"1.5s\"",
                  "t.yaml:4:9: timeouts.idle: duration too large, got \"99999999999999999999h\"",
                  "t.yaml:5:9: timeouts.ping: expected a duration, got a list",
                  "t.yaml:6:10: timeouts.drain: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), "
                  "got \"\"");
    EXPECT_ERRORS("keys:\n  cooldown: 60\n  max_cooldown: 30s\n", NULL,
                  "t.yaml:3:17: keys.max_cooldown (30000 ms) must not be shorter than keys.cooldown (60000 ms)");
    EXPECT_ERRORS("keys:\n  cooldown: 20m\n", NULL,
                  "t.yaml:2:13: keys.max_cooldown (600000 ms) must not be shorter than keys.cooldown (1200000 ms)");
}

/* ---- client timeouts and the header limit (docs/security.md) ------------------ */

TEST(client_timeouts_and_header_limit)
{
    llg_conf_t *c = load_ok("timeouts:\n  client_header: 2s\n  client_idle: 250ms\nmax_header_bytes: 4096\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.client_header_ms, 2000);
        CHECK_EQ_INT(c->timeouts.client_idle_ms, 250);
        CHECK_EQ_INT(c->max_header_bytes, 4096);
        CHECK_EQ_INT(c->timeouts.request_ms, 120000); /* the upstream ones keep their defaults */
    }
    llg_conf_free(c);
    /* one set, the other keeps its default; the bounds themselves are accepted */
    c = load_ok("timeouts: {client_idle: 24h}\nmax_header_bytes: 409600\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.client_header_ms, 10000);
        CHECK_EQ_INT(c->timeouts.client_idle_ms, 24ull * 3600 * 1000);
        CHECK_EQ_INT(c->max_header_bytes, LLG_CONF_MAX_HEADER_BYTES);
    }
    llg_conf_free(c);
    c = load_ok("timeouts: {client_header: 1ms}\nmax_header_bytes: 1024\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.client_header_ms, 1);
        CHECK_EQ_INT(c->timeouts.client_idle_ms, 10000);
        CHECK_EQ_INT(c->max_header_bytes, LLG_CONF_MIN_HEADER_BYTES);
    }
    llg_conf_free(c);
    /* null values count as absent */
    c = load_ok("timeouts: {client_header: ~, client_idle: null}\nmax_header_bytes:\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->timeouts.client_header_ms, 10000);
        CHECK_EQ_INT(c->timeouts.client_idle_ms, 10000);
        CHECK_EQ_INT(c->max_header_bytes, 65536);
    }
    llg_conf_free(c);
}

/* limits: explicit values, the budgets derived from max_body_bytes, 0 for
 * no per-client connection limit */
TEST(limits)
{
    llg_conf_t *c = load_ok("limits:\n  max_connections: 50\n  max_connections_per_client: 0\n"
                            "  max_buffered_body_bytes: 9000000\n  max_buffered_body_bytes_per_client: 5000000\n",
                            NULL);
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->limits.max_connections, 50);
        CHECK_EQ_INT(c->limits.max_connections_per_client, 0);
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes, 9000000);
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes_per_client, 5000000);
    }
    llg_conf_free(c);
    /* 16 bodies of the largest size per client, three clients per worker */
    c = load_ok("max_body_bytes: 8388608\n", NULL);
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes_per_client, 128 << 20);
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes, 384 << 20);
    }
    llg_conf_free(c);
    /* only the worker's budget given: the client's is capped by it */
    c = load_ok("max_body_bytes: 1000\nlimits: {max_buffered_body_bytes: 20000}\n", NULL);
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes_per_client, 20000);
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes, 20000);
    }
    llg_conf_free(c);
    /* only the client's: the worker's is three times it */
    c = load_ok("max_body_bytes: 1000\nlimits: {max_buffered_body_bytes_per_client: 7000}\n", NULL);
    CHECK(c != NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->limits.max_buffered_body_bytes, 21000);
    llg_conf_free(c);
}

TEST(limits_errors)
{
    EXPECT_ERRORS("limits: 5\n", NULL, "t.yaml:1:9: limits: expected a mapping, got a single value");
    EXPECT_ERRORS("limits: {max_conns: 5}\n", NULL, "t.yaml:1:10: unknown key \"max_conns\" in limits");
    EXPECT_ERRORS("limits:\n  max_connections: 0\n", NULL,
                  "t.yaml:2:20: limits.max_connections: must be between 1 and 1000000, got 0");
    EXPECT_ERRORS("limits:\n  max_connections: 10\n  max_connections_per_client: 11\n", NULL,
                  "t.yaml:3:31: limits.max_connections_per_client (11) is larger than limits.max_connections (10)");
    EXPECT_ERRORS("max_body_bytes: 1000\nlimits:\n  max_buffered_body_bytes_per_client: 999\n", NULL,
                  "t.yaml:3:39: limits.max_buffered_body_bytes_per_client (999) is smaller than max_body_bytes (1000): a body "
                  "of the largest size could never be admitted");
    EXPECT_ERRORS("max_body_bytes: 1000\nlimits:\n  max_buffered_body_bytes: 999\n", NULL,
                  "t.yaml:3:28: limits.max_buffered_body_bytes_per_client (999) is smaller than max_body_bytes (1000): a body "
                  "of the largest size could never be admitted");
    EXPECT_ERRORS("limits:\n  max_buffered_body_bytes: 100000000\n  max_buffered_body_bytes_per_client: 100000001\n", NULL,
                  "t.yaml:3:39: limits.max_buffered_body_bytes_per_client (100000001) is larger than "
                  "limits.max_buffered_body_bytes (100000000)");
}

TEST(client_timeouts_and_header_limit_errors)
{
    /* 0 is "off" for the upstream timeouts but refused here */
    EXPECT_ERRORS("timeouts:\n  client_header: 0\n  client_idle: 0ms\n", NULL,
                  "t.yaml:2:18: timeouts.client_header: must be greater than 0, got \"0\"",
                  "t.yaml:3:16: timeouts.client_idle: must be greater than 0, got \"0ms\"");
    EXPECT_ERRORS("timeouts:\n  client_header: 25h\n  client_idle: 86400001ms\n", NULL,
                  "t.yaml:2:18: timeouts.client_header: must be at most 24h, got \"25h\"",
                  "t.yaml:3:16: timeouts.client_idle: must be at most 24h, got \"86400001ms\"");
    EXPECT_ERRORS("timeouts:\n  client_header: -1\n  client_idle: 1.5s\n  client_heder: 3\n", NULL,
                  "t.yaml:2:18: timeouts.client_header: must not be negative, got \"-1\"",
                  "t.yaml:3:16: timeouts.client_idle: expected a duration (whole seconds, or a whole number with unit ms, s, m or "
                  "h), got \"1.5s\"",
                  "t.yaml:4:3: unknown key \"client_heder\" in timeouts; did you mean \"client_header\"?");
    EXPECT_ERRORS("max_header_bytes: 1023\n", NULL, "t.yaml:1:19: max_header_bytes: must be between 1024 and 409600, got 1023");
    EXPECT_ERRORS("max_header_bytes: 409601\n", NULL, "t.yaml:1:19: max_header_bytes: must be between 1024 and 409600, got 409601");
    EXPECT_ERRORS("max_header_bytes: 64k\nmax_header_byte: 1\n", NULL,
                  "t.yaml:1:19: max_header_bytes: expected an integer, got \"64k\"",
                  "t.yaml:2:1: unknown key \"max_header_byte\" at the top level; did you mean \"max_header_bytes\"?");
}

/* ---- globs ------------------------------------------------------------------- */

TEST(glob_table)
{
    static const struct {
        const char *pattern, *s;
        bool match;
    } cases[] = {
        {"*", "", true},
        {"*", "anything/at/all", true},
        {"", "", true},
        {"", "a", false},
        {"echo", "echo", true},
        {"echo", "Echo", false}, /* case-sensitive */
        {"echo", "echo2", false},
        {"echo-*", "echo-", true},
        {"echo-*", "echo-slow", true},
        {"echo-*", "echo", false},
        {"*/*", "meta-llama/Llama-3", true},
        {"*/*", "gpt-4o", false},
        {"gpt-4o*", "gpt-4o-mini", true},
        {"gpt-4o*", "gpt-4", false},
        {"o1*", "o1", true},
        {"o1*", "o3-mini", false},
        {"?", "a", true},
        {"?", "", false},
        {"?", "ab", false},
        {"a?c", "abc", true},
        {"a?c", "ac", false},
        {"[abc]", "b", true},
        {"[abc]", "d", false},
        {"[a-c]x", "cx", true},
        {"[a-c]x", "dx", false},
        {"[!a-c]x", "dx", true},
        {"[!a-c]x", "ax", false},
        {"[^a-c]x", "dx", true},
        {"[^a-c]x", "bx", false},
        {"[]]", "]", true},
        {"[!]]", "]", false},
        {"[!]]", "a", true},
        {"[a-]", "-", true},
        {"[A-Z]*/*", "Qwen/Qwen3", true},
        {"[A-Z]*/*", "qwen/qwen3", false},
        {"*/[A-Z]*", "meta-llama/Llama-3", true},
        {"*/[A-Z]*", "meta-llama/llama-3", false},
        {"[", "[", true}, /* unclosed class: literal */
        {"[ab", "[ab", true},
        {"[ab", "a", false},
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"\\?x", "?x", true},
        {"\\[a]", "[a]", true},
        {"a\\", "a\\", true}, /* trailing backslash: literal */
        {"[\\]]", "]", true},
        {"*a", "bba", true},
        {"*a", "bab", false},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXcYb", false},
        {"*ab*ab", "xabyabab", true},
        {"**", "x", true},
        {"openrouter:*", "openrouter:anthropic/claude-3.5-sonnet", true},
        {"openrouter:*", "openrouter", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (llg_conf_glob_match(cases[i].pattern, cases[i].s) != cases[i].match) {
            fprintf(stderr, "    glob \"%s\" vs \"%s\": want %s\n", cases[i].pattern, cases[i].s,
                    cases[i].match ? "match" : "no match");
            test_current_failed_ = 1;
        }
    }
}

TEST(glob_pathological_is_fast)
{
    /* A backtracking matcher takes exponential time here. */
    char s[20001];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    char pat[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(pat, "*a");
    strcat(pat, "*b");
    clock_t t0 = clock();
    CHECK(!llg_conf_glob_match(pat, s));
    CHECK(!llg_conf_glob_match("*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*b", s));
    s[sizeof(s) - 2] = 'b';
    CHECK(llg_conf_glob_match(pat, s));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 2.0);
}

/* ---- error format, positions, and all errors in one run ---------------------- */

TEST(errors_bad_many_fixture)
{
    const char *f = fixture("bad-many.yaml");
    static const char *const msgs[] = {
        "2:1: unknown key \"listne\" at the top level; did you mean \"listen\"?",
        "5:14: listen[0].address: \"127.0.0.300\" is not an IPv4 or IPv6 address (write IPv6 without brackets)",
        "6:11: listen[0].port: must be between 1 and 65535, got 70000",
        "7:5: unknown key \"prot\" in listen[0]; did you mean \"port\"?",
        "8:10: workers: must be between 1 and 1024, got 0",
        "9:17: max_body_bytes: expected an integer, got \"big\"",
        "10:10: timeout: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), got \"1.5s\"",
        "12:12: timeouts.connect: must not be negative, got \"-1\"",
        "13:9: timeouts.idle: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), got \"30x\"",
        "15:5: access_tokens[0]: must not be empty",
        "16:12: access_tokens[1].token: must not contain spaces or control characters",
        "17:10: access_tokens[1].rpm: must be between 0 and 4294967295, got -1",
        "18:5: access_tokens[2]: missing required key \"token\"",
        "19:14: admin_token: expected a string, got a list",
        "21:18: cors.allow_origins: expected a list, got a single value",
        "23:13: retry.attempts: must be between 1 and 100, got 0",
        "25:11: providers[0].name: \"Open_AI\" is not a valid provider name (use a-z, 0-9, _ and -)",
        "27:15: providers[0].base_url: must start with http:// or https://",
        "29:11: providers[1].type: expected openai, poe, puter, echo or anthropic, got \"eco\"; did you mean \"echo\"?",
        "30:12: providers[1].delay: expected a duration (whole seconds, or a whole number with unit ms, s, m or h), got \"soon\"",
        "31:11: providers[2].name: duplicate provider name \"echo\" (first at line 28)",
        "33:22: providers[2].fallback[1]: unknown provider \"opneai\"",
        "34:5: providers[3]: missing required key \"name\"",
        "34:5: providers[3]: missing required key \"base_url\" (required for type poe)",
        "35:19: providers[3].message_mode: expected raw, standard or full, got \"fast\"",
        "36:5: providers[3].delay: only echo providers take a delay",
    };
    size_t n = sizeof(msgs) / sizeof(msgs[0]);
    char *want[sizeof(msgs) / sizeof(msgs[0]) + 1];
    for (size_t i = 0; i < n; i++) {
        want[i] = malloc(strlen(f) + strlen(msgs[i]) + 2);
        sprintf(want[i], "%s:%s", f, msgs[i]);
    }
    want[n] = NULL;
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_file(f, NULL, &e);
    CHECK(c == NULL);
    check_errors_list(&e, (const char *const *)want);
    llg_conf_errors_free(&e);
    for (size_t i = 0; i < n; i++)
        free(want[i]);
}

TEST(errors_syntax_fixture)
{
    llg_conf_errors_t e = {0};
    const char *f = fixture("bad-syntax.yaml");
    llg_conf_t *c = llg_conf_load_file(f, NULL, &e);
    CHECK(c == NULL);
    char want[4300];
    snprintf(want, sizeof(want),
             "%s:4:8: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 3, column 11)", f);
    const char *const w[] = {want, NULL};
    check_errors_list(&e, w);
    llg_conf_errors_free(&e);
}

TEST(errors_tls_fixture)
{
    llg_conf_errors_t e = {0};
    const char *f = fixture("bad-tls.yaml");
    llg_conf_t *c = llg_conf_load_file(f, NULL, &e);
    CHECK(c == NULL);
    char w0[4300], w1[4300], w2[4300], w3[4300];
    snprintf(w0, sizeof(w0), "%s:3:10: listen[0].tls: missing required key \"key\"", f);
    snprintf(w1, sizeof(w1), "%s:6:20: listen[1].tls.certificate: cannot read \"%s/missing-cert.pem\": No such file or directory",
             f, fixtures);
    snprintf(w2, sizeof(w2), "%s:9:56: unknown key \"ca\" in listen[2].tls", f);
    snprintf(w3, sizeof(w3), "%s:11:10: listen[3].tls: expected a mapping, got a single value", f);
    const char *const w[] = {w0, w1, w2, w3, NULL};
    check_errors_list(&e, w);
    llg_conf_errors_free(&e);
}

TEST(errors_toplevel_fixture)
{
    llg_conf_errors_t e = {0};
    const char *f = fixture("bad-toplevel.yaml");
    llg_conf_t *c = llg_conf_load_file(f, NULL, &e);
    CHECK(c == NULL);
    char want[4300];
    snprintf(want, sizeof(want), "%s:2:1: the configuration must be a mapping of keys (listen, providers, ...), got a list", f);
    const char *const w[] = {want, NULL};
    check_errors_list(&e, w);
    llg_conf_errors_free(&e);
    EXPECT_ERRORS("just a string\n", NULL,
                  "t.yaml:1:1: the configuration must be a mapping of keys (listen, providers, ...), got \"just a string\"");
}

TEST(errors_missing_file)
{
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_file("/nonexistent/llmgate.yaml", NULL, &e);
    CHECK(c == NULL);
    const char *const w[] = {"/nonexistent/llmgate.yaml: cannot read: No such file or directory", NULL};
    check_errors_list(&e, w);
    llg_conf_errors_free(&e);
    c = llg_conf_load_file(fixtures, NULL, &e);
    CHECK(c == NULL);
    CHECK_EQ_INT(e.count, 1);
    if (e.count == 1)
        CHECK(strstr(e.items[0], ": not a regular file") != NULL);
    llg_conf_errors_free(&e);
}

TEST(errors_append_to_list)
{
    llg_conf_errors_t e = {0};
    CHECK(load_str("workers: x\n", NULL, &e) == NULL);
    CHECK(load_str("retry: 1\n", NULL, &e) == NULL);
    const char *const w[] = {"t.yaml:1:10: workers: expected an integer or auto, got \"x\"",
                             "t.yaml:1:8: retry: expected a mapping, got a single value", NULL};
    check_errors_list(&e, w);
    llg_conf_errors_free(&e);
}

TEST(errors_yaml_syntax_kinds)
{
    EXPECT_ERRORS("a: b\n  c: d\n", NULL, "t.yaml:2:4: invalid YAML: mapping values are not allowed in this context");
    EXPECT_ERRORS("workers: *nope\n", NULL, "t.yaml:1:10: invalid YAML: found undefined alias");
    EXPECT_ERRORS("workers: 2\nx:\n\t- 1\n", NULL,
                  "t.yaml:3:1: invalid YAML: found character that cannot start any token (while scanning for the next token at "
                  "line 3, column 1)");
    /* reader errors carry an offset, converted to a position */
    EXPECT_ERRORS("workers: 2\nx: \x01\n", NULL, "t.yaml:2:4: invalid YAML: control characters are not allowed (byte 0x01)");
    EXPECT_ERRORS("workers: 2\nadmin_token: \xff\n", NULL, "t.yaml:2:14: invalid YAML: invalid leading UTF-8 octet (byte 0xff)");
    EXPECT_ERRORS("workers: 2\n---\nworkers: 3\n", NULL,
                  "t.yaml:2:1: the file holds more than one YAML document (---); a config is one document");
}

TEST(errors_unknown_keys_everywhere)
{
    EXPECT_ERRORS("listne: []\nworkerz: 1\nzzz: 1\n", NULL,
                  "t.yaml:1:1: unknown key \"listne\" at the top level; did you mean \"listen\"?",
                  "t.yaml:2:1: unknown key \"workerz\" at the top level; did you mean \"workers\"?",
                  "t.yaml:3:1: unknown key \"zzz\" at the top level");
    EXPECT_ERRORS(
        "timeouts: {conect: 1}\ncors: {allow_origin: []}\ndefaults: {modle: x}\nretry: {attempt: 2}\nkeys: {cooldwn: 1}\n", NULL,
        "t.yaml:1:12: unknown key \"conect\" in timeouts; did you mean \"connect\"?",
        "t.yaml:2:8: unknown key \"allow_origin\" in cors; did you mean \"allow_origins\"?",
        "t.yaml:3:12: unknown key \"modle\" in defaults; did you mean \"model\"?",
        "t.yaml:4:9: unknown key \"attempt\" in retry; did you mean \"attempts\"?",
        "t.yaml:5:8: unknown key \"cooldwn\" in keys; did you mean \"cooldown\"?");
    EXPECT_ERRORS("access_tokens:\n  - {token: a, nmae: x}\nproviders:\n  - {name: e, type: echo, modles: [x]}\n", NULL,
                  "t.yaml:2:16: unknown key \"nmae\" in access_tokens[0]; did you mean \"name\"?",
                  "t.yaml:4:27: unknown key \"modles\" in providers[0]; did you mean \"models\"?");
    EXPECT_ERRORS("[a]: 1\n", NULL, "t.yaml:1:1: keys must be strings at the top level, got a list");
}

TEST(errors_duplicate_keys)
{
    EXPECT_ERRORS("workers: 1\nworkers: 2\n", NULL, "t.yaml:2:1: duplicate key \"workers\" at the top level (first at line 1)");
    EXPECT_ERRORS("listen:\n  - port: 1\n    port: 2\n", NULL, "t.yaml:3:5: duplicate key \"port\" in listen[0] (first at line 2)");
    EXPECT_ERRORS("providers:\n  - name: a\n    type: echo\n    models: [x]\n    models: [y]\n    headers: {A: 1, A: 2}\n", NULL,
                  "t.yaml:5:5: duplicate key \"models\" in providers[0] (first at line 4)",
                  "t.yaml:6:21: duplicate key \"A\" in providers[0].headers (first at line 6)");
    EXPECT_ERRORS("defaults:\n  params:\n    a: 1\n    b: {x: 1, x: 2}\n    a: 2\n", NULL,
                  "t.yaml:4:15: duplicate key \"x\" in defaults.params.b (first at line 4)",
                  "t.yaml:5:5: duplicate key \"a\" in defaults.params (first at line 3)");
}

TEST(errors_wrong_types)
{
    EXPECT_ERRORS(
        "listen: {port: 1}\nworkers: [1]\nmax_body_bytes: {a: 1}\ntimeouts: 5\naccess_tokens: tok\n"
        "cors: []\ndefaults: {model: [x], params: [1]}\nproviders: {name: x}\n",
        NULL, "t.yaml:1:9: listen: expected a list, got a mapping", "t.yaml:2:10: workers: expected an integer or auto, got a list",
        "t.yaml:3:17: max_body_bytes: expected an integer, got a mapping",
        "t.yaml:4:11: timeouts: expected a mapping, got a single value",
        "t.yaml:5:16: access_tokens: expected a list, got a single value", "t.yaml:6:7: cors: expected a mapping, got a list",
        "t.yaml:7:19: defaults.model: expected a string, got a list",
        "t.yaml:7:32: defaults.params: expected a mapping, got a list", "t.yaml:8:12: providers: expected a list, got a mapping");
    EXPECT_ERRORS("listen: [8080]\nproviders: [echo]\naccess_tokens: [[a]]\n", NULL,
                  "t.yaml:1:10: listen[0]: expected a mapping, got a single value",
                  "t.yaml:2:13: providers[0]: expected a mapping, got a single value",
                  "t.yaml:3:17: access_tokens[0]: expected a token string or a mapping, got a list");
    EXPECT_ERRORS("providers:\n  - name: x\n    type: openai\n    base_url: [http://x]\n    keys: k1\n    models: '*'\n"
                  "    model_map: [a]\n    headers: x\n    fallback: y\n    list_models: {a: b}\n    keys_env: [A]\n",
                  NULL, "t.yaml:4:15: providers[0].base_url: expected a string, got a list",
                  "t.yaml:5:11: providers[0].keys: expected a list, got a single value",
                  "t.yaml:6:13: providers[0].models: expected a list, got a single value",
                  "t.yaml:7:16: providers[0].model_map: expected a mapping, got a list",
                  "t.yaml:8:14: providers[0].headers: expected a mapping, got a single value",
                  "t.yaml:9:15: providers[0].fallback: expected a list, got a single value",
                  "t.yaml:10:18: providers[0].list_models: expected a list, got a mapping",
                  "t.yaml:11:15: providers[0].keys_env: expected a string, got a list");
    EXPECT_ERRORS("providers:\n  - {name: x, type: [echo]}\n  - {name: y, type: echo, models: [a, [b]]}\n", NULL,
                  "t.yaml:2:21: providers[0].type: expected one of openai, poe, puter, echo or anthropic, got a list",
                  "t.yaml:3:39: providers[1].models[1]: expected a string, got a list");
}

TEST(errors_ranges)
{
    EXPECT_ERRORS("listen:\n  - port: 0\n  - port: 65536\n  - port: -1\n  - port: 99999999999999999999999\n", NULL,
                  "t.yaml:2:11: listen[0].port: must be between 1 and 65535, got 0",
                  "t.yaml:3:11: listen[1].port: must be between 1 and 65535, got 65536",
                  "t.yaml:4:11: listen[2].port: must be between 1 and 65535, got -1",
                  "t.yaml:5:11: listen[3].port: must be between 1 and 65535, got 99999999999999999999999");
    EXPECT_ERRORS("workers: -2\nmax_body_bytes: 0\nretry: {attempts: 101}\naccess_tokens: [{token: a, rpm: 4294967296}]\n", NULL,
                  "t.yaml:1:10: workers: must be between 1 and 1024, got -2",
                  "t.yaml:2:17: max_body_bytes: must be at least 1, got 0",
                  "t.yaml:3:19: retry.attempts: must be between 1 and 100, got 101",
                  "t.yaml:4:33: access_tokens[0].rpm: must be between 0 and 4294967295, got 4294967296");
    EXPECT_ERRORS("max_body_bytes: 99999999999999999999999\nlisten: [{port: 1.5}]\n", NULL,
                  "t.yaml:1:17: max_body_bytes: too large, got 99999999999999999999999",
                  "t.yaml:2:17: listen[0].port: expected an integer, got \"1.5\"");
    llg_conf_t *c =
        load_ok("max_body_bytes: 1\nretry: {attempts: 1}\naccess_tokens: [{token: a, rpm: 0}]\nlisten: [{port: 65535}]\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->max_body_bytes, 1);
        CHECK_EQ_INT(c->retry_attempts, 1);
        CHECK_EQ_INT(c->tokens[0].rpm, 0);
        CHECK_EQ_INT(c->listen[0].port, 65535);
    }
    llg_conf_free(c);
}

TEST(errors_addresses)
{
    EXPECT_ERRORS("listen:\n  - address: 1.2.3\n  - address: '[::1]'\n  - address: localhost\n  - address: ''\n", NULL,
                  "t.yaml:2:14: listen[0].address: \"1.2.3\" is not an IPv4 or IPv6 address (write IPv6 without brackets)",
                  "t.yaml:3:14: listen[1].address: \"[::1]\" is not an IPv4 or IPv6 address (write IPv6 without brackets)",
                  "t.yaml:4:14: listen[2].address: \"localhost\" is not an IPv4 or IPv6 address (write IPv6 without brackets)",
                  "t.yaml:5:14: listen[3].address: must not be empty");
    EXPECT_ERRORS("listen: []\n", NULL, "t.yaml:1:9: listen: must list at least one listener (leave it out for 0.0.0.0:8080)");
    /* two listeners that bind() cannot both have */
    EXPECT_ERRORS("listen:\n  - port: 9000\n  - {address: 127.0.0.1, port: 9000}\n  - {address: '::1', port: 9000}\n"
                  "  - {address: '::', port: 9000}\n",
                  NULL, "t.yaml:3:5: listen[1]: 127.0.0.1:9000 clashes with listen[0] (0.0.0.0:9000)",
                  "t.yaml:5:5: listen[3]: [::]:9000 clashes with listen[2] ([::1]:9000)");
}

/* An error that quotes a scalar stays one line of valid UTF-8: a double-quoted
 * scalar may hold line breaks and control bytes, and a quote cut at a byte
 * count may end inside a character (both found by tests/fuzz/fuzz_conf). */
TEST(errors_quoted_scalar_one_line_utf8)
{
    EXPECT_ERRORS("listen:\n  - address: \"1.2\n\n  3\\t\\x7f\"\n", NULL,
                  "t.yaml:2:14: listen[0].address: \"1.2?3??\" is not an IPv4 or IPv6 address (write IPv6 without brackets)");
    EXPECT_ERRORS("listen:\n  - address: "
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9\n",
                  NULL,
                  "t.yaml:2:14: listen[0].address: "
                  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx?\" "
                  "is not an IPv4 or IPv6 address (write IPv6 without brackets)");
}

TEST(errors_tls_map)
{
    EXPECT_ERRORS("listen:\n  - tls: {}\n", NULL, "t.yaml:2:10: listen[0].tls: missing required key \"certificate\"",
                  "t.yaml:2:10: listen[0].tls: missing required key \"key\"");
}

TEST(errors_tokens)
{
    EXPECT_ERRORS("access_tokens:\n  - a\n  - {token: b}\n  - a\n  - {token: b, name: x}\n  - 'c\td'\n  - {token: e, models: []}\n"
                  "  - {token: f, name: ''}\n  - {token: ''}\n",
                  NULL, "t.yaml:4:5: access_tokens[2]: duplicate access token (same as access_tokens[0])",
                  "t.yaml:5:13: access_tokens[3].token: duplicate access token (same as access_tokens[1])",
                  "t.yaml:6:5: access_tokens[4]: must not contain spaces or control characters",
                  "t.yaml:7:24: access_tokens[5].models: must list at least one model glob (leave it out to allow every model)",
                  "t.yaml:8:22: access_tokens[6].name: must not be empty",
                  "t.yaml:9:13: access_tokens[7].token: must not be empty");
    EXPECT_ERRORS("admin_token: ''\n", NULL, "t.yaml:1:14: admin_token: must not be empty");
    EXPECT_ERRORS("admin_token: 'a b'\n", NULL, "t.yaml:1:14: admin_token: must not contain spaces or control characters");
    EXPECT_ERRORS("metrics_token: ''\n", NULL, "t.yaml:1:16: metrics_token: must not be empty");
    EXPECT_ERRORS("metrics_token: [a]\n", NULL, "t.yaml:1:16: metrics_token: expected a string, got a list");
    EXPECT_ERRORS("metrics_token: 'a\tb'\n", NULL, "t.yaml:1:16: metrics_token: must not contain spaces or control characters");
    llg_conf_t *c = load_ok("metrics_token: sk-metrics-1\n", NULL);
    if (c != NULL)
        CHECK_EQ_STR(c->metrics_token, "sk-metrics-1");
    llg_conf_free(c);
}

/* access_tokens[].quota: an unknown key alone is one error, not also "empty" */
TEST(errors_quota)
{
    EXPECT_ERRORS("access_tokens:\n  - {token: a, quota: {requests_per_hour: 5}}\n", NULL,
                  "t.yaml:2:24: unknown key in access_tokens[0].quota (a key name is never quoted here: it may be a token)");
    EXPECT_ERRORS("access_tokens:\n  - {token: a, quota: {}}\n", NULL,
                  "t.yaml:2:23: access_tokens[0].quota: name at least one of requests_per_day, tokens_per_day, tokens_per_month "
                  "(or leave it out)");
    llg_conf_t *c =
        load_ok("access_tokens:\n  - {token: a, quota: {requests_per_day: 3, tokens_per_month: 1099511627775}}\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->tokens[0].quota.requests_per_day, 3);
        CHECK_EQ_INT(c->tokens[0].quota.tokens_per_day, 0);
        CHECK(c->tokens[0].quota.tokens_per_month == 1099511627775ull);
    }
    llg_conf_free(c);
}

TEST(errors_nul_bytes)
{
    static const char yaml[] = "admin_token: \"a\\0b\"\nproviders:\n  - {name: \"e\\0\", type: echo}\n";
    EXPECT_ERRORS(yaml, NULL, "t.yaml:1:14: admin_token: contains a NUL byte",
                  "t.yaml:3:12: providers[0].name: contains a NUL byte");
    EXPECT_ERRORS("defaults:\n  params:\n    stop: \"\\0\"\n", NULL, "t.yaml:3:11: defaults.params.stop: contains a NUL byte");
    EXPECT_ERRORS("\"a\\0\": 1\n", NULL, "t.yaml:1:1: key contains a NUL byte at the top level");
}

TEST(errors_providers)
{
    EXPECT_ERRORS(
        "providers:\n"
        "  - {name: a, type: echo}\n"
        "  - {name: a, type: echo}\n"
        "  - {name: B, type: echo}\n"
        "  - {name: 'c d', type: echo}\n"
        "  - {name: '', type: echo}\n"
        "  - {type: echo}\n"
        "  - {name: g}\n"
        "  - {name: h, type: opnai}\n"
        "  - {name: i, type: openai}\n"
        "  - {name: j, type: poe, base_url: 'api.poe.com'}\n"
        "  - {name: k, type: openai, base_url: 'https://'}\n"
        "  - {name: l, type: echo, base_url: 'http://x'}\n"
        "  - {name: m, type: openai, base_url: 'http://x', delay: 1s}\n"
        "  - {name: n, type: puter, auth: pol, message_mode: fast}\n"
        "  - {name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, type: echo}\n"
        "  - {name: o, type: anthropic, responses_api: true}\n"
        "  - {name: p, type: openai, base_url: 'http://x', responses_api: yes}\n",
        NULL, "t.yaml:3:12: providers[1].name: duplicate provider name \"a\" (first at line 2)",
        "t.yaml:4:12: providers[2].name: \"B\" is not a valid provider name (use a-z, 0-9, _ and -)",
        "t.yaml:5:12: providers[3].name: \"c d\" is not a valid provider name (use a-z, 0-9, _ and -)",
        "t.yaml:6:12: providers[4].name: must not be empty", "t.yaml:7:5: providers[5]: missing required key \"name\"",
        "t.yaml:8:5: providers[6]: missing required key \"type\"",
        "t.yaml:9:21: providers[7].type: expected openai, poe, puter, echo or anthropic, got \"opnai\"; did you mean \"openai\"?",
        "t.yaml:10:5: providers[8]: missing required key \"base_url\" (required for type openai)",
        "t.yaml:11:36: providers[9].base_url: must start with http:// or https://",
        "t.yaml:12:39: providers[10].base_url: has no host",
        "t.yaml:13:27: providers[11].base_url: echo providers have no upstream, remove base_url",
        "t.yaml:14:51: providers[12].delay: only echo providers take a delay",
        "t.yaml:15:34: providers[13].auth: expected pool, passthrough or none, got \"pol\"; did you mean \"pool\"?",
        "t.yaml:15:53: providers[13].message_mode: expected raw, standard or full, got \"fast\"",
        "t.yaml:16:12: providers[14].name: longer than 64 characters",
        "t.yaml:17:32: providers[15].responses_api: only openai providers speak the Responses API",
        "t.yaml:18:66: providers[16].responses_api: expected false or true, got \"yes\"");
}

TEST(max_connections)
{
    llg_conf_t *c = load_ok("providers:\n"
                            "  - {name: a, type: openai, base_url: 'http://x', max_connections: 4, queue_timeout: 2500ms}\n"
                            "  - {name: b, type: openai, base_url: 'https://x', max_connections: 0}\n"
                            "  - {name: c, type: openai, base_url: 'http://x'}\n",
                            NULL);
    CHECK_EQ_INT(c->providers[0].max_connections, 4);
    CHECK_EQ_INT(c->providers[0].queue_timeout_ms, 2500);
    CHECK_EQ_INT(c->providers[1].max_connections, 0);
    CHECK_EQ_INT(c->providers[2].max_connections, 0);
    CHECK_EQ_INT(c->providers[2].queue_timeout_ms, 0);
    llg_conf_free(c);
    EXPECT_ERRORS(
        "providers:\n"
        "  - {name: a, type: openai, base_url: 'http://x', max_connections: -1}\n"
        "  - {name: b, type: openai, base_url: 'http://x', max_connections: 100001}\n"
        "  - {name: c, type: openai, base_url: 'http://x', max_connections: many}\n"
        "  - {name: d, type: echo, max_connections: 2}\n"
        "  - {name: e, type: openai, base_url: 'http://x', queue_timeout: 5s}\n"
        "  - {name: f, type: openai, base_url: 'http://x', max_connections: 1, queue_timeout: soon}\n",
        NULL, "t.yaml:2:68: providers[0].max_connections: must be between 0 and 100000, got -1",
        "t.yaml:3:68: providers[1].max_connections: must be between 0 and 100000, got 100001",
        "t.yaml:4:68: providers[2].max_connections: expected an integer, got \"many\"",
        "t.yaml:5:27: providers[3].max_connections: an echo provider has no upstream",
        "t.yaml:6:51: providers[4].queue_timeout: needs max_connections",
        "t.yaml:7:86: providers[5].queue_timeout: expected a duration (whole seconds, or a whole number with unit ms, s, m "
        "or h), got \"soon\"");
}

TEST(responses_api)
{
    llg_conf_t *c = load_ok("providers:\n"
                            "  - {name: a, type: openai, base_url: 'http://x', responses_api: true}\n"
                            "  - {name: b, type: openai, base_url: 'http://x', responses_api: false}\n"
                            "  - {name: c, type: openai, base_url: 'http://x'}\n",
                            NULL);
    CHECK(c->providers[0].responses_api);
    CHECK(!c->providers[1].responses_api);
    CHECK(!c->providers[2].responses_api); /* chat completions only, unless said */
    llg_conf_free(c);
}

TEST(errors_provider_fields)
{
    EXPECT_ERRORS(
        "providers:\n"
        "  - name: a\n"
        "    type: openai\n"
        "    base_url: 'https://x y'\n"
        "    keys: [k1, k1, '', 'a b']\n"
        "    keys_env: 1BAD\n"
        "    headers: {'bad header': x, X-Ok: \"a\\nb\"}\n"
        "    client_key_header: 'x y'\n"
        "    model_map: {a: '', '': b}\n"
        "    list_models: ['']\n"
        "    models: ['']\n",
        NULL, "t.yaml:4:15: providers[0].base_url: must not contain spaces or control characters",
        "t.yaml:5:16: providers[0].keys[1]: duplicate API key (same as providers[0].keys[0])",
        "t.yaml:5:20: providers[0].keys[2]: must not be empty",
        "t.yaml:5:24: providers[0].keys[3]: must not contain spaces or control characters",
        "t.yaml:6:15: providers[0].keys_env: \"1BAD\" is not a valid environment variable name",
        "t.yaml:7:15: providers[0].headers: \"bad header\" is not a valid HTTP header name",
        "t.yaml:7:38: providers[0].headers.X-Ok: must not contain control characters",
        "t.yaml:8:24: providers[0].client_key_header: \"x y\" is not a valid HTTP header name",
        "t.yaml:9:20: providers[0].model_map.a: must not be empty", "t.yaml:9:24: providers[0].model_map: must not be empty",
        "t.yaml:10:19: providers[0].list_models[0]: must not be empty", "t.yaml:11:14: providers[0].models[0]: must not be empty");
}

TEST(errors_fallback)
{
    EXPECT_ERRORS("providers:\n"
                  "  - {name: openai, type: echo, fallback: [openai]}\n"
                  "  - {name: deepinfra, type: echo, fallback: [deepinfr, nobody, openai, openai, '']}\n"
                  "  - {name: c, type: echo, fallback: x}\n",
                  NULL, "t.yaml:2:43: providers[0].fallback[0]: a provider cannot fall back to itself",
                  "t.yaml:3:46: providers[1].fallback[0]: unknown provider \"deepinfr\"; did you mean \"deepinfra\"?",
                  "t.yaml:3:56: providers[1].fallback[1]: unknown provider \"nobody\"",
                  "t.yaml:3:72: providers[1].fallback[3]: \"openai\" is listed twice",
                  "t.yaml:3:80: providers[1].fallback[4]: must not be empty",
                  "t.yaml:4:37: providers[2].fallback: expected a list, got a single value");
    /* a fallback may name a provider further down */
    llg_conf_t *c = load_ok("providers:\n  - {name: a, type: echo, fallback: [b]}\n  - {name: b, type: echo}\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->providers[0].fallback.count, 1);
        CHECK_EQ_STR(c->providers[0].fallback.items[0], "b");
    }
    llg_conf_free(c);
}

TEST(otel_section)
{
    llg_conf_t *c = load_ok("otel: {endpoint: \"http://collector:4318/\"}\n", NULL);
    if (c != NULL) {
        CHECK(c->otel.enabled);
        CHECK_EQ_STR(c->otel.traces_url, "http://collector:4318/v1/traces");
        CHECK_EQ_STR(c->otel.service_name, "llmgate");
        CHECK(c->otel.protocol == LLG_OTEL_PROTOBUF);
        CHECK(c->otel.sample == 1.0);
        CHECK_EQ_INT(c->otel.queue, 2048);
        CHECK_EQ_INT(c->otel.batch_size, 512);
        CHECK_EQ_INT(c->otel.interval_ms, 1000);
        CHECK_EQ_INT(c->otel.timeout_ms, 10000);
    }
    llg_conf_free(c);
    c = load_ok("otel:\n  endpoint: https://otlp.example.com/v1/traces\n  headers: {x-api-key: s3cret}\n  sample: 0.25\n"
                "  service_name: gw\n  protocol: json\n  queue: 10\n  batch_size: 5\n  interval: 250ms\n  timeout: 3s\n",
                NULL);
    if (c != NULL) {
        CHECK_EQ_STR(c->otel.traces_url, "https://otlp.example.com/v1/traces");
        CHECK_EQ_INT(c->otel.headers.count, 1);
        CHECK(c->otel.sample == 0.25);
        CHECK_EQ_STR(c->otel.service_name, "gw");
        CHECK(c->otel.protocol == LLG_OTEL_JSON);
        CHECK_EQ_INT(c->otel.queue, 10);
        CHECK_EQ_INT(c->otel.batch_size, 5);
        CHECK_EQ_INT(c->otel.interval_ms, 250);
        CHECK_EQ_INT(c->otel.timeout_ms, 3000);
    }
    llg_conf_free(c);
    c = load_ok("workers: 1\n", NULL);
    if (c != NULL)
        CHECK(!c->otel.enabled);
    llg_conf_free(c);
}

TEST(errors_otel)
{
    EXPECT_ERRORS("otel: {sample: 0.5}\n", NULL, "t.yaml:1:7: otel: missing required key \"endpoint\"");
    EXPECT_ERRORS("otel:\n  endpoint: ftp://x\n  sample: 1.5\n  protocol: grpc\n  queue: 0\n  batch_size: 100000\n"
                  "  interval: 0\n  timeout: 0\n  service_name: ''\n  headers: [a]\n  colour: red\n",
                  NULL, "t.yaml:2:13: otel.endpoint: expected an http:// or https:// URL such as http://localhost:4318",
                  "t.yaml:3:11: otel.sample: expected a number from 0.0 to 1.0, got \"1.5\"",
                  "t.yaml:4:13: otel.protocol: expected protobuf or json, got \"grpc\"",
                  "t.yaml:5:10: otel.queue: must be between 1 and 65536, got 0",
                  "t.yaml:6:15: otel.batch_size: must be between 1 and 8192, got 100000",
                  "t.yaml:7:13: otel.interval: must be longer than 0", "t.yaml:8:12: otel.timeout: must be longer than 0",
                  "t.yaml:9:17: otel.service_name: must not be empty", "t.yaml:10:12: otel.headers: expected a mapping, got a list",
                  "t.yaml:11:3: unknown key \"colour\" in otel");
    EXPECT_ERRORS("otel: {endpoint: 'http:///v1'}\n", NULL,
                  "t.yaml:1:18: otel.endpoint: expected an http:// or https:// URL such as http://localhost:4318");
    EXPECT_ERRORS("otel: {endpoint: http://c:4318, sample: -0.1}\n", NULL,
                  "t.yaml:1:41: otel.sample: expected a number from 0.0 to 1.0, got \"-0.1\"");
    EXPECT_ERRORS("otel: {endpoint: http://c:4318, sample: abc}\n", NULL,
                  "t.yaml:1:41: otel.sample: expected a number from 0.0 to 1.0, got \"abc\"");
    EXPECT_ERRORS("otel: yes\n", NULL, "t.yaml:1:7: otel: expected a mapping, got a single value");
}

TEST(errors_every_error_in_one_run_across_sections)
{
    /* errors found late (fallback names, env) still come out in file order */
    char *env[] = {"PORT=x", NULL};
    EXPECT_ERRORS("providers:\n  - {name: a, type: echo, fallback: [zz]}\nworkers: 0\nlisten: [{port: 0}]\n", env,
                  "t.yaml:2:38: providers[0].fallback[0]: unknown provider \"zz\"",
                  "t.yaml:3:10: workers: must be between 1 and 1024, got 0",
                  "t.yaml:4:17: listen[0].port: must be between 1 and 65535, got 0",
                  "environment variable PORT: expected a port number between 1 and 65535, got \"x\"");
}

/* ---- environment -------------------------------------------------------------- */

TEST(env_port)
{
    char *env[] = {"OTHER=1", "PORT=9090", NULL};
    llg_conf_t *c = load_ok("", env);
    if (c != NULL)
        CHECK_EQ_INT(c->listen[0].port, 9090);
    llg_conf_free(c);
    /* only the first listener */
    c = load_ok("listen:\n  - port: 1000\n  - port: 2000\n", env);
    if (c != NULL) {
        CHECK_EQ_INT(c->listen[0].port, 9090);
        CHECK_EQ_INT(c->listen[1].port, 2000);
    }
    llg_conf_free(c);
    char *empty[] = {"PORT=", NULL};
    c = load_ok("listen: [{port: 1000}]\n", empty);
    if (c != NULL)
        CHECK_EQ_INT(c->listen[0].port, 1000);
    llg_conf_free(c);
    /* a prefix of the name is not the name */
    char *prefix[] = {"PORTX=1", "XPORT=2", NULL};
    c = load_ok("", prefix);
    if (c != NULL)
        CHECK_EQ_INT(c->listen[0].port, 8080);
    llg_conf_free(c);

    static const char *const bad[] = {"PORT=0", "PORT=65536", "PORT=-1", "PORT=80x", "PORT= 80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *benv[] = {(char *)bad[i], NULL};
        char want[200];
        snprintf(want, sizeof(want), "environment variable PORT: expected a port number between 1 and 65535, got \"%s\"",
                 bad[i] + 5);
        EXPECT_ERRORS("", benv, want);
    }
    /* the override can make two listeners clash */
    char *clash[] = {"PORT=2000", NULL};
    EXPECT_ERRORS("listen:\n  - port: 1000\n  - port: 2000\n", clash,
                  "t.yaml:3:5: listen[1]: 0.0.0.0:2000 clashes with listen[0] (0.0.0.0:2000), whose port comes from PORT");
}

TEST(env_workers)
{
    char *env[] = {"LLMGATE_WORKERS=7", NULL};
    llg_conf_t *c = load_ok("workers: 2\n", env);
    if (c != NULL)
        CHECK_EQ_INT(c->workers, 7);
    llg_conf_free(c);
    char *envauto[] = {"LLMGATE_WORKERS=auto", NULL};
    c = load_ok("workers: 2\n", envauto);
    if (c != NULL)
        CHECK_EQ_INT(c->workers, online_cpus());
    llg_conf_free(c);
    char *zero[] = {"LLMGATE_WORKERS=0", NULL}, *many[] = {"LLMGATE_WORKERS=many", NULL};
    EXPECT_ERRORS("", zero, "environment variable LLMGATE_WORKERS: expected auto or an integer between 1 and 1024, got \"0\"");
    EXPECT_ERRORS("", many, "environment variable LLMGATE_WORKERS: expected auto or an integer between 1 and 1024, got \"many\"");
}

TEST(env_tokens)
{
    char *env[] = {"API_ACCESS_TOKENS= t1 , ,t2,,file-tok ", "TOKEN=t2,t3", NULL};
    llg_conf_t *c = load_ok("access_tokens:\n  - file-tok\n  - {token: t9, name: nine}\n", env);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->token_count, 5);
    if (c->token_count == 5) {
        static const char *const want[] = {"file-tok", "t9", "t1", "t2", "t3"};
        for (size_t i = 0; i < 5; i++) {
            CHECK_EQ_STR(c->tokens[i].token, want[i]);
            CHECK_EQ_INT(c->tokens[i].from_env, i >= 2);
            CHECK_EQ_INT(c->tokens[i].rpm, 0);
            CHECK_EQ_INT(c->tokens[i].models.count, 0);
        }
        CHECK_EQ_STR(c->tokens[1].name, "nine");
        CHECK(c->tokens[2].name == NULL);
    }
    llg_conf_free(c);

    c = load_ok("", (char *[]){"TOKEN=solo", NULL});
    if (c != NULL) {
        CHECK_EQ_INT(c->token_count, 1);
        CHECK_EQ_STR(c->tokens[0].token, "solo");
        CHECK(c->tokens[0].from_env);
    }
    llg_conf_free(c);
    c = load_ok("", (char *[]){"TOKEN=", "API_ACCESS_TOKENS= , ", NULL});
    if (c != NULL)
        CHECK_EQ_INT(c->token_count, 0);
    llg_conf_free(c);
    char *bad[] = {"TOKEN=ok,bad tok", NULL};
    EXPECT_ERRORS("", bad, "environment variable TOKEN: token 2 must not contain spaces or control characters");
}

TEST(env_provider_keys)
{
    char *env[] = {"MY_KEYS=k2, k1 ,,k3", "EMPTY_KEYS=", NULL};
    llg_conf_t *c = load_ok("providers:\n"
                            "  - {name: a, type: openai, base_url: 'https://x', keys: [k1], keys_env: MY_KEYS}\n"
                            "  - {name: b, type: openai, base_url: 'https://x', keys_env: UNSET_KEYS}\n"
                            "  - {name: c, type: openai, base_url: 'https://x', keys: [z], keys_env: EMPTY_KEYS}\n"
                            "  - {name: d, type: openai, base_url: 'https://x', keys_env: MY_KEYS}\n",
                            env);
    if (c == NULL)
        return;
    const llg_conf_provider_t *a = provider(c, "a");
    CHECK_EQ_INT(a->keys.count, 3);
    if (a->keys.count == 3) {
        CHECK_EQ_STR(a->keys.items[0], "k1");
        CHECK_EQ_STR(a->keys.items[1], "k2");
        CHECK_EQ_STR(a->keys.items[2], "k3");
    }
    CHECK_EQ_INT(provider(c, "b")->keys.count, 0); /* unset variable: no keys, no error */
    CHECK_EQ_INT(provider(c, "c")->keys.count, 1);
    CHECK_EQ_INT(provider(c, "d")->keys.count, 3);
    llg_conf_free(c);
    char *bad[] = {"K=a,b\tc", NULL};
    EXPECT_ERRORS("providers:\n  - {name: a, type: openai, base_url: 'https://x', keys_env: K}\n", bad,
                  "environment variable K: key 2 must not contain spaces or control characters");
}

TEST(many_tokens_and_keys)
{
    /* thousands of entries: duplicates are still found, wherever they are */
    size_t n = 5000, cap = n * 40 + 200, o = 0;
    char *yaml = malloc(cap), *envkeys = malloc(n * 20 + 64);
    o += (size_t)snprintf(yaml + o, cap - o, "access_tokens:\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  - tok-%zu\n", i);
    o += (size_t)snprintf(yaml + o, cap - o, "  - tok-1234\n");
    EXPECT_ERRORS(yaml, NULL, "t.yaml:5002:5: access_tokens[5000]: duplicate access token (same as access_tokens[1234])");

    o = (size_t)snprintf(yaml, cap, "providers:\n  - {name: a, type: openai, base_url: 'https://x', keys_env: K, keys: [");
    for (size_t i = 0; i < n; i += 2)
        o += (size_t)snprintf(yaml + o, cap - o, "%sk%zu", i ? ", " : "", i);
    snprintf(yaml + o, cap - o, "]}\n");
    o = (size_t)snprintf(envkeys, n * 20 + 64, "K=");
    for (size_t i = 0; i < n; i++) /* every key: half of them repeat the file's */
        o += (size_t)snprintf(envkeys + o, n * 20 + 64 - o, "k%zu,", i);
    char *env[] = {envkeys, NULL};
    llg_conf_t *c = load_ok(yaml, env);
    if (c != NULL) {
        CHECK_EQ_INT(c->providers[0].keys.count, n);
        CHECK_EQ_STR(c->providers[0].keys.items[0], "k0");
        CHECK_EQ_STR(c->providers[0].keys.items[n / 2], "k1"); /* env keys come after the file's */
    }
    llg_conf_free(c);
    free(yaml);
    free(envkeys);
}

TEST(env_never_read_from_process)
{
    /* the loader reads the array it is given, not the process environment */
    setenv("PORT", "1234", 1);
    setenv("TOKEN", "from-process", 1);
    llg_conf_t *c = load_ok("", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->listen[0].port, 8080);
        CHECK_EQ_INT(c->token_count, 0);
    }
    llg_conf_free(c);
    unsetenv("PORT");
    unsetenv("TOKEN");
}

/* ---- the embedded default config ------------------------------------------------ */

TEST(default_config_no_env)
{
    char *env[] = {"HOME=/root", NULL};
    char *yaml = llg_conf_default_yaml(env);
    CHECK(yaml != NULL);
    if (yaml == NULL)
        return;
    CHECK(strncmp(yaml, "# llmgate embedded default configuration", 40) == 0);
    CHECK(strstr(yaml, "OPENAI_API_KEY") != NULL); /* named in the header comment */
    CHECK(strstr(yaml, "keys_env:") == NULL);      /* no provider with keys */
    free(yaml);

    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_default(env, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    llg_conf_errors_free(&e);
    if (c == NULL)
        return;
    CHECK_EQ_STR(c->source, "<default>");
    CHECK_EQ_INT(c->listen_count, 1);
    CHECK_EQ_STR(c->listen[0].address, "0.0.0.0");
    CHECK_EQ_INT(c->listen[0].port, 8080);
    CHECK_EQ_INT(c->provider_count, 2);
    if (c->provider_count == 2) {
        CHECK_EQ_STR(c->providers[0].name, "puter");
        CHECK_EQ_INT(c->providers[0].type, LLG_PROVIDER_PUTER);
        CHECK_EQ_STR(c->providers[0].base_url, "https://api.puter.com");
        CHECK_EQ_INT(c->providers[0].auth, LLG_AUTH_PASSTHROUGH);
        CHECK_EQ_STR(c->providers[0].models.items[0], "openrouter:*");
        CHECK_EQ_STR(c->providers[1].name, "echo");
        CHECK_EQ_INT(c->providers[1].type, LLG_PROVIDER_ECHO);
        CHECK_EQ_INT(c->providers[1].models.count, 2);
        CHECK_EQ_STR(c->providers[1].models.items[0], "echo");
        CHECK_EQ_STR(c->providers[1].models.items[1], "echo-*");
    }
    CHECK_EQ_STR(route(c, "echo"), "echo");
    CHECK_EQ_STR(route(c, "echo-slow"), "echo");
    CHECK_EQ_STR(route(c, "openrouter:anthropic/claude-3.5-sonnet"), "puter");
    CHECK_EQ_STR(route(c, "claude-sonnet-4"), "puter");
    CHECK_EQ_STR(route(c, "gpt-4o"), "(none)");
    CHECK_EQ_STR(route(c, "meta-llama/llama-3"), "(none)");
    llg_conf_free(c);

    /* a NULL environment and empty variables are the same as none */
    c = llg_conf_load_default(NULL, &e);
    CHECK(c != NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->provider_count, 2);
    llg_conf_free(c);
    char *empty[] = {"OPENAI_API_KEY=", "POE_APIKEYS=", NULL};
    c = llg_conf_load_default(empty, &e);
    CHECK(c != NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->provider_count, 2);
    llg_conf_free(c);
    CHECK_EQ_INT(e.count, 0);
    llg_conf_errors_free(&e);
}

TEST(default_config_all_env)
{
    char *env[] = {"OPENAI_API_KEY=sk-openai-SECRET1",
                   "ANTHROPIC_API_KEY=sk-ant-SECRET8",
                   "OPENROUTER_API_KEY=sk-or-SECRET2,sk-or-SECRET3",
                   "DEEPINFRA_API_KEY=di-SECRET4",
                   "POE_APIKEYS=poe-SECRET5, poe-SECRET6",
                   "PORT=9999",
                   "TOKEN=gate-SECRET7",
                   NULL};
    char *yaml = llg_conf_default_yaml(env);
    CHECK(yaml != NULL);
    if (yaml == NULL)
        return;
    CHECK(strstr(yaml, "SECRET") == NULL); /* names the variables, never a key */
    CHECK(strstr(yaml, "keys_env: OPENAI_API_KEY") != NULL);
    CHECK(strstr(yaml, "keys_env: OPENROUTER_API_KEY") != NULL);
    CHECK(strstr(yaml, "keys_env: DEEPINFRA_API_KEY") != NULL);
    CHECK(strstr(yaml, "keys_env: POE_APIKEYS") != NULL);
    CHECK(strstr(yaml, "keys_env: ANTHROPIC_API_KEY") != NULL);
    CHECK(strstr(yaml, "9999") == NULL);
    free(yaml);

    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_default(env, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    for (size_t i = 0; i < e.count; i++)
        fprintf(stderr, "    unexpected error: %s\n", e.items[i]);
    llg_conf_errors_free(&e);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->listen[0].port, 9999);
    CHECK_EQ_INT(c->token_count, 1);
    CHECK_EQ_INT(c->provider_count, 7);
    if (c->provider_count != 7) {
        llg_conf_free(c);
        return;
    }
    static const char *const order[] = {"anthropic", "puter", "echo", "openai", "deepinfra", "openrouter", "poe"};
    for (size_t i = 0; i < 7; i++)
        CHECK_EQ_STR(c->providers[i].name, order[i]);
    /* with its key, anthropic wins claude-* over puter */
    CHECK_EQ_STR(route(c, "claude-sonnet-4-5"), "anthropic");
    CHECK_EQ_STR(route(c, "openrouter:anthropic/claude-3.5-sonnet"), "puter");
    const llg_conf_provider_t *a = provider(c, "anthropic");
    CHECK_EQ_INT(a->type, LLG_PROVIDER_ANTHROPIC);
    CHECK_EQ_STR(a->base_url, "https://api.anthropic.com");
    CHECK_EQ_INT(a->keys.count, 1);
    const llg_conf_provider_t *p = provider(c, "openai");
    CHECK_EQ_STR(p->base_url, "https://api.openai.com/v1");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_OPENAI);
    CHECK_EQ_INT(p->auth, LLG_AUTH_POOL);
    CHECK_EQ_INT(p->keys.count, 1);
    CHECK_EQ_STR(p->keys.items[0], "sk-openai-SECRET1");
    p = provider(c, "openrouter");
    CHECK_EQ_STR(p->base_url, "https://openrouter.ai/api/v1");
    CHECK_EQ_INT(p->keys.count, 2);
    p = provider(c, "deepinfra");
    CHECK_EQ_STR(p->base_url, "https://api.deepinfra.com/v1/openai");
    CHECK_EQ_INT(p->keys.count, 1);
    p = provider(c, "poe");
    CHECK_EQ_INT(p->type, LLG_PROVIDER_POE);
    CHECK_EQ_STR(p->base_url, "https://api.poe.com");
    CHECK_EQ_INT(p->keys.count, 2);
    CHECK_EQ_STR(p->keys.items[1], "poe-SECRET6");

    static const struct {
        const char *model, *provider;
    } routes[] = {
        {"echo", "echo"},
        {"openrouter:anthropic/claude-3.5-sonnet", "puter"},
        {"gpt-4o", "openai"},
        {"gpt-4o-mini", "openai"},
        {"o3-mini", "openai"},
        {"text-embedding-3-small", "openai"},
        {"dall-e-3", "openai"},
        {"meta-llama/Llama-3.3-70B-Instruct", "deepinfra"},
        {"Qwen/Qwen3-32B", "deepinfra"},
        {"deepseek-ai/DeepSeek-V3.1", "deepinfra"},
        {"zai-org/GLM-4.5", "deepinfra"},
        {"meta-llama/llama-3.3-70b-instruct", "openrouter"},
        {"anthropic/claude-3.5-sonnet", "openrouter"},
        {"openai/gpt-4o", "openrouter"},
        {"GPT-4o", "poe"},
        {"Claude-3.5-Sonnet", "poe"},
        {"Qwen3-235B-A22B", "poe"},
        {"llama3", "(none)"},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *got = route(c, routes[i].model);
        if (strcmp(got, routes[i].provider) != 0) {
            fprintf(stderr, "    route %s: got %s, want %s\n", routes[i].model, got, routes[i].provider);
            test_current_failed_ = 1;
        }
    }
    llg_conf_free(c);
}

TEST(default_config_deepinfra_alone)
{
    /* without OpenRouter, DeepInfra takes every org/model id */
    char *env[] = {"DEEPINFRA_API_KEY=x", NULL};
    llg_conf_errors_t e = {0};
    llg_conf_t *c = llg_conf_load_default(env, &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.count, 0);
    llg_conf_errors_free(&e);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->provider_count, 3);
    CHECK_EQ_STR(route(c, "meta-llama/llama-3.3-70b-instruct"), "deepinfra");
    CHECK_EQ_STR(route(c, "bigcode/starcoder2-15b"), "deepinfra");
    CHECK(provider(c, "openrouter") == NULL);
    CHECK(provider(c, "openai") == NULL);
    llg_conf_free(c);
}

TEST(default_config_each_env_alone)
{
    static const struct {
        const char *var, *name;
    } cases[] = {{"OPENAI_API_KEY=k", "openai"},
                 {"OPENROUTER_API_KEY=k", "openrouter"},
                 {"DEEPINFRA_API_KEY=k", "deepinfra"},
                 {"POE_APIKEYS=k", "poe"},
                 {"ANTHROPIC_API_KEY=k", "anthropic"}};
    for (size_t i = 0; i < 5; i++) {
        char *env[] = {(char *)cases[i].var, NULL};
        llg_conf_errors_t e = {0};
        llg_conf_t *c = llg_conf_load_default(env, &e);
        CHECK(c != NULL);
        CHECK_EQ_INT(e.count, 0);
        llg_conf_errors_free(&e);
        if (c == NULL)
            continue;
        CHECK_EQ_INT(c->provider_count, 3);
        /* anthropic comes first (before puter), the others after echo */
        size_t at = strcmp(cases[i].name, "anthropic") == 0 ? 0 : 2;
        CHECK_EQ_STR(c->providers[at].name, cases[i].name);
        CHECK_EQ_INT(c->providers[at].keys.count, 1);
        llg_conf_free(c);
    }
}

/* ---- defaults.params as JSON --------------------------------------------------- */

TEST(params_json)
{
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"0.7", "0.7"},
        {"1000", "1000"},
        {"-3", "-3"},
        {"+5", "5"},
        {"007", "7"},
        {"0", "0"},
        {"-0.5", "-0.5"},
        {".5", "0.5"},
        {"1.", "1"},
        {"1e3", "1e3"},
        {"2.5E-3", "2.5e-3"},
        {"1e+3", "1e3"},
        {"0x1F", "31"},
        {"0o17", "15"},
        {"true", "true"},
        {"False", "false"},
        {"TRUE", "true"},
        {"null", "null"},
        {"~", "null"},
        {"", "null"},
        {"yes", "\"yes\""}, /* YAML 1.2: a string */
        {"x", "\"x\""},
        {"'1'", "\"1\""}, /* quoted: always a string */
        {"\"true\"", "\"true\""},
        {"'null'", "\"null\""},
        {"\"a\\\"b\\\\c\\nd\\te\\x01\"", "\"a\\\"b\\\\c\\nd\\te\\u0001\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
        {"1_000", "\"1_000\""},
        {"0x", "\"0x\""},
        {"1e", "\"1e\""},
        {"[]", "[]"},
        {"{}", "{}"},
        {"[1, a, 'b', null, [true]]", "[1,\"a\",\"b\",null,[true]]"},
        {"{a: 1, 2: b, c: {d: [x]}}", "{\"a\":1,\"2\":\"b\",\"c\":{\"d\":[\"x\"]}}"},
        {"|\n      two\n      lines", "\"two\\nlines\\n\""}, /* clip chomping keeps one newline */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "defaults:\n  params:\n    p: %s\n", cases[i].yaml);
        llg_conf_errors_t e = {0};
        llg_conf_t *c = load_str(yaml, NULL, &e);
        if (c == NULL || c->defaults.param_count != 1 || strcmp(c->defaults.params[0].json, cases[i].json) != 0) {
            fprintf(stderr, "    params %s: got %s, want %s\n", cases[i].yaml,
                    c == NULL                 ? (e.count ? e.items[0] : "(error)")
                    : c->defaults.param_count ? c->defaults.params[0].json
                                              : "(none)",
                    cases[i].json);
            test_current_failed_ = 1;
        }
        llg_conf_free(c);
        llg_conf_errors_free(&e);
    }
    /* anchors and aliases are followed */
    llg_conf_t *c = load_ok("defaults:\n  params:\n    a: &v {x: 1}\n    b: *v\n", NULL);
    if (c != NULL) {
        CHECK_EQ_INT(c->defaults.param_count, 2);
        CHECK_EQ_STR(c->defaults.params[1].key, "b");
        CHECK_EQ_STR(c->defaults.params[1].json, "{\"x\":1}");
    }
    llg_conf_free(c);
}

TEST(params_errors)
{
    EXPECT_ERRORS("defaults:\n  params:\n    a: .inf\n    b: -.Inf\n    c: .nan\n    [k]: 1\n    '': 2\n", NULL,
                  "t.yaml:3:8: defaults.params.a: .inf has no JSON representation",
                  "t.yaml:4:8: defaults.params.b: -.Inf has no JSON representation",
                  "t.yaml:5:8: defaults.params.c: .nan has no JSON representation",
                  "t.yaml:6:5: defaults.params key: expected a string, got a list",
                  "t.yaml:7:5: defaults.params key: must not be empty");
    /* a recursive alias must not loop */
    llg_conf_errors_t e = {0};
    llg_conf_t *c = load_str("defaults:\n  params:\n    a: &r [1, *r]\n", NULL, &e);
    CHECK(c == NULL);
    CHECK_EQ_INT(e.count, 1);
    if (e.count == 1)
        CHECK(strstr(e.items[0], "nested more than 32 levels deep") != NULL);
    llg_conf_errors_free(&e);
    /* "billion laughs": aliases that expand exponentially are cut off */
    c = load_str("defaults:\n  params:\n"
                 "    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                 "    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                 "    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
                 NULL, &e);
    CHECK(c == NULL);
    CHECK(e.count >= 1);
    if (e.count >= 1)
        CHECK(strstr(e.items[0], "larger than 1048576 bytes as JSON") != NULL);
    llg_conf_errors_free(&e);
}

/* ---- cluster (docs/cluster.md) ---------------------------------------------- */

TEST(cluster_absent)
{
    llg_conf_t *c = load_ok("workers: 1\n", NULL);
    if (c != NULL)
        CHECK(!c->cluster.enabled);
    llg_conf_free(c);
}

TEST(cluster_url_forms)
{
    char *env[] = {"REDIS_PW=s3cr%t pw", NULL};
    llg_conf_t *c = load_ok("cluster: {redis: {url: \"redis://u1:p%40ss@redis.example:6380/3\"}}\n", NULL);
    if (c != NULL) {
        const llg_conf_redis_t *r = &c->cluster.redis;
        CHECK(c->cluster.enabled);
        CHECK_EQ_STR(r->host, "redis.example");
        CHECK_EQ_INT(r->port, 6380);
        CHECK_EQ_INT(r->db, 3);
        CHECK_EQ_STR(r->user, "u1");
        CHECK_EQ_STR(r->password, "p@ss");
        CHECK(r->unix_path == NULL);
        CHECK_EQ_STR(r->prefix, "llmgate:");
        CHECK_EQ_INT(r->timeout_ms, 1000);
        CHECK_EQ_STR(r->display, "redis://u1:***@redis.example:6380/3");
    }
    llg_conf_free(c);
    c = load_ok("cluster:\n  redis:\n    url: redis://[::1]\n    password_env: REDIS_PW\n    prefix: \"a:\"\n    timeout: 250ms\n",
                env);
    if (c != NULL) {
        const llg_conf_redis_t *r = &c->cluster.redis;
        CHECK_EQ_STR(r->host, "::1");
        CHECK_EQ_INT(r->port, 6379);
        CHECK_EQ_INT(r->db, 0);
        CHECK(r->user == NULL);
        CHECK_EQ_STR(r->password, "s3cr%t pw");
        CHECK_EQ_STR(r->prefix, "a:");
        CHECK_EQ_INT(r->timeout_ms, 250);
        CHECK_EQ_STR(r->display, "redis://:***@[::1]:6379/0");
    }
    llg_conf_free(c);
    c = load_ok("cluster: {redis: {url: \"unix:/run/redis/redis.sock\"}}\n", NULL);
    if (c != NULL) {
        CHECK(c->cluster.redis.host == NULL);
        CHECK_EQ_STR(c->cluster.redis.unix_path, "/run/redis/redis.sock");
        CHECK_EQ_STR(c->cluster.redis.display, "unix:/run/redis/redis.sock");
        CHECK(c->cluster.redis.password == NULL);
    }
    llg_conf_free(c);
}

TEST(cluster_env_url)
{
    char *env[] = {"LLMGATE_REDIS_URL=redis://:topsecret@127.0.0.1:7000", NULL};
    llg_conf_t *c = load_ok("workers: 1\n", env);
    if (c != NULL) {
        CHECK(c->cluster.enabled);
        CHECK_EQ_INT(c->cluster.redis.port, 7000);
        CHECK_EQ_STR(c->cluster.redis.password, "topsecret");
        CHECK_EQ_STR(c->cluster.redis.display, "redis://:***@127.0.0.1:7000/0");
    }
    llg_conf_free(c);
    /* the file's section wins; its url may be left to the variable */
    c = load_ok("cluster: {redis: {url: \"redis://10.0.0.1\"}}\n", env);
    if (c != NULL)
        CHECK_EQ_STR(c->cluster.redis.host, "10.0.0.1");
    llg_conf_free(c);
    c = load_ok("cluster: {redis: {prefix: \"x:\"}}\n", env);
    if (c != NULL) {
        CHECK_EQ_INT(c->cluster.redis.port, 7000);
        CHECK_EQ_STR(c->cluster.redis.prefix, "x:");
    }
    llg_conf_free(c);
    char *bad[] = {"LLMGATE_REDIS_URL=http://:topsecret@h", NULL};
    EXPECT_ERRORS("", bad,
                  "environment variable LLMGATE_REDIS_URL: expected redis://[user:password@]host[:port][/db] or unix:/path");
}

TEST(cluster_errors)
{
    char *empty[] = {"EMPTY_PW=", NULL};
    EXPECT_ERRORS("cluster: {}\n", NULL, "t.yaml:1:10: cluster: missing required key \"redis\"");
    EXPECT_ERRORS("cluster:\n  redis: {prefix: x}\n", NULL, "t.yaml:2:10: cluster.redis: missing required key \"url\"");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://:hunter2@h:0\"}\n", NULL,
                  "t.yaml:2:16: cluster.redis.url: the port must be a number from 1 to 65535");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://hunter2@h\"}\n", NULL,
                  "t.yaml:2:16: cluster.redis.url: the part before @ must be user:password or :password");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"rediss://h\"}\n", NULL,
                  "t.yaml:2:16: cluster.redis.url: rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use a TLS "
                  "tunnel or a private network");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://h/x\"}\n", NULL,
                  "t.yaml:2:16: cluster.redis.url: the path must be a database number (/0 to /65535)");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"unix:relative.sock\"}\n", NULL,
                  "t.yaml:2:16: cluster.redis.url: unix: must be followed by an absolute socket path (unix:/path/to/redis.sock)");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://:a@h\", password_env: EMPTY_PW}\n", empty,
                  "t.yaml:2:46: cluster.redis.password_env: the url has a password too; give it in one place");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://h\", password_env: EMPTY_PW}\n", empty,
                  "t.yaml:2:43: cluster.redis.password_env: environment variable EMPTY_PW is not set or empty");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://h\", timeout: 0}\n", NULL,
                  "t.yaml:2:38: cluster.redis.timeout: must be more than 0 and at most 60s");
    EXPECT_ERRORS("cluster:\n  redis: {url: \"redis://h\", prefx: a}\n", NULL,
                  "t.yaml:2:29: unknown key \"prefx\" in cluster.redis; did you mean \"prefix\"?");
}

/* ---- model_groups (issue 18) ----------------------------------------------- */

/* Lines 1 to 5: providers deepinfra and openrouter (pool keys), pt
 * (passthrough), e (echo); the groups start at line 6. */
static const char *group_providers = "providers:\n"
                                     "  - {name: deepinfra, type: openai, base_url: \"http://h/v1\", keys: [k1]}\n"
                                     "  - {name: openrouter, type: openai, base_url: \"http://h/v1\", keys: [k2]}\n"
                                     "  - {name: pt, type: openai, base_url: \"http://h/v1\", auth: passthrough}\n"
                                     "  - {name: e, type: echo}\n";

static char *with_providers(const char *groups)
{
    static char buf[16384];
    snprintf(buf, sizeof(buf), "%s%s", group_providers, groups);
    return buf;
}

TEST(groups_absent)
{
    llg_conf_t *c = load_ok(group_providers, NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->group_count, 0);
    llg_conf_free(c);
}

TEST(groups_every_key)
{
    llg_conf_t *c =
        load_ok(with_providers("retry: {attempts: 4}\n"
                               "model_groups:\n"
                               "  - name: \"deepseek-*\"\n"
                               "    strategy: affinity\n"
                               "    targets:\n"
                               "      - {provider: deepinfra, model: deepseek-ai/DeepSeek-V3, weight: 3, priority: 0}\n"
                               "      - {provider: openrouter, model: deepseek/deepseek-chat, weight: 10000, priority: 1000}\n"
                               "      - {provider: e}\n"
                               "    attempts: 5\n"
                               "    fallback: [openrouter, e]\n"
                               "    breaker: {failures: 0, cooldown: 2m}\n"
                               "    affinity: {header: X-Conversation-Id, load_factor: 1.5}\n"
                               "  - name: plain\n"
                               "    targets: [{provider: deepinfra}]\n"
                               "  - name: fast\n"
                               "    strategy: latency\n"
                               "    latency: {decay: 30s, error_penalty: 250ms}\n"
                               "    targets: [{provider: deepinfra}, {provider: deepinfra, model: other}]\n"
                               "  - name: busy\n"
                               "    strategy: least_busy\n"
                               "    targets: [{provider: e, model: a}, {provider: e, model: b}]\n"),
                NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->group_count, 4);
    const llg_conf_group_t *g = &c->groups[0];
    CHECK_EQ_STR(g->name, "deepseek-*");
    CHECK_EQ_INT(g->strategy, LLG_STRATEGY_AFFINITY);
    CHECK_EQ_INT(g->target_count, 3);
    CHECK_EQ_INT(g->targets[0].provider, 0);
    CHECK_EQ_STR(g->targets[0].model, "deepseek-ai/DeepSeek-V3");
    CHECK_EQ_INT(g->targets[0].weight, 3);
    CHECK_EQ_INT(g->targets[0].priority, 0);
    CHECK_EQ_INT(g->targets[0].mark.line, 11);
    CHECK_EQ_INT(g->targets[1].provider, 1);
    CHECK_EQ_INT(g->targets[1].weight, 10000);
    CHECK_EQ_INT(g->targets[1].priority, 1000);
    CHECK_EQ_INT(g->targets[2].provider, 3);
    CHECK(g->targets[2].model == NULL);
    CHECK_EQ_INT(g->targets[2].weight, 1);
    CHECK_EQ_INT(g->targets[2].priority, 0);
    CHECK_EQ_INT(g->attempts, 5);
    CHECK_EQ_INT(g->fallback.count, 2);
    CHECK_EQ_STR(g->fallback.items[0], "openrouter");
    CHECK_EQ_STR(g->fallback.items[1], "e");
    CHECK_EQ_INT(g->breaker.failures, 0);
    CHECK_EQ_INT(g->breaker.cooldown_ms, 120000);
    CHECK_EQ_STR(g->affinity.header, "x-conversation-id"); /* lowercased */
    CHECK(g->affinity.load_factor == 1.5);
    CHECK_EQ_INT(g->mark.line, 8);
    /* the defaults */
    g = &c->groups[1];
    CHECK_EQ_STR(g->name, "plain");
    CHECK_EQ_INT(g->strategy, LLG_STRATEGY_WEIGHTED);
    CHECK_EQ_INT(g->attempts, 4); /* retry.attempts */
    CHECK_EQ_INT(g->fallback.count, 0);
    CHECK_EQ_INT(g->breaker.failures, 5);
    CHECK_EQ_INT(g->breaker.cooldown_ms, 30000);
    CHECK_EQ_INT(g->latency.decay_ms, 10000);
    CHECK_EQ_INT(g->latency.error_penalty_ms, 1000);
    CHECK_EQ_STR(g->affinity.header, "x-session-id");
    CHECK(g->affinity.load_factor == 1.25);
    g = &c->groups[2];
    CHECK_EQ_INT(g->strategy, LLG_STRATEGY_LATENCY);
    CHECK_EQ_INT(g->latency.decay_ms, 30000);
    CHECK_EQ_INT(g->latency.error_penalty_ms, 250);
    CHECK(g->targets[0].model == NULL);
    CHECK_EQ_STR(g->targets[1].model, "other");
    CHECK_EQ_INT(c->groups[3].strategy, LLG_STRATEGY_LEAST_BUSY);
    llg_conf_free(c);

    /* 64 targets is the most */
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), "model_groups:\n  - name: g\n    targets:\n");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "      - {provider: e, model: m%d}\n", i);
    c = load_ok(with_providers(yaml), NULL);
    if (c != NULL)
        CHECK_EQ_INT(c->groups[0].target_count, 64);
    llg_conf_free(c);
}

TEST(groups_errors)
{
    /* the contract's list, each with its position */
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets:\n      - {provider: deepinfr, model: x}\n"), NULL,
                  "t.yaml:9:20: model_groups[0].targets[0].provider: unknown provider \"deepinfr\"; did you mean \"deepinfra\"?");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets:\n      - {provider: zzzzzz, model: x}\n"), NULL,
                  "t.yaml:9:20: model_groups[0].targets[0].provider: unknown provider \"zzzzzz\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets:\n      - {provider: pt, model: x}\n"), NULL,
                  "t.yaml:9:20: model_groups[0].targets[0].provider: provider \"pt\" has auth: passthrough, which a group cannot "
                  "use");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets:\n      - {provider: deepinfra, model: x}\n"
                                 "      - {provider: openrouter, model: x}\n      - {provider: deepinfra, model: x}\n"),
                  NULL, "t.yaml:11:9: model_groups[0].targets[2]: the same provider and model as targets[0]");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets:\n      - {provider: e}\n      - {provider: e}\n"), NULL,
                  "t.yaml:10:9: model_groups[0].targets[1]: the same provider and model as targets[0]");
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), "model_groups:\n  - name: g\n    targets:\n");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "      - {provider: e, model: m%d}\n", i);
    EXPECT_ERRORS(with_providers(yaml), NULL, "t.yaml:9:7: model_groups[0].targets: must list 1 to 64 targets, got 65");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets: []\n"), NULL,
                  "t.yaml:8:14: model_groups[0].targets: must list 1 to 64 targets, got 0");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    strategy: fastest\n    targets: [{provider: e}]\n"), NULL,
                  "t.yaml:8:15: model_groups[0].strategy: expected weighted, least_busy, latency or affinity, got \"fastest\"");
    EXPECT_ERRORS(
        with_providers("model_groups:\n  - name: g\n    targets: [{provider: e, weight: 0}, {provider: deepinfra, weight: "
                       "10001}]\n"),
        NULL, "t.yaml:8:37: model_groups[0].targets[0].weight: must be between 1 and 10000, got 0",
        "t.yaml:8:71: model_groups[0].targets[1].weight: must be between 1 and 10000, got 10001");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets: [{provider: e, priority: 1001}]\n"), NULL,
                  "t.yaml:8:39: model_groups[0].targets[0].priority: must be between 0 and 1000, got 1001");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    latency: {decay: 5s}\n    targets: [{provider: e}]\n"), NULL,
                  "t.yaml:8:5: model_groups[0].latency: only for strategy latency");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    strategy: latency\n    affinity: {header: x-a}\n"
                                 "    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:9:5: model_groups[0].affinity: only for strategy affinity");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets: [{provider: e}]\n"
                                 "  - name: g\n    targets: [{provider: deepinfra}]\n"),
                  NULL, "t.yaml:9:11: model_groups[1].name: duplicate group name \"g\" (first at line 7)");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n"), NULL,
                  "t.yaml:7:5: model_groups[0]: missing required key \"targets\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - targets: [{provider: e}]\n"), NULL,
                  "t.yaml:7:5: model_groups[0]: missing required key \"name\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets: [{model: x}]\n"), NULL,
                  "t.yaml:8:15: model_groups[0].targets[0]: missing required key \"provider\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    strategy: affinity\n    affinity: {load_factor: 0.5}\n"
                                 "    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:9:29: model_groups[0].affinity.load_factor: expected a number between 1 and 100, got \"0.5\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    strategy: affinity\n    affinity: {load_factor: abc}\n"
                                 "    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:9:29: model_groups[0].affinity.load_factor: expected a number between 1 and 100, got \"abc\"");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    strategy: affinity\n    affinity: {header: \"x session\"}\n"
                                 "    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:9:24: model_groups[0].affinity.header: \"x session\" is not a valid HTTP header name");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    stratgy: weighted\n    targets: [{provider: e}]\n"), NULL,
                  "t.yaml:8:5: unknown key \"stratgy\" in model_groups[0]; did you mean \"strategy\"?");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    targets: [{provider: e, wieght: 2}]\n"), NULL,
                  "t.yaml:8:29: unknown key \"wieght\" in model_groups[0].targets[0]; did you mean \"weight\"?");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    breaker: {failures: 3, cooldwn: 1s}\n"
                                 "    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:8:28: unknown key \"cooldwn\" in model_groups[0].breaker; did you mean \"cooldown\"?");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    breaker: {cooldown: 0}\n    targets: [{provider: e}]\n"), NULL,
                  "t.yaml:8:25: model_groups[0].breaker.cooldown: must be more than 0");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    fallback: [pt, nope, e, e]\n    targets: [{provider: e}]\n"),
                  NULL, "t.yaml:8:16: model_groups[0].fallback[0]: provider \"pt\" has auth: passthrough, which a group cannot use",
                  "t.yaml:8:20: model_groups[0].fallback[1]: unknown provider \"nope\"",
                  "t.yaml:8:29: model_groups[0].fallback[3]: \"e\" is listed twice");
    EXPECT_ERRORS(with_providers("model_groups:\n  - name: g\n    attempts: 0\n    targets: [{provider: e}]\n"), NULL,
                  "t.yaml:8:15: model_groups[0].attempts: must be between 1 and 100, got 0");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fixtures = argv[1];

    RUN(defaults_empty_string);
    RUN(defaults_empty_file);
    RUN(defaults_comments_only);
    RUN(defaults_null_document_and_null_values);
    RUN(errors_untouched_on_success);
    RUN(full_file);
    RUN(tls_absolute_paths_and_cwd);
    RUN(provider_name_and_glob_chars);
    RUN(provider_type_anthropic);
    RUN(workers_auto_and_number);
    RUN(listen_ipv6_and_second_default_port);
    RUN(cors_empty_list);
    RUN(yaml_anchors_and_aliases);
    RUN(timeout_alias);
    RUN(duration_table);
    RUN(duration_in_yaml);
    RUN(duration_errors);
    RUN(client_timeouts_and_header_limit);
    RUN(client_timeouts_and_header_limit_errors);
    RUN(limits);
    RUN(limits_errors);
    RUN(glob_table);
    RUN(glob_pathological_is_fast);
    RUN(errors_bad_many_fixture);
    RUN(errors_syntax_fixture);
    RUN(errors_tls_fixture);
    RUN(max_connections);
    RUN(errors_toplevel_fixture);
    RUN(errors_missing_file);
    RUN(errors_append_to_list);
    RUN(errors_yaml_syntax_kinds);
    RUN(errors_unknown_keys_everywhere);
    RUN(errors_duplicate_keys);
    RUN(errors_wrong_types);
    RUN(errors_ranges);
    RUN(errors_addresses);
    RUN(errors_tls_map);
    RUN(errors_quoted_scalar_one_line_utf8);
    RUN(errors_tokens);
    RUN(errors_quota);
    RUN(errors_nul_bytes);
    RUN(errors_providers);
    RUN(responses_api);
    RUN(errors_provider_fields);
    RUN(errors_fallback);
    RUN(otel_section);
    RUN(errors_otel);
    RUN(errors_every_error_in_one_run_across_sections);
    RUN(env_port);
    RUN(env_workers);
    RUN(env_tokens);
    RUN(env_provider_keys);
    RUN(many_tokens_and_keys);
    RUN(env_never_read_from_process);
    RUN(default_config_no_env);
    RUN(default_config_all_env);
    RUN(default_config_deepinfra_alone);
    RUN(default_config_each_env_alone);
    RUN(params_json);
    RUN(params_errors);
    RUN(cluster_absent);
    RUN(cluster_url_forms);
    RUN(cluster_env_url);
    RUN(cluster_errors);
    RUN(groups_absent);
    RUN(groups_every_key);
    RUN(groups_errors);
    TEST_MAIN_END();
}
