/*
 * pool/admin.c: the JSON document of /admin/keys: every key of the view with
 * its id, state and counters, and every access token with its label, rpm and
 * counters. Ids and labels only: never a secret, nor a hash of one beyond the
 * 8 hex digits of an id.
 */
#include "internal.h"

#include <string.h>

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static const char *state_name(llg_key_state_t s)
{
    switch (s) {
    case LLG_KEY_USABLE:
        return "usable";
    case LLG_KEY_COOLING:
        return "cooling";
    case LLG_KEY_DISABLED:
        return "disabled";
    default:
        return "probing";
    }
}

int llg_pool_write_admin_json(llg_pool_t *pool, const llg_pool_view_t *view, uint64_t now_ms, FILE *out)
{
    fputs("{\"keys\":[", out);
    for (size_t i = 0; i < view->key_count; i++) {
        const view_key_t *vk = &view->keys[i];
        llg_pool_key_stats_t st;
        llg_pool_key_stats(pool, (int32_t)vk->slot, now_ms, &st);
        fputs(i == 0 ? "{\"provider\":" : ",{\"provider\":", out);
        json_string(out, view->providers[vk->provider].name);
        fputs(",\"id\":", out);
        json_string(out, vk->id);
        fprintf(out, ",\"state\":\"%s\",\"cooldown_remaining_ms\":%llu,\"requests\":%llu", state_name(st.state),
                (unsigned long long)st.cooldown_remaining_ms, (unsigned long long)st.requests);
        for (unsigned o = 0; o < LLG_OUTCOME_COUNT; o++)
            fprintf(out, ",\"%s\":%llu", llg_outcome_name((llg_outcome_t)o), (unsigned long long)st.outcomes[o]);
        fprintf(out,
                ",\"consecutive_failures\":%u,\"in_flight\":%d,\"last_status\":%d,\"prompt_tokens\":%llu,"
                "\"completion_tokens\":%llu}",
                st.consecutive_failures, (int)st.in_flight, (int)st.last_status, (unsigned long long)st.prompt_tokens,
                (unsigned long long)st.completion_tokens);
    }
    fputs("],\"tokens\":[", out);
    bool first = true;
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue;
        llg_pool_token_stats_t st;
        llg_pool_token_stats(pool, view, (int)i, &st);
        fputs(first ? "{\"id\":" : ",{\"id\":", out);
        first = false;
        json_string(out, vt->label);
        fputs(",\"name\":", out);
        if (vt->name != NULL)
            json_string(out, vt->name);
        else
            fputs("null", out);
        fprintf(out,
                ",\"rpm\":%u,\"requests\":%llu,\"rejected_rate_limited\":%llu,\"rejected_forbidden\":%llu,"
                "\"prompt_tokens\":%llu,\"completion_tokens\":%llu}",
                vt->rpm, (unsigned long long)st.requests, (unsigned long long)st.rejected_rate,
                (unsigned long long)st.rejected_forbidden, (unsigned long long)st.prompt_tokens,
                (unsigned long long)st.completion_tokens);
    }
    fputs("]}\n", out);
    return ferror(out) ? -1 : 0;
}
