/*
 * providers/ollama_answer.c: the renderers of answers in Ollama's form
 * (llg_render_ollama_chat for /api/chat, llg_render_ollama_generate for
 * /api/generate; providers/answer.h), Ollama's error body, and the bodies of
 * /api/tags and /api/show.
 *
 * A stream is NDJSON: one line per piece, {"model","created_at","message":
 * {"role":"assistant","content"},"done":false} (generate: "response"),
 * reasoning as message.thinking (generate: "thinking"); tool calls go out
 * whole, in one line before the last (Ollama's arguments are an object, so
 * fragments are joined first); the last line has done true, done_reason
 * ("length" for a length stop, else "stop") and the token counts
 * (prompt_eval_count, eval_count) and durations (the answer's own time). A failure after the first line is a last line
 * {"error":"..."}. A whole answer is one object of the same shape with done true.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/answer.h"
#include "providers/ollama.h"
#include "providers/request_json.h"

void llg_ollama_time(char out[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char day[24];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%09ldZ", day, (long)ts.tv_nsec);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    a->ollama.start_ns = now_ns();
    char when[40];
    llg_ollama_time(when);
    const char *model = params->model != NULL ? params->model : "";
    llg_strbuf_appends(&a->ollama.head, "{\"model\":");
    llg_strbuf_append_json_string(&a->ollama.head, model, strlen(model));
    llg_strbuf_appendf(&a->ollama.head, ",\"created_at\":\"%s\",", when);
}

static void dispose(llg_answer_t *a)
{
    llg_strbuf_free(&a->ollama.head);
    for (size_t i = 0; i < a->ollama.ncalls; i++) {
        llg_strbuf_free(&a->ollama.calls[i].name);
        llg_strbuf_free(&a->ollama.calls[i].data);
    }
    free(a->ollama.calls);
}

/* generate answers in `response` and `thinking`, chat in `message` */
static bool is_generate(const llg_answer_t *a)
{
    return a->render == &llg_render_ollama_generate;
}

static void line(llg_answer_t *a, llg_strbuf_t *out, const char *member, const char *s, size_t n)
{
    llg_strbuf_append(out, a->ollama.head.data, a->ollama.head.len);
    if (is_generate(a)) {
        if (strcmp(member, "content") == 0) {
            llg_strbuf_appends(out, "\"response\":");
            llg_strbuf_append_json_string(out, s, n);
        } else {
            llg_strbuf_appends(out, "\"response\":\"\",\"thinking\":");
            llg_strbuf_append_json_string(out, s, n);
        }
    } else {
        llg_strbuf_appends(out, "\"message\":{\"role\":\"assistant\",\"content\":");
        if (strcmp(member, "content") == 0) {
            llg_strbuf_append_json_string(out, s, n);
        } else {
            llg_strbuf_appends(out, "\"\",\"thinking\":");
            llg_strbuf_append_json_string(out, s, n);
        }
        llg_strbuf_appends(out, "}");
    }
    llg_strbuf_appends(out, ",\"done\":false}\n");
}

static void text(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    line(a, out, "content", s, n);
}

static void reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    line(a, out, "thinking", s, n);
}

static llg_block_t *call(llg_answer_t *a, unsigned tool)
{
    llg_ollama_state_t *o = &a->ollama;
    while (o->ncalls <= tool) {
        if (o->ncalls == o->calls_cap) {
            size_t cap = o->calls_cap ? 2 * o->calls_cap : 4;
            llg_block_t *c = realloc(o->calls, cap * sizeof(*c));
            if (c == NULL)
                return NULL;
            o->calls = c;
            o->calls_cap = cap;
        }
        memset(&o->calls[o->ncalls++], 0, sizeof(llg_block_t));
    }
    return &o->calls[tool];
}

static void tool_start(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len)
{
    (void)out, (void)id, (void)id_len;
    llg_block_t *c = call(a, tool);
    if (c != NULL)
        llg_strbuf_append(&c->name, name, name_len);
}

static void tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n)
{
    (void)out;
    llg_block_t *c = call(a, tool);
    if (c != NULL)
        llg_strbuf_append(&c->data, s, n);
}

/* "tool_calls":[{"function":{"name","arguments":{...}}}, ...] */
static void tool_calls(const llg_block_t *calls, size_t n, llg_strbuf_t *out)
{
    llg_strbuf_appends(out, ",\"tool_calls\":[");
    for (size_t i = 0; i < n; i++) {
        llg_strbuf_appends(out, i ? ",{\"function\":{\"name\":" : "{\"function\":{\"name\":");
        llg_strbuf_append_json_string(out, calls[i].name.data != NULL ? calls[i].name.data : "", calls[i].name.len);
        llg_strbuf_appends(out, ",\"arguments\":");
        llg_args_object(out, calls[i].data.data != NULL ? calls[i].data.data : "", calls[i].data.len);
        llg_strbuf_appends(out, "}}");
    }
    llg_strbuf_appends(out, "]");
}

/* The last members. The durations are the answer's own time, from the
 * request to now, all counted as generation (clients divide eval_count by
 * eval_duration for a speed, so it is never 0). */
static void counts(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    unsigned long long took = (unsigned long long)(now_ns() - a->ollama.start_ns) + 1;
    llg_strbuf_appendf(out,
                       ",\"done_reason\":\"%s\",\"done\":true,\"total_duration\":%llu,\"load_duration\":0,"
                       "\"prompt_eval_count\":%llu,\"prompt_eval_duration\":0,\"eval_count\":%llu,\"eval_duration\":%llu}\n",
                       strcmp(finish_reason, "length") == 0 ? "length" : "stop", took, (unsigned long long)prompt,
                       (unsigned long long)completion, took);
}

static void finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    llg_ollama_state_t *o = &a->ollama;
    if (o->ncalls > 0 && !is_generate(a)) {
        llg_strbuf_append(out, o->head.data, o->head.len);
        llg_strbuf_appends(out, "\"message\":{\"role\":\"assistant\",\"content\":\"\"");
        tool_calls(o->calls, o->ncalls, out);
        llg_strbuf_appends(out, "},\"done\":false}\n");
    }
    llg_strbuf_append(out, o->head.data, o->head.len);
    llg_strbuf_appends(out, is_generate(a) ? "\"response\":\"\"" : "\"message\":{\"role\":\"assistant\",\"content\":\"\"}");
    counts(a, out, finish_reason, prompt, completion);
}

static void whole(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    llg_strbuf_t text = {0}, thinking = {0};
    size_t ncalls = 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        const llg_block_t *b = &a->blocks[i];
        if (b->kind == LLG_BLOCK_TEXT)
            llg_strbuf_append(&text, b->data.data, b->data.len);
        else if (b->kind == LLG_BLOCK_REASONING)
            llg_strbuf_append(&thinking, b->data.data, b->data.len);
        else
            ncalls++;
    }
    llg_strbuf_append(out, a->ollama.head.data, a->ollama.head.len);
    if (is_generate(a)) {
        llg_strbuf_appends(out, "\"response\":");
        llg_strbuf_append_json_string(out, text.data != NULL ? text.data : "", text.len);
        if (thinking.len > 0) {
            llg_strbuf_appends(out, ",\"thinking\":");
            llg_strbuf_append_json_string(out, thinking.data, thinking.len);
        }
    } else {
        llg_strbuf_appends(out, "\"message\":{\"role\":\"assistant\",\"content\":");
        llg_strbuf_append_json_string(out, text.data != NULL ? text.data : "", text.len);
        if (thinking.len > 0) {
            llg_strbuf_appends(out, ",\"thinking\":");
            llg_strbuf_append_json_string(out, thinking.data, thinking.len);
        }
        if (ncalls > 0) {
            llg_block_t *calls = calloc(ncalls, sizeof(*calls));
            size_t k = 0;
            for (size_t i = 0; calls != NULL && i < a->nblocks; i++)
                if (a->blocks[i].kind == LLG_BLOCK_TOOL)
                    calls[k++] = a->blocks[i]; /* shallow: the blocks keep their buffers */
            if (calls != NULL)
                tool_calls(calls, k, out);
            free(calls);
        }
        llg_strbuf_appends(out, "}");
    }
    /* one object, not a line */
    counts(a, out, finish_reason, prompt, completion);
    if (out->len > 0 && out->data[out->len - 1] == '\n')
        out->data[--out->len] = '\0'; /* NUL-ended, as every strbuf */
    llg_strbuf_free(&text);
    llg_strbuf_free(&thinking);
}

void llg_ollama_error_body(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                           const char *message)
{
    (void)status, (void)type, (void)code, (void)param;
    llg_strbuf_appends(out, "{\"error\":");
    llg_strbuf_append_json_text(out, message);
    llg_strbuf_appends(out, "}");
}

static void error_event(llg_strbuf_t *out, int status, const char *type, const char *code, const char *message)
{
    llg_ollama_error_body(out, status, type, code, NULL, message);
    llg_strbuf_appends(out, "\n");
}

const llg_render_t llg_render_ollama_chat = {
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
    .error_body = llg_ollama_error_body,
};

const llg_render_t llg_render_ollama_generate = {
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
    .error_body = llg_ollama_error_body,
};

static void details(llg_strbuf_t *out)
{
    llg_strbuf_appends(out, "{\"parent_model\":\"\",\"format\":\"\",\"family\":\"\",\"families\":[],\"parameter_size\":\"\","
                            "\"quantization_level\":\"\"}");
}

int llg_ollama_tags(const char *list, size_t len, llg_strbuf_t *out)
{
    cJSON *root = cJSON_ParseWithLength(list, len);
    const cJSON *data = llg_json_get(root, "data"), *m;
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(root);
        return -1;
    }
    char when[40];
    llg_ollama_time(when);
    llg_strbuf_appends(out, "{\"models\":[");
    bool first = true;
    cJSON_ArrayForEach(m, data)
    {
        const char *id = llg_json_str(m, "id");
        if (id == NULL)
            continue;
        llg_strbuf_appends(out, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        llg_strbuf_append_json_string(out, id, strlen(id));
        llg_strbuf_appends(out, ",\"model\":");
        llg_strbuf_append_json_string(out, id, strlen(id));
        llg_strbuf_appendf(out, ",\"modified_at\":\"%s\",\"size\":0,\"digest\":\"\",\"details\":", when);
        details(out);
        llg_strbuf_appends(out, "}");
    }
    llg_strbuf_appends(out, "]}");
    cJSON_Delete(root);
    return 0;
}

void llg_ollama_show(const char *model, llg_strbuf_t *out)
{
    char when[40];
    llg_ollama_time(when);
    llg_strbuf_appends(out, "{\"modelfile\":\"\",\"parameters\":\"\",\"template\":\"\",\"details\":");
    details(out);
    /* what the model can do is known by its name only: an embedding model
     * is named so (text-embedding-3-small, nomic-embed-text, ...) */
    llg_strbuf_appends(out, strstr(model, "embed") != NULL
                                ? ",\"model_info\":{},\"capabilities\":[\"embedding\"],\"model\":"
                                : ",\"model_info\":{},\"capabilities\":[\"completion\",\"tools\"],\"model\":");
    llg_strbuf_append_json_string(out, model, strlen(model));
    llg_strbuf_appendf(out, ",\"modified_at\":\"%s\"}", when);
}
