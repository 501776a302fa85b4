/*
 * server/h2_reset.h: the HTTP/2 "rapid reset" guard (CVE-2023-44487), which
 * libh2o 2.2.5 lacks.
 *
 * A client that opens streams and cancels them at once (HEADERS, DATA,
 * RST_STREAM, over and over) makes the worker start and tear down a request
 * for each, about 20 µs apiece, while never having more than a few streams
 * open, so the stream limit does not hold it back. Each connection gets a
 * budget of client resets: LLG_H2_RESET_BURST at once, refilled at
 * LLG_H2_RESET_RATE per second. A connection that overdraws it is sent
 * GOAWAY with ENHANCE_YOUR_CALM and closed at once (the frames it already
 * sent are not processed). A client that cancels now and then (a user
 * pressing Esc in an agent, a browser leaving a page: a few resets a second)
 * never comes near the budget.
 *
 * The same budget pays for the resets a client provokes instead of sending
 * (a stream error the server answers with RST_STREAM: a WINDOW_UPDATE of 0,
 * DATA on a closed stream, a body unlike its content-length;
 * "MadeYouReset", CVE-2025-8671): each tears down a request just the same.
 * Every h2o_http2_stream_reset() in libh2o 2.2.5 is one of these two.
 *
 * How: by ELF symbol interposition, as server/bad_request.c does (libh2o
 * calls these through its PLT): h2o_http2_stream_reset() charges the
 * stream's connection, h2o_http2_decode_rst_stream_payload() tells a
 * client's RST_STREAM from a provoked reset (for when the cut may happen),
 * and h2o_http2_scheduler_dispose(), called once when a connection is freed,
 * forgets the connection. Each wraps libh2o's own function
 * (server/interpose.h). server/early.c, which stands in front of
 * h2o_http2__encode_rst_stream_frame(), reports each RST_STREAM encoded.
 * State is per worker (one thread).
 */
#ifndef LLG_H2_RESET_H
#define LLG_H2_RESET_H

#include <stdint.h>

#define LLG_H2_RESET_BURST 100 /* client resets a connection may make at once */
#define LLG_H2_RESET_RATE  20  /* ... and then per second */

#include "h2o.h"

/* Called by server/early.c after each RST_STREAM frame is encoded into a
 * connection's write buffer `buf`. */
void llg_h2_reset_rst_encoded(h2o_buffer_t **buf, uint32_t stream_id);

/* Connections closed by the guard in this worker (for tests and logs). */
uint64_t llg_h2_reset_closed(void);

#endif
