/*
 * server/respond.c: JSON and OpenAI-error responses (see respond.h).
 */
#include "server/respond.h"
#include "server/reqlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "providers/openai_form.h"
#include "server/http.h"

const char *llg_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

const char *llg_error_type_for_status(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void llg_respond_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = llg_status_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, len);
}

void llg_render_error(llg_strbuf_t *out, const char *type, const char *code, const char *param, const char *message)
{
    llg_oai_error_body_full(out, 0, type, code, param, message);
}

void llg_respond_error(h2o_req_t *req, int status, const char *type, const char *code, const char *param, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (type == NULL)
        type = llg_error_type_for_status(status);
    llg_reqlog_note_error(req, code != NULL ? code : type);
    llg_strbuf_t b = {0};
    llg_http_ingress(req)->render->error_body(&b, status, type, code, param, message);
    llg_respond_json(req, status, b.data, b.len);
    llg_strbuf_free(&b);
}

void llg_set_sse_headers(h2o_req_t *req)
{
    req->res.status = 200;
    req->res.reason = "OK";
    /* SSE, or NDJSON for Ollama's clients */
    const char *type = llg_http_ingress(req)->stream_type;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL, H2O_STRLIT("no"));
}
