/*
 * server/route.h: which provider or model group serves a model: the first
 * model group whose name matches, else the first provider, in file order,
 * whose model_map has the name as a key or one of whose `models` globs
 * matches it.
 */
#ifndef LLG_ROUTE_H
#define LLG_ROUTE_H

#include <cjson/cJSON.h>
#include <h2o.h>

#include "conf/conf.h"

/* Returns the provider index or -1. `upstream_model` (may be NULL) receives
 * the model_map value when the name was mapped, else the name itself. */
int llg_route(const llg_conf_t *conf, const char *model, const char **upstream_model);

/* The config index of the first model group (file order) whose name matches
 * `model`, or -1. Groups are matched before the providers' globs. */
int llg_route_group(const llg_conf_t *conf, const char *model);

/* The affinity strategy's request key: the group's header (default
 * x-session-id) when the request has it, else the body's `user`, else the
 * leading messages (every message up to and including the first `user` one:
 * the system prompt and the first turn, the same for every later turn of the
 * conversation), else `prompt` or `input`. A hash, the same on every
 * instance. */
uint64_t llg_route_affinity_key(const llg_conf_group_t *g, const h2o_req_t *req, const cJSON *root);

/* 1 when the token may use `model` (no allowlist, or a glob matches). */
int llg_token_allows(const llg_conf_token_t *token, const char *model);

#endif
