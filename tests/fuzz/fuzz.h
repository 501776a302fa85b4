/*
 * tests/fuzz/fuzz.h: helpers shared by the libFuzzer targets: how an input is
 * cut into two deliveries (a checksum of the bytes picks the cut, so the seed
 * corpus is the raw wire fixtures, unchanged), the output checks every target
 * makes, and a hard failure that libFuzzer reports as a crash.
 */
#ifndef LLG_FUZZ_H
#define LLG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/ollama.h"
#include "providers/strbuf.h"

#define FUZZ_ASSERT(cond)                                                                                                          \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed\n", __FILE__, __LINE__, #cond);                                         \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/* A refused Ollama request: a message and a `param` of valid UTF-8, and an
 * error body ({"error"}) that is JSON. */
static inline void fuzz_check_ollama_refusal(const char *err, const char *param)
{
    FUZZ_ASSERT(err[0] != '\0' && llg_utf8_valid(err, strlen(err)) && llg_utf8_valid(param, strlen(param)));
    llg_strbuf_t b = {0};
    llg_ollama_error_body(&b, 400, NULL, NULL, param, err);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    FUZZ_ASSERT(cJSON_IsObject(j));
    cJSON_Delete(j);
    llg_strbuf_free(&b);
}

/* a cut in [0, size], different for most inputs */
static inline size_t fuzz_cut(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return size == 0 ? 0 : h % (size + 1);
}

/* "<key>":<digits> -> "<key>":0 */
static inline void fuzz_zero_number(llg_strbuf_t *b, const char *key)
{
    llg_strbuf_t o = {0};
    const char *p = b->data != NULL ? b->data : "";
    const char *q;
    while ((q = strstr(p, key)) != NULL) {
        q += strlen(key);
        llg_strbuf_append(&o, p, (size_t)(q - p));
        llg_strbuf_appends(&o, "0");
        while (*q >= '0' && *q <= '9')
            q++;
        p = q;
    }
    llg_strbuf_appends(&o, p);
    llg_strbuf_free(b);
    *b = o;
}

/* What differs between two runs of the same answer: "created" (two runs may
 * straddle a second), Ollama's created_at and its durations (the answer's
 * own time) */
static inline void fuzz_normalize_created(llg_strbuf_t *b)
{
    const char *p, *q, *key;
    /* Ollama's "created_at":"<time>" -> "created_at":"T" */
    llg_strbuf_t t = {0};
    p = b->data != NULL ? b->data : "";
    key = "\"created_at\":\"";
    while ((q = strstr(p, key)) != NULL) {
        q += strlen(key);
        llg_strbuf_append(&t, p, (size_t)(q - p));
        llg_strbuf_appends(&t, "T");
        while (*q != '\0' && *q != '"')
            q++;
        p = q;
    }
    llg_strbuf_appends(&t, p);
    llg_strbuf_free(b);
    *b = t;
    /* the Responses API's created_at is a number */
    fuzz_zero_number(b, "\"created\":");
    fuzz_zero_number(b, "\"created_at\":");
    fuzz_zero_number(b, "\"total_duration\":");
    fuzz_zero_number(b, "\"eval_duration\":");
}

/* An SSE answer as llmgate writes it: only `data: <JSON>\n\n` and
 * `data: [DONE]\n\n` events, valid UTF-8; returns 1 when the last event is
 * [DONE] (0 for an empty output). */
static inline int fuzz_check_sse_output(const llg_strbuf_t *out)
{
    FUZZ_ASSERT(llg_utf8_valid(out->data != NULL ? out->data : "", out->len));
    size_t pos = 0;
    int last_done = 0;
    while (pos < out->len) {
        FUZZ_ASSERT(out->len - pos >= 8 && memcmp(out->data + pos, "data: ", 6) == 0);
        const char *end = strstr(out->data + pos, "\n\n");
        FUZZ_ASSERT(end != NULL);
        const char *d = out->data + pos + 6;
        size_t dlen = (size_t)(end - d);
        FUZZ_ASSERT(memchr(d, '\n', dlen) == NULL);
        last_done = dlen == 6 && memcmp(d, "[DONE]", 6) == 0;
        if (!last_done) {
            cJSON *j = cJSON_ParseWithLength(d, dlen);
            FUZZ_ASSERT(cJSON_IsObject(j));
            cJSON_Delete(j);
        }
        pos = (size_t)(end - out->data) + 2;
    }
    return last_done;
}

#endif
