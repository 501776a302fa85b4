/*
 * server/ollama.c: the endpoints of Ollama's API that are no chat:
 * GET /api/version and POST /api/show (GET /api/tags is the model list of
 * server/models.c in Ollama's shape; /api/chat and /api/generate are
 * server/chat.c with the Ollama ingress adapter).
 */
#include "server/ollama.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "providers/ollama.h"
#include "providers/request_json.h"
#include "server/auth.h"
#include "server/respond.h"
#include "server/route.h"

void llg_ollama_version_handle(llg_app_t *app, h2o_req_t *req)
{
    (void)app;
    static const char body[] = "{\"version\":\"" LLG_OLLAMA_VERSION "\"}";
    llg_respond_json(req, 200, body, sizeof(body) - 1);
}

void llg_ollama_show_handle(llg_app_t *app, h2o_req_t *req)
{
    int token;
    llg_auth_result_t auth = llg_auth_check(app, req, &token);
    if (auth != LLG_AUTH_OK) {
        llg_auth_reject(req, auth);
        return;
    }
    char err[256], param[64];
    cJSON *root = llg_request_json(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param));
    if (root == NULL) {
        llg_respond_error(req, 400, NULL, NULL, NULL, "%s", err);
        return;
    }
    /* "model", or the older "name" */
    const char *model = llg_json_str(root, "model");
    if (model == NULL)
        model = llg_json_str(root, "name");
    char name[256];
    if (model != NULL) {
        llg_ollama_model(model, name, sizeof(name));
        model = name;
    }
    if (model == NULL || model[0] == '\0') {
        llg_respond_error(req, 400, NULL, NULL, "model", "model is required");
    } else if ((llg_route_group(app->conf, model) < 0 && llg_route(app->conf, model, NULL) < 0) ||
               (token >= 0 && !llg_token_allows(&app->conf->tokens[token], model))) {
        llg_respond_error(req, 404, NULL, NULL, "model", "model '%s' not found", model);
    } else {
        llg_strbuf_t out = {0};
        llg_ollama_show(model, &out);
        llg_respond_json(req, 200, out.data, out.len);
        llg_strbuf_free(&out);
    }
    cJSON_Delete(root);
}
