/*
 * providers/poe_query.c: the request side of Poe's bot protocol (see poe.h):
 * the query body built from an OpenAI chat body, and the bot name of a model.
 */
#include "providers/poe.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/messages.h"

static const char *poe_role(const char *role, bool *tool_result)
{
    *tool_result = false;
    if (strcmp(role, "system") == 0)
        return "system";
    if (strcmp(role, "assistant") == 0)
        return "bot";
    if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0)
        *tool_result = true;
    return "user"; /* user, developer (SPEC), tool results, anything else */
}

static int append_message(llg_strbuf_t *out, const cJSON *m, llg_strbuf_t *text)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (!cJSON_IsObject(m) || !cJSON_IsString(role))
        return -1;
    bool tool_result;
    const char *r = poe_role(role->valuestring, &tool_result);
    llg_strbuf_reset(text);
    if (tool_result)
        llg_strbuf_appends(text, "[tool result] ");
    if (llg_message_text(m, text) != 0)
        return -1;
    llg_strbuf_appends(out, "{\"role\":\"");
    llg_strbuf_appends(out, r);
    llg_strbuf_appends(out, "\",\"content\":");
    llg_strbuf_append_json_string(out, text->data != NULL ? text->data : "", text->len);
    llg_strbuf_appends(out, ",\"content_type\":\"text/markdown\",\"timestamp\":0,\"message_id\":\"\",\"feedback\":[],"
                            "\"attachments\":[]}");
    return 0;
}

static void append_number(llg_strbuf_t *out, const cJSON *v, const char *dflt)
{
    char *s = cJSON_IsNumber(v) ? cJSON_PrintUnformatted(v) : NULL;
    llg_strbuf_appends(out, s != NULL ? s : dflt);
    cJSON_free(s);
}

static void append_stop(llg_strbuf_t *out, const cJSON *stop)
{
    llg_strbuf_append(out, "[", 1);
    if (cJSON_IsString(stop)) {
        llg_strbuf_append_json_string(out, stop->valuestring, strlen(stop->valuestring));
    } else if (cJSON_IsArray(stop)) {
        int n = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, stop)
        {
            if (!cJSON_IsString(s))
                continue;
            if (n++ > 0)
                llg_strbuf_append(out, ",", 1);
            llg_strbuf_append_json_string(out, s->valuestring, strlen(s->valuestring));
        }
    }
    llg_strbuf_append(out, "]", 1);
}

int llg_poe_build_query(const cJSON *root, llg_strbuf_t *out)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(messages))
        return -1;
    size_t start = out->len;
    llg_strbuf_t text = {0};
    llg_strbuf_appends(out, "{\"version\":\"1.2\",\"type\":\"query\",\"query\":[");
    int n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (n++ > 0)
            llg_strbuf_append(out, ",", 1);
        if (append_message(out, m, &text) != 0) {
            llg_strbuf_free(&text);
            out->len = start;
            if (out->data != NULL)
                out->data[start] = '\0';
            return -1;
        }
    }
    llg_strbuf_free(&text);
    llg_strbuf_appends(out, "],\"user_id\":\"\",\"conversation_id\":\"\",\"message_id\":\"\",\"metadata\":\"\","
                            "\"api_key\":\"<missing>\",\"access_key\":\"<missing>\",\"temperature\":");
    append_number(out, cJSON_GetObjectItemCaseSensitive(root, "temperature"), "0.7");
    llg_strbuf_appends(out, ",\"skip_system_prompt\":false,\"logit_bias\":{},\"stop_sequences\":");
    append_stop(out, cJSON_GetObjectItemCaseSensitive(root, "stop"));
    llg_strbuf_appends(out, ",\"language_code\":\"en\",\"bot_query_id\":\"\"}");
    return 0;
}

static bool plausible_bot(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const char *llg_poe_bot_name(const llg_conf_provider_t *p, const char *model)
{
    if (model == NULL)
        return NULL;
    size_t plen = p->name != NULL ? strlen(p->name) : 0;
    if (plen > 0 && strncmp(model, p->name, plen) == 0 && model[plen] == '/')
        model += plen + 1;
    const char *bot = NULL;
    for (size_t i = 0; i < p->model_map.count && bot == NULL; i++)
        if (strcmp(p->model_map.items[i].key, model) == 0)
            bot = p->model_map.items[i].value;
    for (size_t i = 0; i < p->model_map.count && bot == NULL; i++)
        if (strcasecmp(p->model_map.items[i].key, model) == 0)
            bot = p->model_map.items[i].value;
    for (size_t i = 0; i < p->list_models.count && bot == NULL; i++)
        if (strcasecmp(p->list_models.items[i], model) == 0)
            bot = p->list_models.items[i];
    if (bot == NULL)
        bot = model;
    return plausible_bot(bot) ? bot : NULL;
}
