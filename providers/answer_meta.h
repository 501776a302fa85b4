/*
 * providers/answer_meta.h: what an upstream's answer says about itself, for
 * the access log and the trace spans: its id, the model that answered and
 * the finish reasons, read out of a whole answer or one stream event of
 * OpenAI chat, Anthropic's Messages API or OpenAI's Responses API without
 * parsing the whole text (the top-level scanner of providers/json_edit.h).
 * Pure: no allocation; the strings point into the caller's text.
 */
#ifndef LLG_PROVIDERS_ANSWER_META_H
#define LLG_PROVIDERS_ANSWER_META_H

#include <stdbool.h>
#include <stddef.h>

#define LLG_ANSWER_META_MAX_REASONS 4 /* finish reasons read from one text (one per choice) */

/* A JSON string's bytes between its quotes; {NULL, 0}: not found. Only a
 * string without escapes is taken (ids, model names and finish reasons have
 * none): its bytes are the value as they are. */
typedef struct llg_meta_str {
    const char *p;
    size_t len;
} llg_meta_str_t;

typedef struct llg_answer_meta {
    llg_meta_str_t id, model;
    llg_meta_str_t finish[LLG_ANSWER_META_MAX_REASONS];
    unsigned nfinish;
} llg_answer_meta_t;

/* Which parts a reader looks for: the id and model (read once per answer,
 * from the first event that has them) and the finish reasons. */
enum { LLG_META_ID = 1, LLG_META_FINISH = 2 };

/* OpenAI chat: a chat.completion body or one chunk: the top-level id and
 * model, each choices[].finish_reason that is a string. `m` is zeroed first;
 * true when anything was found. */
bool llg_answer_meta_openai(const char *json, size_t len, unsigned want, llg_answer_meta_t *m);

/* Anthropic: a whole message (id, model, stop_reason), message_start's
 * `message` (id, model), message_delta's delta.stop_reason. */
bool llg_answer_meta_anthropic(const char *json, size_t len, unsigned want, llg_answer_meta_t *m);

/* The Responses API: a whole response, or an event that wraps one
 * (response.completed, response.incomplete, response.failed: `response`):
 * id, model, and as the finish reason incomplete_details.reason when it is a
 * string, else status. */
bool llg_answer_meta_responses(const char *json, size_t len, unsigned want, llg_answer_meta_t *m);

/* Whether the text may hold a finish_reason that is a string
 * (`"finish_reason"`, blanks, `:`, blanks, `"`): an OpenAI chunk without one
 * (all but the last of a stream: `"finish_reason":null`) is not read. */
bool llg_answer_meta_may_finish(const char *p, size_t n);

#endif
