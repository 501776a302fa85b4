/*
 * tests/unit/test_traceparent.c: the W3C trace context reader and writer
 * (server/traceparent.c) on the spec's cases, and the OTLP encodings of a
 * span (server/otel_encode.c): the protobuf bytes of a small span, field by
 * field, and the JSON mapping (hex ids, string int64s).
 */
#include <string.h>

#include "server/otel_encode.h"
#include "server/traceparent.h"
#include "tests/test.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static bool parse(const char *s, llg_traceparent_t *tp)
{
    return llg_traceparent_parse(s, strlen(s), tp);
}

TEST(traceparent_valid)
{
    llg_traceparent_t tp;
    CHECK(parse(TP, &tp));
    CHECK(tp.trace_id[0] == 0x4b && tp.trace_id[15] == 0x36);
    CHECK(tp.parent_id[0] == 0x00 && tp.parent_id[7] == 0xb7);
    CHECK(tp.flags == 1);
    char out[LLG_TRACEPARENT_LEN + 1];
    llg_traceparent_format(out, tp.trace_id, tp.parent_id, tp.flags);
    CHECK_EQ_STR(out, TP);
    /* a later version: its first 55 bytes, when a '-' follows or nothing */
    CHECK(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more", &tp));
    CHECK(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", &tp));
    CHECK(tp.flags == 9);
}

TEST(traceparent_invalid)
{
    llg_traceparent_t tp;
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* version 00: exactly 55 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  /* not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* separator */
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* a later version without '-' */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version not hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &tp)) {
            fprintf(stderr, "    accepted: %s\n", bad[i]);
            test_current_failed_ = 1;
        }
}

TEST(tracestate)
{
    CHECK(llg_tracestate_valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39));
    CHECK(!llg_tracestate_valid("", 0));
    CHECK(!llg_tracestate_valid("a=1\tb=2", 7));
    CHECK(!llg_tracestate_valid("a=\xc3\xa9", 4));
    char big[514];
    memset(big, 'a', sizeof(big));
    CHECK(llg_tracestate_valid(big, 512));
    CHECK(!llg_tracestate_valid(big, 513));
}

static llg_otel_span_t small_span(void)
{
    llg_otel_span_t s = {.name = "chat m", .kind = LLG_OTEL_KIND_CLIENT, .start_ns = 1, .end_ns = 300, .error = true};
    memset(s.trace_id, 0x11, 16);
    memset(s.span_id, 0x22, 8);
    memset(s.parent_id, 0x33, 8);
    s.has_parent = true;
    s.attrs[s.nattrs++] = (llg_otel_attr_t){.key = "k", .type = LLG_OTEL_ATTR_INT, .i = 150};
    return s;
}

TEST(span_protobuf)
{
    llg_otel_span_t s = small_span();
    llg_strbuf_t b = {0};
    llg_otel_encode_span(&b, &s, LLG_OTEL_PROTOBUF);
    const uint8_t *p = (const uint8_t *)b.data;
    size_t at = 0;
    CHECK(p[at] == 0x0a && p[at + 1] == 16 && p[at + 2] == 0x11); /* 1: trace_id */
    at += 18;
    CHECK(p[at] == 0x12 && p[at + 1] == 8 && p[at + 2] == 0x22); /* 2: span_id */
    at += 10;
    CHECK(p[at] == 0x22 && p[at + 1] == 8 && p[at + 2] == 0x33); /* 4: parent_span_id */
    at += 10;
    CHECK(p[at] == 0x2a && p[at + 1] == 6 && memcmp(p + at + 2, "chat m", 6) == 0); /* 5: name */
    at += 8;
    CHECK(p[at] == 0x30 && p[at + 1] == 3); /* 6: kind CLIENT */
    at += 2;
    CHECK(p[at] == 0x39 && p[at + 1] == 1 && p[at + 2] == 0); /* 7: start, fixed64 */
    at += 9;
    CHECK(p[at] == 0x41 && p[at + 1] == 0x2c && p[at + 2] == 1); /* 8: end = 300 */
    at += 9;
    /* 9: KeyValue{key "k", value AnyValue{int_value 150}} */
    static const uint8_t kv[] = {0x4a, 8, 0x0a, 1, 'k', 0x12, 3, 0x18, 0x96, 0x01};
    CHECK(memcmp(p + at, kv, sizeof(kv)) == 0);
    at += sizeof(kv);
    static const uint8_t status[] = {0x7a, 2, 0x18, 2}; /* 15: Status{code ERROR} */
    CHECK(memcmp(p + at, status, sizeof(status)) == 0);
    at += sizeof(status);
    CHECK(p[at] == 0x85 && p[at + 1] == 0x01); /* 16: flags, fixed32 */
    CHECK_EQ_INT(b.len, at + 6);
    llg_strbuf_free(&b);
}

TEST(span_json)
{
    llg_otel_span_t s = small_span();
    llg_strbuf_t b = {0};
    llg_otel_encode_span(&b, &s, LLG_OTEL_JSON);
    llg_strbuf_append(&b, "", 1);
    CHECK_EQ_STR(b.data, "{\"traceId\":\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
                         "\"parentSpanId\":\"3333333333333333\",\"name\":\"chat m\",\"kind\":3,\"flags\":0,"
                         "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"300\","
                         "\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"150\"}}],\"status\":{\"code\":2}}");
    llg_strbuf_free(&b);
}

int main(void)
{
    RUN(traceparent_valid);
    RUN(traceparent_invalid);
    RUN(tracestate);
    RUN(span_protobuf);
    RUN(span_json);
    TEST_MAIN_END();
}
