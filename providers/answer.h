/*
 * providers/answer.h: the canonical answer, and the events that build it.
 *
 * Every upstream reader (the egress half of an adapter: providers/egress.h)
 * turns what its upstream sends into these events, whatever the upstream's
 * protocol: text, reasoning, tool calls (whole, or started then fed argument
 * fragments), usage, and one end (finish or failure). The answer renders
 * them in the client's protocol through a renderer (llg_render_t, one per
 * client protocol: providers/ingress.h): while streaming, each event is
 * written at once; otherwise the pieces are collected as an ordered list of
 * blocks (a run of text, a run of reasoning, one tool call) and one body is
 * written at the end.
 *
 * The answer also owns what every renderer needs: UTF-8 sanitising of every
 * upstream string (so the client always gets valid JSON), the
 * completion-token estimate, and the rule that nothing is written after the
 * end.
 */
#ifndef LLG_ANSWER_H
#define LLG_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/openai_form.h"
#include "providers/translate.h"

typedef enum llg_block_kind {
    LLG_BLOCK_TEXT,
    LLG_BLOCK_REASONING,
    LLG_BLOCK_TOOL,
} llg_block_kind_t;

/* One block of a collected (non-stream) answer. Consecutive text (or
 * reasoning) pieces share a block; every tool call is its own. */
typedef struct llg_block {
    llg_block_kind_t kind;
    llg_strbuf_t data; /* the text, the reasoning, or the tool call's arguments */
    llg_strbuf_t id, name;
} llg_block_t;

typedef struct llg_answer llg_answer_t;

/* How a client protocol writes answers (one table per protocol). Stream
 * callbacks append whole events to `out`; strings are already valid UTF-8
 * and never empty. */
typedef struct llg_render {
    void (*init)(llg_answer_t *a, const llg_xlate_params_t *params);
    void (*dispose)(llg_answer_t *a);
    void (*text)(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n);
    void (*reasoning)(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n);
    /* `tool` counts the answer's tool calls from 0 */
    void (*tool_start)(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len);
    void (*tool_args)(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n);
    /* optional: a whole tool call in one go (else tool_start then tool_args) */
    void (*tool_whole)(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len, const char *args, size_t args_len);
    /* the end of a stream: `finish_reason` in OpenAI's words (stop, length,
     * tool_calls, content_filter) */
    void (*finish)(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion);
    /* the whole non-stream body, from a->blocks */
    void (*whole)(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion);
    /* the last event of a stream that fails after it started (the protocol's
     * own error event, and its end marker if it has one) */
    void (*error_event)(llg_strbuf_t *out, int status, const char *type, const char *code, const char *message);
    /* optional, in place of error_event when the answer fails: the events
     * that need the answer's state (the Responses API numbers them, and
     * ends with response.failed) */
    void (*fail)(llg_answer_t *a, llg_strbuf_t *out, const char *type, const char *code, const char *message);
    /* an error body (no framing) for an HTTP error status */
    void (*error_body)(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param, const char *message);
} llg_render_t;

/* The renderer's own state: OpenAI's chunk prefix, or Anthropic's block
 * bookkeeping. */
typedef struct llg_anthropic_state {
    char id[32];             /* "msg_" + 24 random characters */
    llg_strbuf_t model;      /* the model as a JSON string */
    bool started;            /* message_start was written */
    int open;                /* the kind of the open content block, -1: none */
    unsigned index;          /* the next block's index */
    unsigned tool_block[64]; /* the block index of tool call i (the first 64) */
} llg_anthropic_state_t;

/* Ollama's renderer: its lines name the model and a time, and tool calls go
 * out whole (their arguments are an object), so they are kept until the end. */
typedef struct llg_ollama_state {
    llg_strbuf_t head; /* `{"model":..,"created_at":..,` rendered once */
    uint64_t start_ns; /* CLOCK_MONOTONIC at the start: the durations */
    llg_block_t *calls;
    size_t ncalls, calls_cap;
} llg_ollama_state_t;

/* The Responses API's renderer: every event is numbered, and the last one
 * repeats every output item whole, so the items are kept. */
typedef struct llg_responses_state {
    char id[32];        /* "resp_" + 24 random characters */
    llg_strbuf_t model; /* the model as a JSON string */
    int64_t created;
    unsigned seq;       /* the next sequence_number */
    long open;          /* the open text or reasoning item, -1: none */
    long tools_from;    /* the first of the open run of tool call items, -1: none */
    llg_block_t *items; /* kind, text or arguments, call id (`id`) and name */
    size_t nitems, items_cap;
    unsigned tool_item[64]; /* the item of tool call i (the first 64) */
    /* the request's custom tools (each name followed by a NUL), and whether it
     * offered local_shell: calls of these functions are rendered as
     * custom_tool_call and local_shell_call items */
    llg_strbuf_t custom;
    bool local_shell;
} llg_responses_state_t;

struct llg_answer {
    const llg_render_t *render;
    llg_oai_form_t form;
    llg_anthropic_state_t anth;
    llg_ollama_state_t ollama;
    llg_responses_state_t resp;
    bool stream;
    bool include_usage;
    uint64_t prompt_estimate;
    bool begun;     /* stream: the renderer wrote its opening (role chunk, message_start) */
    bool committed; /* stream: bytes were appended to the caller's out */
    bool ended;     /* finished or failed: nothing more is written */
    unsigned ntool_calls;
    bool usage_known;
    uint64_t usage_prompt, usage_completion;
    /* incremental llg_estimate_tokens over every piece (content, reasoning, tool arguments) */
    uint64_t est_tokens;
    uint64_t est_bytes;
    bool est_in_word;
    /* non-stream: the blocks collected for the body */
    llg_block_t *blocks;
    size_t nblocks, blocks_cap;
    llg_strbuf_t scratch;
};

extern const llg_render_t llg_render_openai, llg_render_anthropic, llg_render_ollama_chat, llg_render_ollama_generate,
    llg_render_responses;

/* `params->render` NULL: OpenAI's chat completion form. */
void llg_answer_init(llg_answer_t *a, const llg_xlate_params_t *params);
void llg_answer_dispose(llg_answer_t *a);

/* Pieces of the answer; empty pieces write nothing. */
void llg_answer_content(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len);
void llg_answer_reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len);
/* One whole tool call (a start and all its arguments). */
void llg_answer_tool_call(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                          const char *arguments, size_t arguments_len);
/* A tool call whose arguments follow in fragments; returns its number (the
 * `tool` of llg_answer_tool_args). */
unsigned llg_answer_tool_start(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name,
                               size_t name_len);
void llg_answer_tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n);

/* Usage the upstream reported (replaces the estimate). */
void llg_answer_set_usage(llg_answer_t *a, uint64_t prompt_tokens, uint64_t completion_tokens);

/* The successful end: stream: the protocol's closing events; otherwise the
 * whole body. `finish_reason` (OpenAI's words) NULL: "tool_calls" when a tool
 * call was written, else "stop". */
void llg_answer_finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason);

/* The failed end. Once committed (stream with bytes sent): appends the error
 * event of `err` and sets err->http_status to 0. Before: appends nothing and
 * leaves `err` as it is. Returns -1. */
int llg_answer_fail(llg_answer_t *a, llg_strbuf_t *out, llg_xlate_error_t *err);

/* A tool call's arguments as the JSON object that Anthropic's `input` and
 * Ollama's `arguments` must be: the arguments when they are one, {} when
 * they are empty, else {"arguments": "<the text>"}. */
void llg_args_object(llg_strbuf_t *out, const char *args, size_t n);

/* The usage of the answer: the upstream's when reported, else the estimates. */
void llg_answer_usage(const llg_answer_t *a, uint64_t *prompt_tokens, uint64_t *completion_tokens, bool *estimated);

#endif
