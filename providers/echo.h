/*
 * providers/echo.h: the pure part of the local `echo` model: how its answer
 * is cut into stream chunks. The answer itself (an h2o generator) is
 * server/echo.c.
 */
#ifndef LLG_PROVIDERS_ECHO_H
#define LLG_PROVIDERS_ECHO_H

#include <stddef.h>

/* The end of the next chunk of `text` starting at `pos`: the run of whitespace
 * then the word after it (each word is sent with the whitespace before it). */
size_t llg_echo_next_word(const char *text, size_t len, size_t pos);

#endif
