/*
 * providers/puter.h: Puter's driver API (SPEC section 7): POST
 * {base_url}/drivers/call with {"interface":"puter-chat-completion","driver",
 * "test_mode":false,"method":"complete","args":{...}}. Streams are NDJSON lines
 * ({"type":"text"}, "reasoning", "tool_use", ...); non-stream answers are one
 * {"success":true,"result":{"message":{...},"usage":...}}; {"success":false,
 * "error":{...}} may come with HTTP 200, even mid-stream, and is an error.
 * This module builds the call, translates the answer (and Puter's HTTP errors)
 * into OpenAI form following the contract of providers/translate.h, and reads
 * Puter's model list.
 *
 * Answer lines, streaming or not (a non-stream body is read as one JSON value,
 * else as NDJSON lines):
 * - {"type":"text","text"} → content; {"type":"reasoning","reasoning"} →
 *   delta.reasoning_content (message.reasoning_content when not streaming);
 * - {"type":"tool_use","id","name","input"} → one tool call (arguments: the
 *   input as JSON text, or the string itself when it is one); the finish
 *   reason becomes "tool_calls";
 * - {"success":true,"result":{...}} → its message (string content, or parts:
 *   text parts joined as they are, tool_use parts as tool calls; OpenAI-shaped
 *   message.tool_calls; reasoning_content/reasoning), its finish_reason, its
 *   usage (after text/reasoning/tool_use lines, only the last two: the
 *   message would repeat them);
 * - a `usage` member on any line, or {"type":"usage",...} itself: Puter's
 *   usage, either [{"type":"prompt"|"completion","amount"}] (summed per kind;
 *   "input"/"output" also accepted) or {"input_tokens","output_tokens"} (plus
 *   Anthropic's cache_*_input_tokens) or {"prompt_tokens","completion_tokens"};
 * - {"success":false,"error":{...}} or {"type":"error",...} → the error;
 * - blank and pure-hex lines are skipped; lines of other types are ignored; a
 *   line that is not a JSON object is a protocol error (502).
 * The end of the body ends the answer (Puter sends no end marker): finish
 * chunk, usage chunk when asked, [DONE]. Usage is Puter's when it sent some,
 * else estimated.
 *
 * Error mapping (in-band and HTTP alike; the token is the client's own, so its
 * auth, quota and rate errors are passed on): token_auth_failed or 401 → 401
 * invalid_api_key (AUTH); 402 or an insufficient-funds code → 402
 * insufficient_quota (PAYMENT); 429 or a rate-limit code → 429
 * rate_limit_exceeded (RATE_LIMITED); 403 → 403 (AUTH); moderation_failed →
 * 400 content_policy_violation; another 4xx (error.status or the HTTP status)
 * → that status with Puter's code (CLIENT); anything else → 502 upstream_error
 * (SERVER).
 */
#ifndef LLG_PUTER_H
#define LLG_PUTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/translate.h"
#include "providers/strbuf.h"

/* The driver that serves `model` (see puter_call.c for the table): a prefix
 * `openrouter:` → "openrouter", `togetherai:`/`together:` → "together-ai",
 * `ollama:` → "ollama"; then by family: gpt-, chatgpt-, o1, o3, o4 and empty →
 * "openai-completion", claude- → "claude", gemini- → "gemini", grok- → "xai",
 * mistral-/codestral-/pixtral-/magistral-/devstral-/open-mistral- → "mistral",
 * deepseek- → "deepseek"; else "openrouter". */
const char *llg_puter_driver(const char *model);

/* The call body: args are the client's messages unchanged (Puter reads
 * OpenAI-style messages, array content and tool messages included), `model`,
 * `stream`, then max_tokens (or the client's max_completion_tokens),
 * temperature and tools when the request has them. `driver` NULL: derived
 * from the model. Returns 0, or -1 when `messages` is missing or not an array. */
int llg_puter_build_call(const cJSON *root, const char *model, const char *driver, bool stream, llg_strbuf_t *out);

typedef struct llg_puter_stream llg_puter_stream_t;

llg_puter_stream_t *llg_puter_stream_new(const llg_xlate_params_t *params);
void llg_puter_stream_free(llg_puter_stream_t *s);

/* Feeds body bytes of a 2xx answer (see translate.h). Not streaming, the body
 * is collected (up to 16 MiB) and read at the end. After a failure every call
 * returns -1 again with the same error. */
int llg_puter_feed(llg_puter_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
int llg_puter_end(llg_puter_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err);

/* Puter's usage when it sent some (`estimated` false), else the estimates. */
void llg_puter_usage(const llg_puter_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated);

/* The error for a non-2xx answer from Puter (mapping above). */
void llg_puter_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err);

/* Puter's model list ({"models":[ids]}, or OpenAI's shape) as items of the
 * OpenAI list, one `{...}\n` per model, owned_by "puter": this is
 * llg_models_normalize, which already reads {"models":[...]}. Returns the
 * number of models or -1. */
int llg_puter_models(const char *json, size_t len, llg_strbuf_t *out);

#endif
