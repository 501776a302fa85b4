/*
 * tests/fuzz/fuzz_traceparent.c: the W3C trace context reader
 * (server/traceparent.c) and the span's JSON encoding (server/otel_encode.c)
 * on arbitrary bytes. A traceparent accepted has lowercase hex ids that are
 * not all zero and a version other than ff; writing it back gives the input
 * (version 00) or its first 55 bytes with version 00, and that reads back to
 * the same ids. A tracestate accepted is 1..512 printable bytes. A span with
 * the input as its tracestate (when accepted) and as its name (when UTF-8) is
 * encoded as JSON that parses, with both strings back unchanged.
 */
#include "server/otel_encode.h"
#include "server/traceparent.h"
#include "tests/fuzz/fuzz.h"

static void check_traceparent(const char *s, size_t len)
{
    llg_traceparent_t tp;
    if (!llg_traceparent_parse(s, len, &tp))
        return;
    FUZZ_ASSERT(len >= LLG_TRACEPARENT_LEN);
    FUZZ_ASSERT(!(s[0] == 'f' && s[1] == 'f'));
    static const uint8_t zero[16];
    FUZZ_ASSERT(memcmp(tp.trace_id, zero, 16) != 0 && memcmp(tp.parent_id, zero, 8) != 0);
    char out[LLG_TRACEPARENT_LEN + 1];
    llg_traceparent_format(out, tp.trace_id, tp.parent_id, tp.flags);
    FUZZ_ASSERT(strlen(out) == LLG_TRACEPARENT_LEN);
    FUZZ_ASSERT(memcmp(out + 2, s + 2, LLG_TRACEPARENT_LEN - 2) == 0);
    if (s[0] == '0' && s[1] == '0')
        FUZZ_ASSERT(len == LLG_TRACEPARENT_LEN && memcmp(out, s, len) == 0);
    llg_traceparent_t again;
    FUZZ_ASSERT(llg_traceparent_parse(out, LLG_TRACEPARENT_LEN, &again));
    FUZZ_ASSERT(memcmp(&again, &tp, sizeof(tp)) == 0);
}

static void check_span_json(const char *s, size_t len, bool state_ok)
{
    bool name_ok = llg_utf8_valid(s, len) && memchr(s, '\0', len) == NULL;
    if (!state_ok && !name_ok)
        return;
    char *name = strndup(name_ok ? s : "n", name_ok ? len : 1);
    llg_otel_span_t span = {.name = name, .kind = LLG_OTEL_KIND_SERVER, .start_ns = 1, .end_ns = 2};
    span.trace_id[0] = span.span_id[0] = 1;
    if (state_ok) {
        span.trace_state = s;
        span.trace_state_len = len;
    }
    span.attrs[span.nattrs++] = (llg_otel_attr_t){.key = "k", .type = LLG_OTEL_ATTR_STR, .s = name, .s_len = strlen(name)};
    llg_strbuf_t b = {0};
    llg_otel_encode_span(&b, &span, LLG_OTEL_JSON);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    FUZZ_ASSERT(j != NULL);
    cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    FUZZ_ASSERT(cJSON_IsString(n) && strcmp(n->valuestring, name) == 0);
    if (state_ok) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "traceState");
        FUZZ_ASSERT(cJSON_IsString(t) && strlen(t->valuestring) == len && memcmp(t->valuestring, s, len) == 0);
    }
    cJSON_Delete(j);
    llg_strbuf_free(&b);
    free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_traceparent(s, size);
    bool state_ok = llg_tracestate_valid(s, size);
    if (state_ok) {
        FUZZ_ASSERT(size >= 1 && size <= LLG_TRACESTATE_MAX);
        for (size_t i = 0; i < size; i++)
            FUZZ_ASSERT(data[i] >= 0x20 && data[i] <= 0x7e);
    }
    check_span_json(s, size, state_ok);
    return 0;
}
