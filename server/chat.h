/*
 * server/chat.h: POST /v1/chat/completions (also /chat/completions and /)
 * and /v1/messages: the request is authenticated, parsed and validated once
 * into the canonical request (by the client protocol's ingress adapter,
 * providers/ingress.h), routed to a provider, and handed to that provider.
 */
#ifndef LLG_CHAT_H
#define LLG_CHAT_H

#include "h2o.h"
#include "providers/openai_request.h"
#include "server/app.h"

void llg_chat_handle(llg_app_t *app, h2o_req_t *req);
/* The other endpoints relayed to openai-type providers, routed by `model`. */
void llg_completions_handle(llg_app_t *app, h2o_req_t *req);
void llg_embeddings_handle(llg_app_t *app, h2o_req_t *req);
void llg_images_handle(llg_app_t *app, h2o_req_t *req);
/* POST /v1/messages: Anthropic's Messages API, for every provider type
 * (translated to and from the canonical request, or relayed as it is to an
 * anthropic provider), and /v1/messages/count_tokens (relayed to an
 * anthropic provider, else estimated). */
void llg_messages_handle(llg_app_t *app, h2o_req_t *req);
void llg_count_tokens_handle(llg_app_t *app, h2o_req_t *req);

/* The echo model's answer to a validated chat request. */
struct cJSON;
void llg_chat_respond_echo(llg_app_t *app, h2o_req_t *req, int provider, const struct cJSON *root, const char *model);

#endif
