/*
 * server/auth.c: access-token checks (see auth.h).
 */
#include "server/auth.h"

#include <string.h>

#include "server/respond.h"

h2o_iovec_t llg_auth_credential(h2o_iovec_t authorization, h2o_iovec_t x_api_key)
{
    h2o_iovec_t v = authorization;
    if (v.base != NULL && v.len > 7 && h2o_lcstris(v.base, 7, H2O_STRLIT("bearer "))) {
        size_t off = 7;
        while (off < v.len && v.base[off] == ' ')
            off++;
        size_t end = v.len;
        while (end > off && v.base[end - 1] == ' ')
            end--;
        if (end > off)
            return h2o_iovec_init(v.base + off, end - off);
    }
    if (x_api_key.base != NULL && x_api_key.len != 0)
        return x_api_key;
    return h2o_iovec_init(NULL, 0);
}

h2o_iovec_t llg_auth_presented(h2o_req_t *req)
{
    h2o_iovec_t authorization = {NULL, 0}, x_api_key = {NULL, 0};
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1)
        authorization = req->headers.entries[i].value;
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1);
    if (i != -1)
        x_api_key = req->headers.entries[i].value;
    return llg_auth_credential(authorization, x_api_key);
}

llg_auth_result_t llg_auth_lookup(const llg_app_t *app, h2o_iovec_t presented, int *token_index)
{
    *token_index = -1;
    if (app->conf->token_count == 0)
        return LLG_AUTH_OK;
    if (presented.base == NULL)
        return LLG_AUTH_MISSING;
    int found = llg_pool_token_lookup(app->view, presented.base, presented.len);
    if (found < 0)
        return LLG_AUTH_INVALID;
    *token_index = found;
    return LLG_AUTH_OK;
}

llg_auth_result_t llg_auth_check(const llg_app_t *app, h2o_req_t *req, int *token_index)
{
    *token_index = -1;
    if (app->conf->token_count == 0)
        return LLG_AUTH_OK;
    return llg_auth_lookup(app, llg_auth_presented(req), token_index);
}

const char *llg_auth_error_code(llg_auth_result_t result)
{
    return result == LLG_AUTH_MISSING ? "missing_api_key" : "invalid_api_key";
}

const char *llg_auth_error_message(llg_auth_result_t result)
{
    return result == LLG_AUTH_MISSING
               ? "You didn't provide an API key. Send it as 'Authorization: Bearer <token>' or in 'x-api-key'."
               : "Incorrect API key provided.";
}

void llg_auth_reject(h2o_req_t *req, llg_auth_result_t result)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    llg_respond_error(req, 401, LLG_AUTH_ERROR_TYPE, llg_auth_error_code(result), NULL, "%s", llg_auth_error_message(result));
}
