/*
 * providers/sse.h: an incremental Server-Sent Events reader, shared by every
 * provider. Bytes are fed as they arrive, split anywhere; each complete event
 * (ended by a blank line) is handed over with its `event:` name, its `data:`
 * lines joined by "\n", and the raw bytes it came from, so a relay can forward
 * an event byte for byte or drop it. LF, CRLF and CR line ends; comment lines
 * (":...") are reported as events with `comment` set; `id:` and `retry:` are
 * ignored. Memory is bounded by the largest single event (max_event bytes).
 */
#ifndef LLG_SSE_H
#define LLG_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/strbuf.h"

typedef struct llg_sse_event {
    const char *name; /* "" when no event: line (the default "message") */
    size_t name_len;
    const char *data; /* data lines joined by "\n", NUL-terminated */
    size_t data_len;
    bool has_data;   /* at least one data: line */
    bool comment;    /* a block of comment lines only */
    const char *raw; /* the bytes of this event as received */
    size_t raw_len;
} llg_sse_event_t;

/* Returns 0 to go on, -1 to stop reading (llg_sse_feed then returns -1). */
typedef int (*llg_sse_cb)(void *ctx, const llg_sse_event_t *ev);

typedef struct llg_sse_reader {
    size_t max_event; /* 0: 1 MiB */
    /* private */
    llg_strbuf_t _raw; /* bytes of the current event so far */
    llg_strbuf_t _data;
    llg_strbuf_t _name;
    size_t _line_start; /* offset in _raw of the current line */
    size_t _scanned;    /* offset in _raw up to which lines were split */
    bool _cr;           /* the last byte was CR: a following LF belongs to it */
    bool _has_data, _has_field, _has_line;
} llg_sse_reader_t;

void llg_sse_init(llg_sse_reader_t *r);
void llg_sse_dispose(llg_sse_reader_t *r);

/* Feeds bytes; calls cb for every event completed. Returns 0, or -1 when the
 * callback stopped or an event exceeded max_event. */
int llg_sse_feed(llg_sse_reader_t *r, const char *p, size_t n, llg_sse_cb cb, void *ctx);

/* At end of stream: the bytes not yet handed over in an event, if any (SSE
 * drops an event that was not ended by a blank line). */
size_t llg_sse_pending(const llg_sse_reader_t *r);
const char *llg_sse_pending_bytes(const llg_sse_reader_t *r);

/* Whether those bytes hold part of an event (anything but line ends, such as
 * the LF of a CRLF split from its CR): a stream cut there was truncated. */
bool llg_sse_pending_event(const llg_sse_reader_t *r);

#endif
