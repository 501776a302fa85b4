/*
 * providers/ingress.h: the client half of every wire adapter, behind one
 * table. An ingress adapter reads its protocol's request into the canonical
 * request (an OpenAI chat body tree, providers/openai_request.h) and writes
 * canonical answers, events and errors in its protocol (its renderer,
 * providers/answer.h). Adding a client protocol is adding one entry (and its
 * two files: the request reader, the renderer).
 */
#ifndef LLG_INGRESS_H
#define LLG_INGRESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "providers/answer.h"

typedef enum llg_protocol {
    LLG_PROTOCOL_OPENAI,    /* /v1/chat/completions */
    LLG_PROTOCOL_ANTHROPIC, /* /v1/messages */
    LLG_PROTOCOL_OLLAMA,    /* /api/chat, /api/generate */
    LLG_PROTOCOL_RESPONSES, /* /v1/responses */
} llg_protocol_t;

typedef struct llg_ingress {
    const char *name;
    llg_protocol_t protocol;
    /* The canonical request (the caller deletes it), or NULL with a message
     * in `err` and the offending field in `param` (or ""). */
    cJSON *(*parse)(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);
    const llg_render_t *render;
    /* a stream's Content-Type, and whether `: ping` comments may keep it
     * alive (SSE) or not (NDJSON) */
    const char *stream_type;
    bool pings;
} llg_ingress_t;

extern const llg_ingress_t llg_ingress_openai, llg_ingress_anthropic, llg_ingress_ollama_chat, llg_ingress_ollama_generate,
    llg_ingress_responses;

#endif
