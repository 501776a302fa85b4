/*
 * tests/fuzz/fuzz_puter.c: Puter's side of the translation layer on arbitrary
 * bytes: the answer translator (stream and non-stream, cut anywhere; see
 * fuzz_translate.h for the checks), the HTTP error reader, the model list,
 * and, when the input is JSON, the call builder.
 */
#include "providers/puter.h"
#include "tests/fuzz/fuzz_translate.h"

static void *puter_new(const llg_xlate_params_t *p)
{
    return llg_puter_stream_new(p);
}

static int puter_feed(void *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_puter_feed(s, p, n, out, err);
}

static int puter_end(void *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_puter_end(s, out, err);
}

static void puter_free(void *s)
{
    llg_puter_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_translator_t puter = {puter_new, puter_feed, puter_end, puter_free};
    fuzz_translate(&puter, data, size);
    llg_xlate_error_t err;
    llg_puter_http_error(400 + (int)(size % 200), (const char *)data, size, &err);
    FUZZ_ASSERT(llg_utf8_valid(err.message, strlen(err.message)));
    FUZZ_ASSERT(err.http_status >= 400 && err.http_status < 600);
    llg_strbuf_t out = {0};
    llg_puter_models((const char *)data, size, &out);
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j != NULL) {
        out.len = 0;
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
        const char *m = cJSON_IsString(model) ? model->valuestring : NULL;
        if (llg_puter_build_call(j, m, NULL, (size & 1) != 0, &out) == 0) {
            cJSON *c = cJSON_ParseWithLength(out.data, out.len);
            FUZZ_ASSERT(cJSON_IsObject(c));
            cJSON_Delete(c);
        }
        cJSON_Delete(j);
    }
    llg_strbuf_free(&out);
    return 0;
}
