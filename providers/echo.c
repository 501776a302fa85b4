/*
 * providers/echo.c: the echo model's chunking and its tool-call requests
 * (see echo.h).
 */
#include "providers/echo.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <string.h>

size_t llg_echo_next_word(const char *text, size_t len, size_t pos)
{
    while (pos < len && isspace((unsigned char)text[pos]))
        pos++;
    while (pos < len && !isspace((unsigned char)text[pos]))
        pos++;
    return pos;
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    return i;
}

bool llg_echo_tool_call(const char *text, size_t len, const char **name, size_t *name_len, const char **args, size_t *args_len)
{
    size_t i = skip_blanks(text, len, 0);
    if (len - i < 5 || memcmp(text + i, "call", 4) != 0 || !isspace((unsigned char)text[i + 4]))
        return false;
    i = skip_blanks(text, len, i + 4);
    size_t n0 = i;
    while (i < len && (isalnum((unsigned char)text[i]) || text[i] == '_' || text[i] == '.' || text[i] == '-'))
        i++;
    if (i == n0 || i - n0 > 64)
        return false;
    size_t n1 = i;
    i = skip_blanks(text, len, i);
    if (i == n1 || i >= len || text[i] != '{')
        return false;
    size_t end = len;
    while (end > i && isspace((unsigned char)text[end - 1]))
        end--;
    /* the rest must be exactly one JSON object */
    const char *parse_end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(text + i, end - i, &parse_end, false);
    bool ok = cJSON_IsObject(obj) && parse_end == text + end;
    cJSON_Delete(obj);
    if (!ok)
        return false;
    *name = text + n0;
    *name_len = n1 - n0;
    *args = text + i;
    *args_len = end - i;
    return true;
}
