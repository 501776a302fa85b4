/*
 * providers/egress.h: the upstream half of every wire adapter, behind one
 * table. An egress adapter builds its upstream's request from the canonical
 * request (an OpenAI chat body tree, providers/openai_request.h) and reads
 * its upstream's answer into canonical events (providers/answer.h), which the
 * client protocol's renderer writes. Adding an upstream protocol is adding
 * one entry (and its two files: the request, the answer).
 *
 * The `openai` entry translates; a request whose client speaks the
 * upstream's own protocol (OpenAI to openai, Anthropic to anthropic) is not
 * translated at all but relayed as it came (server/proxy_request.c).
 */
#ifndef LLG_EGRESS_H
#define LLG_EGRESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "providers/strbuf.h"
#include "providers/translate.h"

typedef struct llg_egress_request {
    const cJSON *root;                   /* the canonical request, messages as the message mode left them */
    const llg_conf_provider_t *provider; /* its base_url, model_map, ... */
    const char *model;                   /* as the client named it */
    const char *upstream_model;          /* after the provider's model_map */
    bool stream;
} llg_egress_request_t;

typedef struct llg_egress {
    const char *name;
    /* The upstream request's body (appended to `body`) and URL. Returns 0, -1
     * when the request cannot be expressed, -2 when the model is no valid name
     * for this upstream (it would go into the URL). */
    int (*build)(const llg_egress_request_t *rq, llg_strbuf_t *body, char *url, size_t urlsize);
    /* The reader of one answer (NULL when out of memory), per translate.h. */
    void *(*open)(const llg_xlate_params_t *params);
    void (*close)(void *reader);
    int (*feed)(void *reader, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
    int (*end)(void *reader, llg_strbuf_t *out, llg_xlate_error_t *err);
    void (*usage)(const void *reader, uint64_t *prompt, uint64_t *completion, bool *estimated);
    /* The error for a non-2xx answer (any body shape). */
    void (*http_error)(int status, const char *body, size_t len, llg_xlate_error_t *err);
} llg_egress_t;

/* The adapter of a provider type; NULL for echo (no upstream). */
const llg_egress_t *llg_egress_for(llg_provider_type_t type);

#endif
