/*
 * providers/anthropic_answer.c: the renderer of answers in Anthropic's
 * Messages form (llg_render_anthropic, providers/answer.h).
 *
 * A stream is what Anthropic sends: message_start (with usage: the prompt
 * estimate, as output_tokens 1 - the upstream's own count comes at the end),
 * ping, then content blocks - a new block at each change of kind (text,
 * thinking, each tool call its own), each content_block_start, its deltas
 * (text_delta, thinking_delta, input_json_delta), content_block_stop - then
 * message_delta (stop_reason, usage with input_tokens and output_tokens) and
 * message_stop. No block is ever empty: a block opens with its first piece.
 * Tool arguments that arrive for an earlier tool call after a later one
 * started keep their own block's index (the SDKs accumulate by index).
 * Errors after the start are `event: error`.
 *
 * A whole answer is one `message`: content blocks in the order they came,
 * stop_reason, usage. A tool call's input is its arguments when they are a
 * JSON object, {} when they are empty, else {"arguments": "<the text>"}
 * (Anthropic's input is always an object).
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/answer.h"

enum { NONE = -1 };

static void init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    llg_anthropic_state_t *s = &a->anth;
    llg_random_id(s->id, "msg_", params->random[0], params->random[1]);
    const char *model = params->model != NULL ? params->model : "";
    llg_strbuf_append_json_string(&s->model, model, strlen(model));
    s->open = NONE;
}

static void dispose(llg_answer_t *a)
{
    llg_strbuf_free(&a->anth.model);
}

static void event(llg_strbuf_t *out, const char *name)
{
    llg_strbuf_appends(out, "event: ");
    llg_strbuf_appends(out, name);
    llg_strbuf_appends(out, "\ndata: ");
}

static void usage_object(llg_strbuf_t *out, uint64_t prompt, uint64_t completion)
{
    llg_strbuf_appendf(out, "{\"input_tokens\":%llu,\"output_tokens\":%llu}", (unsigned long long)prompt,
                       (unsigned long long)completion);
}

static void begin(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_anthropic_state_t *s = &a->anth;
    if (a->begun)
        return;
    a->begun = true;
    event(out, "message_start");
    llg_strbuf_appendf(out,
                       "{\"type\":\"message_start\",\"message\":{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
                       "\"model\":",
                       s->id);
    llg_strbuf_append(out, s->model.data, s->model.len);
    llg_strbuf_appends(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    usage_object(out, a->usage_known ? a->usage_prompt : a->prompt_estimate, 1);
    llg_strbuf_appends(out, "}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n");
}

static void close_block(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_anthropic_state_t *s = &a->anth;
    if (s->open == NONE)
        return;
    event(out, "content_block_stop");
    llg_strbuf_appendf(out, "{\"type\":\"content_block_stop\",\"index\":%u}\n\n", s->index - 1);
    s->open = NONE;
}

/* Opens a block of `kind` unless it is the open one; `start` is the
 * content_block's JSON. */
static void open_block(llg_answer_t *a, llg_strbuf_t *out, int kind, const char *start)
{
    llg_anthropic_state_t *s = &a->anth;
    begin(a, out);
    if (s->open == kind && kind != LLG_BLOCK_TOOL)
        return;
    close_block(a, out);
    event(out, "content_block_start");
    llg_strbuf_appendf(out, "{\"type\":\"content_block_start\",\"index\":%u,\"content_block\":%s}\n\n", s->index, start);
    s->open = kind;
    s->index++;
}

static void delta(llg_strbuf_t *out, unsigned index, const char *type, const char *member, const char *str, size_t n)
{
    event(out, "content_block_delta");
    /* per streamed chunk: no printf */
    llg_strbuf_appends(out, "{\"type\":\"content_block_delta\",\"index\":");
    llg_strbuf_append_uint(out, index);
    llg_strbuf_appends(out, ",\"delta\":{\"type\":\"");
    llg_strbuf_appends(out, type);
    llg_strbuf_appends(out, "\",\"");
    llg_strbuf_appends(out, member);
    llg_strbuf_appends(out, "\":");
    llg_strbuf_append_json_string(out, str, n);
    llg_strbuf_appends(out, "}}\n\n");
}

static void text(llg_answer_t *a, llg_strbuf_t *out, const char *str, size_t n)
{
    open_block(a, out, LLG_BLOCK_TEXT, "{\"type\":\"text\",\"text\":\"\"}");
    delta(out, a->anth.index - 1, "text_delta", "text", str, n);
}

static void reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *str, size_t n)
{
    open_block(a, out, LLG_BLOCK_REASONING, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
    delta(out, a->anth.index - 1, "thinking_delta", "thinking", str, n);
}

static void tool_start(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len)
{
    llg_strbuf_t start = {0};
    llg_strbuf_appends(&start, "{\"type\":\"tool_use\",\"id\":");
    llg_strbuf_append_json_string(&start, id, id_len);
    llg_strbuf_appends(&start, ",\"name\":");
    llg_strbuf_append_json_string(&start, name, name_len);
    llg_strbuf_appends(&start, ",\"input\":{}}");
    open_block(a, out, LLG_BLOCK_TOOL, start.data);
    llg_strbuf_free(&start);
    if (tool < sizeof(a->anth.tool_block) / sizeof(a->anth.tool_block[0]))
        a->anth.tool_block[tool] = a->anth.index - 1;
}

static void tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *str, size_t n)
{
    llg_anthropic_state_t *s = &a->anth;
    unsigned index = tool < sizeof(s->tool_block) / sizeof(s->tool_block[0]) ? s->tool_block[tool] : s->index - 1;
    delta(out, index, "input_json_delta", "partial_json", str, n);
}

static void finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    begin(a, out);
    close_block(a, out);
    event(out, "message_delta");
    llg_strbuf_appendf(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":",
                       llg_anthropic_stop_reason(finish_reason));
    usage_object(out, prompt, completion);
    llg_strbuf_appends(out, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

static void whole(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    llg_anthropic_state_t *s = &a->anth;
    llg_strbuf_appendf(out, "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":", s->id);
    llg_strbuf_append(out, s->model.data, s->model.len);
    llg_strbuf_appends(out, ",\"content\":[");
    for (size_t i = 0; i < a->nblocks; i++) {
        const llg_block_t *b = &a->blocks[i];
        const char *d = b->data.data != NULL ? b->data.data : "";
        if (i > 0)
            llg_strbuf_append(out, ",", 1);
        if (b->kind == LLG_BLOCK_TEXT) {
            llg_strbuf_appends(out, "{\"type\":\"text\",\"text\":");
            llg_strbuf_append_json_string(out, d, b->data.len);
            llg_strbuf_appends(out, "}");
        } else if (b->kind == LLG_BLOCK_REASONING) {
            llg_strbuf_appends(out, "{\"type\":\"thinking\",\"thinking\":");
            llg_strbuf_append_json_string(out, d, b->data.len);
            llg_strbuf_appends(out, ",\"signature\":\"\"}");
        } else {
            llg_strbuf_appends(out, "{\"type\":\"tool_use\",\"id\":");
            llg_strbuf_append_json_string(out, b->id.data != NULL ? b->id.data : "", b->id.len);
            llg_strbuf_appends(out, ",\"name\":");
            llg_strbuf_append_json_string(out, b->name.data != NULL ? b->name.data : "", b->name.len);
            llg_strbuf_appends(out, ",\"input\":");
            llg_args_object(out, d, b->data.len);
            llg_strbuf_appends(out, "}");
        }
    }
    llg_strbuf_appendf(out, "],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":", llg_anthropic_stop_reason(finish_reason));
    usage_object(out, prompt, completion);
    llg_strbuf_appends(out, "}");
}

static void error_event(llg_strbuf_t *out, int status, const char *type, const char *code, const char *message)
{
    event(out, "error");
    llg_anthropic_error_body(out, status, type, code, NULL, message);
    llg_strbuf_appends(out, "\n\n");
}

const llg_render_t llg_render_anthropic = {
    .init = init,
    .dispose = dispose,
    .text = text,
    .reasoning = reasoning,
    .tool_start = tool_start,
    .tool_args = tool_args,
    .tool_whole = NULL,
    .finish = finish,
    .whole = whole,
    .error_event = error_event,
    .error_body = llg_anthropic_error_body,
};
