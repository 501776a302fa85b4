/*
 * providers/ollama.h: Ollama's API as a client protocol (POST /api/chat and
 * /api/generate; /api/tags, /api/show and /api/version are server/ollama.c):
 * its requests read into the canonical request, its answers written by
 * llg_render_ollama_chat / llg_render_ollama_generate (providers/answer.h) as
 * NDJSON lines (a stream) or one JSON object; and its embeddings endpoints
 * (/api/embed, /api/embeddings) relayed as OpenAI's /embeddings
 * (ollama_embed.c). The mapping, and what is ignored: docs/protocols.md.
 */
#ifndef LLG_OLLAMA_H
#define LLG_OLLAMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/request_json.h"
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

/* The JSON object of any Ollama request and the start of what it is read
 * into: *out = {"model": <the name without ":latest">}. NULL (and e set)
 * when the body is refused or names no model. The caller deletes both. */
cJSON *llg_ollama_request_begin(const char *body, size_t len, llg_req_error_t *e, cJSON **out);

/* A /api/embed body ({model, input: string | [string], dimensions, truncate,
 * options, keep_alive}) read into OpenAI's /embeddings request: {model
 * (without ":latest"), input, dimensions (when > 0)}; truncate, options and
 * keep_alive are ignored. No input (missing, null, "" or []) is input []
 * (a preload: llg_ollama_embed_is_preload). NULL with a message in `err`
 * (and the field in `param`) for no model, an input list that holds an empty
 * string, an input that is no string or array of strings, and dimensions
 * that are no positive integer. */
cJSON *llg_ollama_parse_embed(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* The older /api/embeddings body ({model, prompt: string, options,
 * keep_alive}) the same way: `prompt` becomes `input`. */
cJSON *llg_ollama_parse_embeddings(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* Whether a request read by llg_ollama_parse_embed(dings) has no text
 * (Ollama's way to load a model): it is answered at once with
 * llg_ollama_embed_preload(), no vectors ({"embedding":[]} on the older
 * endpoint), without an upstream. */
bool llg_ollama_embed_is_preload(const cJSON *request);
void llg_ollama_embed_preload(const char *model, bool legacy, llg_strbuf_t *out);

/* An OpenAI /embeddings answer (a 2xx body) in /api/embed's shape:
 * {"model": `model`, "embeddings": [[...], ...], "total_duration": total_ns,
 * "load_duration": 0, "prompt_eval_count": usage.prompt_tokens}, the vectors
 * in the order of their `index`, every number the text the upstream wrote
 * (checked against JSON's grammar, never read as a float and printed again).
 * Returns 0, or -1 with a message in `err` and nothing written when the
 * answer holds no such vectors. */
int llg_ollama_embed_answer(const char *body, size_t len, const char *model, uint64_t total_ns, llg_strbuf_t *out, char *err,
                            size_t errsize);

/* The same in /api/embeddings' shape, {"embedding": [...]}: the answer must
 * hold one vector. `model` and `total_ns` have no place in it. */
int llg_ollama_embeddings_answer(const char *body, size_t len, const char *model, uint64_t total_ns, llg_strbuf_t *out, char *err,
                                 size_t errsize);

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
