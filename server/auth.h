/*
 * server/auth.h: client access tokens. The presented token is read from
 * `Authorization: Bearer` or `x-api-key` and looked up in the pool, in time
 * that does not depend on how much of a secret matched (pool/pool.h).
 */
#ifndef LLG_AUTH_H
#define LLG_AUTH_H

#include "h2o.h"
#include "server/app.h"

typedef enum llg_auth_result {
    LLG_AUTH_OK,      /* a configured token, or the gateway is open */
    LLG_AUTH_MISSING, /* tokens are configured and none was sent */
    LLG_AUTH_INVALID, /* a token was sent that is not configured */
} llg_auth_result_t;

/* The credential the client sent (Bearer value or x-api-key), or {NULL,0}. */
h2o_iovec_t llg_auth_presented(h2o_req_t *req);

/* The same from the raw field values ({NULL,0} when absent), for a head
 * that is not a request yet (server/early.c). */
h2o_iovec_t llg_auth_credential(h2o_iovec_t authorization, h2o_iovec_t x_api_key);

/* Looks a presented credential up; *token_index as for llg_auth_check(). */
llg_auth_result_t llg_auth_lookup(const llg_app_t *app, h2o_iovec_t presented, int *token_index);

/* Checks the request; *token_index is the configured token's index, or -1. */
llg_auth_result_t llg_auth_check(const llg_app_t *app, h2o_req_t *req, int *token_index);

/* The error type, code and message of the 401 for a result other than
 * LLG_AUTH_OK (also sent before the body by server/early.c): OpenAI answers
 * a missing or wrong key with invalid_request_error. */
#define LLG_AUTH_ERROR_TYPE "invalid_request_error"
const char *llg_auth_error_code(llg_auth_result_t result);
const char *llg_auth_error_message(llg_auth_result_t result);

/* Sends the 401 for a result other than LLG_AUTH_OK. */
void llg_auth_reject(h2o_req_t *req, llg_auth_result_t result);

#endif
