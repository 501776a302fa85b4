/*
 * providers/ndjson.h: an incremental reader of newline-delimited JSON (Puter's
 * stream format). Bytes are fed as they arrive, split anywhere; each complete
 * line is handed over without its LF or CRLF. Blank lines and lines of hex
 * digits only (chunked-encoding size lines such as `1f` that some servers leak
 * into the body) are skipped; the last line may lack its newline
 * (llg_ndjson_finish). Memory is bounded by the longest line (max_line bytes);
 * a longer line is an error.
 */
#ifndef LLG_NDJSON_H
#define LLG_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/strbuf.h"

/* `line` is not NUL-terminated and valid only during the call. Returns 0 to go
 * on, -1 to stop reading. */
typedef int (*llg_ndjson_cb)(void *ctx, const char *line, size_t len);

typedef struct llg_ndjson_reader {
    size_t max_line; /* 0: 1 MiB */
    /* private */
    llg_strbuf_t _buf; /* the start of a line not ended yet */
    bool _failed;
} llg_ndjson_reader_t;

void llg_ndjson_init(llg_ndjson_reader_t *r);
void llg_ndjson_dispose(llg_ndjson_reader_t *r);

/* Calls cb for every complete line. Returns 0, or -1 when the callback stopped
 * or a line exceeded max_line (the reader then stays failed). */
int llg_ndjson_feed(llg_ndjson_reader_t *r, const char *p, size_t n, llg_ndjson_cb cb, void *ctx);

/* At end of stream: hands over a last line that had no newline, if any.
 * Returns 0 or -1 as llg_ndjson_feed. The reader is empty afterwards. */
int llg_ndjson_finish(llg_ndjson_reader_t *r, llg_ndjson_cb cb, void *ctx);

/* 1 when a line (without its newline) carries nothing: empty, whitespace
 * only, or hex digits only. */
int llg_ndjson_skippable(const char *line, size_t len);

#endif
