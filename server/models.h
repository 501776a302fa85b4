/*
 * server/models.h: GET /v1/models (and /models): the union, in provider order
 * and without duplicate ids, of every provider's models: `list_models` when
 * given, the echo provider's plain names, else the upstream's own list.
 * Upstream lists are fetched with a pool key, normalised (providers/models.h)
 * and cached per worker for LLG_MODELS_TTL_MS; a stale list is served while a
 * fresh one is fetched in the background, and an upstream that cannot be
 * reached leaves the last good list in place. Only the very first listing
 * waits for the upstreams (at most LLG_MODELS_WAIT_MS).
 */
#ifndef LLG_SERVER_MODELS_H
#define LLG_SERVER_MODELS_H

#include "h2o.h"
#include "server/app.h"

#define LLG_MODELS_TTL_MS  (10 * 60 * 1000)
#define LLG_MODELS_WAIT_MS 5000

typedef struct llg_models llg_models_t;

llg_models_t *llg_models_create(llg_app_t *app);

void llg_models_handle(llg_app_t *app, h2o_req_t *req);

#endif
