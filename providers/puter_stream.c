/*
 * providers/puter_stream.c: the answer side of Puter's driver API (see
 * puter.h): NDJSON lines or one JSON body in, OpenAI form out (through
 * providers/answer.h), and Puter's errors, in-band or HTTP.
 */
#include "providers/puter.h"

#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/ndjson.h"

#define BODY_MAX ((size_t)16 << 20) /* a non-stream answer larger than this is refused */

struct llg_puter_stream {
    llg_answer_t a;
    llg_ndjson_reader_t nd;
    llg_strbuf_t body;         /* not streaming: the whole body */
    const char *finish_reason; /* from a result, else derived */
    unsigned values;           /* JSON values read */
    bool typed_pieces;         /* text/reasoning/tool_use lines were read */
    bool failed;
    llg_xlate_error_t err;
    llg_strbuf_t *out; /* during a call */
};

llg_puter_stream_t *llg_puter_stream_new(const llg_xlate_params_t *params)
{
    llg_puter_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_answer_init(&s->a, params);
    llg_ndjson_init(&s->nd);
    return s;
}

void llg_puter_stream_free(llg_puter_stream_t *s)
{
    if (s == NULL)
        return;
    llg_answer_dispose(&s->a);
    llg_ndjson_dispose(&s->nd);
    llg_strbuf_free(&s->body);
    free(s);
}

/* ---- errors ------------------------------------------------------------ */

static bool has(const char *code, const char *part)
{
    return strstr(code, part) != NULL;
}

/* the mapping of puter.h; `status` is Puter's own (error.status) or the HTTP one */
static void map_error(llg_xlate_error_t *err, int status, const char *code, const char *message)
{
    const char *m = message;
    if (strcmp(code, "token_auth_failed") == 0 || status == 401)
        llg_xlate_set_error(err, 401, "authentication_error", "invalid_api_key", LLG_OUTCOME_AUTH, "%s",
                            m[0] ? m : "Puter rejected the auth token.");
    else if (status == 402 || has(code, "insufficient") || has(code, "funds") || has(code, "credit"))
        llg_xlate_set_error(err, 402, "insufficient_quota", "insufficient_quota", LLG_OUTCOME_PAYMENT, "%s",
                            m[0] ? m : "The Puter account has no funds left.");
    else if (status == 429 || has(code, "rate_limit") || has(code, "too_many"))
        llg_xlate_set_error(err, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, "%s",
                            m[0] ? m : "Puter rate limit reached.");
    else if (status == 403 || strcmp(code, "forbidden") == 0 || strcmp(code, "permission_denied") == 0)
        llg_xlate_set_error(err, 403, "permission_error", code[0] ? code : "permission_denied", LLG_OUTCOME_AUTH, "%s",
                            m[0] ? m : "Puter refused access.");
    else if (has(code, "moderation"))
        llg_xlate_set_error(err, 400, "invalid_request_error", "content_policy_violation", LLG_OUTCOME_CLIENT, "%s",
                            m[0] ? m : "Puter's moderation refused the request.");
    else if (status >= 400 && status < 500)
        llg_xlate_set_error(err, status, "invalid_request_error", code[0] ? code : "invalid_request", LLG_OUTCOME_CLIENT, "%s",
                            m[0] ? m : "Puter rejected the request.");
    else
        llg_xlate_set_error(err, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER, "%s",
                            m[0] ? m : "Puter failed to answer.");
}

void llg_puter_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err)
{
    llg_upstream_error_t ue;
    llg_xlate_parse_error_body(body, len, &ue);
    /* the HTTP status first; a 200-range or 5xx status may carry a more precise one in the body */
    int st = status >= 400 && status < 500 ? status : (ue.status >= 400 && ue.status < 500 ? ue.status : status);
    map_error(err, st, ue.code, ue.message);
}

static int fail_with(llg_puter_stream_t *s)
{
    s->failed = true;
    return llg_answer_fail(&s->a, s->out, &s->err);
}

static int protocol_error(llg_puter_stream_t *s, const char *what)
{
    llg_xlate_set_error(&s->err, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER, "Puter sent %s.", what);
    return fail_with(s);
}

/* {"success":false,"error":{...}} or {"type":"error",...}: `j` is the line */
static int in_band_error(llg_puter_stream_t *s, const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    llg_upstream_error_t ue;
    llg_xlate_parse_error_body(text != NULL ? text : "", text != NULL ? strlen(text) : 0, &ue);
    cJSON_free(text);
    map_error(&s->err, ue.status, ue.code, ue.message);
    return fail_with(s);
}

/* ---- answer lines ------------------------------------------------------ */

static const cJSON *member(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static uint64_t amount(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    return v->valuedouble >= 1e15 ? (uint64_t)1e15 : (uint64_t)v->valuedouble;
}

static void take_usage(llg_puter_stream_t *s, const cJSON *u)
{
    uint64_t prompt = 0, completion = 0;
    bool found = false;
    if (cJSON_IsArray(u)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, u)
        {
            const cJSON *type = member(item, "type");
            if (!cJSON_IsString(type))
                continue;
            const char *t = type->valuestring;
            if (strncmp(t, "prompt", 6) == 0 || strncmp(t, "input", 5) == 0) {
                prompt += amount(member(item, "amount"));
                found = true;
            } else if (strncmp(t, "completion", 10) == 0 || strncmp(t, "output", 6) == 0) {
                completion += amount(member(item, "amount"));
                found = true;
            }
        }
    } else if (cJSON_IsObject(u)) {
        static const char *const in[] = {"input_tokens", "prompt_tokens"};
        static const char *const out[] = {"output_tokens", "completion_tokens"};
        for (int i = 0; i < 2; i++) {
            const cJSON *a = member(u, in[i]), *b = member(u, out[i]);
            if (cJSON_IsNumber(a) || cJSON_IsNumber(b)) {
                prompt = amount(a);
                completion = amount(b);
                found = true;
                break;
            }
        }
        /* Anthropic counts cached input apart; OpenAI's prompt_tokens include it */
        prompt += amount(member(u, "cache_creation_input_tokens")) + amount(member(u, "cache_read_input_tokens"));
    }
    if (found)
        llg_answer_set_usage(&s->a, prompt, completion);
}

static void tool_call(llg_puter_stream_t *s, const cJSON *id, const cJSON *name, const cJSON *args)
{
    const char *i = cJSON_IsString(id) ? id->valuestring : "";
    const char *n = cJSON_IsString(name) ? name->valuestring : "";
    char *a = NULL;
    const char *text = "{}";
    if (cJSON_IsString(args)) {
        text = args->valuestring;
    } else if (args != NULL && !cJSON_IsNull(args)) {
        a = cJSON_PrintUnformatted(args);
        if (a != NULL)
            text = a;
    }
    llg_answer_tool_call(&s->a, s->out, i, strlen(i), n, strlen(n), text, strlen(text));
    cJSON_free(a);
}

static void content(llg_puter_stream_t *s, const cJSON *v)
{
    if (cJSON_IsString(v))
        llg_answer_content(&s->a, s->out, v->valuestring, strlen(v->valuestring));
}

static void reasoning(llg_puter_stream_t *s, const cJSON *v)
{
    if (cJSON_IsString(v))
        llg_answer_reasoning(&s->a, s->out, v->valuestring, strlen(v->valuestring));
}

static void take_finish_reason(llg_puter_stream_t *s, const cJSON *v)
{
    static const char *const map[][2] = {
        {"stop", "stop"},
        {"length", "length"},
        {"tool_calls", "tool_calls"},
        {"content_filter", "content_filter"},
        {"function_call", "tool_calls"},
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"max_tokens", "length"},
        {"tool_use", "tool_calls"},
    };
    if (!cJSON_IsString(v))
        return;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(v->valuestring, map[i][0]) == 0)
            s->finish_reason = map[i][1];
}

/* a whole answer: {"message":{...},"finish_reason","usage"} (or an OpenAI
 * completion's choices[0]). After typed lines, a summary of what they already
 * said: only its finish reason and usage count. */
static void result(llg_puter_stream_t *s, const cJSON *r)
{
    const cJSON *choice = cJSON_GetArrayItem(member(r, "choices"), 0);
    const cJSON *msg = s->typed_pieces ? NULL : member(r, "message");
    if (msg == NULL && choice != NULL && !s->typed_pieces)
        msg = member(choice, "message");
    reasoning(s, member(msg, "reasoning_content"));
    reasoning(s, member(msg, "reasoning"));
    const cJSON *c = member(msg, "content");
    if (cJSON_IsArray(c)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *type = member(part, "type");
            if (cJSON_IsString(part))
                content(s, part);
            else if (!cJSON_IsString(type))
                continue;
            else if (strcmp(type->valuestring, "text") == 0 || strcmp(type->valuestring, "output_text") == 0)
                content(s, member(part, "text"));
            else if (strcmp(type->valuestring, "tool_use") == 0)
                tool_call(s, member(part, "id"), member(part, "name"), member(part, "input"));
            else if (strcmp(type->valuestring, "thinking") == 0)
                reasoning(s, member(part, "thinking"));
        }
    } else {
        content(s, c);
    }
    const cJSON *calls = member(msg, "tool_calls"), *call;
    if (cJSON_IsArray(calls))
        cJSON_ArrayForEach(call, calls)
        {
            const cJSON *fn = member(call, "function");
            tool_call(s, member(call, "id"), member(fn, "name"), member(fn, "arguments"));
        }
    take_finish_reason(s, member(r, "finish_reason"));
    if (choice != NULL)
        take_finish_reason(s, member(choice, "finish_reason"));
    take_usage(s, member(r, "usage"));
}

static int value(llg_puter_stream_t *s, const cJSON *j)
{
    if (!cJSON_IsObject(j))
        return protocol_error(s, "a line that is not a JSON object");
    s->values++;
    const cJSON *type = member(j, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (cJSON_IsFalse(member(j, "success")) || strcmp(t, "error") == 0)
        return in_band_error(s, j);
    if (strcmp(t, "text") == 0 || strcmp(t, "reasoning") == 0 || strcmp(t, "tool_use") == 0)
        s->typed_pieces = true;
    if (strcmp(t, "text") == 0)
        content(s, member(j, "text"));
    else if (strcmp(t, "reasoning") == 0)
        reasoning(s, member(j, "reasoning"));
    else if (strcmp(t, "tool_use") == 0)
        tool_call(s, member(j, "id"), member(j, "name"), member(j, "input"));
    else if (strcmp(t, "usage") == 0 && member(j, "usage") == NULL)
        take_usage(s, j);
    else if (t[0] == '\0' && cJSON_IsObject(member(j, "result")))
        result(s, member(j, "result"));
    take_usage(s, member(j, "usage"));
    return 0;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    llg_puter_stream_t *s = ctx;
    cJSON *j = cJSON_ParseWithLength(line, len);
    int rc = j != NULL ? value(s, j) : protocol_error(s, "a line that is not JSON");
    cJSON_Delete(j);
    return rc;
}

/* ---- the translator ---------------------------------------------------- */

static int repeat_failure(llg_puter_stream_t *s, llg_xlate_error_t *err)
{
    *err = s->err;
    if (s->a.committed)
        err->http_status = 0;
    return -1;
}

static int done_call(llg_puter_stream_t *s, llg_xlate_error_t *err)
{
    s->out = NULL;
    if (s->failed) {
        *err = s->err;
        return -1;
    }
    return 0;
}

int llg_puter_feed(llg_puter_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (s->failed)
        return repeat_failure(s, err);
    s->out = out;
    if (!s->a.stream) {
        if (s->body.len + n > BODY_MAX)
            protocol_error(s, "an answer larger than 16 MiB");
        else
            llg_strbuf_append(&s->body, p, n);
        return done_call(s, err);
    }
    if (llg_ndjson_feed(&s->nd, p, n, on_line, s) != 0 && !s->failed)
        protocol_error(s, "a line larger than 1 MiB");
    return done_call(s, err);
}

int llg_puter_end(llg_puter_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (s->failed)
        return repeat_failure(s, err);
    s->out = out;
    if (!s->a.stream) {
        /* one JSON value and nothing after it (the buffer's NUL ends it) */
        cJSON *j = s->body.data != NULL ? cJSON_ParseWithLengthOpts(s->body.data, s->body.len + 1, NULL, 1) : NULL;
        if (j != NULL) {
            value(s, j);
            cJSON_Delete(j);
        } else if (s->body.len > 0) {
            /* not one JSON value: NDJSON lines, as a stream would be */
            int rc = llg_ndjson_feed(&s->nd, s->body.data, s->body.len, on_line, s);
            if (rc == 0)
                rc = llg_ndjson_finish(&s->nd, on_line, s);
            if (rc != 0 && !s->failed)
                protocol_error(s, "a line larger than 1 MiB");
        }
    } else if (llg_ndjson_finish(&s->nd, on_line, s) != 0 && !s->failed) {
        protocol_error(s, "a line larger than 1 MiB");
    }
    if (!s->failed && s->values == 0)
        protocol_error(s, "an empty answer");
    if (!s->failed) /* tool calls end the turn whatever Puter's finish reason says */
        llg_answer_finish(&s->a, out, s->a.ntool_calls > 0 ? "tool_calls" : s->finish_reason);
    return done_call(s, err);
}

void llg_puter_usage(const llg_puter_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->a, prompt, completion, estimated);
}
