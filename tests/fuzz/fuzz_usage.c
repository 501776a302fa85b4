/*
 * tests/fuzz/fuzz_usage.c: the token-count reader (providers/usage.c) on
 * arbitrary bytes, as the proxy calls it on every upstream answer and every
 * streamed chunk. Never reads outside the input; `,"usage":null` is found
 * only where it is; counts are below 10^12; and whenever the text is an
 * object whose top-level "usage" object has an integer prompt_tokens and the
 * reader reads one, it is that value.
 */
#include "providers/usage.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly `size` bytes: ASan catches a read past the end */
    char *p = malloc(size ? size : 1);
    FUZZ_ASSERT(p != NULL);
    memcpy(p, data, size);

    const char *u = llg_usage_find_null(p, size);
    if (u != NULL)
        FUZZ_ASSERT(u >= p && (size_t)(u - p) + 13 <= size && memcmp(u, ",\"usage\":null", 13) == 0);

    (void)llg_usage_may_have(p, size);
    uint64_t in = 77, out = 77;
    if (llg_usage_read_responses(p, size, &in, &out))
        FUZZ_ASSERT(in < 1000000000000ull && out < 1000000000000ull);
    else
        FUZZ_ASSERT(in == 77 && out == 77);
    uint64_t pt = 77, ct = 77;
    bool found = llg_usage_read(p, size, &pt, &ct);
    if (found)
        FUZZ_ASSERT(pt < 1000000000000ull && ct < 1000000000000ull);
    else
        FUZZ_ASSERT(pt == 77 && ct == 77);

    /* against cJSON: an object with "usage": {"prompt_tokens": <integer>},
     * written without escapes, control bytes (cJSON takes any of them for a
     * blank, JSON only tab, LF and CR) or a byte order mark: the reader
     * matches member names as bytes */
    bool plain = size == 0 || (uint8_t)p[0] != 0xef;
    for (size_t i = 0; i < size && plain; i++)
        plain = p[i] != '\\' && ((uint8_t)p[i] >= 0x20 || p[i] == '\t' || p[i] == '\n' || p[i] == '\r');
    cJSON *root = plain ? cJSON_ParseWithLength(p, size) : NULL;
    if (root != NULL && cJSON_IsObject(root)) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
        const cJSON *ptok = cJSON_IsObject(usage) ? cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens") : NULL;
        /* one "usage" and one "prompt_tokens" member (cJSON takes the first of
         * duplicates, the reader too), a plain non-negative integer */
        if (cJSON_IsNumber(ptok) && ptok->valuedouble >= 0 && ptok->valuedouble < 1e12 &&
            ptok->valuedouble == (double)(int64_t)ptok->valuedouble) {
            /* (a number written in more than 31 bytes is not read: found may
             * be false; when it is read it is this one) */
            FUZZ_ASSERT(!found || pt == (uint64_t)ptok->valuedouble);
        }
    }
    cJSON_Delete(root);
    free(p);
    return 0;
}
