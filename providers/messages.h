/*
 * providers/messages.h: the message modes of SPEC section 7, applied to an
 * OpenAI `messages` array, and the flattening of a message to plain text that
 * text-only upstreams (Poe, the `full` mode) need.
 *
 * Flattening a content: a string is itself; null or absent is ""; an array
 * keeps its text parts (objects whose `type` is "text", "input_text" or
 * "output_text" with a string `text`, and bare strings) joined by "\n", and
 * drops every other part (images, audio, files): a text-only message cannot
 * carry them. Any other content type is malformed.
 *
 * Roles:
 * - `raw` forwards everything unchanged (array content, images, tool calls,
 *   any role).
 * - `standard` builds a plain system/user/assistant conversation:
 *   `system` and `developer` messages (developer is OpenAI's newer name for
 *   system instructions) are flattened and merged, in order, into one leading
 *   system message, joined by "\n\n" (empty ones skipped; none when all are
 *   empty). `tool` and `function` results become a user message
 *   "[tool result] <content>" (a run of consecutive results becomes one user
 *   message, the results joined by "\n\n", so parallel tool calls keep all
 *   their results). An assistant message with `tool_calls` (or the legacy
 *   `function_call`) keeps its other members but gets a string content: its
 *   text, then one line "[tool call] name(arguments)" per call; the
 *   tool_calls/function_call members are removed (no tool message follows them
 *   any more). Any other role counts as `user`. User and assistant messages
 *   are otherwise kept as the client wrote them (array content and images
 *   included). Then: assistant messages before the first user message are
 *   dropped, a message with the same role as the previous kept one is dropped
 *   (the first of a run is kept), and a trailing assistant message is dropped,
 *   so the conversation alternates, starts and ends with a user message.
 *   Only system messages: the result is that one system message. Empty
 *   conversation: an empty array.
 * - `full` sends one user message whose content is every message, in order,
 *   as "[role] text" (the role as the client wrote it, the text flattened with
 *   tool calls as above), joined by "\n\n"; messages whose text is empty are
 *   left out; nothing left: an empty array.
 */
#ifndef LLG_MESSAGES_H
#define LLG_MESSAGES_H

#include <cjson/cJSON.h>

#include "conf/conf.h"
#include "providers/strbuf.h"

/* A new array (the caller deletes it), or NULL when `messages` is not an
 * array of objects with a string `role` (raw: not an array) or a content is
 * neither a string, an array nor null. */
cJSON *llg_messages_apply(llg_message_mode_t mode, const cJSON *messages);

/* Appends the flattened `content` (see above). Returns 0, or -1 when it is
 * neither a string, an array, null nor absent (NULL). */
int llg_message_content_text(const cJSON *content, llg_strbuf_t *out);

/* Appends the text of one message: its flattened content, then one line
 * "[tool call] name(arguments)" per tool call. Returns 0 or -1 (malformed). */
int llg_message_text(const cJSON *message, llg_strbuf_t *out);

#endif
