/*
 * tests/fuzz/fuzz_adapter.h: one driver for the egress answer readers of the
 * adapter design (fuzz_anthropic_stream, fuzz_openai_stream): an upstream's
 * answer read into canonical events and rendered in a client protocol
 * (providers/answer.h).
 *
 * The first input byte picks the client's protocol (bit 0: OpenAI's chat
 * form or Anthropic's Messages form), streaming or not (bit 1) and
 * include_usage (bit 2); the next two pick the cut; the rest is the body.
 * The body is read once whole and once cut in two, and must give the same
 * output and result. Every output is valid UTF-8. Streaming, OpenAI's form:
 * only `data: <JSON object>` and `data: [DONE]` events, [DONE] last on
 * success and on a committed failure. Streaming, Anthropic's form: only
 * `event: NAME\ndata: <JSON object whose type is NAME>` events; message_start
 * first and once; content blocks started in index order from 0, stopped
 * before the next starts, never empty when text or thinking, deltas only for
 * a started block; success ends with message_delta then message_stop, a
 * committed failure with one `error` event. An uncommitted failure appends
 * nothing and carries a 4xx/5xx status; after a failure `end` fails again
 * and appends nothing. Not streaming: one JSON object on success
 * (chat.completion, or a message), nothing on failure.
 */
#ifndef LLG_FUZZ_ADAPTER_H
#define LLG_FUZZ_ADAPTER_H

#include "providers/answer.h"
#include "providers/egress.h"
#include "tests/fuzz/fuzz.h"

static int fuzz_adapter_once(const llg_egress_t *eg, const llg_xlate_params_t *params, const char *body, size_t size, size_t cut,
                             llg_strbuf_t *out, llg_xlate_error_t *err)
{
    void *r = eg->open(params);
    FUZZ_ASSERT(r != NULL);
    memset(err, 0, sizeof(*err));
    int rc = eg->feed(r, body, cut, out, err);
    if (rc == 0)
        rc = eg->feed(r, body + cut, size - cut, out, err);
    if (rc == 0) {
        rc = eg->end(r, out, err);
    } else {
        llg_xlate_error_t again;
        size_t before = out->len;
        FUZZ_ASSERT(eg->end(r, out, &again) == -1);
        FUZZ_ASSERT(out->len == before && again.http_status == err->http_status);
    }
    uint64_t prompt, completion;
    bool estimated;
    eg->usage(r, &prompt, &completion, &estimated);
    eg->close(r);
    if (rc != 0) {
        FUZZ_ASSERT(llg_utf8_valid(err->message, strlen(err->message)));
        FUZZ_ASSERT(err->message[0] != '\0' && err->code[0] != '\0' && err->type[0] != '\0');
        FUZZ_ASSERT(err->http_status == 0 || (err->http_status >= 400 && err->http_status < 600));
    }
    return rc;
}

static const char *fuzz_json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long fuzz_json_index(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "index");
    FUZZ_ASSERT(cJSON_IsNumber(v));
    return (long)v->valuedouble;
}

/* Checks an Anthropic event stream; returns the name of the last event ("" when none). */
static const char *fuzz_check_anthropic_sse(const llg_strbuf_t *out, bool *balanced)
{
    static char last[32];
    last[0] = '\0';
    FUZZ_ASSERT(llg_utf8_valid(out->data != NULL ? out->data : "", out->len));
    size_t pos = 0;
    int starts = 0;
    long next = 0, open = -1;
    bool open_has_delta = false, open_needs_delta = false, ended = false;
    while (pos < out->len) {
        FUZZ_ASSERT(!ended);
        const char *ev = out->data + pos;
        FUZZ_ASSERT(out->len - pos > 7 && memcmp(ev, "event: ", 7) == 0);
        const char *nl = memchr(ev, '\n', out->len - pos);
        FUZZ_ASSERT(nl != NULL);
        size_t name_len = (size_t)(nl - ev) - 7;
        FUZZ_ASSERT(name_len > 0 && name_len < sizeof(last));
        memcpy(last, ev + 7, name_len);
        last[name_len] = '\0';
        const char *d = nl + 1;
        FUZZ_ASSERT((size_t)(out->data + out->len - d) > 6 && memcmp(d, "data: ", 6) == 0);
        d += 6;
        const char *end = strstr(d, "\n\n");
        FUZZ_ASSERT(end != NULL);
        FUZZ_ASSERT(memchr(d, '\n', (size_t)(end - d)) == NULL);
        cJSON *j = cJSON_ParseWithLength(d, (size_t)(end - d));
        FUZZ_ASSERT(cJSON_IsObject(j));
        const char *type = fuzz_json_str(j, "type");
        FUZZ_ASSERT(type != NULL && strcmp(type, last) == 0);
        if (strcmp(type, "message_start") == 0) {
            FUZZ_ASSERT(pos == 0 && starts++ == 0);
        } else if (strcmp(type, "error") == 0) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
            FUZZ_ASSERT(fuzz_json_str(e, "type") != NULL && fuzz_json_str(e, "message") != NULL);
            ended = true;
        } else {
            FUZZ_ASSERT(starts == 1);
            if (strcmp(type, "content_block_start") == 0) {
                FUZZ_ASSERT(open == -1 && fuzz_json_index(j) == next);
                const char *bt = fuzz_json_str(cJSON_GetObjectItemCaseSensitive(j, "content_block"), "type");
                FUZZ_ASSERT(bt != NULL);
                open = next++;
                open_has_delta = false;
                open_needs_delta = strcmp(bt, "tool_use") != 0;
            } else if (strcmp(type, "content_block_delta") == 0) {
                long i = fuzz_json_index(j);
                FUZZ_ASSERT(i >= 0 && i < next);
                const cJSON *delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
                FUZZ_ASSERT(fuzz_json_str(delta, "type") != NULL);
                if (i == open)
                    open_has_delta = true;
            } else if (strcmp(type, "content_block_stop") == 0) {
                FUZZ_ASSERT(open >= 0 && fuzz_json_index(j) == open);
                FUZZ_ASSERT(open_has_delta || !open_needs_delta);
                open = -1;
            } else if (strcmp(type, "message_delta") == 0) {
                FUZZ_ASSERT(open == -1);
                FUZZ_ASSERT(fuzz_json_str(cJSON_GetObjectItemCaseSensitive(j, "delta"), "stop_reason") != NULL);
            } else if (strcmp(type, "message_stop") == 0) {
                ended = true;
            } else {
                FUZZ_ASSERT(strcmp(type, "ping") == 0);
            }
        }
        cJSON_Delete(j);
        pos = (size_t)(end - out->data) + 2;
    }
    *balanced = open == -1;
    return last;
}

/* Ollama's NDJSON: every line a JSON object; returns the last one's kind:
 * 'd' (done true), 'e' (an error), 'p' (a piece), 0 for no line. */
static char fuzz_check_ndjson(const llg_strbuf_t *out)
{
    FUZZ_ASSERT(llg_utf8_valid(out->data != NULL ? out->data : "", out->len));
    char last = 0;
    size_t off = 0;
    while (off < out->len) {
        const char *line = out->data + off;
        const char *nl = memchr(line, '\n', out->len - off);
        FUZZ_ASSERT(nl != NULL); /* every line ends */
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        FUZZ_ASSERT(cJSON_IsObject(j));
        FUZZ_ASSERT(last != 'd' && last != 'e'); /* nothing after the end */
        last = cJSON_GetObjectItemCaseSensitive(j, "error") != NULL        ? 'e'
               : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done")) ? 'd'
                                                                           : 'p';
        cJSON_Delete(j);
        off = (size_t)(nl - out->data) + 1;
    }
    return last;
}

static void fuzz_adapter(const llg_egress_t *eg, const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    uint8_t mode = data[0];
    const char *body = (const char *)data + 3;
    size_t n = size - 3;
    size_t cut = n == 0 ? 0 : ((size_t)data[1] << 8 | data[2]) % (n + 1);
    bool anthropic = mode & 1, stream = (mode & 2) != 0;
    /* bit 3: Ollama's chat (bit 4: generate) instead */
    bool ollama = (mode & 8) != 0;
    /* bit 5 (without bit 3): the Responses API */
    bool responses = !ollama && (mode & 32) != 0;
    const llg_render_t *render = ollama      ? ((mode & 16) ? &llg_render_ollama_generate : &llg_render_ollama_chat)
                                 : responses ? &llg_render_responses
                                 : anthropic ? &llg_render_anthropic
                                             : &llg_render_openai;
    llg_xlate_params_t params = {.render = render,
                                 .model = "fuzz",
                                 .stream = stream,
                                 .include_usage = (mode & 4) != 0,
                                 .prompt_tokens_estimate = 3,
                                 .random = {n, 42}};
    /* bit 6 (with the Responses API): the request offered custom tools f and
     * g, and local_shell: calls of them are custom_tool_call and
     * local_shell_call items */
    static const char custom_tools[] =
        "{\"tools\":[{\"type\":\"custom\",\"name\":\"f\"},{\"type\":\"custom\",\"name\":\"g\"},{\"type\":\"local_shell\"}]}";
    if (responses && (mode & 64) != 0) {
        params.request = custom_tools;
        params.request_len = sizeof(custom_tools) - 1;
    }
    llg_strbuf_t whole = {0}, split = {0};
    llg_xlate_error_t ew, es;
    int rw = fuzz_adapter_once(eg, &params, body, n, n, &whole, &ew);
    int rs = fuzz_adapter_once(eg, &params, body, n, cut, &split, &es);
    FUZZ_ASSERT(rw == rs);
    if (rw != 0)
        FUZZ_ASSERT(ew.http_status == es.http_status && strcmp(ew.code, es.code) == 0);
    if (rw != 0 && ew.http_status != 0)
        FUZZ_ASSERT(whole.len == 0 && ew.http_status >= 400);
    if (responses) {
        /* every event: `event: T` + data of type T, numbered 0, 1, 2, ...;
         * a success ends with response.completed/incomplete, a committed
         * failure with error then response.failed; a whole answer is one
         * response object */
        FUZZ_ASSERT(llg_utf8_valid(whole.data != NULL ? whole.data : "", whole.len));
        if (stream && (rw == 0 || ew.http_status == 0)) {
            const char *last = NULL;
            int seq = 0;
            for (const char *p = whole.data; p != NULL && (p = strstr(p, "\ndata: ")) != NULL; p += 7) {
                const char *e = strstr(p + 7, "\n\n");
                FUZZ_ASSERT(e != NULL);
                cJSON *j = cJSON_ParseWithLength(p + 7, (size_t)(e - p - 7));
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "sequence_number");
                FUZZ_ASSERT(cJSON_IsObject(j) && cJSON_IsNumber(n) && n->valueint == seq++);
                last = fuzz_json_str(j, "type");
                FUZZ_ASSERT(last != NULL);
                last = strstr(last, "response.completed") == last || strstr(last, "response.incomplete") == last ? "end"
                       : strcmp(last, "response.failed") == 0                                                    ? "failed"
                                                                                                                 : "piece";
                cJSON_Delete(j);
            }
            FUZZ_ASSERT(last != NULL && strcmp(last, rw == 0 ? "end" : "failed") == 0);
        } else if (rw == 0) {
            cJSON *j = cJSON_ParseWithLength(whole.data, whole.len);
            FUZZ_ASSERT(cJSON_IsObject(j));
            const char *object = fuzz_json_str(j, "object");
            FUZZ_ASSERT(object != NULL && strcmp(object, "response") == 0);
            cJSON_Delete(j);
        }
    } else if (ollama && stream) {
        char last = fuzz_check_ndjson(&whole);
        if (rw == 0)
            FUZZ_ASSERT(last == 'd');
        else if (ew.http_status == 0)
            FUZZ_ASSERT(last == 'e');
    } else if (ollama && rw == 0) {
        /* a whole answer: one object, done */
        FUZZ_ASSERT(llg_utf8_valid(whole.data, whole.len));
        cJSON *j = cJSON_ParseWithLength(whole.data, whole.len);
        FUZZ_ASSERT(cJSON_IsObject(j) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done")));
        cJSON_Delete(j);
    } else if (ollama) {
        FUZZ_ASSERT(whole.len == 0 && ew.http_status >= 400 && ew.http_status < 600);
    } else if (stream && !anthropic) {
        int done = fuzz_check_sse_output(&whole);
        if (rw == 0 || ew.http_status == 0)
            FUZZ_ASSERT(done);
    } else if (stream) {
        bool balanced;
        const char *last = fuzz_check_anthropic_sse(&whole, &balanced);
        if (rw == 0)
            FUZZ_ASSERT(strcmp(last, "message_stop") == 0 && balanced);
        else if (ew.http_status == 0)
            FUZZ_ASSERT(strcmp(last, "error") == 0);
    } else if (rw == 0) {
        FUZZ_ASSERT(llg_utf8_valid(whole.data, whole.len));
        cJSON *j = cJSON_ParseWithLength(whole.data, whole.len);
        FUZZ_ASSERT(cJSON_IsObject(j));
        const char *object = fuzz_json_str(j, anthropic ? "type" : "object");
        FUZZ_ASSERT(object != NULL && strcmp(object, anthropic ? "message" : "chat.completion") == 0);
        if (anthropic) {
            const cJSON *block;
            cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(j, "content"))
            {
                const char *bt = fuzz_json_str(block, "type");
                FUZZ_ASSERT(bt != NULL);
                if (strcmp(bt, "tool_use") == 0)
                    FUZZ_ASSERT(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(block, "input")));
            }
        }
        cJSON_Delete(j);
    } else {
        FUZZ_ASSERT(whole.len == 0 && ew.http_status >= 400 && ew.http_status < 600);
    }
    fuzz_normalize_created(&whole);
    fuzz_normalize_created(&split);
    FUZZ_ASSERT(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
    llg_strbuf_free(&whole);
    llg_strbuf_free(&split);

    /* the error of a non-2xx answer with this body */
    llg_xlate_error_t err;
    eg->http_error(400 + (int)(mode % 200), body, n, &err);
    FUZZ_ASSERT(llg_utf8_valid(err.message, strlen(err.message)));
    FUZZ_ASSERT(err.http_status >= 400 && err.http_status < 600);
    /* and as the client's error body */
    llg_strbuf_t eb = {0};
    params.render->error_body(&eb, err.http_status, err.type, err.code, NULL, err.message);
    FUZZ_ASSERT(llg_utf8_valid(eb.data, eb.len));
    cJSON *j = cJSON_ParseWithLength(eb.data, eb.len);
    FUZZ_ASSERT(cJSON_IsObject(j));
    cJSON_Delete(j);
    llg_strbuf_free(&eb);
}

#endif
