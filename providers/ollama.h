/*
 * providers/ollama.h: Ollama's API as a client protocol (POST /api/chat and
 * /api/generate; /api/tags, /api/show and /api/version are server/ollama.c):
 * its requests read into the canonical request, its answers written by
 * llg_render_ollama_chat / llg_render_ollama_generate (providers/answer.h) as
 * NDJSON lines (a stream) or one JSON object. The mapping, and what is
 * ignored: docs/protocols.md.
 */
#ifndef LLG_OLLAMA_H
#define LLG_OLLAMA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "providers/strbuf.h"

/* The Ollama version /api/version reports: the API level llmgate follows. */
#define LLG_OLLAMA_VERSION "0.12.0"

/* A /api/chat body into the canonical request (the caller deletes it), or
 * NULL with a message in `err` (and the field in `param`, or ""). `stream`
 * is true unless the body says false, as in Ollama. */
cJSON *llg_ollama_parse_chat(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* A /api/generate body (prompt, system, images) the same way: one user
 * message, after a system message when `system` is given. */
cJSON *llg_ollama_parse_generate(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* The model name an Ollama client means: without the ":latest" tag Ollama
 * adds to bare names (API upstreams have no tags), cut to fit `size`. */
void llg_ollama_model(const char *model, char *out, size_t size);

/* {"error":"<message>"}: Ollama's error shape; the other arguments have no
 * place in it. */
void llg_ollama_error_body(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                           const char *message);

/* /api/tags from the OpenAI-shaped model list llmgate builds: {"models":
 * [{"name","model","modified_at","size","digest","details"}]}. Returns 0, or
 * -1 when `list` is not such a list. */
int llg_ollama_tags(const char *list, size_t len, llg_strbuf_t *out);

/* /api/show for `model`: its details and capabilities (completion, tools). */
void llg_ollama_show(const char *model, llg_strbuf_t *out);

/* The time in Ollama's created_at form (RFC 3339 with nanoseconds, UTC). */
void llg_ollama_time(char out[40]);

#endif
