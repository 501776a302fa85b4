/*
 * providers/openai_form.h: the writer of OpenAI-form answers, shared by every
 * provider that is not OpenAI-shaped itself (echo; poe and puter through
 * providers/answer.h).
 * A stream is: a role chunk, content chunks, a finish chunk, a usage chunk when
 * the client set stream_options.include_usage, then `data: [DONE]`; every chunk
 * of one response carries the same `chatcmpl-` id and epoch `created`.
 * Each function appends whole SSE events (`data: ...\n\n`) to `out`.
 */
#ifndef LLG_OPENAI_FORM_H
#define LLG_OPENAI_FORM_H

#include <stdbool.h>
#include <stdint.h>

#include "providers/strbuf.h"

typedef struct llg_oai_form {
    char id[48];         /* "chatcmpl-" + 24 random characters */
    int64_t created;     /* epoch seconds */
    llg_strbuf_t prefix; /* private: `{"id":..,"object":..,"created":..,"model":..,` rendered once */
    bool include_usage;  /* adds "usage":null to chunks, as OpenAI does when asked for usage */
} llg_oai_form_t;

/* `random` supplies the id's randomness. */
void llg_oai_form_init(llg_oai_form_t *f, const char *model, size_t model_len, bool include_usage, uint64_t random1,
                       uint64_t random2);
void llg_oai_form_dispose(llg_oai_form_t *f);

void llg_oai_chunk_role(llg_strbuf_t *out, llg_oai_form_t *f);
void llg_oai_chunk_content(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len);
void llg_oai_chunk_finish(llg_strbuf_t *out, llg_oai_form_t *f, const char *finish_reason);
void llg_oai_chunk_usage(llg_strbuf_t *out, llg_oai_form_t *f, uint64_t prompt_tokens, uint64_t completion_tokens);
void llg_oai_done(llg_strbuf_t *out);

/* A chunk whose delta carries reasoning text as `reasoning_content` (the
 * DeepSeek/OpenRouter convention that chat front ends show as "thinking"). */
void llg_oai_chunk_reasoning(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len);

/* A chunk with one whole tool call: delta.tool_calls = [{"index","id","type":"function",
 * "function":{"name","arguments"}}]. OpenAI splits the arguments over several
 * chunks; one chunk carrying all of them is valid for every client (they
 * concatenate the pieces by index). */
void llg_oai_chunk_tool_call(llg_strbuf_t *out, llg_oai_form_t *f, unsigned index, const char *id, size_t id_len, const char *name,
                             size_t name_len, const char *arguments, size_t arguments_len);

/* A chunk with more arguments of tool call `index`:
 * delta.tool_calls = [{"index","function":{"arguments"}}]. */
void llg_oai_chunk_tool_args(llg_strbuf_t *out, llg_oai_form_t *f, unsigned index, const char *arguments, size_t arguments_len);

/* One tool call object as message.tool_calls holds it:
 * {"id","type":"function","function":{"name","arguments"}}. */
void llg_oai_tool_call_object(llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                              const char *arguments, size_t arguments_len);

/* An SSE error event `data: {"error":{"message","type","param":null,"code"}}`
 * (the shape of every llmgate error body); `code` may be NULL. The caller adds
 * `data: [DONE]`. */
void llg_oai_error_event(llg_strbuf_t *out, const char *type, const char *code, const char *message);

/* The error body of every llmgate error in OpenAI's protocol:
 * {"error":{"message","type","param","code"}}; `param` and `code` may be
 * NULL (JSON null); strings that are not valid UTF-8 are sanitised. `status`
 * is not part of the shape (the table of renderers passes it). */
void llg_oai_error_body_full(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                             const char *message);

/* An error body {"error":{"message","type","param":null,"code"}} (no framing). */
void llg_oai_error_body(llg_strbuf_t *out, const char *type, const char *code, const char *message);

/* The assistant message of a whole completion when it has more than text. */
typedef struct llg_oai_message {
    const char *content; /* NULL: "content":null (a tool-call-only answer) */
    size_t content_len;
    const char *reasoning; /* NULL or empty: no reasoning_content member */
    size_t reasoning_len;
    const char *tool_calls; /* NULL: no tool_calls member; else the array's elements, comma-separated
                               (each from llg_oai_tool_call_object) */
    size_t tool_calls_len;
} llg_oai_message_t;

/* A whole `chat.completion` body with the message above. */
void llg_oai_completion_message(llg_strbuf_t *out, llg_oai_form_t *f, const llg_oai_message_t *m, const char *finish_reason,
                                uint64_t prompt_tokens, uint64_t completion_tokens);

/* A whole `chat.completion` body (no SSE framing). */
void llg_oai_completion(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len, const char *finish_reason,
                        uint64_t prompt_tokens, uint64_t completion_tokens);

/* A rough token count for providers that report none: words and punctuation
 * runs, at least 1 for non-empty text. */
uint64_t llg_estimate_tokens(const char *text, size_t len);

#endif
