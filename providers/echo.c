/*
 * providers/echo.c: the echo model's chunking (see echo.h).
 */
#include "providers/echo.h"

#include <ctype.h>

size_t llg_echo_next_word(const char *text, size_t len, size_t pos)
{
    while (pos < len && isspace((unsigned char)text[pos]))
        pos++;
    while (pos < len && !isspace((unsigned char)text[pos]))
        pos++;
    return pos;
}
