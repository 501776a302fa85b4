/*
 * server/h2_reset.c: the per-connection budget of client stream resets on
 * HTTP/2 (see h2_reset.h).
 */
#include "server/h2_reset.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "h2o.h"
#include "h2o/http2.h"
#include "h2o/http2_internal.h"
#include "server/early.h"
#include "server/interpose.h"
#include "server/log.h"

/* One connection that has reset streams; the others have no entry. */
typedef struct reset_budget {
    struct reset_budget *next;
    const h2o_http2_conn_t *conn;
    double tokens;
    uint64_t at_ms; /* when tokens was last refilled */
    uint32_t resets;
} reset_budget_t;

#define BUCKETS 1024
static reset_budget_t *buckets[BUCKETS];
static uint64_t closed_count; /* connections closed here */
static uint32_t pending_rst;  /* the stream id of the client RST_STREAM being handled; 0: none */
/* the last RST_STREAM encoded (llg_h2_reset_rst_encoded) */
static h2o_buffer_t **last_rst_buf;
static uint32_t last_rst_id;
static h2o_http2_conn_t *cut_after_rst; /* overdrawn, cut once its pending RST_STREAM is encoded */

uint64_t llg_h2_reset_closed(void)
{
    return closed_count;
}

static reset_budget_t **slot_of(const h2o_http2_conn_t *conn)
{
    uintptr_t h = (uintptr_t)conn;
    h ^= h >> 17;
    h *= UINT64_C(0x9e3779b97f4a7c15);
    reset_budget_t **p = &buckets[(h >> 40) % BUCKETS];
    while (*p != NULL && (*p)->conn != conn)
        p = &(*p)->next;
    return p;
}

/* Sends GOAWAY(ENHANCE_YOUR_CALM) and closes: with the state IS_CLOSING,
 * h2o's frame loop stops at once, and the write it then makes (the GOAWAY)
 * ends in close_connection_now(), as for any connection error. */
static void cut(h2o_http2_conn_t *conn, const reset_budget_t *b)
{
    struct sockaddr_storage ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    socklen_t sl = conn->super.callbacks->get_peername(&conn->super, (struct sockaddr *)&ss);
    if (sl != 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
    else if (sl != 0 && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
    llg_warn("h2: %s reset %u streams, over the budget of %d at once and %d a second (rapid reset): GOAWAY "
             "ENHANCE_YOUR_CALM, connection closed",
             addr, b->resets, LLG_H2_RESET_BURST, LLG_H2_RESET_RATE);
    h2o_http2_encode_goaway_frame(&conn->_write.buf, conn->pull_stream_ids.max_open, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM,
                                  h2o_iovec_init(H2O_STRLIT("too many streams reset")));
    h2o_http2_conn_request_write(conn);
    conn->state = H2O_HTTP2_CONN_STATE_IS_CLOSING;
    closed_count++;
}

/* Charges one reset to the connection's budget: 1 when that overdraws it
 * (and the connection is not closing yet). */
static int charge(h2o_http2_conn_t *conn)
{
    reset_budget_t **p = slot_of(conn), *b = *p;
    uint64_t now = h2o_now(conn->super.ctx->loop);
    if (b == NULL) {
        if ((b = calloc(1, sizeof(*b))) == NULL)
            return 0;
        b->conn = conn;
        b->tokens = LLG_H2_RESET_BURST;
        b->at_ms = now;
        *p = b;
    }
    if (now > b->at_ms) {
        b->tokens += (double)(now - b->at_ms) * LLG_H2_RESET_RATE / 1000.0;
        if (b->tokens > LLG_H2_RESET_BURST)
            b->tokens = LLG_H2_RESET_BURST;
        b->at_ms = now;
    }
    b->resets++;
    b->tokens -= 1;
    return b->tokens < 0 && conn->state < H2O_HTTP2_CONN_STATE_IS_CLOSING;
}

int h2o_http2_decode_rst_stream_payload(h2o_http2_rst_stream_payload_t *payload, const h2o_http2_frame_t *frame,
                                        const char **err_desc)
{
    static int (*real)(h2o_http2_rst_stream_payload_t *, const h2o_http2_frame_t *, const char **);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_http2_decode_rst_stream_payload");
    int r = real(payload, frame, err_desc);
    pending_rst = r == 0 ? frame->stream_id : 0;
    return r;
}

void llg_h2_reset_rst_encoded(h2o_buffer_t **buf, uint32_t stream_id)
{
    last_rst_buf = buf;
    last_rst_id = stream_id;
    if (cut_after_rst != NULL && &cut_after_rst->_write.buf == buf) {
        h2o_http2_conn_t *conn = cut_after_rst;
        cut_after_rst = NULL;
        cut(conn, *slot_of(conn));
    }
}

void h2o_http2_stream_reset(h2o_http2_conn_t *conn, h2o_http2_stream_t *stream)
{
    static void (*real)(h2o_http2_conn_t *, h2o_http2_stream_t *);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_http2_stream_reset");
    /* DATA of a stream refused at its head: it stays to send its answer */
    if (llg_early_take_skipped_reset(stream))
        return;
    /* the client's RST_STREAM of an open stream (handle_rst_stream_frame:
     * the only caller that decoded one just before), or a stream error whose
     * RST_STREAM was already encoded (stream_send_error, then the reset) */
    int by_client = pending_rst != 0 && stream->stream_id == pending_rst;
    int answered = last_rst_buf == &conn->_write.buf && last_rst_id == stream->stream_id;
    pending_rst = 0;
    last_rst_buf = NULL;
    real(conn, stream);
    /* Every caller in libh2o 2.2.5 (lib/http2/connection.c) resets a stream
     * because of a frame the client sent: its RST_STREAM, or a stream error
     * it provoked (a WINDOW_UPDATE of 0, DATA past END_STREAM, a body unlike
     * its content-length: "MadeYouReset", CVE-2025-8671). All are charged. */
    if (!charge(conn))
        return;
    /* Cutting sets the connection closing, and stream_send_error() asserts
     * that it is not: when the reset came first (handle_window_update_frame),
     * the cut waits for the RST_STREAM that follows it. */
    if (by_client || answered)
        cut(conn, *slot_of(conn));
    else
        cut_after_rst = conn;
}

void h2o_http2_scheduler_dispose(h2o_http2_scheduler_node_t *root)
{
    static void (*real)(h2o_http2_scheduler_node_t *);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_http2_scheduler_dispose");
    /* only a connection's root scheduler is disposed (close_connection_now) */
    h2o_http2_conn_t *conn = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, scheduler, root);
    reset_budget_t **p = slot_of(conn), *b = *p;
    if (b != NULL) {
        *p = b->next;
        free(b);
    }
    if (cut_after_rst == conn)
        cut_after_rst = NULL;
    real(root);
}
