/*
 * providers/anthropic_wire.c: the words Anthropic's protocol shares between
 * its client and upstream sides (see anthropic.h): stop reasons, error types
 * and bodies, and the input-token estimate of count_tokens.
 */
#include <string.h>

#include "providers/anthropic.h"
#include "providers/messages.h"
#include "providers/openai_form.h"

static const char *const stop_reasons[] = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"};

const char *llg_anthropic_stop_reason(const char *finish_reason)
{
    if (finish_reason == NULL || strcmp(finish_reason, "stop") == 0)
        return "end_turn";
    if (strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    if (strcmp(finish_reason, "tool_calls") == 0 || strcmp(finish_reason, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish_reason, "content_filter") == 0)
        return "refusal";
    for (size_t i = 0; i < sizeof(stop_reasons) / sizeof(stop_reasons[0]); i++)
        if (strcmp(finish_reason, stop_reasons[i]) == 0)
            return stop_reasons[i];
    return "end_turn";
}

const char *llg_anthropic_finish_reason(const char *stop_reason)
{
    if (stop_reason == NULL)
        return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0 || strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop";
}

static const char *const error_types[] = {"invalid_request_error", "authentication_error", "billing_error",    "permission_error",
                                          "not_found_error",       "request_too_large",    "rate_limit_error", "api_error",
                                          "overloaded_error",      "timeout_error"};

const char *llg_anthropic_error_type(int status, const char *type)
{
    /* the statuses Anthropic gives a type of their own decide */
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
        return "overloaded_error";
    default:
        break;
    }
    for (size_t i = 0; type != NULL && i < sizeof(error_types) / sizeof(error_types[0]); i++)
        if (strcmp(type, error_types[i]) == 0 && (i != 0 || status < 500))
            return error_types[i];
    if (type != NULL && strcmp(type, "rate_limit_exceeded") == 0)
        return "rate_limit_error";
    if (status == 503)
        return "overloaded_error";
    if (status == 504)
        return "timeout_error";
    return status == 0 || status >= 500 ? "api_error" : "invalid_request_error";
}

void llg_anthropic_error_body(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                              const char *message)
{
    (void)code;
    (void)param;
    llg_strbuf_appends(out, "{\"type\":\"error\",\"error\":{\"type\":\"");
    llg_strbuf_appends(out, llg_anthropic_error_type(status, type));
    llg_strbuf_appends(out, "\",\"message\":");
    llg_strbuf_append_json_text(out, message);
    llg_strbuf_appends(out, "}}");
}

uint64_t llg_anthropic_estimate_input(const cJSON *root)
{
    llg_strbuf_t text = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        llg_message_text(m, &text);
        llg_strbuf_append(&text, " ", 1);
    }
    const cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(root, "tools"))
    {
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(tool, "function"));
        if (s != NULL)
            llg_strbuf_appends(&text, s);
        cJSON_free(s);
        llg_strbuf_append(&text, " ", 1);
    }
    uint64_t n = llg_estimate_tokens(text.data != NULL ? text.data : "", text.len);
    llg_strbuf_free(&text);
    return n;
}
