/*
 * server/token_limits.h: an access token's rpm and quotas at a request's admission
 * (docs/quotas.md, docs/cluster.md): the quota check, the rpm (the host's own,
 * or a credit of the cluster's with a short wait for the cluster link when
 * this instance has none), the 429 refusals in the client's protocol, and the
 * x-ratelimit-* headers every answer of a limited token carries.
 */
#ifndef LLG_LIMITS_H
#define LLG_LIMITS_H

#include "h2o.h"
#include "server/app.h"

/* Called once a request is admitted (possibly after llg_limits_admit returned). */
typedef void (*llg_limits_proceed_t)(h2o_req_t *req, void *data);

/* Admits a request of access token `token` (config index, >= 0): on refusal
 * responds 429 itself and never calls `proceed`; else calls proceed(req,
 * data), at once or after waiting for the cluster link (the request's pool
 * owns the wait: a client that goes away ends it). */
void llg_limits_admit(llg_app_t *app, h2o_req_t *req, int token, llg_limits_proceed_t proceed, void *data);

/* Adds the x-ratelimit-* headers of token `token` (nothing when it has no
 * rpm and no quota): for an answer given before its admission (a 400, 403,
 * 404 of the gateway's own), which counts nothing. */
void llg_limits_headers(llg_app_t *app, h2o_req_t *req, int token);

/* How often a request without an rpm credit looks for one (ms). */
#define LLG_LIMITS_POLL_MS 2

#endif
