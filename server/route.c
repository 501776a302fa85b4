/*
 * server/route.c: model routing and token allowlists (see route.h).
 */
#include "server/route.h"

#include <ctype.h>
#include <string.h>

#include "pool/balance.h"

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

int llg_route_group(const llg_conf_t *conf, const char *model)
{
    for (size_t i = 0; i < conf->group_count; i++)
        if (llg_conf_glob_match(conf->groups[i].name, model))
            return (int)i;
    return -1;
}

/* Chains the text of a message (its role, then its content as JSON) into h. */
static uint64_t hash_message(const cJSON *m, uint64_t h)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (cJSON_IsString(role))
        h = llg_balance_hash(role->valuestring, strlen(role->valuestring) + 1, h);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(content)) {
        h = llg_balance_hash(content->valuestring, strlen(content->valuestring), h);
    } else if (content != NULL) {
        char *text = cJSON_PrintUnformatted(content);
        if (text != NULL)
            h = llg_balance_hash(text, strlen(text), h);
        cJSON_free(text);
    }
    return h;
}

uint64_t llg_route_affinity_key(const llg_conf_group_t *g, const h2o_req_t *req, const cJSON *root)
{
    const uint64_t seed = 0x616666696e697479ULL;
    ssize_t hi = h2o_find_header_by_str(&req->headers, g->affinity.header, strlen(g->affinity.header), -1);
    if (hi != -1)
        return llg_balance_hash(req->headers.entries[hi].value.base, req->headers.entries[hi].value.len, seed);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (cJSON_IsString(user) && user->valuestring[0] != '\0')
        return llg_balance_hash(user->valuestring, strlen(user->valuestring), seed + 1);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
    if (cJSON_IsArray(messages) && cJSON_GetArraySize(messages) > 0) {
        uint64_t h = seed + 2;
        cJSON_ArrayForEach(m, messages)
        {
            h = hash_message(m, h);
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
                break;
        }
        return h;
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (prompt == NULL)
        prompt = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (cJSON_IsString(prompt))
        return llg_balance_hash(prompt->valuestring, strlen(prompt->valuestring), seed + 3);
    return seed;
}
