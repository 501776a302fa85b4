/*
 * server/route.c: model routing and token allowlists (see route.h).
 */
#include "server/route.h"

#include <string.h>

int llg_route(const llg_conf_t *conf, const char *model, const char **upstream_model)
{
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        for (size_t j = 0; j < p->model_map.count; j++) {
            if (strcmp(p->model_map.items[j].key, model) == 0) {
                if (upstream_model != NULL)
                    *upstream_model = p->model_map.items[j].value;
                return (int)i;
            }
        }
        for (size_t j = 0; j < p->models.count; j++) {
            if (llg_conf_glob_match(p->models.items[j], model)) {
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
