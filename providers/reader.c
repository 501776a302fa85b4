/*
 * providers/reader.c: the shared part of the SSE-or-JSON answer readers (see
 * reader.h).
 */
#include "providers/reader.h"

#include <stdio.h>
#include <string.h>

#define BODY_MAX (16u << 20)

void llg_reader_init(llg_reader_t *r, const llg_xlate_params_t *params, const llg_reader_ops_t *ops)
{
    memset(r, 0, sizeof(*r));
    llg_answer_init(&r->a, params);
    llg_sse_init(&r->sse);
    r->ops = ops;
    r->tap = params->tap;
    r->tap_ctx = params->tap_ctx;
}

void llg_reader_dispose(llg_reader_t *r)
{
    llg_answer_dispose(&r->a);
    llg_sse_dispose(&r->sse);
    llg_strbuf_free(&r->body);
}

int llg_reader_fail(llg_reader_t *r, int status, const char *type, const char *code, llg_outcome_t outcome, const char *message)
{
    llg_xlate_set_error(&r->err, status, type, code, outcome, "%s", message);
    r->failed = true;
    return llg_answer_fail(&r->a, r->out, &r->err);
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    llg_reader_t *r = ctx;
    if (r->failed || r->done || !ev->has_data)
        return 0;
    if (r->tap != NULL)
        r->tap(r->tap_ctx, ev->name, ev->name_len, ev->data, ev->data_len);
    return r->ops->event(r, ev);
}

static int result(llg_reader_t *r, llg_xlate_error_t *err)
{
    r->out = NULL;
    if (r->failed) {
        *err = r->err;
        return -1;
    }
    return 0;
}

int llg_reader_feed(llg_reader_t *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    r->out = out;
    if (r->failed)
        return result(r, err);
    if (!r->a.stream) {
        if (r->body.len + n > BODY_MAX)
            llg_reader_fail(r, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                            "The upstream provider's answer is larger than 16 MiB.");
        else
            llg_strbuf_append(&r->body, p, n);
    } else if (llg_sse_feed(&r->sse, p, n, on_event, r) != 0 && !r->failed) {
        llg_reader_fail(r, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                        "The upstream provider sent an event larger than 1 MiB.");
    }
    return result(r, err);
}

int llg_reader_end(llg_reader_t *r, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    r->out = out;
    if (!r->failed && !r->a.stream) {
        if (r->tap != NULL)
            r->tap(r->tap_ctx, NULL, 0, r->body.data != NULL ? r->body.data : "", r->body.len);
        cJSON *j = cJSON_ParseWithLength(r->body.data != NULL ? r->body.data : "", r->body.len);
        if (cJSON_IsObject(j))
            r->ops->whole(r, j);
        else
            llg_reader_fail(r, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                            "The upstream provider's answer is not a JSON object.");
        cJSON_Delete(j);
    } else if (!r->failed && !r->done && !(r->ops->finish_ends && r->finish[0] != '\0')) {
        llg_reader_fail(r, 502, "server_error", "upstream_truncated", LLG_OUTCOME_SERVER,
                        "The upstream provider ended the stream early.");
    }
    if (!r->failed)
        llg_answer_finish(&r->a, out, r->finish[0] ? r->finish : NULL);
    return result(r, err);
}
