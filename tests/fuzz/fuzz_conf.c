/*
 * tests/fuzz/fuzz_conf.c: the config loader (conf/: YAML parse, checks,
 * validation) on arbitrary bytes, through llg_conf_load_string() with an empty
 * environment (no overrides apply). The loader must either return a config
 * and no error, or no config and at least one error, each formatted
 * `fuzz.yaml:LINE:COLUMN: message` (1-based, message non-empty, valid UTF-8:
 * it is printed to a terminal and logged as JSON). A returned config must hold
 * what the server relies on (SPEC section 3). Everything is freed; the leak
 * check of ASan reports what is not.
 */
#include "conf/conf.h"
#include "tests/fuzz/fuzz.h"

static int utf8_valid(const char *s)
{
    /* the conf module has no dependency on providers/strbuf.c: a local check */
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 9;
        if (n == 9)
            return 0;
        unsigned cp = n == 0 ? c : c & (0x3fu >> n);
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* `fuzz.yaml:LINE:COLUMN: message` */
static void check_error(const char *e)
{
    static const char prefix[] = "fuzz.yaml:";
    FUZZ_ASSERT(strncmp(e, prefix, sizeof(prefix) - 1) == 0);
    const char *p = e + sizeof(prefix) - 1;
    for (int field = 0; field < 2; field++) {
        FUZZ_ASSERT(*p >= '1' && *p <= '9');
        while (*p >= '0' && *p <= '9')
            p++;
        FUZZ_ASSERT(*p++ == ':');
    }
    FUZZ_ASSERT(*p++ == ' ');
    FUZZ_ASSERT(*p != '\0' && *p != ' ');
    FUZZ_ASSERT(strchr(p, '\n') == NULL);
    FUZZ_ASSERT(utf8_valid(e));
}

static void check_conf(const llg_conf_t *c)
{
    FUZZ_ASSERT(strcmp(c->source, "fuzz.yaml") == 0);
    FUZZ_ASSERT(c->workers >= 1);
    FUZZ_ASSERT(c->retry_attempts >= 1);
    FUZZ_ASSERT(c->listen_count >= 1);
    for (size_t i = 0; i < c->listen_count; i++) {
        FUZZ_ASSERT(c->listen[i].address != NULL);
        FUZZ_ASSERT((c->listen[i].tls_certificate == NULL) == (c->listen[i].tls_key == NULL));
    }
    for (size_t i = 0; i < c->token_count; i++)
        FUZZ_ASSERT(c->tokens[i].token != NULL && c->tokens[i].token[0] != '\0');
    for (size_t i = 0; i < c->provider_count; i++) {
        const llg_conf_provider_t *p = &c->providers[i];
        FUZZ_ASSERT(p->name != NULL && p->name[0] != '\0');
        FUZZ_ASSERT(strspn(p->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(p->name));
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(c->providers[j].name, p->name) != 0);
        FUZZ_ASSERT((p->base_url == NULL) == (p->type == LLG_PROVIDER_ECHO));
        for (size_t f = 0; f < p->fallback.count; f++) {
            size_t k = 0;
            while (k < c->provider_count && strcmp(c->providers[k].name, p->fallback.items[f]) != 0)
                k++;
            FUZZ_ASSERT(k < c->provider_count);
        }
    }
    size_t targets = 0;
    for (size_t i = 0; i < c->group_count; i++) {
        /* what pool/balance_view.c and the proxy rely on */
        const llg_conf_group_t *g = &c->groups[i];
        FUZZ_ASSERT(g->name != NULL && g->name[0] != '\0');
        FUZZ_ASSERT(g->target_count >= 1 && g->target_count <= LLG_GROUP_MAX_TARGETS);
        FUZZ_ASSERT(g->attempts >= 1 && g->breaker.cooldown_ms > 0 && g->latency.decay_ms > 0);
        FUZZ_ASSERT(g->affinity.header != NULL && g->affinity.load_factor >= 1.0);
        for (size_t t = 0; t < g->target_count; t++) {
            const llg_conf_target_t *tg = &g->targets[t];
            FUZZ_ASSERT(tg->provider < c->provider_count);
            FUZZ_ASSERT(c->providers[tg->provider].auth != LLG_AUTH_PASSTHROUGH);
            FUZZ_ASSERT(tg->weight >= 1 && tg->weight <= LLG_GROUP_MAX_WEIGHT && tg->priority <= LLG_GROUP_MAX_PRIO);
        }
        targets += g->target_count;
    }
    FUZZ_ASSERT(c->group_count <= 1024 && targets <= 4096);
    for (size_t i = 0; i < c->defaults.param_count; i++) {
        /* rendered JSON that the proxy splices into request bodies */
        cJSON *j = cJSON_Parse(c->defaults.params[i].json);
        FUZZ_ASSERT(j != NULL);
        cJSON_Delete(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const env[] = {NULL};
    llg_conf_errors_t errs = {0};
    llg_conf_t *c = llg_conf_load_string("fuzz.yaml", (const char *)data, size, env, &errs);
    if (c != NULL) {
        FUZZ_ASSERT(errs.count == 0);
        check_conf(c);
        llg_conf_free(c);
    } else {
        FUZZ_ASSERT(errs.count > 0);
        for (size_t i = 0; i < errs.count; i++)
            check_error(errs.items[i]);
    }
    llg_conf_errors_free(&errs);
    return 0;
}
