/*
 * server/chat.h: POST /v1/chat/completions (also /chat/completions and /):
 * the request is authenticated, parsed and validated once, routed to a
 * provider, and handed to that provider.
 */
#ifndef LLG_CHAT_H
#define LLG_CHAT_H

#include "h2o.h"
#include "server/app.h"

void llg_chat_handle(llg_app_t *app, h2o_req_t *req);
/* The other endpoints relayed to openai-type providers, routed by `model`. */
void llg_completions_handle(llg_app_t *app, h2o_req_t *req);
void llg_embeddings_handle(llg_app_t *app, h2o_req_t *req);
void llg_images_handle(llg_app_t *app, h2o_req_t *req);

/* The echo model's answer to a validated chat request. */
struct cJSON;
void llg_chat_respond_echo(llg_app_t *app, h2o_req_t *req, int provider, const struct cJSON *root, const char *model);

/* Validates a chat request body. On success returns the parsed JSON (a cJSON
 * object, caller deletes) and NULL in *err; on failure NULL, with a message in
 * err (and the offending parameter in param, or ""). Exposed for unit tests and
 * the fuzzer. */
struct cJSON *llg_chat_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

#endif
