/*
 * server/route.c: model routing and token allowlists (see route.h).
 */
#include "server/route.h"

#include <ctype.h>
#include <string.h>

/* Poe bot names are matched case-insensitively (SPEC section 7). */
static int glob_match_nocase(const char *pattern, const char *s)
{
    char p[256], m[256];
    size_t i;
    for (i = 0; pattern[i] != '\0' && i < sizeof(p) - 1; i++)
        p[i] = (char)tolower((unsigned char)pattern[i]);
    p[i] = '\0';
    for (i = 0; s[i] != '\0' && i < sizeof(m) - 1; i++)
        m[i] = (char)tolower((unsigned char)s[i]);
    m[i] = '\0';
    return llg_conf_glob_match(p, m);
}

int llg_route(const llg_conf_t *conf, const char *model, const char **upstream_model)
{
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        int nocase = p->type == LLG_PROVIDER_POE && strlen(model) < 255;
        for (size_t j = 0; j < p->model_map.count; j++) {
            if (strcmp(p->model_map.items[j].key, model) == 0) {
                if (upstream_model != NULL)
                    *upstream_model = p->model_map.items[j].value;
                return (int)i;
            }
        }
        for (size_t j = 0; j < p->models.count; j++) {
            if (nocase ? glob_match_nocase(p->models.items[j], model) : llg_conf_glob_match(p->models.items[j], model)) {
                if (upstream_model != NULL)
                    *upstream_model = model;
                return (int)i;
            }
        }
    }
    return -1;
}

int llg_token_allows(const llg_conf_token_t *token, const char *model)
{
    if (token->models.count == 0)
        return 1;
    for (size_t i = 0; i < token->models.count; i++)
        if (llg_conf_glob_match(token->models.items[i], model))
            return 1;
    return 0;
}
