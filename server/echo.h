/*
 * server/echo.h: the local `echo` model. It answers with the text of the
 * last user message, streamed word by word (each word with the whitespace
 * before it), optionally pausing `delay` between words. It makes the gateway
 * useful offline, for client development and for load tests.
 */
#ifndef LLG_SERVER_ECHO_H
#define LLG_SERVER_ECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h2o.h"

typedef struct llg_echo_params {
    const char *model; /* as the client named it */
    size_t model_len;
    const char *text; /* the answer; copied */
    size_t text_len;
    bool stream;
    bool include_usage;
    uint64_t prompt_tokens;
    h2o_timeout_t *delay; /* NULL: no pause between words */
    uint64_t random[2];   /* randomness for the completion id */
} llg_echo_params_t;

/* Sends the whole answer, or starts the stream (cut by llg_echo_next_word(),
 * providers/echo.h); backpressure comes from the generator's proceed, so at
 * most one chunk is buffered per stream. */
void llg_echo_respond(h2o_req_t *req, const llg_echo_params_t *params);

#endif
