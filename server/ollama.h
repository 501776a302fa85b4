/*
 * server/ollama.h: Ollama's API endpoints that are no chat (see ollama.c).
 */
#ifndef LLG_SERVER_OLLAMA_H
#define LLG_SERVER_OLLAMA_H

#include "h2o.h"
#include "server/app.h"

void llg_ollama_version_handle(llg_app_t *app, h2o_req_t *req);
void llg_ollama_show_handle(llg_app_t *app, h2o_req_t *req);

#endif
