/*
 * server/early.c: admission of a request's body at its head, for HTTP/1.x
 * (called by server/h1_framing.c) and HTTP/2 (in front of libh2o's HPACK
 * header parser); see early.h.
 */
#include "server/early.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/auth.h"
#include "server/h2_reset.h"
#include "server/http.h"
#include "server/interpose.h"
#include "server/linger.h"
#include "server/respond.h"

static llg_app_t *early_app;
static llg_admission_t *early_adm;

/* An HTTP/2 request refused at its head, until h2o disposes of it. */
typedef struct refused_stream {
    struct refused_stream *next;
    const h2o_req_t *req;
    h2o_buffer_t **write_buf; /* its connection's &_write.buf */
    uint32_t stream_id;
    llg_refusal_t refusal;
} refused_stream_t;
static refused_stream_t *refused_streams;
static const h2o_req_t *skipped_reset; /* the stream whose RST_STREAM was just skipped */

void llg_early_init(llg_app_t *app)
{
    const llg_conf_t *conf = app->conf;
    llg_admission_limits_t limits = {
        .max_connections = conf->limits.max_connections,
        .max_connections_per_client = conf->limits.max_connections_per_client,
        .max_body_bytes = conf->max_body_bytes,
        .max_buffered_body_bytes = conf->limits.max_buffered_body_bytes,
        .max_buffered_body_bytes_per_client = conf->limits.max_buffered_body_bytes_per_client,
    };
    early_app = app;
    if ((early_adm = llg_admission_create(&limits)) == NULL)
        abort();
}

llg_admission_t *llg_early_admission(void)
{
    return early_adm;
}

static void refuse_too_large(llg_refusal_t *out)
{
    *out = (llg_refusal_t){.status = 413, .code = "request_too_large"};
    llg_too_large_message(early_app->conf, out->message, sizeof(out->message));
}

/* The refusal of a body that does not fit in what is left of a budget. */
static void refuse_budget(llg_refusal_t *out, llg_admit_t why)
{
    const llg_conf_t *conf = early_app->conf;
    if (why == LLG_ADMIT_CLIENT_FULL) {
        *out = (llg_refusal_t){.status = 429, .code = "too_many_pending_bodies", .retry_after = 1};
        snprintf(out->message, sizeof(out->message),
                 "This client address has as many request bodies in flight as it may "
                 "(limits.max_buffered_body_bytes_per_client, %llu bytes); retry when some have finished.",
                 (unsigned long long)conf->limits.max_buffered_body_bytes_per_client);
    } else {
        *out = (llg_refusal_t){.status = 503, .code = "server_busy", .retry_after = 1};
        snprintf(out->message, sizeof(out->message),
                 "The gateway is holding as many request bodies as it may (limits.max_buffered_body_bytes, %llu bytes); "
                 "retry shortly.",
                 (unsigned long long)conf->limits.max_buffered_body_bytes);
    }
}

/* The decision of early.h for a head with a body of `body` bytes
 * (UINT64_MAX: not declared, and then `unknown` bytes are reserved at
 * first): 1 and *out to refuse. */
static int decide(h2o_req_t *req, uint64_t head, uint64_t body, uint64_t unknown, h2o_iovec_t authorization, h2o_iovec_t x_api_key,
                  llg_refusal_t *out)
{
    const llg_conf_t *conf = early_app->conf;
    if (body != UINT64_MAX && body > conf->max_body_bytes) {
        refuse_too_large(out);
        return 1;
    }
    if (conf->token_count != 0 && !early_app->has_passthrough && (body == UINT64_MAX || body > LLG_EARLY_AUTH_BODY_BYTES)) {
        int token;
        llg_auth_result_t auth = llg_auth_lookup(early_app, llg_auth_credential(authorization, x_api_key), &token);
        if (auth != LLG_AUTH_OK) {
            *out = (llg_refusal_t){
                .status = 401, .type = LLG_AUTH_ERROR_TYPE, .code = llg_auth_error_code(auth), .www_authenticate = 1};
            snprintf(out->message, sizeof(out->message), "%s", llg_auth_error_message(auth));
            return 1;
        }
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (req->conn == NULL || req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        ss.ss_family = AF_UNSPEC;
    llg_client_addr_t addr = llg_client_addr_from(&ss);
    uint64_t bytes = (body == UINT64_MAX ? unknown : body) + head + LLG_EARLY_REQUEST_BYTES;
    llg_admit_t verdict = llg_admission_reserve(early_adm, req, &addr, bytes);
    if (verdict == LLG_ADMIT_OK)
        return 0;
    refuse_budget(out, verdict);
    return 1;
}

static int is_name(const struct phr_header *h, const char *name, size_t len)
{
    return h->name != NULL && h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

int llg_early_h1(h2o_req_t *req, const struct phr_header *headers, size_t n, size_t head_len, size_t buffered, llg_refusal_t *out)
{
    if (early_app == NULL)
        return 0;
    h2o_iovec_t authorization = {NULL, 0}, x_api_key = {NULL, 0}, request_id = {NULL, 0};
    uint64_t body = 0;
    int has_body = 0;
    for (size_t i = 0; i < n; i++) {
        const struct phr_header *h = &headers[i];
        if (is_name(h, "content-length", 14)) {
            /* h2o answers a length that is not a number itself (400) */
            size_t v = h2o_strtosize(h->value, h->value_len);
            if (v == SIZE_MAX)
                return 0;
            body = v;
            has_body = v != 0;
        } else if (is_name(h, "transfer-encoding", 17)) {
            body = UINT64_MAX;
            has_body = 1;
        } else if (is_name(h, "authorization", 13)) {
            authorization = h2o_iovec_init(h->value, h->value_len);
        } else if (is_name(h, "x-api-key", 9)) {
            x_api_key = h2o_iovec_init(h->value, h->value_len);
        } else if (is_name(h, "x-request-id", 12)) {
            request_id = h2o_iovec_init(h->value, h->value_len);
        }
    }
    /* HTTP/1.1 has no flow control to hold a chunked body to less than the limit */
    if (!has_body || !decide(req, head_len, body, early_app->conf->max_body_bytes, authorization, x_api_key, out))
        return 0;
    /* the client's own id, as server/http.c echoes it */
    if (request_id.base != NULL && llg_request_id_acceptable(request_id))
        snprintf(out->request_id, sizeof(out->request_id), "%.*s", (int)request_id.len, request_id.base);
    /* the client may still be sending its body: read it to nothing before the close */
    if (body == UINT64_MAX || body > buffered) {
        h2o_socket_t *sock = req->conn != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
        if (sock != NULL)
            llg_linger_mark(sock);
    }
    return 1;
}

static refused_stream_t *find_refused(h2o_buffer_t **buf, uint32_t stream_id)
{
    for (refused_stream_t *e = refused_streams; e != NULL; e = e->next)
        if (e->write_buf == buf && e->stream_id == stream_id)
            return e;
    return NULL;
}

static refused_stream_t *add_refused(h2o_http2_conn_t *conn, h2o_http2_stream_t *stream, const llg_refusal_t *refusal)
{
    refused_stream_t *e = malloc(sizeof(*e));
    if (e == NULL)
        return NULL;
    e->req = &stream->req;
    e->write_buf = &conn->_write.buf;
    e->stream_id = stream->stream_id;
    e->refusal = *refusal;
    e->next = refused_streams;
    refused_streams = e;
    return e;
}

/* The HTTP/2 streams whose body has no declared length, by the address of
 * their body buffer (&stream->_req_body), which h2o passes to
 * h2o_buffer_reserve() before each DATA frame is appended. */
typedef struct tracked_body {
    struct tracked_body *next;
    uintptr_t key; /* (uintptr_t)&stream->_req_body */
    h2o_http2_stream_t *stream;
    uint64_t head; /* the head's bytes, reserved with the body */
} tracked_body_t;
#define TRACKED_BUCKETS 1024
static tracked_body_t *tracked[TRACKED_BUCKETS];
static size_t tracked_count;

static tracked_body_t **tracked_slot(uintptr_t key)
{
    tracked_body_t **p = &tracked[((key >> 4) ^ (key >> 14)) % TRACKED_BUCKETS];
    while (*p != NULL && (*p)->key != key)
        p = &(*p)->next;
    return p;
}

static void track_body(h2o_http2_stream_t *stream, uint64_t head)
{
    uintptr_t key = (uintptr_t)&stream->_req_body;
    tracked_body_t **p = tracked_slot(key), *t;
    if (*p != NULL || (t = malloc(sizeof(*t))) == NULL)
        return; /* without memory, the body keeps its first reservation */
    t->key = key;
    t->stream = stream;
    t->head = head;
    t->next = NULL;
    *p = t;
    tracked_count++;
}

/* Forgets the stream of `req`, when it is a tracked HTTP/2 stream (for any
 * other request the key computed is one no stream has). */
static void untrack(const h2o_req_t *req)
{
    if (tracked_count == 0)
        return;
    uintptr_t key = (uintptr_t)req - offsetof(h2o_http2_stream_t, req) + offsetof(h2o_http2_stream_t, _req_body);
    tracked_body_t **p = tracked_slot(key), *t = *p;
    if (t == NULL)
        return;
    *p = t->next;
    free(t);
    tracked_count--;
}

int h2o_hpack_parse_headers(h2o_req_t *req, h2o_hpack_header_table_t *header_table, const uint8_t *src, size_t len,
                            int *pseudo_header_exists_map, size_t *content_length, h2o_cache_digests_t **digests,
                            const char **err_desc)
{
    static int (*real)(h2o_req_t *, h2o_hpack_header_table_t *, const uint8_t *, size_t, int *, size_t *, h2o_cache_digests_t **,
                       const char **);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_hpack_parse_headers");
    int r = real(req, header_table, src, len, pseudo_header_exists_map, content_length, digests, err_desc);
    /* trailers come without the map; a stream without a body has no _req_body */
    if (r != 0 || pseudo_header_exists_map == NULL || early_app == NULL)
        return r;
    h2o_http2_stream_t *stream = H2O_STRUCT_FROM_MEMBER(h2o_http2_stream_t, req, req);
    if (stream->_req_body == NULL)
        return 0;
    h2o_iovec_t authorization = {NULL, 0}, x_api_key = {NULL, 0};
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1)
        authorization = req->headers.entries[i].value;
    if ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1)) != -1)
        x_api_key = req->headers.entries[i].value;
    uint64_t body = *content_length == SIZE_MAX ? UINT64_MAX : (uint64_t)*content_length;
    llg_refusal_t refusal;
    uint64_t head = llg_request_head_bytes(req);
    /* a body of unknown length: one DATA frame at first; the reservation
     * grows with the body as it arrives (h2o_buffer_reserve() below) */
    if (!decide(req, head, body, LLG_EARLY_FRAME_BYTES, authorization, x_api_key, &refusal)) {
        if (body == UINT64_MAX)
            track_body(stream, head);
        return 0;
    }
    refused_stream_t *e = add_refused((h2o_http2_conn_t *)req->conn, stream, &refusal);
    /* without memory for the entry, h2o's own 400 goes out */
    *err_desc = e != NULL ? e->refusal.message : "out of memory";
    return H2O_HTTP2_ERROR_INVALID_HEADER_CHAR;
}

const llg_refusal_t *llg_early_refusal_of(const h2o_req_t *req)
{
    for (refused_stream_t *e = refused_streams; e != NULL; e = e->next)
        if (e->req == req)
            return &e->refusal;
    return NULL;
}

/* Answers a stream that is receiving its body with `refusal` at once, and
 * drops the rest of its body (h2o's "invalid header" path does the same for
 * a stream refused at its head). */
static refused_stream_t *answer_stream(h2o_http2_conn_t *conn, h2o_http2_stream_t *stream, const llg_refusal_t *refusal)
{
    refused_stream_t *e = add_refused(conn, stream, refusal);
    if (e == NULL)
        return NULL;
    h2o_http2_stream_set_state(conn, stream, H2O_HTTP2_STREAM_STATE_REQ_PENDING);
    h2o_http2_stream_set_state(conn, stream, H2O_HTTP2_STREAM_STATE_SEND_HEADERS);
    h2o_send_error_generic(&stream->req, refusal->status, llg_status_reason(refusal->status), e->refusal.message, 0);
    return e;
}

/* The stream of a connection's write buffer that is receiving its body, or NULL. */
static h2o_http2_stream_t *receiving_stream(h2o_buffer_t **buf, uint32_t stream_id, h2o_http2_conn_t **conn)
{
    h2o_http2_stream_t *stream;
    *conn = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _write.buf, buf);
    if (early_app == NULL || (*conn)->_headers_unparsed != NULL || (stream = h2o_http2_conn_get_stream(*conn, stream_id)) == NULL ||
        stream->state != H2O_HTTP2_STREAM_STATE_RECV_BODY)
        return NULL;
    return stream;
}

/* h2o refuses a stream whose body of unknown length went past
 * max_request_entity_size (max_body_bytes + 1) with REFUSED_STREAM, which
 * tells the client to retry the same request elsewhere: answer 413 instead,
 * as for HTTP/1.1, and drop the rest of the body. Only the DATA path refuses
 * a stream that is receiving its body while no header block is being
 * gathered (lib/http2/connection.c handle_data_frame). */
static int answer_too_large(h2o_buffer_t **buf, uint32_t stream_id)
{
    h2o_http2_conn_t *conn;
    h2o_http2_stream_t *stream = receiving_stream(buf, stream_id, &conn);
    if (stream == NULL)
        return 0;
    llg_refusal_t refusal;
    refuse_too_large(&refusal);
    refused_stream_t *e = answer_stream(conn, stream, &refusal);
    if (e == NULL)
        return 0;
    /* handle_data_frame resets the stream next */
    skipped_reset = e->req;
    return 1;
}

h2o_iovec_t h2o_buffer_reserve(h2o_buffer_t **inbuf, size_t min_guarantee)
{
    static h2o_iovec_t (*real)(h2o_buffer_t **, size_t);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_buffer_reserve");
    /* A tracked body grows (handle_data_frame, before a DATA frame is
     * appended): its reservation grows with it first. When the budget has no
     * room, the stream is answered 429/503 and h2o is told the memory is not
     * there, so it drops the frame; the RST_STREAM and the reset it then
     * makes are skipped (the stream is refused), and its window stays
     * closed. */
    tracked_body_t *t;
    if (tracked_count != 0 && (t = *tracked_slot((uintptr_t)inbuf)) != NULL) {
        h2o_http2_stream_t *stream = t->stream;
        uint64_t need = t->head + LLG_EARLY_REQUEST_BYTES + (*inbuf)->size + min_guarantee;
        llg_admit_t verdict = llg_admission_grow(early_adm, &stream->req, need);
        if (verdict != LLG_ADMIT_OK && stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY) {
            llg_refusal_t refusal;
            refuse_budget(&refusal, verdict);
            if (answer_stream((h2o_http2_conn_t *)stream->req.conn, stream, &refusal) != NULL)
                return h2o_iovec_init(NULL, 0);
        }
    }
    return real(inbuf, min_guarantee);
}

void h2o_http2__encode_rst_stream_frame(h2o_buffer_t **buf, uint32_t stream_id, int errnum)
{
    static void (*real)(h2o_buffer_t **, uint32_t, int);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_http2__encode_rst_stream_frame");
    /* (errnum is positive here; every caller with these two codes passes its
     * connection's &_write.buf, lib/http2/connection.c stream_send_error) */
    if (errnum == -H2O_HTTP2_ERROR_STREAM_CLOSED) {
        /* DATA for a stream refused at its head (no longer receiving its
         * body): dropped, the stream left to answer */
        refused_stream_t *e = find_refused(buf, stream_id);
        if (e != NULL) {
            skipped_reset = e->req;
            return;
        }
    } else if (errnum == -H2O_HTTP2_ERROR_REFUSED_STREAM && answer_too_large(buf, stream_id)) {
        return;
    }
    real(buf, stream_id, errnum);
    llg_h2_reset_rst_encoded(buf, stream_id);
}

int llg_early_take_skipped_reset(const h2o_http2_stream_t *stream)
{
    int skip = skipped_reset != NULL && skipped_reset == &stream->req;
    skipped_reset = NULL;
    return skip;
}

void h2o_dispose_request(h2o_req_t *req)
{
    static void (*real)(h2o_req_t *);
    if (real == NULL)
        *(void **)&real = llg_interpose_next("h2o_dispose_request");
    if (early_adm != NULL)
        llg_admission_release(early_adm, req);
    untrack(req);
    for (refused_stream_t **p = &refused_streams; *p != NULL; p = &(*p)->next) {
        if ((*p)->req == req) {
            refused_stream_t *e = *p;
            *p = e->next;
            free(e);
            break;
        }
    }
    real(req);
}
