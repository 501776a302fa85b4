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
 * How: by ELF symbol interposition, as server/bad_request.c does (libh2o
 * calls these through its PLT): h2o_http2_decode_rst_stream_payload() marks
 * the stream id of a client's RST_STREAM, h2o_http2_stream_reset() then
 * charges that stream's connection, and h2o_http2_scheduler_dispose(), called
 * once when a connection is freed, forgets the connection. Each wraps libh2o's
 * own function (server/interpose.h). State is per worker (one thread).
 */
#ifndef LLG_H2_RESET_H
#define LLG_H2_RESET_H

#include <stdint.h>

#define LLG_H2_RESET_BURST 100 /* client resets a connection may make at once */
#define LLG_H2_RESET_RATE  20  /* ... and then per second */

/* Connections closed by the guard in this worker (for tests and logs). */
uint64_t llg_h2_reset_closed(void);

#endif
