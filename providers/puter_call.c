/*
 * providers/puter_call.c: the request side of Puter's driver API (see
 * puter.h): the driver of a model, the call body, the model list.
 */
#include "providers/puter.h"

#include <string.h>

#include "providers/models.h"

/* Puter's chat services by the model ids they serve, as puter.js picks them
 * (service names of Puter's backend). First match wins. */
static const struct {
    const char *prefix;
    const char *driver;
} drivers[] = {
    {"openrouter:", "openrouter"},
    {"togetherai:", "together-ai"},
    {"together-ai:", "together-ai"},
    {"together:", "together-ai"},
    {"ollama:", "ollama"},
    {"gpt-", "openai-completion"},
    {"chatgpt-", "openai-completion"},
    {"o1", "openai-completion"},
    {"o3", "openai-completion"},
    {"o4", "openai-completion"},
    {"claude-", "claude"},
    {"gemini-", "gemini"},
    {"grok-", "xai"},
    {"mistral-", "mistral"},
    {"open-mistral-", "mistral"},
    {"codestral-", "mistral"},
    {"pixtral-", "mistral"},
    {"magistral-", "mistral"},
    {"devstral-", "mistral"},
    {"deepseek-", "deepseek"},
};

const char *llg_puter_driver(const char *model)
{
    if (model == NULL || model[0] == '\0')
        return "openai-completion"; /* puter.js's default */
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (strncmp(model, drivers[i].prefix, strlen(drivers[i].prefix)) == 0)
            return drivers[i].driver;
    return "openrouter";
}

static void append_json(llg_strbuf_t *out, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s != NULL)
        llg_strbuf_appends(out, s);
    else
        llg_strbuf_appends(out, "null");
    cJSON_free(s);
}

int llg_puter_build_call(const cJSON *root, const char *model, const char *driver, bool stream, llg_strbuf_t *out)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(messages))
        return -1;
    if (model == NULL)
        model = "";
    if (driver == NULL)
        driver = llg_puter_driver(model);
    llg_strbuf_appends(out, "{\"interface\":\"puter-chat-completion\",\"driver\":");
    llg_strbuf_append_json_string(out, driver, strlen(driver));
    llg_strbuf_appends(out, ",\"test_mode\":false,\"method\":\"complete\",\"args\":{\"messages\":");
    append_json(out, messages);
    llg_strbuf_appends(out, ",\"model\":");
    llg_strbuf_append_json_string(out, model, strlen(model));
    llg_strbuf_appends(out, stream ? ",\"stream\":true" : ",\"stream\":false");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (!cJSON_IsNumber(max))
        max = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens");
    if (cJSON_IsNumber(max)) {
        llg_strbuf_appends(out, ",\"max_tokens\":");
        append_json(out, max);
    }
    const cJSON *temperature = cJSON_GetObjectItemCaseSensitive(root, "temperature");
    if (cJSON_IsNumber(temperature)) {
        llg_strbuf_appends(out, ",\"temperature\":");
        append_json(out, temperature);
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(tools)) {
        llg_strbuf_appends(out, ",\"tools\":");
        append_json(out, tools);
    }
    llg_strbuf_appends(out, "}}");
    return 0;
}

int llg_puter_models(const char *json, size_t len, llg_strbuf_t *out)
{
    return llg_models_normalize(json, len, "puter", out);
}
