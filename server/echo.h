/*
 * server/echo.h: the local `echo` model. It answers with the text of the
 * last user message, streamed word by word (each word with the whitespace
 * before it), optionally pausing `delay` between words; or, when asked
 * (providers/echo.h llg_echo_tool_call()), with one tool call. It makes the
 * gateway useful offline, for client and agent development and for load
 * tests.
 */
#ifndef LLG_SERVER_ECHO_H
#define LLG_SERVER_ECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h2o.h"

#define LLG_ECHO_TOOL_ID_MAX 32 /* "call_" (or "toolu_") and 24 hex digits */

struct llg_render;

typedef struct llg_echo_params {
    const struct llg_render *render; /* the client's protocol (providers/answer.h); NULL: OpenAI's */
    const char *model;               /* as the client named it */
    size_t model_len;
    const char *text; /* the answer, or the tool call's arguments; copied */
    size_t text_len;
    const char *tool_name; /* NULL: a text answer; else the tool called (copied) */
    size_t tool_name_len;
    bool stream;
    bool include_usage;
    uint64_t prompt_tokens;
    h2o_timeout_t *delay; /* NULL: no pause between words */
    uint64_t random[2];   /* randomness for the completion id */
    h2o_iovec_t request;  /* the client's request body (llg_xlate_params_t.request) */
} llg_echo_params_t;

/* Sends the whole answer, or starts the stream (cut by llg_echo_next_word(),
 * providers/echo.h); backpressure comes from the generator's proceed, so at
 * most one chunk is buffered per stream. */
void llg_echo_respond(h2o_req_t *req, const llg_echo_params_t *params);

#endif
