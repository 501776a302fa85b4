/*
 * providers/models.c: model list normalisation (see models.h).
 */
#include "providers/models.h"

#include <cjson/cJSON.h>
#include <string.h>

void llg_models_item(llg_strbuf_t *out, const char *id, long long created, const char *owner)
{
    llg_strbuf_appends(out, "{\"id\":");
    llg_strbuf_append_json_string(out, id, strlen(id));
    llg_strbuf_appendf(out, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", created);
    llg_strbuf_append_json_string(out, owner, strlen(owner));
    llg_strbuf_appends(out, "}\n");
}

/* An id or owner from the upstream is listed only when it is printable,
 * valid UTF-8 and of a sane length: the list is JSON a client parses, and an
 * id nobody could type would not route anyway. */
static int printable(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 512 && llg_utf8_printable(s, n);
}

int llg_models_normalize(const char *json, size_t len, const char *owner, llg_strbuf_t *out)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL)
        return -1;
    const cJSON *list = root;
    if (cJSON_IsObject(root)) {
        list = cJSON_GetObjectItemCaseSensitive(root, "data");
        if (!cJSON_IsArray(list))
            list = cJSON_GetObjectItemCaseSensitive(root, "models");
    }
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        return -1;
    }
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const char *id = NULL, *by = owner;
        long long created = 0;
        if (cJSON_IsString(item)) {
            id = item->valuestring;
        } else if (cJSON_IsObject(item)) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "id");
            if (cJSON_IsString(v))
                id = v->valuestring;
            v = cJSON_GetObjectItemCaseSensitive(item, "created");
            if (cJSON_IsNumber(v) && v->valuedouble > 0) {
                double c = v->valuedouble;
                /* Poe reports milliseconds: no epoch second is above 1e11 before the year 5138 */
                if (c > 1e11)
                    c /= 1000;
                created = c < 1e11 ? (long long)c : 0;
            }
            v = cJSON_GetObjectItemCaseSensitive(item, "owned_by");
            if (cJSON_IsString(v) && printable(v->valuestring))
                by = v->valuestring;
        }
        if (id == NULL || !printable(id))
            continue;
        llg_models_item(out, id, created, by);
        n++;
    }
    cJSON_Delete(root);
    return n;
}
