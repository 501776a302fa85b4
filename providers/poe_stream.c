/*
 * providers/poe_stream.c: the answer side of Poe's bot protocol (see poe.h):
 * SSE events in, OpenAI form out (through providers/answer.h), and Poe's HTTP
 * errors.
 */
#include "providers/poe.h"

#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/sse.h"

struct llg_poe_stream {
    llg_answer_t a;
    llg_sse_reader_t sse;
    llg_strbuf_t answer; /* the bot's answer since the last break (all of it when not streaming) */
    llg_strbuf_t piece;  /* scratch: the bytes of one content chunk */
    bool emitted;        /* streaming: some content was sent */
    bool pending_break;  /* streaming: the next content starts with "\n\n" (a replacement broke the text) */
    bool done;
    bool failed;
    llg_xlate_error_t err; /* the failure, repeated to later calls */
    llg_strbuf_t *out;     /* during a feed */
};

llg_poe_stream_t *llg_poe_stream_new(const llg_xlate_params_t *params)
{
    llg_poe_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_answer_init(&s->a, params);
    llg_sse_init(&s->sse);
    return s;
}

void llg_poe_stream_free(llg_poe_stream_t *s)
{
    if (s == NULL)
        return;
    llg_answer_dispose(&s->a);
    llg_sse_dispose(&s->sse);
    llg_strbuf_free(&s->answer);
    llg_strbuf_free(&s->piece);
    free(s);
}

static int fail(llg_poe_stream_t *s, int status, const char *type, const char *code, llg_outcome_t outcome, const char *message)
{
    llg_xlate_set_error(&s->err, status, type, code, outcome, "%s", message);
    s->failed = true;
    return llg_answer_fail(&s->a, s->out, &s->err);
}

static int protocol_error(llg_poe_stream_t *s, const char *event)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "The Poe bot sent a malformed '%.40s' event.", event);
    return fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER, msg);
}

/* streaming: sends `text`, after the pending break if any */
static void send_content(llg_poe_stream_t *s, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (s->pending_break) {
        s->piece.len = 0;
        llg_strbuf_append(&s->piece, "\n\n", 2);
        llg_strbuf_append(&s->piece, text, len);
        text = s->piece.data;
        len = s->piece.len;
        s->pending_break = false;
    }
    llg_answer_content(&s->a, s->out, text, len);
    s->emitted = true;
}

static void on_text(llg_poe_stream_t *s, const char *text, size_t len)
{
    llg_strbuf_append(&s->answer, text, len);
    if (s->a.stream)
        send_content(s, text, len);
}

static void on_replace(llg_poe_stream_t *s, const char *text, size_t len)
{
    bool extends = len >= s->answer.len && (s->answer.len == 0 || memcmp(text, s->answer.data, s->answer.len) == 0);
    size_t old = s->answer.len;
    s->answer.len = 0;
    llg_strbuf_append(&s->answer, text, len);
    if (!s->a.stream)
        return;
    if (extends) {
        send_content(s, text + old, len - old);
        return;
    }
    /* what was sent stays: break the text, then the replacement whole */
    if (s->emitted)
        s->pending_break = true;
    send_content(s, text, len);
}

/* Poe's `error` event: see poe.h for the mapping */
static int on_error_event(llg_poe_stream_t *s, const char *data, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(data, len);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "error_type");
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(j, "allow_retry");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    char msg[512];
    snprintf(msg, sizeof(msg), "%s",
             cJSON_IsString(text) && text->valuestring[0] != '\0' ? text->valuestring : "The Poe bot reported an error.");
    bool allow_retry = !cJSON_IsFalse(retry); /* absent: Poe's default is true */
    int rc;
    if (strcmp(t, "insufficient_fund") == 0 || strstr(t, "insufficient") != NULL)
        rc = fail(s, 402, "insufficient_quota", "insufficient_quota", LLG_OUTCOME_PAYMENT, msg);
    else if (strstr(t, "auth") != NULL) /* about our key: its text stays here */
        rc = fail(s, 502, "server_error", "upstream_auth_failed", LLG_OUTCOME_AUTH, "Poe rejected the gateway's API key.");
    else if (strstr(t, "rate_limit") != NULL)
        rc = fail(s, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, msg);
    else if (strcmp(t, "user_message_too_long") == 0)
        rc = fail(s, 400, "invalid_request_error", "context_length_exceeded", LLG_OUTCOME_CLIENT, msg);
    else if (strcmp(t, "user_caused_error") == 0)
        rc = fail(s, 400, "invalid_request_error", "invalid_request", LLG_OUTCOME_CLIENT, msg);
    else
        rc = fail(s, 502, "server_error", "upstream_error", allow_retry ? LLG_OUTCOME_SERVER : LLG_OUTCOME_CLIENT, msg);
    cJSON_Delete(j);
    return rc;
}

static bool is(const llg_sse_event_t *ev, const char *name)
{
    return ev->name_len == strlen(name) && memcmp(ev->name, name, ev->name_len) == 0;
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    llg_poe_stream_t *s = ctx;
    if (s->done || ev->comment)
        return 0; /* nothing counts after done */
    bool text = is(ev, "text"), replace = is(ev, "replace_response");
    if (text || replace) {
        cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (!cJSON_IsString(t)) {
            cJSON_Delete(j);
            return protocol_error(s, text ? "text" : "replace_response");
        }
        size_t tlen = strlen(t->valuestring);
        /* the answer is kept whole (replace_response compares against it):
         * a bot may not grow it past what a worker should hold */
        if ((text ? s->answer.len : 0) + tlen > LLG_POE_ANSWER_MAX) {
            cJSON_Delete(j);
            return fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                        "The Poe bot's answer is larger than 16 MiB.");
        }
        if (text)
            on_text(s, t->valuestring, tlen);
        else
            on_replace(s, t->valuestring, tlen);
        cJSON_Delete(j);
        return 0;
    }
    if (is(ev, "error"))
        return on_error_event(s, ev->data, ev->data_len);
    if (is(ev, "done")) {
        s->done = true;
        if (s->a.stream)
            llg_answer_finish(&s->a, s->out, "stop");
        return 0;
    }
    return 0; /* meta, suggested_reply, json, ping, anything else */
}

static int repeat_failure(llg_poe_stream_t *s, llg_xlate_error_t *err)
{
    *err = s->err;
    if (s->a.committed)
        err->http_status = 0;
    return -1;
}

int llg_poe_feed(llg_poe_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (s->failed)
        return repeat_failure(s, err);
    s->out = out;
    int rc = llg_sse_feed(&s->sse, p, n, on_event, s);
    if (rc != 0 && !s->failed) /* the reader refused an event over its size limit */
        fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER, "The Poe bot sent an event larger than 1 MiB.");
    s->out = NULL;
    if (s->failed) {
        *err = s->err;
        return -1;
    }
    return 0;
}

int llg_poe_end(llg_poe_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (s->failed)
        return repeat_failure(s, err);
    if (!s->done && llg_sse_pending(&s->sse) > 0) {
        /* a last event without its blank line: end it */
        if (llg_poe_feed(s, "\n\n", 2, out, err) != 0)
            return -1;
    }
    s->out = out;
    if (!s->done) {
        fail(s, 502, "server_error", "upstream_truncated", LLG_OUTCOME_SERVER,
             "The Poe bot ended the answer without finishing it.");
        s->out = NULL;
        *err = s->err;
        return -1;
    }
    if (!s->a.stream) {
        llg_answer_content(&s->a, out, s->answer.data != NULL ? s->answer.data : "", s->answer.len);
        llg_answer_finish(&s->a, out, "stop");
    }
    s->out = NULL;
    return 0;
}

void llg_poe_usage(const llg_poe_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->a, prompt, completion, estimated);
}

void llg_poe_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err)
{
    llg_upstream_error_t ue;
    llg_xlate_parse_error_body(body, len, &ue);
    const char *m = ue.message;
    bool payment = strstr(ue.code, "insufficient") != NULL;
    if (payment || status == 402)
        llg_xlate_set_error(err, 402, "insufficient_quota", "insufficient_quota", LLG_OUTCOME_PAYMENT, "%s",
                            m[0] ? m : "The Poe account has no points left for this bot.");
    else if (status == 401 || status == 403)
        /* Poe's own text is not relayed: it is about our key, and may quote it */
        llg_xlate_set_error(err, 502, "server_error", "upstream_auth_failed", LLG_OUTCOME_AUTH,
                            "Poe rejected the gateway's API key (HTTP %d).", status);
    else if (status == 429)
        llg_xlate_set_error(err, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, "%s",
                            m[0] ? m : "Poe rate limit reached.");
    else if (status == 404)
        llg_xlate_set_error(err, 404, "invalid_request_error", "model_not_found", LLG_OUTCOME_CLIENT, "%s",
                            m[0] ? m : "No Poe bot has this name.");
    else if (status == 408)
        llg_xlate_set_error(err, 504, "server_error", "upstream_timeout", LLG_OUTCOME_NETWORK, "%s", m[0] ? m : "Poe timed out.");
    else if (status >= 400 && status < 500)
        llg_xlate_set_error(err, status, "invalid_request_error", ue.code[0] ? ue.code : "invalid_request", LLG_OUTCOME_CLIENT,
                            "%s", m[0] ? m : "Poe rejected the request.");
    else
        llg_xlate_set_error(err, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER, "Poe failed (HTTP %d)%s%s", status,
                            m[0] ? ": " : ".", m);
}
