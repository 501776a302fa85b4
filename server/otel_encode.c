/*
 * server/otel_encode.c: OTLP encodings of spans. Protobuf is written by hand
 * (the few messages of opentelemetry-proto's trace.proto that llmgate fills:
 * no dependency on a protobuf runtime); each length prefix is a minimal
 * varint, the length worked out before the message is written. JSON
 * follows OTLP's JSON mapping: ids in lowercase hex, 64-bit integers as
 * strings, enums as numbers.
 */
#include "server/otel_encode.h"

#include <math.h>
#include <string.h>

#include "server/traceparent.h"

/* ---- protobuf ---------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static void pb_varint(llg_strbuf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            tmp[n] |= 0x80;
        n++;
    } while (v != 0);
    llg_strbuf_append(b, tmp, n);
}

static void pb_tag(llg_strbuf_t *b, unsigned field, unsigned wt)
{
    pb_varint(b, (uint64_t)field << 3 | wt);
}

static void pb_bytes(llg_strbuf_t *b, unsigned field, const void *p, size_t n)
{
    pb_tag(b, field, WT_LEN);
    pb_varint(b, n);
    if (n > 0)
        llg_strbuf_append(b, p, n);
}

static void pb_str(llg_strbuf_t *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

static void pb_fixed64(llg_strbuf_t *b, unsigned field, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    pb_tag(b, field, WT_I64);
    llg_strbuf_append(b, le, 8);
}

static void pb_fixed32(llg_strbuf_t *b, unsigned field, uint32_t v)
{
    uint8_t le[4];
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    pb_tag(b, field, WT_I32);
    llg_strbuf_append(b, le, 4);
}

/* AnyValue: string_value 1, int_value 3, double_value 4, array_value 5 */
static void pb_anyvalue_str(llg_strbuf_t *b, const char *s, size_t n)
{
    pb_bytes(b, 1, s, n);
}

/* The bytes of a varint. */
static size_t pb_vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A length-delimited field's bytes (one-byte tag: field numbers below 16). */
static size_t pb_len_field(size_t n)
{
    return 1 + pb_vlen(n) + n;
}

/* The bytes of an attribute's AnyValue. */
static size_t pb_anyvalue_len(const llg_otel_attr_t *a)
{
    switch (a->type) {
    case LLG_OTEL_ATTR_STR:
        return pb_len_field(a->s_len);
    case LLG_OTEL_ATTR_INT:
        return 1 + pb_vlen((uint64_t)a->i);
    case LLG_OTEL_ATTR_DOUBLE:
        return 1 + 8;
    case LLG_OTEL_ATTR_STRS: {
        size_t arr = 0;
        for (unsigned i = 0; i < a->nstrs; i++)
            arr += pb_len_field(pb_len_field(strlen(a->strs[i])));
        return pb_len_field(arr);
    }
    }
    return 0;
}

/* KeyValue { key = 1; AnyValue value = 2 } as field `field`, written in one
 * pass: the lengths are worked out first (no scratch buffers, no
 * allocation: a span has ~15 attributes and every request two spans). */
static void pb_attr(llg_strbuf_t *out, unsigned field, const llg_otel_attr_t *a)
{
    size_t klen = strlen(a->key), vlen = pb_anyvalue_len(a);
    pb_tag(out, field, WT_LEN);
    pb_varint(out, pb_len_field(klen) + pb_len_field(vlen));
    pb_bytes(out, 1, a->key, klen);
    pb_tag(out, 2, WT_LEN);
    pb_varint(out, vlen);
    switch (a->type) {
    case LLG_OTEL_ATTR_STR:
        pb_anyvalue_str(out, a->s, a->s_len);
        break;
    case LLG_OTEL_ATTR_INT:
        pb_tag(out, 3, WT_VARINT);
        pb_varint(out, (uint64_t)a->i);
        break;
    case LLG_OTEL_ATTR_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &a->d, 8);
        pb_fixed64(out, 4, bits);
        break;
    }
    case LLG_OTEL_ATTR_STRS: {
        /* ArrayValue { repeated AnyValue values = 1 } */
        size_t arr = 0;
        for (unsigned i = 0; i < a->nstrs; i++)
            arr += pb_len_field(pb_len_field(strlen(a->strs[i])));
        pb_tag(out, 5, WT_LEN);
        pb_varint(out, arr);
        for (unsigned i = 0; i < a->nstrs; i++) {
            size_t n = strlen(a->strs[i]);
            pb_tag(out, 1, WT_LEN);
            pb_varint(out, pb_len_field(n));
            pb_anyvalue_str(out, a->strs[i], n);
        }
        break;
    }
    }
}

static void pb_span(llg_strbuf_t *b, const llg_otel_span_t *s)
{
    pb_bytes(b, 1, s->trace_id, 16);
    pb_bytes(b, 2, s->span_id, 8);
    if (s->trace_state != NULL && s->trace_state_len > 0)
        pb_bytes(b, 3, s->trace_state, s->trace_state_len);
    if (s->has_parent)
        pb_bytes(b, 4, s->parent_id, 8);
    pb_str(b, 5, s->name);
    pb_tag(b, 6, WT_VARINT);
    pb_varint(b, (uint64_t)s->kind);
    pb_fixed64(b, 7, s->start_ns);
    pb_fixed64(b, 8, s->end_ns);
    for (unsigned i = 0; i < s->nattrs; i++)
        pb_attr(b, 9, &s->attrs[i]);
    if (s->error) {
        /* Status { code = 3 }: STATUS_CODE_ERROR = 2 */
        static const uint8_t status[] = {3 << 3 | WT_VARINT, 2};
        pb_bytes(b, 15, status, sizeof(status));
    }
    /* flags (16): the W3C trace flags in the low byte */
    pb_fixed32(b, 16, s->flags);
}

/* ---- JSON -------------------------------------------------------------- */

static void js_hex(llg_strbuf_t *b, const char *key, const uint8_t *id, size_t n)
{
    char hex[33];
    llg_trace_hex(hex, id, n);
    llg_strbuf_appendf(b, "\"%s\":\"%s\",", key, hex);
}

static void js_attr(llg_strbuf_t *b, const llg_otel_attr_t *a)
{
    llg_strbuf_appends(b, "{\"key\":");
    llg_strbuf_append_json_string(b, a->key, strlen(a->key));
    llg_strbuf_appends(b, ",\"value\":{");
    switch (a->type) {
    case LLG_OTEL_ATTR_STR:
        llg_strbuf_appends(b, "\"stringValue\":");
        llg_strbuf_append_json_string(b, a->s, a->s_len);
        break;
    case LLG_OTEL_ATTR_INT:
        llg_strbuf_appendf(b, "\"intValue\":\"%lld\"", (long long)a->i);
        break;
    case LLG_OTEL_ATTR_DOUBLE:
        llg_strbuf_appendf(b, "\"doubleValue\":%.17g", isfinite(a->d) ? a->d : 0.0);
        break;
    case LLG_OTEL_ATTR_STRS:
        llg_strbuf_appends(b, "\"arrayValue\":{\"values\":[");
        for (unsigned i = 0; i < a->nstrs; i++) {
            llg_strbuf_appends(b, i > 0 ? ",{\"stringValue\":" : "{\"stringValue\":");
            llg_strbuf_append_json_string(b, a->strs[i], strlen(a->strs[i]));
            llg_strbuf_appends(b, "}");
        }
        llg_strbuf_appends(b, "]}");
        break;
    }
    llg_strbuf_appends(b, "}}");
}

static void js_span(llg_strbuf_t *b, const llg_otel_span_t *s)
{
    llg_strbuf_appends(b, "{");
    js_hex(b, "traceId", s->trace_id, 16);
    js_hex(b, "spanId", s->span_id, 8);
    if (s->has_parent)
        js_hex(b, "parentSpanId", s->parent_id, 8);
    if (s->trace_state != NULL && s->trace_state_len > 0) {
        llg_strbuf_appends(b, "\"traceState\":");
        llg_strbuf_append_json_string(b, s->trace_state, s->trace_state_len);
        llg_strbuf_appends(b, ",");
    }
    llg_strbuf_appends(b, "\"name\":");
    llg_strbuf_append_json_string(b, s->name, strlen(s->name));
    llg_strbuf_appendf(b, ",\"kind\":%d,\"flags\":%u,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\",\"attributes\":[",
                       s->kind, (unsigned)s->flags, (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    for (unsigned i = 0; i < s->nattrs; i++) {
        if (i > 0)
            llg_strbuf_appends(b, ",");
        js_attr(b, &s->attrs[i]);
    }
    llg_strbuf_appends(b, s->error ? "],\"status\":{\"code\":2}}" : "],\"status\":{}}");
}

/* ---- both -------------------------------------------------------------- */

void llg_otel_encode_span(llg_strbuf_t *out, const llg_otel_span_t *s, llg_otel_protocol_t proto)
{
    if (proto == LLG_OTEL_JSON)
        js_span(out, s);
    else
        pb_span(out, s);
}

/* ExportTraceServiceRequest { ResourceSpans { Resource, ScopeSpans { scope,
 * spans } } }: the small parts built first, the lengths of the enclosing
 * messages worked out, and the spans copied once, straight into `out`. */
static void pb_request(llg_strbuf_t *out, const char *service_name, const char *const *spans, const size_t *lens, size_t n)
{
    llg_strbuf_t res = {0}, scope = {0};
    llg_otel_attr_t attrs[] = {
        {.key = "service.name", .type = LLG_OTEL_ATTR_STR, .s = service_name, .s_len = strlen(service_name)},
        {.key = "service.version", .type = LLG_OTEL_ATTR_STR, .s = LLG_VERSION, .s_len = strlen(LLG_VERSION)},
    };
    for (size_t i = 0; i < 2; i++)
        pb_attr(&res, 1, &attrs[i]); /* Resource.attributes */
    pb_str(&scope, 1, "llmgate");    /* InstrumentationScope.name, .version */
    pb_str(&scope, 2, LLG_VERSION);
    size_t ss = pb_len_field(scope.len); /* ScopeSpans.scope, .spans */
    for (size_t i = 0; i < n; i++)
        ss += pb_len_field(lens[i]);
    size_t rs = pb_len_field(res.len) + pb_len_field(ss); /* ResourceSpans.resource, .scope_spans */
    llg_strbuf_reserve(out, pb_len_field(rs));
    pb_tag(out, 1, WT_LEN); /* ExportTraceServiceRequest.resource_spans */
    pb_varint(out, rs);
    pb_bytes(out, 1, res.data, res.len);
    pb_tag(out, 2, WT_LEN);
    pb_varint(out, ss);
    pb_bytes(out, 1, scope.data, scope.len);
    for (size_t i = 0; i < n; i++)
        pb_bytes(out, 2, spans[i], lens[i]);
    llg_strbuf_free(&res);
    llg_strbuf_free(&scope);
}

void llg_otel_encode_request(llg_strbuf_t *out, llg_otel_protocol_t proto, const char *service_name, const char *const *spans,
                             const size_t *lens, size_t n)
{
    if (proto != LLG_OTEL_JSON) {
        pb_request(out, service_name, spans, lens, n);
        return;
    }
    llg_strbuf_appends(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
                            "\"stringValue\":");
    llg_strbuf_append_json_string(out, service_name, strlen(service_name));
    llg_strbuf_appends(out, "}},{\"key\":\"service.version\",\"value\":{\"stringValue\":\"" LLG_VERSION "\"}}]},"
                            "\"scopeSpans\":[{\"scope\":{\"name\":\"llmgate\",\"version\":\"" LLG_VERSION "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            llg_strbuf_appends(out, ",");
        llg_strbuf_append(out, spans[i], lens[i]);
    }
    llg_strbuf_appends(out, "]}]}]}");
}
