/*
 * providers/poe.h: Poe's bot query protocol, version 1.2 (SPEC section 7):
 * POST {base_url}/bot/{BotName} with a `query` body, answered by SSE events
 * `text`, `replace_response`, `done`, `error`, `meta`, `suggested_reply`,
 * `json`, `ping`. This module builds the query from an OpenAI chat body, maps a
 * model name to a bot name, and translates the answer (and Poe's HTTP errors)
 * back into OpenAI form, following the contract of providers/translate.h.
 *
 * replace_response: the event replaces the whole answer so far.
 * - Not streaming: the completion holds the final answer exactly.
 * - Streaming, when the replacement extends what the client already has
 *   since the last break: only the new end is sent, as content.
 * - Streaming, when it does not (Poe's "Thinking..." placeholder replaced by
 *   the real answer, or a progress line replaced by the next): sent text
 *   cannot be taken back, so the stream goes on after a break: a blank line
 *   ("\n\n") then the replacement in full, and the text that follows. The
 *   client thus ends with: what it already had, a blank line, then the final
 *   answer whole (the final answer is always a suffix of the streamed text,
 *   and nothing is lost or held back). Later replacements compare against the
 *   text since the last break.
 *
 * Errors (`error` event): `insufficient_fund` is 402 insufficient_quota
 * (outcome PAYMENT); an `error_type` about authorization is the key's fault:
 * the client sees 502, the pool gets AUTH; one about rate limits is 429
 * (RATE_LIMITED); `user_message_too_long` is 400 context_length_exceeded and
 * `user_caused_error` 400 invalid_request (CLIENT); any other error is 502,
 * outcome SERVER (retried on another key) when `allow_retry` is true or absent
 * (Poe's default), else CLIENT (Poe says a retry will not help; the key is not
 * blamed). Before any text: -1 with that status; after text while streaming:
 * an error event, `[DONE]`, -1 with http_status 0; not streaming: -1 with
 * that status (nothing was sent). A stream that ends without `done` is an
 * error the same way (502 upstream_truncated, SERVER).
 */
#ifndef LLG_POE_H
#define LLG_POE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "providers/translate.h"
#include "providers/strbuf.h"

/* The most of a bot's answer kept per request (the whole text, for
 * replace_response and for a non-stream answer): beyond it the request fails
 * with 502 upstream_protocol_error. */
#define LLG_POE_ANSWER_MAX (16u << 20)

/* The query body for the client's chat body `root` (messages as the message
 * mode left them): every message becomes {role, content, content_type
 * "text/markdown", timestamp 0, message_id "", feedback [], attachments []}.
 * Roles: system stays system, user stays user, assistant becomes bot,
 * developer becomes user (SPEC), tool and function results become user
 * messages "[tool result] <content>", any other role becomes user. Content is
 * flattened to text (llg_message_text: text parts joined by "\n", other parts
 * dropped, assistant tool calls as "[tool call] name(arguments)" lines).
 * temperature is the request's when it is a number, else 0.7 (Poe's own
 * default, sent explicitly); stop_sequences comes from `stop` (a string or an
 * array of strings), else []; user_id, conversation_id, message_id, metadata
 * and bot_query_id are "", api_key and access_key "<missing>", logit_bias {}
 * (OpenAI token ids mean nothing to a Poe bot). Other OpenAI parameters
 * (max_tokens, tools, ...) have no place in the protocol and are dropped.
 * Returns 0, or -1 when `messages` is missing or malformed. */
int llg_poe_build_query(const cJSON *root, llg_strbuf_t *out);

/* The bot for `model`: a leading "<provider name>/" is removed first (so that models
 * named "poe/<bot>" work); then the provider's model_map (exact key, else a
 * case-insensitive key); else the spelling in list_models that matches
 * case-insensitively; else the name as given. Returns NULL when the result is
 * not a plausible bot name (1 to 128 characters of [A-Za-z0-9._-], not "." or
 * ".."): it goes into the URL path as is, so nothing else may pass. The result
 * points into `p` or `model`. */
const char *llg_poe_bot_name(const llg_conf_provider_t *p, const char *model);

typedef struct llg_poe_stream llg_poe_stream_t;

llg_poe_stream_t *llg_poe_stream_new(const llg_xlate_params_t *params);
void llg_poe_stream_free(llg_poe_stream_t *s);

/* Feeds upstream body bytes (a 2xx answer); see translate.h. After a failure
 * every call returns -1 again with the same error and appends nothing. */
int llg_poe_feed(llg_poe_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);

/* The upstream body ended. A last event without its blank line is still
 * taken. Not streaming: appends the completion body. */
int llg_poe_end(llg_poe_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err);

/* Poe reports no usage: prompt tokens are the caller's estimate, completion
 * tokens are estimated from the text sent; `estimated` is always true. */
void llg_poe_usage(const llg_poe_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated);

/* The error for a non-2xx answer from Poe, body in any shape (JSON or text).
 * 401/403: the key is bad: 502 upstream_auth_failed for the client, outcome
 * AUTH. 402 or an insufficient_fund/insufficient_quota body: 402
 * insufficient_quota, PAYMENT. 429: 429 rate_limit_exceeded, RATE_LIMITED.
 * 404: 404 model_not_found (no such bot), CLIENT. 408: 504 upstream_timeout,
 * NETWORK. Other 4xx: that status, CLIENT. 5xx and anything else: 502
 * upstream_error, SERVER. The message is Poe's when it gave one. */
void llg_poe_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err);

#endif
