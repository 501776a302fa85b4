/*
 * providers/openai_request.c: the OpenAI chat completions request, parsed
 * and validated (see openai_request.h). It is also the canonical request of
 * every other client protocol (providers/ingress.h).
 */
#include "providers/openai_request.h"

#include <stdio.h>
#include <string.h>

#include "providers/request_json.h"

/* 1 when an optional sampling parameter is neither absent, JSON null nor of
 * its type; integer: a whole number of at least 1 (max_tokens, n). */
static int bad_number(const cJSON *v, int integer)
{
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return 1;
    double d = v->valuedouble;
    return integer && (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(long long)d);
}

cJSON *llg_chat_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    cJSON *root = llg_request_json(body, len, err, errsize, param, paramsize);
    if (root == NULL)
        return NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        snprintf(param, paramsize, "model");
        snprintf(err, errsize, "Invalid type for 'model': expected a string, but got %s.", llg_json_type_name(model));
        goto Error;
    }
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (messages == NULL) {
        snprintf(param, paramsize, "messages");
        snprintf(err, errsize, "Missing required parameter: 'messages'.");
        goto Error;
    }
    if (!cJSON_IsArray(messages)) {
        snprintf(param, paramsize, "messages");
        snprintf(err, errsize, "Invalid type for 'messages': expected an array, but got %s.", llg_json_type_name(messages));
        goto Error;
    }
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (!cJSON_IsObject(m)) {
            snprintf(param, paramsize, "messages[%d]", i);
            snprintf(err, errsize, "Invalid type for 'messages[%d]': expected an object, but got %s.", i, llg_json_type_name(m));
            goto Error;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) {
            snprintf(param, paramsize, "messages[%d].role", i);
            snprintf(err, errsize,
                     role == NULL ? "Missing required parameter: 'messages[%d].role'."
                                  : "Invalid type for 'messages[%d].role': expected a string.",
                     i);
            goto Error;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content != NULL && !cJSON_IsString(content) && !cJSON_IsArray(content) && !cJSON_IsNull(content)) {
            snprintf(param, paramsize, "messages[%d].content", i);
            snprintf(err, errsize, "Invalid type for 'messages[%d].content': expected a string or an array, but got %s.", i,
                     llg_json_type_name(content));
            goto Error;
        }
        i++;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        snprintf(param, paramsize, "stream");
        snprintf(err, errsize, "Invalid type for 'stream': expected a boolean, but got %s.", llg_json_type_name(stream));
        goto Error;
    }
    /* sampling parameters: a wrong type is refused here rather than dropped by
     * a translating provider or refused by only some upstreams */
    static const struct {
        const char *name;
        int integer;
    } numeric[] = {
        {"temperature", 0}, {"top_p", 0}, {"presence_penalty", 0}, {"frequency_penalty", 0}, {"max_completion_tokens", 1},
        {"max_tokens", 1},  {"n", 1},
    };
    for (size_t k = 0; k < sizeof(numeric) / sizeof(numeric[0]); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, numeric[k].name);
        if (bad_number(v, numeric[k].integer)) {
            snprintf(param, paramsize, "%s", numeric[k].name);
            if (cJSON_IsNumber(v))
                snprintf(err, errsize, "Invalid value for '%s': expected an integer of at least 1, but got %.17g.", numeric[k].name,
                         v->valuedouble);
            else
                snprintf(err, errsize, "Invalid type for '%s': expected %s, but got %s.", numeric[k].name,
                         numeric[k].integer ? "an integer" : "a number", llg_json_type_name(v));
            goto Error;
        }
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop != NULL && !cJSON_IsNull(stop) && !cJSON_IsString(stop)) {
        int ok = cJSON_IsArray(stop);
        const cJSON *s;
        cJSON_ArrayForEach(s, stop) ok = ok && cJSON_IsString(s);
        if (!ok) {
            snprintf(param, paramsize, "stop");
            snprintf(err, errsize, "Invalid type for 'stop': expected a string or an array of strings, but got %s.",
                     cJSON_IsArray(stop) ? "an array with a non-string" : llg_json_type_name(stop));
            goto Error;
        }
    }
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (opts != NULL && !cJSON_IsNull(opts)) {
        if (!cJSON_IsObject(opts)) {
            snprintf(param, paramsize, "stream_options");
            snprintf(err, errsize, "Invalid type for 'stream_options': expected an object, but got %s.", llg_json_type_name(opts));
            goto Error;
        }
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(opts, "include_usage");
        if (iu != NULL && !cJSON_IsBool(iu) && !cJSON_IsNull(iu)) {
            snprintf(param, paramsize, "stream_options.include_usage");
            snprintf(err, errsize, "Invalid type for 'stream_options.include_usage': expected a boolean, but got %s.",
                     llg_json_type_name(iu));
            goto Error;
        }
    }
    return root;
Error:
    cJSON_Delete(root);
    return NULL;
}
