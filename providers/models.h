/*
 * providers/models.h: upstream model lists normalised to OpenAI's shape.
 * Accepted inputs: {"data":[...]} (OpenAI, OpenRouter without object/owned_by,
 * Poe with `created` in milliseconds, DeepInfra), {"models":[...]} (Puter) or a
 * bare array; items are objects with an `id`, or plain id strings. Output
 * items are {"id","object":"model","created","owned_by"}.
 */
#ifndef LLG_MODELS_H
#define LLG_MODELS_H

#include <stddef.h>

#include "providers/strbuf.h"

/* Appends each normalised item of `json` to `out` as `{...}\n` (one item per
 * line). `owner` is the owned_by for items that have none. Returns the number
 * of items, or -1 when the text is not a model list. */
int llg_models_normalize(const char *json, size_t len, const char *owner, llg_strbuf_t *out);

/* One item for a static id. */
void llg_models_item(llg_strbuf_t *out, const char *id, long long created, const char *owner);

#endif
