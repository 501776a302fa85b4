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
#include <stdint.h>

#include "providers/answer.h"

typedef enum llg_protocol {
    LLG_PROTOCOL_OPENAI,    /* /v1/chat/completions */
    LLG_PROTOCOL_ANTHROPIC, /* /v1/messages */
    LLG_PROTOCOL_OLLAMA,    /* /api/chat, /api/generate, /api/embed, /api/embeddings */
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
    /* An endpoint of this protocol relayed to an openai-type endpoint that
     * is no chat (Ollama's embeddings as /embeddings): `parse` reads the
     * request into that endpoint's OpenAI request, and this rewrites the
     * whole 2xx answer (`model` is the client's, `total_ns` the time since
     * the request came) in the protocol's shape; 0, or -1 with a message in
     * `err` when the answer cannot be read. NULL for the chat protocols. */
    int (*whole_answer)(const char *body, size_t len, const char *model, uint64_t total_ns, llg_strbuf_t *out, char *err,
                        size_t errsize);
} llg_ingress_t;

extern const llg_ingress_t llg_ingress_openai, llg_ingress_anthropic, llg_ingress_ollama_chat, llg_ingress_ollama_generate,
    llg_ingress_ollama_embed, llg_ingress_ollama_embeddings, llg_ingress_responses;

#endif
