/*
 * providers/echo.h: the pure part of the local `echo` model: how its answer
 * is cut into stream chunks, and the tool call a message asks it for. The
 * answer itself (an h2o generator) is server/echo.c.
 */
#ifndef LLG_PROVIDERS_ECHO_H
#define LLG_PROVIDERS_ECHO_H

#include <stdbool.h>
#include <stddef.h>

/* The end of the next chunk of `text` starting at `pos`: the run of whitespace
 * then the word after it (each word is sent with the whitespace before it). */
size_t llg_echo_next_word(const char *text, size_t len, size_t pos);

/* A user message of the form `call NAME {json}`: blanks, the word `call`,
 * blanks, a tool name (1 to 64 of [A-Za-z0-9_.-]), blanks, then a JSON
 * object that runs to the end of the text (blanks after it allowed). On a
 * match, *name and *args point into `text` (args: the object as written) and
 * the result is true. Whether the request offers that tool is the caller's
 * to check (docs/providers/echo.md, "Tools"). */
bool llg_echo_tool_call(const char *text, size_t len, const char **name, size_t *name_len, const char **args, size_t *args_len);

#endif
