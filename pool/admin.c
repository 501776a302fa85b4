/*
 * pool/admin.c: the JSON document of /admin/keys: every key of the view with
 * its id, state and counters, and every access token with its label, rpm and
 * counters. Ids and labels only: never a secret, nor a hash of one beyond the
 * 8 hex digits of an id.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

void pool_json_string(FILE *out, const char *s)
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
        pool_json_string(out, view->providers[vk->provider].name);
        fputs(",\"id\":", out);
        pool_json_string(out, vk->id);
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
        pool_json_string(out, vt->label);
        fputs(",\"name\":", out);
        if (vt->name != NULL)
            pool_json_string(out, vt->name);
        else
            fputs("null", out);
        fprintf(out,
                ",\"rpm\":%u,\"requests\":%llu,\"rejected_rate_limited\":%llu,\"rejected_forbidden\":%llu,"
                "\"rejected_quota\":%llu,\"prompt_tokens\":%llu,\"completion_tokens\":%llu}",
                vt->rpm, (unsigned long long)st.requests, (unsigned long long)st.rejected_rate,
                (unsigned long long)st.rejected_forbidden, (unsigned long long)st.rejected_quota,
                (unsigned long long)st.prompt_tokens, (unsigned long long)st.completion_tokens);
    }
    fputs("]}\n", out);
    return ferror(out) ? -1 : 0;
}

static void usage_fields(FILE *out, const llg_pool_day_usage_t *u)
{
    fprintf(out, ",\"requests\":%llu,\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"month_tokens\":%llu",
            (unsigned long long)u->requests, (unsigned long long)u->prompt_tokens, (unsigned long long)u->completion_tokens,
            (unsigned long long)u->month_tokens);
}

static void utc_date(char *buf, size_t size, int64_t epoch_s, const char *fmt)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, fmt, &tm);
}

/* A token's quotas: limit, used, remaining and when each resets. */
static void quota_fields(FILE *out, const llg_pool_t *pool, const llg_pool_view_t *view, int token, int64_t now)
{
    llg_pool_limits_t lim;
    llg_pool_token_limits(pool, view, token, llg_pool_now_ms(), now, &lim);
    fputs(",\"quota\":{", out);
    bool first = true;
    for (int q = 0; q < LLG_QUOTA_COUNT; q++) {
        if (lim.quota[q].limit == 0)
            continue;
        char reset[32];
        utc_date(reset, sizeof(reset), lim.quota[q].reset_epoch_s, "%Y-%m-%dT%H:%M:%SZ");
        fprintf(out, "%s\"%s\":{\"limit\":%llu,\"used\":%llu,\"remaining\":%llu,\"resets_at\":\"%s\"}", first ? "" : ",",
                llg_quota_name((llg_quota_t)q), (unsigned long long)lim.quota[q].limit, (unsigned long long)lim.quota[q].used,
                (unsigned long long)lim.quota[q].remaining, reset);
        first = false;
    }
    fputc('}', out);
}

int llg_pool_write_usage_json(llg_pool_t *pool, const llg_pool_view_t *view, int64_t now_epoch_s, FILE *out)
{
    llg_cluster_state_t cs = llg_pool_cluster_state(pool);
    bool cluster = cs != LLG_CLUSTER_OFF;
    char day[16], month[16];
    utc_date(day, sizeof(day), now_epoch_s, "%Y-%m-%d");
    utc_date(month, sizeof(month), now_epoch_s, "%Y-%m");
    fprintf(out, "{\"day\":\"%s\",\"month\":\"%s\",\"scope\":\"%s\"", day, month, cluster ? "cluster" : "host");
    if (cluster)
        fprintf(out, ",\"cluster\":\"%s\"", cs == LLG_CLUSTER_UP ? "up" : "degraded");
    fputs(",\"tokens\":[", out);
    bool first = true;
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue; /* a duplicate secret: the first entry shows it */
        llg_pool_day_usage_t u;
        llg_pool_token_day_usage(pool, view, (int)i, now_epoch_s, cluster, &u);
        fputs(first ? "{\"token\":" : ",{\"token\":", out);
        first = false;
        pool_json_string(out, vt->label);
        usage_fields(out, &u);
        quota_fields(out, pool, view, (int)i, now_epoch_s);
        fputc('}', out);
    }
    fputs("],\"keys\":[", out);
    for (size_t i = 0; i < view->key_count; i++) {
        const view_key_t *vk = &view->keys[i];
        llg_pool_day_usage_t u;
        llg_pool_key_day_usage(pool, (int32_t)vk->slot, now_epoch_s, cluster, &u);
        fputs(i == 0 ? "{\"provider\":" : ",{\"provider\":", out);
        pool_json_string(out, view->providers[vk->provider].name);
        fputs(",\"id\":", out);
        pool_json_string(out, vk->id);
        usage_fields(out, &u);
        fputc('}', out);
    }
    fputs("]}\n", out);
    return ferror(out) ? -1 : 0;
}
