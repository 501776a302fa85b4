/*
 * server/refusal.h: an answer decided before h2o has a request to answer with
 * (at the request head: ambiguous framing, a missing token before a large
 * body, a body the worker cannot buffer). HTTP/1.x writes it in place of
 * h2o's fixed 400 (server/bad_request.c); HTTP/2 turns h2o's 400 of the
 * stream into it (server/http.c).
 */
#ifndef LLG_REFUSAL_H
#define LLG_REFUSAL_H

typedef struct llg_refusal {
    int status;           /* 400, 401, 413, 429, 503 */
    const char *type;     /* the OpenAI error type; NULL: the status's (llg_error_type_for_status) */
    const char *code;     /* the OpenAI error code */
    int retry_after;      /* seconds for Retry-After; 0: none */
    int www_authenticate; /* add `WWW-Authenticate: Bearer` */
    char message[240];
    char request_id[129]; /* the client's x-request-id when acceptable; "" for a new one */
    int anthropic;        /* the path is Anthropic's (/v1/messages): its error shape */
} llg_refusal_t;

#endif
