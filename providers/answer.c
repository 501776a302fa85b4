/*
 * providers/answer.c: the canonical answer (see answer.h): sanitising,
 * estimating and collecting the pieces, and handing them to the client
 * protocol's renderer.
 */
#include "providers/answer.h"

#include "providers/request_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void llg_answer_init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    memset(a, 0, sizeof(*a));
    a->render = params->render != NULL ? params->render : &llg_render_openai;
    a->stream = params->stream;
    a->include_usage = params->include_usage;
    a->prompt_estimate = params->prompt_tokens_estimate;
    a->render->init(a, params);
}

void llg_answer_dispose(llg_answer_t *a)
{
    a->render->dispose(a);
    for (size_t i = 0; i < a->nblocks; i++) {
        llg_strbuf_free(&a->blocks[i].data);
        llg_strbuf_free(&a->blocks[i].id);
        llg_strbuf_free(&a->blocks[i].name);
    }
    free(a->blocks);
    llg_strbuf_free(&a->scratch);
}

/* the same count as llg_estimate_tokens over the concatenation of every piece */
static void estimate(llg_answer_t *a, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            a->est_in_word = false;
        } else if (c < 0x80 && ispunct(c)) {
            a->est_tokens++;
            a->est_in_word = false;
        } else if (!a->est_in_word) {
            a->est_tokens++;
            a->est_in_word = true;
        }
    }
    a->est_bytes += n;
}

/* `s` itself when valid UTF-8, else a sanitised copy in `scratch` */
static const char *clean(llg_strbuf_t *scratch, const char *s, size_t n, size_t *len)
{
    *len = n;
    if (llg_utf8_valid(s, n))
        return s;
    llg_strbuf_reset(scratch);
    llg_utf8_append_sanitized(scratch, s, n);
    *len = scratch->len;
    return scratch->data;
}

/* A new block at the end of the collected answer; NULL when out of memory. */
static llg_block_t *new_block(llg_answer_t *a, llg_block_kind_t kind)
{
    if (a->nblocks == a->blocks_cap) {
        size_t cap = a->blocks_cap ? 2 * a->blocks_cap : 4;
        llg_block_t *b = realloc(a->blocks, cap * sizeof(*b));
        if (b == NULL)
            return NULL;
        a->blocks = b;
        a->blocks_cap = cap;
    }
    llg_block_t *b = &a->blocks[a->nblocks++];
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    return b;
}

/* The block that takes a text or reasoning piece: the last one when it is of
 * that kind. */
static llg_block_t *run_block(llg_answer_t *a, llg_block_kind_t kind)
{
    if (a->nblocks > 0 && a->blocks[a->nblocks - 1].kind == kind)
        return &a->blocks[a->nblocks - 1];
    return new_block(a, kind);
}

/* The block of tool call `tool` (the tool-th tool block), or NULL. */
static llg_block_t *tool_block(llg_answer_t *a, unsigned tool)
{
    unsigned k = 0;
    for (size_t i = 0; i < a->nblocks; i++)
        if (a->blocks[i].kind == LLG_BLOCK_TOOL && k++ == tool)
            return &a->blocks[i];
    return NULL;
}

static void mark(llg_answer_t *a, llg_strbuf_t *out, size_t before)
{
    if (out->len > before)
        a->committed = true;
}

static void piece(llg_answer_t *a, llg_strbuf_t *out, llg_block_kind_t kind, const char *s, size_t n)
{
    if (a->ended || n == 0)
        return;
    s = clean(&a->scratch, s, n, &n);
    estimate(a, s, n);
    if (!a->stream) {
        llg_block_t *b = run_block(a, kind);
        if (b != NULL)
            llg_strbuf_append(&b->data, s, n);
        return;
    }
    size_t before = out->len;
    if (kind == LLG_BLOCK_TEXT)
        a->render->text(a, out, s, n);
    else
        a->render->reasoning(a, out, s, n);
    mark(a, out, before);
}

void llg_answer_content(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len)
{
    piece(a, out, LLG_BLOCK_TEXT, text, len);
}

void llg_answer_reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len)
{
    piece(a, out, LLG_BLOCK_REASONING, text, len);
}

unsigned llg_answer_tool_start(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len)
{
    unsigned tool = a->ntool_calls;
    if (a->ended)
        return tool;
    a->ntool_calls++;
    /* two strings to clean: copy both into one buffer, then point into it */
    llg_strbuf_t s = {0};
    llg_utf8_append_sanitized(&s, id, id_len);
    size_t id_n = s.len;
    llg_utf8_append_sanitized(&s, name, name_len);
    size_t name_n = s.len - id_n;
    const char *p = s.data != NULL ? s.data : "";
    estimate(a, p + id_n, name_n);
    if (!a->stream) {
        llg_block_t *b = new_block(a, LLG_BLOCK_TOOL);
        if (b != NULL) {
            llg_strbuf_append(&b->id, p, id_n);
            llg_strbuf_append(&b->name, p + id_n, name_n);
        }
    } else {
        size_t before = out->len;
        a->render->tool_start(a, out, tool, p, id_n, p + id_n, name_n);
        mark(a, out, before);
    }
    llg_strbuf_free(&s);
    return tool;
}

void llg_answer_tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n)
{
    if (a->ended || n == 0 || tool >= a->ntool_calls)
        return;
    s = clean(&a->scratch, s, n, &n);
    estimate(a, s, n);
    if (!a->stream) {
        llg_block_t *b = tool_block(a, tool);
        if (b != NULL)
            llg_strbuf_append(&b->data, s, n);
        return;
    }
    size_t before = out->len;
    a->render->tool_args(a, out, tool, s, n);
    mark(a, out, before);
}

void llg_answer_tool_call(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                          const char *arguments, size_t arguments_len)
{
    if (a->ended)
        return;
    if (!a->stream || a->render->tool_whole == NULL) {
        unsigned tool = llg_answer_tool_start(a, out, id, id_len, name, name_len);
        llg_answer_tool_args(a, out, tool, arguments, arguments_len);
        return;
    }
    /* three strings to clean: copy each into one buffer, then point into it */
    llg_strbuf_t s = {0};
    llg_utf8_append_sanitized(&s, id, id_len);
    size_t id_n = s.len;
    llg_utf8_append_sanitized(&s, name, name_len);
    size_t name_n = s.len - id_n;
    llg_utf8_append_sanitized(&s, arguments, arguments_len);
    size_t args_n = s.len - id_n - name_n;
    const char *p = s.data != NULL ? s.data : "";
    estimate(a, p + id_n, name_n + args_n);
    size_t before = out->len;
    a->render->tool_whole(a, out, a->ntool_calls++, p, id_n, p + id_n, name_n, p + id_n + name_n, args_n);
    mark(a, out, before);
    llg_strbuf_free(&s);
}

void llg_answer_set_usage(llg_answer_t *a, uint64_t prompt_tokens, uint64_t completion_tokens)
{
    a->usage_known = true;
    a->usage_prompt = prompt_tokens;
    a->usage_completion = completion_tokens;
}

void llg_answer_usage(const llg_answer_t *a, uint64_t *prompt_tokens, uint64_t *completion_tokens, bool *estimated)
{
    uint64_t est = a->est_tokens == 0 && a->est_bytes > 0 ? 1 : a->est_tokens;
    if (prompt_tokens != NULL)
        *prompt_tokens = a->usage_known ? a->usage_prompt : a->prompt_estimate;
    if (completion_tokens != NULL)
        *completion_tokens = a->usage_known ? a->usage_completion : est;
    if (estimated != NULL)
        *estimated = !a->usage_known;
}

void llg_answer_finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason)
{
    if (a->ended)
        return;
    a->ended = true;
    if (finish_reason == NULL || finish_reason[0] == '\0')
        finish_reason = a->ntool_calls > 0 ? "tool_calls" : "stop";
    /* an upstream's word: valid UTF-8, at most 31 bytes cut on a character */
    char reason[32];
    size_t n;
    const char *r = clean(&a->scratch, finish_reason, strlen(finish_reason), &n);
    llg_strbuf_t z = {0};
    llg_strbuf_append(&z, r, n);
    llg_copy_utf8_prefix(reason, sizeof(reason), z.data != NULL ? z.data : "");
    llg_strbuf_free(&z);
    finish_reason = reason;
    uint64_t prompt, completion;
    llg_answer_usage(a, &prompt, &completion, NULL);
    size_t before = out->len;
    if (a->stream)
        a->render->finish(a, out, finish_reason, prompt, completion);
    else
        a->render->whole(a, out, finish_reason, prompt, completion);
    mark(a, out, before);
}

int llg_answer_fail(llg_answer_t *a, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (a->ended && a->committed) {
        err->http_status = 0;
        return -1;
    }
    a->ended = true;
    if (a->stream && a->committed) {
        int status = err->http_status;
        const char *type = err->type[0] ? err->type : "server_error", *code = err->code[0] ? err->code : NULL;
        err->http_status = 0;
        if (a->render->fail != NULL)
            a->render->fail(a, out, type, code, err->message);
        else
            a->render->error_event(out, status, type, code, err->message);
    }
    return -1;
}

void llg_args_object(llg_strbuf_t *out, const char *args, size_t n)
{
    size_t a = 0;
    while (a < n && (args[a] == ' ' || args[a] == '\n' || args[a] == '\t' || args[a] == '\r'))
        a++;
    if (a == n) {
        llg_strbuf_appends(out, "{}");
        return;
    }
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(args, n, &end, 0);
    bool object = cJSON_IsObject(v);
    cJSON_Delete(v);
    while (end != NULL && end < args + n && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r'))
        end++;
    if (object && end == args + n) {
        llg_strbuf_append(out, args, n);
        return;
    }
    llg_strbuf_appends(out, "{\"arguments\":");
    llg_strbuf_append_json_string(out, args, n);
    llg_strbuf_appends(out, "}");
}
