/*
 * providers/openai_answer.c: the renderer of answers in OpenAI's chat
 * completion form (llg_render_openai, providers/answer.h): a stream is a role
 * chunk, content, reasoning_content and tool_calls chunks, a finish chunk, a
 * usage chunk when the client asked for one, then `data: [DONE]`; a whole
 * answer is one `chat.completion` body.
 */
#include <string.h>

#include "providers/answer.h"

static void init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    const char *model = params->model != NULL ? params->model : "";
    llg_oai_form_init(&a->form, model, strlen(model), params->stream && params->include_usage, params->random[0],
                      params->random[1]);
}

static void dispose(llg_answer_t *a)
{
    llg_oai_form_dispose(&a->form);
}

/* the role chunk opens every stream, before its first piece */
static void begin(llg_answer_t *a, llg_strbuf_t *out)
{
    if (!a->begun) {
        llg_oai_chunk_role(out, &a->form);
        a->begun = true;
    }
}

static void text(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    begin(a, out);
    llg_oai_chunk_content(out, &a->form, s, n);
}

static void reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    begin(a, out);
    llg_oai_chunk_reasoning(out, &a->form, s, n);
}

static void tool_start(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len)
{
    begin(a, out);
    llg_oai_chunk_tool_call(out, &a->form, tool, id, id_len, name, name_len, "", 0);
}

static void tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n)
{
    begin(a, out);
    llg_oai_chunk_tool_args(out, &a->form, tool, s, n);
}

static void tool_whole(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len, const char *args, size_t args_len)
{
    begin(a, out);
    llg_oai_chunk_tool_call(out, &a->form, tool, id, id_len, name, name_len, args, args_len);
}

static void finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    begin(a, out);
    llg_oai_chunk_finish(out, &a->form, finish_reason);
    if (a->include_usage)
        llg_oai_chunk_usage(out, &a->form, prompt, completion);
    llg_oai_done(out);
}

static void whole(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    llg_strbuf_t text = {0}, reasoning = {0}, calls = {0};
    unsigned ncalls = 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        const llg_block_t *b = &a->blocks[i];
        const char *d = b->data.data != NULL ? b->data.data : "";
        if (b->kind == LLG_BLOCK_TEXT) {
            llg_strbuf_append(&text, d, b->data.len);
        } else if (b->kind == LLG_BLOCK_REASONING) {
            llg_strbuf_append(&reasoning, d, b->data.len);
        } else {
            if (ncalls++ > 0)
                llg_strbuf_append(&calls, ",", 1);
            llg_oai_tool_call_object(&calls, b->id.data != NULL ? b->id.data : "", b->id.len,
                                     b->name.data != NULL ? b->name.data : "", b->name.len, d, b->data.len);
        }
    }
    if (ncalls == 0 && reasoning.len == 0) {
        llg_oai_completion(out, &a->form, text.data != NULL ? text.data : "", text.len, finish_reason, prompt, completion);
    } else {
        llg_oai_message_t m = {
            .content = text.len > 0 || ncalls == 0 ? (text.data != NULL ? text.data : "") : NULL,
            .content_len = text.len,
            .reasoning = reasoning.data,
            .reasoning_len = reasoning.len,
            .tool_calls = ncalls > 0 ? calls.data : NULL,
            .tool_calls_len = calls.len,
        };
        llg_oai_completion_message(out, &a->form, &m, finish_reason, prompt, completion);
    }
    llg_strbuf_free(&text);
    llg_strbuf_free(&reasoning);
    llg_strbuf_free(&calls);
}

static void error_event(llg_strbuf_t *out, int status, const char *type, const char *code, const char *message)
{
    (void)status;
    llg_oai_error_event(out, type, code, message);
    llg_oai_done(out);
}

const llg_render_t llg_render_openai = {
    .init = init,
    .dispose = dispose,
    .text = text,
    .reasoning = reasoning,
    .tool_start = tool_start,
    .tool_args = tool_args,
    .tool_whole = tool_whole,
    .finish = finish,
    .whole = whole,
    .error_event = error_event,
    .error_body = llg_oai_error_body_full,
};
