/*
 * providers/responses.h: OpenAI's Responses API (POST /v1/responses) as a
 * client protocol, stateless: its requests read into the canonical request,
 * its answers written by llg_render_responses (providers/answer.h) as a
 * `response` object or its stream of `response.*` events. The mapping, and
 * what is refused or left out: docs/protocols.md.
 */
#ifndef LLG_RESPONSES_H
#define LLG_RESPONSES_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A /v1/responses body into the canonical request (the caller deletes it),
 * or NULL with a message in `err` and the field in `param` (or ""). What needs
 * a stored response (previous_response_id, store: true, background: true,
 * conversation, item references) is refused, naming the field. */
cJSON *llg_responses_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

#endif
