/*
 * tests/fuzz/fuzz_usage.c: the token-count reader (providers/usage.c) and
 * the answer's meta reader (providers/answer_meta.c) on arbitrary bytes, as
 * the proxy calls them on every upstream answer and every streamed chunk.
 * Never reads outside the input; `,"usage":null` is found only where it is;
 * counts are below 10^12; a cached or reasoning count is said found only
 * when read; an id, model or finish reason is a quoted run of the input
 * without a backslash; and whenever the text is an object whose top-level
 * "usage" object has an integer prompt_tokens (or whose "id" is a string)
 * and the reader reads one, it is that value.
 */
#include "providers/answer_meta.h"
#include "providers/usage.h"
#include "tests/fuzz/fuzz.h"

static void check_details(bool found, const llg_usage_details_t *d)
{
    FUZZ_ASSERT(found == (d->has_cached || d->has_reasoning));
    FUZZ_ASSERT(d->has_cached ? d->cached_tokens < 1000000000000ull : d->cached_tokens == 0);
    FUZZ_ASSERT(d->has_reasoning ? d->reasoning_tokens < 1000000000000ull : d->reasoning_tokens == 0);
}

/* a string of the meta: inside the input, between quotes, no backslash */
static void check_str(const char *p, size_t size, llg_meta_str_t s)
{
    if (s.p == NULL) {
        FUZZ_ASSERT(s.len == 0);
        return;
    }
    FUZZ_ASSERT(s.p > p && s.p + s.len < p + size);
    FUZZ_ASSERT(s.p[-1] == '"' && s.p[s.len] == '"');
    FUZZ_ASSERT(memchr(s.p, '\\', s.len) == NULL);
}

static void check_meta(const char *p, size_t size, bool found, const llg_answer_meta_t *m)
{
    FUZZ_ASSERT(m->nfinish <= LLG_ANSWER_META_MAX_REASONS);
    FUZZ_ASSERT(found == (m->id.p != NULL || m->model.p != NULL || m->nfinish > 0));
    check_str(p, size, m->id);
    check_str(p, size, m->model);
    for (unsigned i = 0; i < m->nfinish; i++) {
        FUZZ_ASSERT(m->finish[i].p != NULL);
        check_str(p, size, m->finish[i]);
    }
}

/* the details and meta readers; the OpenAI meta for the cJSON check */
static void check_meta_readers(const char *p, size_t size, llg_answer_meta_t *openai)
{
    llg_usage_details_t d;
    memset(&d, 0, sizeof(d));
    check_details(llg_usage_read_details(p, size, &d), &d);
    memset(&d, 0, sizeof(d));
    check_details(llg_usage_read_details_anthropic(p, size, &d), &d);
    FUZZ_ASSERT(!d.has_reasoning);
    memset(&d, 0, sizeof(d));
    check_details(llg_usage_read_details_responses(p, size, &d), &d);

    const unsigned all = LLG_META_ID | LLG_META_FINISH;
    llg_answer_meta_t m;
    check_meta(p, size, llg_answer_meta_anthropic(p, size, all, &m), &m);
    check_meta(p, size, llg_answer_meta_responses(p, size, all, &m), &m);
    FUZZ_ASSERT(m.nfinish <= 1);
    FUZZ_ASSERT(!llg_answer_meta_openai(p, size, 0, &m));
    check_meta(p, size, llg_answer_meta_openai(p, size, LLG_META_FINISH, &m), &m);
    FUZZ_ASSERT(m.id.p == NULL && m.model.p == NULL);
    check_meta(p, size, llg_answer_meta_openai(p, size, all, openai), openai);
    if (llg_answer_meta_may_finish(p, size))
        FUZZ_ASSERT(memmem(p, size, "\"finish_reason\"", 15) != NULL);
}

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
    llg_answer_meta_t meta;
    check_meta_readers(p, size, &meta);
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
        /* a top-level "id" string read is that string */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
        if (meta.id.p != NULL && cJSON_IsString(id))
            FUZZ_ASSERT(strlen(id->valuestring) == meta.id.len && memcmp(id->valuestring, meta.id.p, meta.id.len) == 0);
    }
    cJSON_Delete(root);
    free(p);
    return 0;
}
