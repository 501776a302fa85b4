/*
 * server/otel_encode.h: a finished span as OTLP bytes, in protobuf
 * (opentelemetry.proto.trace.v1.Span, hand-written encoder) or in OTLP's JSON
 * mapping, and a batch of them as one ExportTraceServiceRequest. Pure: the
 * unit test and the exporter (server/otel.c) share it.
 */
#ifndef LLG_OTEL_ENCODE_H
#define LLG_OTEL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "providers/strbuf.h"

#define LLG_OTEL_MAX_ATTRS  28
#define LLG_OTEL_MAX_STRING 512 /* an attribute's string value, bytes at most */

typedef enum { LLG_OTEL_ATTR_STR, LLG_OTEL_ATTR_INT, LLG_OTEL_ATTR_DOUBLE, LLG_OTEL_ATTR_STRS } llg_otel_attr_type_t;

typedef struct llg_otel_attr {
    const char *key;
    llg_otel_attr_type_t type;
    const char *s; /* STR (s_len bytes) */
    size_t s_len;
    int64_t i;
    double d;
    const char *const *strs; /* STRS: NUL-terminated strings */
    unsigned nstrs;
} llg_otel_attr_t;

enum { LLG_OTEL_KIND_SERVER = 2, LLG_OTEL_KIND_CLIENT = 3 }; /* Span.SpanKind */

typedef struct llg_otel_span {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent;
    const char *trace_state; /* NULL: none */
    size_t trace_state_len;
    const char *name;
    int kind;
    uint8_t flags; /* W3C trace flags */
    uint64_t start_ns, end_ns;
    bool error; /* status ERROR, else UNSET */
    unsigned nattrs;
    llg_otel_attr_t attrs[LLG_OTEL_MAX_ATTRS];
} llg_otel_span_t;

/* Appends the span: a Span message's body (protobuf) or a JSON object. */
void llg_otel_encode_span(llg_strbuf_t *out, const llg_otel_span_t *s, llg_otel_protocol_t proto);

/* Appends one ExportTraceServiceRequest: one resource (service.name,
 * service.version), one scope ("llmgate"), the n spans encoded above. */
void llg_otel_encode_request(llg_strbuf_t *out, llg_otel_protocol_t proto, const char *service_name, const char *const *spans,
                             const size_t *lens, size_t n);

#endif
