/*
 * server/reqlog.c: the request's record (see reqlog.h): its creation in the
 * request's pool and the bookkeeping of attempts.
 */
#include "server/reqlog.h"

#include <string.h>
#include <time.h>

#include "server/http.h"

llg_reqlog_t *llg_reqlog_find(h2o_req_t *req)
{
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT("llg-state"), 0);
    return slot != NULL ? (llg_reqlog_t *)slot->base : NULL;
}

llg_reqlog_t *llg_reqlog(h2o_req_t *req)
{
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT("llg-state"), 1);
    if (slot->base != NULL)
        return (llg_reqlog_t *)slot->base;
    llg_reqlog_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->start_us = llg_http_now_us();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->start_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    r->provider = r->group = r->target = r->token = -1;
    *slot = h2o_iovec_init(r, sizeof(*r));
    return r;
}

llg_reqlog_attempt_t *llg_reqlog_attempt_begin(llg_reqlog_t *r, int provider, int32_t key_slot, const char *model, uint64_t now_us)
{
    unsigned n = r->attempts++;
    r->provider = provider;
    if (n >= LLG_REQLOG_MAX_ATTEMPTS)
        return NULL;
    llg_reqlog_attempt_t *a = &r->att[n];
    memset(a, 0, sizeof(*a));
    a->provider = provider;
    a->key_slot = key_slot;
    a->model = model;
    a->start_us = now_us;
    a->outcome = -1;
    return a;
}

void llg_reqlog_attempt_end(llg_reqlog_t *r, llg_reqlog_attempt_t *a, int outcome, int status, const char *error, uint64_t now_us)
{
    if (status > 0)
        r->upstream_status = status;
    if (a == NULL || a->end_us != 0)
        return;
    a->end_us = now_us;
    a->outcome = outcome;
    a->status = status;
    a->error = error;
    if (now_us > a->start_us)
        r->upstream_us += now_us - a->start_us;
}

const char *llg_reqlog_strdup(h2o_req_t *req, const char *s, size_t len, size_t max)
{
    if (s == NULL)
        return NULL;
    if (len > max)
        len = max;
    char *p = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void llg_reqlog_note_error(h2o_req_t *req, const char *code)
{
    llg_reqlog_t *r = llg_reqlog_find(req);
    if (r != NULL && r->error_code == NULL && code != NULL)
        r->error_code = llg_reqlog_strdup(req, code, strlen(code), 128);
}
