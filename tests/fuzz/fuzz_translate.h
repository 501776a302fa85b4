/*
 * tests/fuzz/fuzz_translate.h: one driver for the Poe and Puter translator
 * targets. Each input is translated streaming and not streaming, once whole
 * and once cut in two, and must give: the same output and result whatever
 * the cut; while streaming, only well-formed SSE events, ending with [DONE]
 * on success and on a committed failure, nothing at all on an uncommitted
 * failure (which carries a 4xx/5xx status); not streaming, one JSON object on
 * success and nothing on failure; valid UTF-8 error messages.
 */
#ifndef LLG_FUZZ_TRANSLATE_H
#define LLG_FUZZ_TRANSLATE_H

#include "providers/translate.h"
#include "tests/fuzz/fuzz.h"

typedef void *(*fuzz_new_fn)(const llg_xlate_params_t *params);
typedef int (*fuzz_feed_fn)(void *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
typedef int (*fuzz_end_fn)(void *s, llg_strbuf_t *out, llg_xlate_error_t *err);
typedef void (*fuzz_free_fn)(void *s);

typedef struct fuzz_translator {
    fuzz_new_fn create;
    fuzz_feed_fn feed;
    fuzz_end_fn end;
    fuzz_free_fn destroy;
} fuzz_translator_t;

static int fuzz_translate_once(const fuzz_translator_t *t, const llg_xlate_params_t *params, const uint8_t *data, size_t size,
                               size_t cut, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    void *s = t->create(params);
    FUZZ_ASSERT(s != NULL);
    memset(err, 0, sizeof(*err));
    int rc = t->feed(s, (const char *)data, cut, out, err);
    if (rc == 0)
        rc = t->feed(s, (const char *)data + cut, size - cut, out, err);
    if (rc == 0) {
        rc = t->end(s, out, err);
    } else {
        /* after a failure: the same failure again, nothing appended */
        llg_xlate_error_t again;
        size_t before = out->len;
        FUZZ_ASSERT(t->end(s, out, &again) == -1);
        FUZZ_ASSERT(out->len == before && again.http_status == err->http_status);
    }
    t->destroy(s);
    if (rc != 0) {
        FUZZ_ASSERT(llg_utf8_valid(err->message, strlen(err->message)));
        FUZZ_ASSERT(err->message[0] != '\0' && err->code[0] != '\0' && err->type[0] != '\0');
    }
    return rc;
}

static void fuzz_translate(const fuzz_translator_t *t, const uint8_t *data, size_t size)
{
    size_t cut = fuzz_cut(data, size);
    for (int stream = 0; stream < 2; stream++) {
        llg_xlate_params_t params = {.model = "fuzz",
                                     .stream = stream == 1,
                                     .include_usage = (size & 1) != 0,
                                     .prompt_tokens_estimate = 3,
                                     .random = {size, cut}};
        llg_strbuf_t whole = {0}, split = {0};
        llg_xlate_error_t ew, es;
        int rw = fuzz_translate_once(t, &params, data, size, size, &whole, &ew);
        int rs = fuzz_translate_once(t, &params, data, size, cut, &split, &es);
        FUZZ_ASSERT(rw == rs);
        if (stream == 1) {
            int done = fuzz_check_sse_output(&whole);
            if (rw == 0 || ew.http_status == 0)
                FUZZ_ASSERT(done);
            else
                FUZZ_ASSERT(whole.len == 0 && ew.http_status >= 400 && ew.http_status < 600);
        } else if (rw == 0) {
            FUZZ_ASSERT(llg_utf8_valid(whole.data, whole.len));
            cJSON *j = cJSON_ParseWithLength(whole.data, whole.len);
            FUZZ_ASSERT(cJSON_IsObject(j));
            cJSON_Delete(j);
        } else {
            FUZZ_ASSERT(whole.len == 0 && ew.http_status >= 400 && ew.http_status < 600);
        }
        if (rw != 0)
            FUZZ_ASSERT(ew.http_status == es.http_status && strcmp(ew.code, es.code) == 0);
        fuzz_normalize_created(&whole);
        fuzz_normalize_created(&split);
        FUZZ_ASSERT(whole.len == split.len && memcmp(whole.data, split.data, whole.len) == 0);
        llg_strbuf_free(&whole);
        llg_strbuf_free(&split);
    }
}

#endif
