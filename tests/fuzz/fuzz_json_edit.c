/*
 * tests/fuzz/fuzz_json_edit.c: the request body editor (providers/json_edit.c)
 * on arbitrary bytes. An input that llg_chat_parse() would accept as a JSON
 * object (cJSON parses it, only whitespace follows, no NUL, no control byte
 * outside \t \n \r, no \u0000 and no \u without four hex digits) must be
 * edited without error; the output must parse as an object in which every
 * edited key has its new value (or is gone), and every other member is
 * unchanged and in the same order. A checksum of the input
 * picks which of the patches the proxy makes are applied, so the seed corpus is
 * plain request bodies.
 */
#include "providers/json_edit.h"
#include "tests/fuzz/fuzz.h"

/* the edits server/proxy.c makes, and one removal of a member a client sends */
static const char *const keys[] = {"model", "messages", "stream_options", "temperature", "max_tokens", "stream"};
static const char *const set_values[] = {
    "\"fuzz/model\"", "[{\"role\":\"user\",\"content\":\"hi\"}]", "{\"include_usage\":true}", "0.7", "1000", "true",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* equal values, numbers compared as printed (cJSON_Compare fails on 1e999) */
static int same(const cJSON *a, const cJSON *b)
{
    char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
    FUZZ_ASSERT(x != NULL && y != NULL);
    int eq = strcmp(x, y) == 0;
    cJSON_free(x);
    cJSON_free(y);
    return eq;
}

static int patched(const llg_json_patch_t *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key, name) == 0)
            return (int)i;
    return -1;
}

/* the body is one that llg_chat_parse() lets through */
static cJSON *parse_body(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return NULL;
    }
    /* \u0000 and a \u without four hex digits (read as U+0000 by cJSON);
     * conservative: an escaped backslash before the u counts too */
    for (const char *u = s; (u = memmem(u, (size_t)(s + n - u), "\\u", 2)) != NULL; u += 2) {
        if (s + n - u < 6 || memcmp(u + 2, "0000", 4) == 0)
            return NULL;
        for (int k = 2; k < 6; k++)
            if (u[k] == '\0' || strchr("0123456789abcdefABCDEF", u[k]) == NULL)
                return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (j == NULL)
        return NULL;
    while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != s + n || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    llg_json_patch_t patches[NKEYS];
    size_t n = 0;
    for (size_t k = 0; k < NKEYS; k++) {
        unsigned mode = (h >> (2 * k)) & 3;
        if (mode == 1 || mode == 3)
            patches[n++] = (llg_json_patch_t){keys[k], set_values[k]};
        else if (mode == 2)
            patches[n++] = (llg_json_patch_t){keys[k], NULL};
    }

    /* any bytes: no crash, and a failure writes nothing */
    llg_strbuf_t out = {0};
    int rc = llg_json_patch_object(s, size, patches, n, &out);
    cJSON *in = parse_body(s, size);
    if (in == NULL) {
        if (rc != 0)
            FUZZ_ASSERT(out.len == 0);
        llg_strbuf_free(&out);
        return 0;
    }
    size_t members = (size_t)cJSON_GetArraySize(in);
    if (members > 1024) { /* json_edit's documented limit */
        cJSON_Delete(in);
        llg_strbuf_free(&out);
        return 0;
    }
    FUZZ_ASSERT(rc == 0);
    cJSON *o = cJSON_ParseWithLength(out.data != NULL ? out.data : "", out.len);
    if (!cJSON_IsObject(o))
        fprintf(stderr, "edited body: %.*s\n", (int)out.len, out.data);
    FUZZ_ASSERT(cJSON_IsObject(o));

    /* the edited keys: every occurrence has the new value, a removed key is gone */
    int seen[NKEYS] = {0};
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        int p = patched(patches, n, m->string);
        if (p < 0)
            continue;
        FUZZ_ASSERT(patches[p].value != NULL);
        cJSON *want = cJSON_Parse(patches[p].value);
        FUZZ_ASSERT(same(m, want));
        cJSON_Delete(want);
        seen[p]++;
    }
    for (size_t p = 0; p < n; p++)
        if (patches[p].value != NULL)
            FUZZ_ASSERT(seen[p] >= 1);

    /* the other members: the same names and values, in the same order */
    const cJSON *a = in->child, *b = o->child;
    for (;;) {
        while (a != NULL && patched(patches, n, a->string) >= 0)
            a = a->next;
        while (b != NULL && patched(patches, n, b->string) >= 0)
            b = b->next;
        if (a == NULL || b == NULL)
            break;
        FUZZ_ASSERT(strcmp(a->string, b->string) == 0);
        FUZZ_ASSERT(same(a, b));
        a = a->next;
        b = b->next;
    }
    FUZZ_ASSERT(a == NULL && b == NULL);

    /* nothing is added when there is nothing to edit */
    if (n == 0)
        FUZZ_ASSERT(out.len == size && memcmp(out.data, s, size) == 0);

    cJSON_Delete(o);
    cJSON_Delete(in);
    llg_strbuf_free(&out);
    return 0;
}
