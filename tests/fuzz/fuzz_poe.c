/*
 * tests/fuzz/fuzz_poe.c: Poe's side of the translation layer on arbitrary
 * bytes: the answer translator (stream and non-stream, cut anywhere; see
 * fuzz_translate.h for the checks), the HTTP error reader, and, when the input
 * is JSON, the query builder and the message modes.
 */
#include "providers/messages.h"
#include "providers/poe.h"
#include "tests/fuzz/fuzz_translate.h"

static void *poe_new(const llg_xlate_params_t *p)
{
    return llg_poe_stream_new(p);
}

static int poe_feed(void *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_poe_feed(s, p, n, out, err);
}

static int poe_end(void *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_poe_end(s, out, err);
}

static void poe_free(void *s)
{
    llg_poe_stream_free(s);
}

static void json_input(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j == NULL)
        return;
    llg_strbuf_t out = {0};
    if (llg_poe_build_query(j, &out) == 0) {
        cJSON *q = cJSON_ParseWithLength(out.data, out.len);
        FUZZ_ASSERT(cJSON_IsObject(q));
        cJSON_Delete(q);
    } else {
        FUZZ_ASSERT(out.len == 0);
    }
    llg_strbuf_free(&out);
    const cJSON *messages = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "messages") : j;
    for (int mode = 0; mode < 3; mode++) {
        cJSON *m = llg_messages_apply((llg_message_mode_t)mode, messages);
        if (m != NULL) {
            FUZZ_ASSERT(cJSON_IsArray(m));
            if (mode == LLG_MESSAGES_FULL)
                FUZZ_ASSERT(cJSON_GetArraySize(m) <= 1);
            char *s = cJSON_PrintUnformatted(m);
            FUZZ_ASSERT(s != NULL);
            cJSON_free(s);
            cJSON_Delete(m);
        }
    }
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_translator_t poe = {poe_new, poe_feed, poe_end, poe_free};
    fuzz_translate(&poe, data, size);
    llg_xlate_error_t err;
    llg_poe_http_error(400 + (int)(size % 200), (const char *)data, size, &err);
    FUZZ_ASSERT(llg_utf8_valid(err.message, strlen(err.message)));
    FUZZ_ASSERT(err.http_status >= 400 && err.http_status < 600);
    json_input(data, size);
    return 0;
}
