/*
 * server/route.h: which provider serves a model: the first provider, in file
 * order, whose model_map has the name as a key or one of whose `models` globs
 * matches it.
 */
#ifndef LLG_ROUTE_H
#define LLG_ROUTE_H

#include "conf/conf.h"

/* Returns the provider index or -1. `upstream_model` (may be NULL) receives
 * the model_map value when the name was mapped, else the name itself. */
int llg_route(const llg_conf_t *conf, const char *model, const char **upstream_model);

/* 1 when the token may use `model` (no allowlist, or a glob matches). */
int llg_token_allows(const llg_conf_token_t *token, const char *model);

#endif
