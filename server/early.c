/*
 * server/early.c: admission of a request's body at its head, for HTTP/1.x
 * (called by server/h1_framing.c) and HTTP/2 (in front of libh2o's HPACK
 * header parser); see early.h.
 */
#include "server/early.h"

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
#include "server/log.h"

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

static void refuse_too_large(llg_refusal_t *out, uint64_t limit)
{
    *out = (llg_refusal_t){.status = 413, .code = "request_too_large"};
    snprintf(out->message, sizeof(out->message), "The request body is larger than the limit of %llu bytes (max_body_bytes).",
             (unsigned long long)limit);
}

/* The decision of early.h for a head with a body of `body` bytes
 * (UINT64_MAX: not declared): 1 and *out to refuse. */
static int decide(h2o_req_t *req, uint64_t head, uint64_t body, h2o_iovec_t authorization, h2o_iovec_t x_api_key,
                  llg_refusal_t *out)
{
    const llg_conf_t *conf = early_app->conf;
    if (body != UINT64_MAX && body > conf->max_body_bytes) {
        refuse_too_large(out, conf->max_body_bytes);
        return 1;
    }
    if (conf->token_count != 0 && !early_app->has_passthrough && (body == UINT64_MAX || body > LLG_EARLY_AUTH_BODY_BYTES)) {
        int token;
        llg_auth_result_t auth = llg_auth_lookup(early_app, llg_auth_credential(authorization, x_api_key), &token);
        if (auth != LLG_AUTH_OK) {
            int missing = auth == LLG_AUTH_MISSING;
            *out = (llg_refusal_t){.status = 401, .code = missing ? "missing_api_key" : "invalid_api_key", .www_authenticate = 1};
            snprintf(out->message, sizeof(out->message), "%s",
                     missing ? "You didn't provide an API key. Send it as 'Authorization: Bearer <token>' or in 'x-api-key'."
                             : "Incorrect API key provided.");
            return 1;
        }
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (req->conn == NULL || req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        ss.ss_family = AF_UNSPEC;
    llg_client_addr_t addr = llg_client_addr_from(&ss);
    uint64_t bytes = (body == UINT64_MAX ? conf->max_body_bytes : body) + head + LLG_EARLY_REQUEST_BYTES;
    switch (llg_admission_reserve(early_adm, req, &addr, bytes)) {
    case LLG_ADMIT_OK:
        return 0;
    case LLG_ADMIT_WORKER_FULL:
        *out = (llg_refusal_t){.status = 503, .code = "server_busy", .retry_after = 1};
        snprintf(out->message, sizeof(out->message),
                 "The gateway is holding as many request bodies as it may (limits.max_buffered_body_bytes, %llu bytes); "
                 "retry shortly.",
                 (unsigned long long)conf->limits.max_buffered_body_bytes);
        return 1;
    case LLG_ADMIT_CLIENT_FULL:
        *out = (llg_refusal_t){.status = 429, .code = "too_many_pending_bodies", .retry_after = 1};
        snprintf(out->message, sizeof(out->message),
                 "This client address has as many request bodies in flight as it may "
                 "(limits.max_buffered_body_bytes_per_client, %llu bytes); retry when some have finished.",
                 (unsigned long long)conf->limits.max_buffered_body_bytes_per_client);
        return 1;
    }
    return 0;
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
    if (!has_body || !decide(req, head_len, body, authorization, x_api_key, out))
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

/* The size of an HTTP/2 request's head, as server/http.c counts it. */
static uint64_t h2_head_bytes(const h2o_req_t *req)
{
    uint64_t n = (uint64_t)req->input.method.len + req->input.path.len + req->input.authority.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += (uint64_t)req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return n;
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
    if (!decide(req, h2_head_bytes(req), body, authorization, x_api_key, &refusal))
        return 0;
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

/* h2o refuses a stream whose body of unknown length went past
 * max_request_entity_size (max_body_bytes + 1) with REFUSED_STREAM, which
 * tells the client to retry the same request elsewhere: answer 413 instead,
 * as for HTTP/1.1, and drop the rest of the body. Only the DATA path refuses
 * a stream that is receiving its body while no header block is being
 * gathered (lib/http2/connection.c handle_data_frame). */
static int answer_too_large(h2o_buffer_t **buf, uint32_t stream_id)
{
    h2o_http2_conn_t *conn = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _write.buf, buf);
    h2o_http2_stream_t *stream;
    if (early_app == NULL || conn->_headers_unparsed != NULL || (stream = h2o_http2_conn_get_stream(conn, stream_id)) == NULL ||
        stream->state != H2O_HTTP2_STREAM_STATE_RECV_BODY)
        return 0;
    llg_refusal_t refusal;
    refuse_too_large(&refusal, early_app->conf->max_body_bytes);
    refused_stream_t *e = add_refused(conn, stream, &refusal);
    if (e == NULL)
        return 0;
    skipped_reset = e->req;
    h2o_http2_stream_set_state(conn, stream, H2O_HTTP2_STREAM_STATE_REQ_PENDING);
    h2o_http2_stream_set_state(conn, stream, H2O_HTTP2_STREAM_STATE_SEND_HEADERS);
    h2o_send_error_generic(&stream->req, 413, "Request Entity Too Large", e->refusal.message, 0);
    return 1;
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
