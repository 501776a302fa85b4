/*
 * server/proxy.h: relaying a request to `openai`-type providers (OpenAI,
 * OpenRouter, DeepInfra, Poe's OpenAI API, vLLM, Ollama, ...). Each attempt
 * takes a key from the shared pool and reports its outcome; failures before
 * the first upstream byte reaches the client are retried on the next key, then
 * on the fallback providers, up to retry.attempts. Upstream bytes are relayed
 * as they arrive, with backpressure both ways; a client that goes away aborts
 * the upstream transfer at once, and its key is not blamed.
 */
#ifndef LLG_PROXY_H
#define LLG_PROXY_H

#include <cjson/cJSON.h>

#include "h2o.h"
#include "server/app.h"

typedef enum llg_endpoint {
    LLG_ENDPOINT_CHAT,         /* /chat/completions */
    LLG_ENDPOINT_COMPLETIONS,  /* /completions */
    LLG_ENDPOINT_EMBEDDINGS,   /* /embeddings */
    LLG_ENDPOINT_IMAGES,       /* /images/generations */
    LLG_ENDPOINT_COUNT_TOKENS, /* /v1/messages/count_tokens (anthropic providers) */
} llg_endpoint_t;

/* Starts relaying `req` (its body parsed into `root`, which the proxy takes
 * over) to `provider`. `model` is the model the client asked for (or the
 * default), `token` the access token's index or -1. `authenticated` is false
 * when the access-token check was skipped for a passthrough provider: then no
 * fallback may use the pool's keys. */
void llg_proxy_start(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int provider, int token, bool authenticated,
                     llg_endpoint_t endpoint);

/* The same for model group `group` (config index): its targets are tried as
 * its strategy chooses them, then its fallbacks (docs/routing.md). */
void llg_proxy_start_group(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int group, int token,
                           llg_endpoint_t endpoint);

#endif
