/*
 * providers/usage.h: reading an upstream's token counts out of its OpenAI-form
 * JSON (a non-stream answer, or one SSE chunk of a stream) without parsing
 * the whole text, and finding the `,"usage":null` that OpenAI adds to every
 * chunk once usage is asked for. Pure: no allocation.
 */
#ifndef LLG_PROVIDERS_USAGE_H
#define LLG_PROVIDERS_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the text may have a "usage" member whose value is an object:
 * `"usage"`, blanks, `:`, blanks, `{`. Without one llg_usage_read() finds
 * nothing, so the caller skips it (a parse per streamed chunk was half of
 * the CPU of a relayed chunk: docs/benchmarks.md, "Profiles"). */
bool llg_usage_may_have(const char *p, size_t n);

/* Reads the top-level `usage` object's prompt_tokens and completion_tokens.
 * True when either is a number; each is then set (0 when absent, negative
 * or not a number; non-integers are truncated; values of 10^12 and more read
 * as 0: an upstream's numbers are bounded before they become integers). */
bool llg_usage_read(const char *json, size_t len, uint64_t *prompt_tokens, uint64_t *completion_tokens);

/* Anthropic's usage in one event of a Messages stream (message_delta's
 * top-level `usage`, message_start's `message.usage`) or a whole message:
 * input is input_tokens plus the cache creation and cache read input tokens
 * (OpenAI's prompt_tokens count cached tokens too), output is output_tokens.
 * True when either was found (and *has_input / *has_output say which). */
bool llg_usage_read_anthropic(const char *json, size_t len, uint64_t *input, bool *has_input, uint64_t *output, bool *has_output);

/* OpenAI's Responses API usage, in a whole response (top-level `usage`) or a
 * stream's response.completed / response.incomplete event
 * (`response.usage`): input_tokens (cached ones included) and output_tokens.
 * True when either was found; each is then set (0 when absent). */
bool llg_usage_read_responses(const char *json, size_t len, uint64_t *input, uint64_t *output);

/* The finer counts of a usage object, for the access log and the spans:
 * the prompt tokens read from the provider's cache and the completion
 * tokens spent on reasoning. Each has_* says whether the upstream gave it
 * (a number; bounded as llg_usage_read's). */
typedef struct llg_usage_details {
    bool has_cached, has_reasoning;
    uint64_t cached_tokens, reasoning_tokens;
} llg_usage_details_t;

/* OpenAI chat (a body or a chunk): the top-level usage's
 * prompt_tokens_details.cached_tokens and
 * completion_tokens_details.reasoning_tokens. `d` is written only where a
 * count was found; true when one was. */
bool llg_usage_read_details(const char *json, size_t len, llg_usage_details_t *d);

/* Anthropic (a whole message, message_start's message.usage, message_delta's
 * usage): cache_read_input_tokens. Anthropic reports no reasoning count. */
bool llg_usage_read_details_anthropic(const char *json, size_t len, llg_usage_details_t *d);

/* The Responses API (a whole response, or an event's response.usage):
 * input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens. */
bool llg_usage_read_details_responses(const char *json, size_t len, llg_usage_details_t *d);

/* The first `,"usage":null` in [p, p + n), or NULL. */
const char *llg_usage_find_null(const char *p, size_t n);

#endif
