/*
 * providers/openai_form.c: OpenAI chunk and completion writers (see
 * openai_form.h). Rendered by hand: the shapes are fixed and this runs once per
 * streamed token.
 */
#include "providers/openai_form.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void llg_oai_form_init(llg_oai_form_t *f, const char *model, size_t model_len, bool include_usage, uint64_t random1,
                       uint64_t random2)
{
    memset(f, 0, sizeof(*f));
    llg_random_id(f->id, "chatcmpl-", random1, random2);
    f->created = (int64_t)time(NULL);
    f->include_usage = include_usage;
    llg_strbuf_appendf(&f->prefix, "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":", f->id,
                       (long long)f->created);
    llg_strbuf_append_json_string(&f->prefix, model, model_len);
    llg_strbuf_appends(&f->prefix, ",");
}

void llg_oai_form_dispose(llg_oai_form_t *f)
{
    llg_strbuf_free(&f->prefix);
}

static void chunk_open(llg_strbuf_t *out, llg_oai_form_t *f)
{
    llg_strbuf_append(out, "data: ", 6);
    llg_strbuf_append(out, f->prefix.data, f->prefix.len);
}

static void chunk_close(llg_strbuf_t *out, llg_oai_form_t *f)
{
    if (f->include_usage)
        llg_strbuf_appends(out, ",\"usage\":null");
    llg_strbuf_append(out, "}\n\n", 3);
}

void llg_oai_chunk_role(llg_strbuf_t *out, llg_oai_form_t *f)
{
    chunk_open(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                            "\"finish_reason\":null}]");
    chunk_close(out, f);
}

void llg_oai_chunk_content(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len)
{
    chunk_open(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"delta\":{\"content\":");
    llg_strbuf_append_json_string(out, text, len);
    llg_strbuf_appends(out, "},\"logprobs\":null,\"finish_reason\":null}]");
    chunk_close(out, f);
}

void llg_oai_chunk_finish(llg_strbuf_t *out, llg_oai_form_t *f, const char *finish_reason)
{
    chunk_open(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":");
    llg_strbuf_append_json_string(out, finish_reason, strlen(finish_reason));
    llg_strbuf_appends(out, "}]");
    chunk_close(out, f);
}

static void usage_object(llg_strbuf_t *out, uint64_t prompt_tokens, uint64_t completion_tokens)
{
    llg_strbuf_appendf(out, "{\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"total_tokens\":%llu}",
                       (unsigned long long)prompt_tokens, (unsigned long long)completion_tokens,
                       (unsigned long long)(prompt_tokens + completion_tokens));
}

void llg_oai_chunk_usage(llg_strbuf_t *out, llg_oai_form_t *f, uint64_t prompt_tokens, uint64_t completion_tokens)
{
    chunk_open(out, f);
    llg_strbuf_appends(out, "\"choices\":[],\"usage\":");
    usage_object(out, prompt_tokens, completion_tokens);
    llg_strbuf_append(out, "}\n\n", 3);
}

void llg_oai_done(llg_strbuf_t *out)
{
    llg_strbuf_appends(out, "data: [DONE]\n\n");
}

void llg_oai_chunk_reasoning(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len)
{
    chunk_open(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":");
    llg_strbuf_append_json_string(out, text, len);
    llg_strbuf_appends(out, "},\"logprobs\":null,\"finish_reason\":null}]");
    chunk_close(out, f);
}

static void tool_call_members(llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                              const char *arguments, size_t arguments_len)
{
    llg_strbuf_appends(out, "\"id\":");
    llg_strbuf_append_json_string(out, id, id_len);
    llg_strbuf_appends(out, ",\"type\":\"function\",\"function\":{\"name\":");
    llg_strbuf_append_json_string(out, name, name_len);
    llg_strbuf_appends(out, ",\"arguments\":");
    llg_strbuf_append_json_string(out, arguments, arguments_len);
    llg_strbuf_appends(out, "}}");
}

void llg_oai_chunk_tool_call(llg_strbuf_t *out, llg_oai_form_t *f, unsigned index, const char *id, size_t id_len, const char *name,
                             size_t name_len, const char *arguments, size_t arguments_len)
{
    chunk_open(out, f);
    llg_strbuf_appendf(out, "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%u,", index);
    tool_call_members(out, id, id_len, name, name_len, arguments, arguments_len);
    llg_strbuf_appends(out, "]},\"logprobs\":null,\"finish_reason\":null}]");
    chunk_close(out, f);
}

void llg_oai_chunk_tool_args(llg_strbuf_t *out, llg_oai_form_t *f, unsigned index, const char *arguments, size_t arguments_len)
{
    chunk_open(out, f);
    llg_strbuf_appendf(out,
                       "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%u,\"function\":{\"arguments\":", index);
    llg_strbuf_append_json_string(out, arguments, arguments_len);
    llg_strbuf_appends(out, "}}]},\"logprobs\":null,\"finish_reason\":null}]");
    chunk_close(out, f);
}

void llg_oai_tool_call_object(llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                              const char *arguments, size_t arguments_len)
{
    llg_strbuf_appends(out, "{");
    tool_call_members(out, id, id_len, name, name_len, arguments, arguments_len);
}

void llg_oai_error_body(llg_strbuf_t *out, const char *type, const char *code, const char *message)
{
    llg_strbuf_appends(out, "{\"error\":{\"message\":");
    llg_strbuf_append_json_string(out, message, strlen(message));
    llg_strbuf_appends(out, ",\"type\":");
    llg_strbuf_append_json_string(out, type, strlen(type));
    llg_strbuf_appends(out, ",\"param\":null,\"code\":");
    if (code != NULL)
        llg_strbuf_append_json_string(out, code, strlen(code));
    else
        llg_strbuf_appends(out, "null");
    llg_strbuf_appends(out, "}}");
}

void llg_oai_error_body_full(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                             const char *message)
{
    (void)status;
    llg_strbuf_appends(out, "{\"error\":{\"message\":");
    llg_strbuf_append_json_text(out, message);
    llg_strbuf_appends(out, ",\"type\":");
    llg_strbuf_append_json_text(out, type);
    llg_strbuf_appends(out, ",\"param\":");
    if (param != NULL)
        llg_strbuf_append_json_text(out, param);
    else
        llg_strbuf_appends(out, "null");
    llg_strbuf_appends(out, ",\"code\":");
    if (code != NULL)
        llg_strbuf_append_json_text(out, code);
    else
        llg_strbuf_appends(out, "null");
    llg_strbuf_appends(out, "}}");
}

void llg_oai_error_event(llg_strbuf_t *out, const char *type, const char *code, const char *message)
{
    llg_strbuf_append(out, "data: ", 6);
    llg_oai_error_body(out, type, code, message);
    llg_strbuf_append(out, "\n\n", 2);
}

/* `{"id":..,"object":"chat.completion","created":..,"model":..,`: the stream
 * prefix with the object name swapped, so the same id, created and model */
static void completion_head(llg_strbuf_t *out, llg_oai_form_t *f)
{
    static const char chunk_obj[] = "\"chat.completion.chunk\"";
    const char *p = strstr(f->prefix.data, chunk_obj);
    size_t head = (size_t)(p - f->prefix.data);
    llg_strbuf_append(out, f->prefix.data, head);
    llg_strbuf_appends(out, "\"chat.completion\"");
    llg_strbuf_appends(out, p + sizeof(chunk_obj) - 1);
}

static void completion_tail(llg_strbuf_t *out, const char *finish_reason, uint64_t prompt_tokens, uint64_t completion_tokens)
{
    llg_strbuf_appends(out, "},\"logprobs\":null,\"finish_reason\":");
    llg_strbuf_append_json_string(out, finish_reason, strlen(finish_reason));
    llg_strbuf_appends(out, "}],\"usage\":");
    usage_object(out, prompt_tokens, completion_tokens);
    llg_strbuf_appends(out, "}");
}

void llg_oai_completion(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len, const char *finish_reason,
                        uint64_t prompt_tokens, uint64_t completion_tokens)
{
    completion_head(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    llg_strbuf_append_json_string(out, text, len);
    llg_strbuf_appends(out, ",\"refusal\":null");
    completion_tail(out, finish_reason, prompt_tokens, completion_tokens);
}

void llg_oai_completion_message(llg_strbuf_t *out, llg_oai_form_t *f, const llg_oai_message_t *m, const char *finish_reason,
                                uint64_t prompt_tokens, uint64_t completion_tokens)
{
    completion_head(out, f);
    llg_strbuf_appends(out, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (m->content != NULL)
        llg_strbuf_append_json_string(out, m->content, m->content_len);
    else
        llg_strbuf_appends(out, "null");
    if (m->reasoning != NULL && m->reasoning_len > 0) {
        llg_strbuf_appends(out, ",\"reasoning_content\":");
        llg_strbuf_append_json_string(out, m->reasoning, m->reasoning_len);
    }
    if (m->tool_calls != NULL) {
        llg_strbuf_appends(out, ",\"tool_calls\":[");
        llg_strbuf_append(out, m->tool_calls, m->tool_calls_len);
        llg_strbuf_appends(out, "]");
    }
    llg_strbuf_appends(out, ",\"refusal\":null");
    completion_tail(out, finish_reason, prompt_tokens, completion_tokens);
}

uint64_t llg_estimate_tokens(const char *text, size_t len)
{
    uint64_t n = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c)) {
            in_word = 0;
        } else if (c < 0x80 && ispunct(c)) {
            n++;
            in_word = 0;
        } else if (!in_word) {
            n++;
            in_word = 1;
        }
    }
    return n == 0 && len > 0 ? 1 : n;
}
