/*
 * providers/openai_request.h: the OpenAI chat completions request, parsed and
 * validated once. Its tree is also the canonical request of llmgate: every
 * client protocol's request is translated into it (providers/ingress.h), and
 * every upstream's request is built from it (providers/egress.h).
 */
#ifndef LLG_OPENAI_REQUEST_H
#define LLG_OPENAI_REQUEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Validates a chat request body. On success returns the parsed JSON (a cJSON
 * object, caller deletes) and NULL in *err; on failure NULL, with a message in
 * err (and the offending parameter in param, or ""). */
cJSON *llg_chat_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

#endif
