/*
 * tests/fuzz/fuzz_echo.c: the echo model's reading of a user message
 * (providers/echo.c): the `call NAME {json}` form and the word chunking, on
 * arbitrary bytes. A match lies inside the input (an exact-size copy), its
 * name is 1 to 64 of [A-Za-z0-9_.-], its arguments are one JSON object that
 * ends the text but for blanks; the chunks of a stream cover the text exactly
 * and each one advances.
 */
#include <ctype.h>

#include "providers/echo.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    FUZZ_ASSERT(p != NULL);
    memcpy(p, data, size);

    const char *name, *args;
    size_t nl, al;
    if (llg_echo_tool_call(p, size, &name, &nl, &args, &al)) {
        FUZZ_ASSERT(name >= p && name + nl <= p + size && args > name + nl && args + al <= p + size);
        FUZZ_ASSERT(nl >= 1 && nl <= 64);
        for (size_t i = 0; i < nl; i++)
            FUZZ_ASSERT(isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '.' || name[i] == '-');
        for (const char *q = args + al; q < p + size; q++)
            FUZZ_ASSERT(isspace((unsigned char)*q));
        cJSON *obj = cJSON_ParseWithLength(args, al);
        FUZZ_ASSERT(cJSON_IsObject(obj));
        cJSON_Delete(obj);
    }

    size_t pos = 0;
    while (pos < size) {
        size_t end = llg_echo_next_word(p, size, pos);
        FUZZ_ASSERT(end > pos && end <= size);
        pos = end;
    }
    free(p);
    return 0;
}
