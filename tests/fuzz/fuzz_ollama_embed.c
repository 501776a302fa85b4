/*
 * tests/fuzz/fuzz_ollama_embed.c: Ollama's embeddings endpoints
 * (providers/ollama_embed.c) on arbitrary bytes, taken both as a client's
 * request and as an upstream's answer.
 *
 * Requests (llg_ollama_parse_embed(), llg_ollama_parse_embeddings()):
 * refused: a non-empty message and a `param`, valid UTF-8, and an Ollama
 * error body that is JSON; accepted: OpenAI's /embeddings request and nothing
 * else: a non-empty string `model`, `input` a non-empty string or an array
 * of non-empty strings (a string on the older endpoint; [] for no text, a
 * preload, on both, and then llg_ollama_embed_preload is one object), and
 * `dimensions` (only on /api/embed) a positive integer when present.
 *
 * Answers (llg_ollama_embed_answer(), llg_ollama_embeddings_answer()):
 * refused: -1, a message, nothing written; accepted: one JSON object of
 * Ollama's shape (valid UTF-8), and when cJSON reads the input (without a
 * NUL), every vector is the input's vector of that index, number for number
 * (the text was copied, so the values are the same doubles).
 */
#include <stdbool.h>

#include "providers/ollama.h"
#include "tests/fuzz/fuzz.h"

static void check_request(cJSON *r, bool legacy)
{
    FUZZ_ASSERT(cJSON_IsObject(r));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
    FUZZ_ASSERT(cJSON_IsString(model) && model->valuestring[0] != '\0');
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(r, "input"), *item;
    if (cJSON_IsString(input)) {
        FUZZ_ASSERT(input->valuestring[0] != '\0');
    } else if (llg_ollama_embed_is_preload(r)) {
        llg_strbuf_t out = {0};
        llg_ollama_embed_preload(model->valuestring, legacy, &out);
        cJSON *o = cJSON_ParseWithLength(out.data, out.len);
        FUZZ_ASSERT(cJSON_IsObject(o) && llg_utf8_valid(out.data, out.len));
        cJSON_Delete(o);
        llg_strbuf_free(&out);
    } else {
        FUZZ_ASSERT(!legacy && cJSON_IsArray(input) && input->child != NULL);
        cJSON_ArrayForEach(item, input) FUZZ_ASSERT(cJSON_IsString(item) && item->valuestring[0] != '\0');
    }
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(r, "dimensions");
    FUZZ_ASSERT(dims == NULL || (!legacy && cJSON_IsNumber(dims) && dims->valuedouble >= 1 &&
                                 dims->valuedouble == (double)(int64_t)dims->valuedouble));
    FUZZ_ASSERT(cJSON_GetArraySize(r) == 2 + (dims != NULL));
}

static void requests(const uint8_t *data, size_t size)
{
    for (int legacy = 0; legacy < 2; legacy++) {
        char err[512], param[64];
        cJSON *r = legacy ? llg_ollama_parse_embeddings((const char *)data, size, err, sizeof(err), param, sizeof(param))
                          : llg_ollama_parse_embed((const char *)data, size, err, sizeof(err), param, sizeof(param));
        if (r != NULL) {
            check_request(r, legacy);
            cJSON_Delete(r);
            continue;
        }
        fuzz_check_ollama_refusal(err, param);
    }
}

/* The input's vector of index k, as cJSON reads the input (NULL when it is
 * not there as OpenAI writes it). */
static const cJSON *input_vector(const cJSON *in, int k)
{
    const cJSON *el;
    int place = 0;
    cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(in, "data"))
    {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(el, "index");
        if ((index != NULL ? index->valuedouble : place) == k)
            return cJSON_GetObjectItemCaseSensitive(el, "embedding");
        place++;
    }
    return NULL;
}

static void same_vector(const cJSON *got, const cJSON *want)
{
    FUZZ_ASSERT(cJSON_IsArray(got) && cJSON_IsArray(want));
    FUZZ_ASSERT(cJSON_GetArraySize(got) == cJSON_GetArraySize(want));
    for (const cJSON *a = got->child, *b = want->child; a != NULL; a = a->next, b = b->next)
        FUZZ_ASSERT(cJSON_IsNumber(a) && cJSON_IsNumber(b) && memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0);
}

static void answers(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    /* compared only where cJSON reads member names as the scanner does: a
     * NUL (raw, or \u0000) ends a name for cJSON's lookups */
    char why[128];
    cJSON *in = llg_json_body_bytes_ok(body, size, why, sizeof(why)) ? cJSON_ParseWithLength(body, size) : NULL;
    for (int legacy = 0; legacy < 2; legacy++) {
        llg_strbuf_t out = {0};
        char err[256] = "";
        int rc =
            (legacy ? llg_ollama_embeddings_answer : llg_ollama_embed_answer)(body, size, "m\"odel", 42, &out, err, sizeof(err));
        if (rc != 0) {
            FUZZ_ASSERT(rc == -1 && out.len == 0 && err[0] != '\0' && llg_utf8_valid(err, strlen(err)));
            continue;
        }
        FUZZ_ASSERT(llg_utf8_valid(out.data, out.len));
        cJSON *o = cJSON_ParseWithLength(out.data, out.len);
        FUZZ_ASSERT(cJSON_IsObject(o));
        if (legacy) {
            FUZZ_ASSERT(cJSON_GetArraySize(o) == 1);
            if (in != NULL)
                same_vector(cJSON_GetObjectItemCaseSensitive(o, "embedding"), input_vector(in, 0));
        } else {
            FUZZ_ASSERT(strcmp(cJSON_GetObjectItemCaseSensitive(o, "model")->valuestring, "m\"odel") == 0);
            FUZZ_ASSERT(cJSON_GetObjectItemCaseSensitive(o, "total_duration")->valuedouble == 42);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "embeddings");
            FUZZ_ASSERT(cJSON_IsArray(v));
            int k = 0;
            for (const cJSON *e = v->child; e != NULL; e = e->next, k++)
                if (in != NULL)
                    same_vector(e, input_vector(in, k));
        }
        cJSON_Delete(o);
        llg_strbuf_free(&out);
    }
    cJSON_Delete(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    requests(data, size);
    answers(data, size);
    return 0;
}
