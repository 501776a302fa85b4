/*
 * tests/mock/mock.h: shared types of llmgate-mock, the fake upstream LLM
 * provider used by the integration tests and the benchmarks. One process, one
 * thread, one epoll loop; every behaviour (wire format, latency, faults) is
 * chosen per request (docs/mock.md). Files:
 *   buf.c       growable byte buffer, JSON string escaping
 *   loop.c      epoll loop, timer heap, connections, response pacing
 *   http.c      HTTP/1.1 request parsing, response head helpers
 *   scenario.c  the per-request options and where they come from
 *   dispatch.c  routing, request body reading, the stream driver
 *   content.c   what answers say: prompt, tool-result turns, chunks, tool
 *               calls, reasoning
 *   formats.c   OpenAI, OpenRouter and DeepInfra wire formats
 *   poe.c       Poe's bot protocol and puter.c Puter's driver API
 *   anthropic.c Anthropic's Messages API
 *   responses.c OpenAI's Responses API
 *   record.c    the request log (--record FILE, GET /_mock/record)
 */
#ifndef LLG_MOCK_H
#define LLG_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- buf.c ---- */
struct mbuf {
    char *p;
    size_t len;
    size_t cap;
};

void mbuf_reserve(struct mbuf *b, size_t extra);
void mbuf_add(struct mbuf *b, const void *s, size_t n);
void mbuf_adds(struct mbuf *b, const char *s);
void mbuf_addc(struct mbuf *b, char ch);
void mbuf_addu(struct mbuf *b, uint64_t v);
void mbuf_addf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* appends s as a quoted JSON string; invalid UTF-8 becomes U+FFFD */
void mbuf_add_json_str(struct mbuf *b, const char *s, size_t n);
void mbuf_free(struct mbuf *b);
/* frees the storage when it grew past keep bytes (connections reuse buffers) */
void mbuf_trim(struct mbuf *b, size_t keep);

/* ---- scenario.c ---- */
enum mock_format {
    MOCK_FMT_OPENAI,
    MOCK_FMT_OPENROUTER,
    MOCK_FMT_DEEPINFRA,
    MOCK_FMT_POE,
    MOCK_FMT_PUTER,
    MOCK_FMT_ANTHROPIC,
    MOCK_FMT_RESPONSES, /* the last */
};

enum mock_fault {
    MOCK_FAULT_NONE,
    MOCK_FAULT_HTTP, /* an error status, in fault_status */
    MOCK_FAULT_INSUFFICIENT_QUOTA,
    MOCK_FAULT_RESET_MIDSTREAM,
    MOCK_FAULT_ERROR_MIDSTREAM,
    MOCK_FAULT_HANG,
    MOCK_FAULT_HANG_MIDSTREAM,
    MOCK_FAULT_TRUNCATE,
    MOCK_FAULT_SLOW_READ,
    MOCK_FAULT_CLOSE_BEFORE_HEADERS,
    MOCK_FAULT_RESET_BEFORE_HEADERS,
    MOCK_FAULT_POE_ERROR_BEFORE,
    MOCK_FAULT_POE_ERROR_AFTER,
    MOCK_FAULT_POE_NO_DONE,
    MOCK_FAULT_PUTER_200_ERROR,
    MOCK_FAULT_MODERATION, /* OpenRouter's 403 for flagged input */
};

#define MOCK_SC_MAX_SET 24

struct mock_scenario {
    enum mock_format format;
    enum mock_fault fault;
    int fault_status;
    uint32_t latency_ms, ttft_ms, interval_ms, split_ms, pause_ms;
    uint32_t chunks, chunk_size, after, times, dims, tools;
    int usage; /* -1: the format's default */
    bool crlf, split, comments, stamp, chunked, allow_retry, thinking;
    bool poe_replace, poe_extras, puter_reasoning, puter_tools, puter_noise, puter_nonl, puter_array;
    int64_t retry_after, retry_after_ms, retry_after_date; /* -1: not sent */
    int64_t cached, reasoning; /* usage's cached prompt and reasoning tokens; -1: the format's default */
    uint64_t hash;             /* of every option source and the key, for times=N */
    char error[160];           /* an unknown option or bad value: answered with 400 */
    /* what was set, for the record: names (static strings) and values */
    unsigned nset;
    const char *set_name[MOCK_SC_MAX_SET]; /* from here on: not cleared by init */
    char set_val[MOCK_SC_MAX_SET][64];
    char reset_requests[32];
    char error_type[48];
    char finish[32];
    char message[256];
    char models[512];
    char tool_name[128];   /* tools=N: every call's name, when set */
    char tool_input[2048]; /* tools=N: every call's arguments (tool_input: a JSON object; tool_text: any), when set */
};

void mock_scenario_init(struct mock_scenario *sc);
/* init, then the runtime defaults (POST /_mock/defaults) when set */
void mock_scenario_start(struct mock_scenario *sc);
/* sets the runtime defaults from an option list (empty: clears them); false
 * with the message in err when an option is unknown or invalid */
bool mock_defaults_set(const char *s, size_t n, char *err, size_t cap);
void mock_defaults_clear(void);
/* sets one option; records an error in sc->error when unknown or invalid */
void mock_scenario_set(struct mock_scenario *sc, const char *name, size_t nlen, const char *val, size_t vlen);
/* parses "k=v,k=v" (percent-decoding when pct) */
void mock_scenario_parse_list(struct mock_scenario *sc, const char *s, size_t n, bool pct);
/* reads the option segments of an upstream key (fail<fault>, name=value) */
void mock_scenario_parse_key(struct mock_scenario *sc, const char *key, size_t n);
const char *mock_format_name(enum mock_format f);
const char *mock_fault_name(const struct mock_scenario *sc, char *tmp, size_t cap);
void mock_scenario_hash(struct mock_scenario *sc, const void *p, size_t n);
/* times=N bookkeeping: true when this request still gets its fault */
bool mock_times_take(uint64_t hash, uint32_t times);
void mock_times_reset(void);

/* ---- http.c ---- */
#define MOCK_MAX_HEADERS 96
#define MOCK_MAX_HEAD    (64 * 1024)
#define MOCK_MAX_BODY    (64 * 1024 * 1024)

struct mock_hdr {
    uint32_t name, name_len, val, val_len; /* offsets from the request start */
};

struct mock_req {
    uint32_t method, method_len, target, target_len;
    int minor;
    unsigned nhdrs;
    size_t head_len; /* request line and headers, blank line included */
    size_t body_len; /* Content-Length, or the decoded chunked length */
    size_t raw_len;  /* bytes of the whole request in the read buffer */
    bool chunked, keep_alive, expect_continue, body_done;
    /* set by mock_on_head: the path without /s/<options>/ and query, the
     * endpoint without its API prefix (/v1, /api/v1, /v1/openai), the key */
    uint32_t path, path_len, ep, ep_len, key, key_len;
    struct mock_hdr hdrs[MOCK_MAX_HEADERS]; /* last: not cleared per request */
};

/* 1: head parsed; 0: need more bytes; -status: malformed (400, 413, 431, 501) */
int mock_http_parse_head(struct mock_req *r, const char *p, size_t len);
/* 1: body complete (chunked decoded in place); 0: need more; -status */
int mock_http_body(struct mock_req *r, char *p, size_t len);
/* the value of header name (lower case), or NULL */
const char *mock_http_header(const struct mock_req *r, const char *base, const char *name, size_t *vlen);
const char *mock_http_reason(int status);
/* "Date: ...\r\n", cached per second */
const char *mock_http_date(void);
void mock_http_date_fmt(char *out, size_t cap, int64_t epoch);

/* ---- loop.c ---- */
enum mock_act {
    MOCK_ACT_HEAD,  /* bytes to send as they are (status line, headers, whole bodies) */
    MOCK_ACT_EVENT, /* one body event: framed as a chunk, split when asked */
    MOCK_ACT_WAIT,  /* pause until *at before the next step */
    MOCK_ACT_END,   /* the response is complete */
    MOCK_ACT_RESET, /* abort with a TCP RST once the bytes so far are written */
    MOCK_ACT_CLOSE, /* close (FIN) once the bytes so far are written */
    MOCK_ACT_HANG,  /* send nothing more, keep the connection open */
};

enum mock_kind {
    MOCK_K_NONE,
    MOCK_K_CHAT,
    MOCK_K_COMPLETION,
    MOCK_K_POE,
    MOCK_K_PUTER,
    MOCK_K_ANTHROPIC,
    MOCK_K_RESPONSES,
};

struct mock_conn;

/* one wire format of a streamed answer */
struct mock_wire {
    void (*head)(struct mock_conn *c, struct mbuf *o);
    /* the k-th event before the content (0 when none is left) */
    int (*prelude)(struct mock_conn *c, struct mbuf *o, unsigned k);
    void (*chunk)(struct mock_conn *c, struct mbuf *o, const char *s, size_t n);
    void (*comment)(struct mock_conn *c, struct mbuf *o);
    void (*error)(struct mock_conn *c, struct mbuf *o);
    /* the k-th event after the content (0 when none is left) */
    int (*tail)(struct mock_conn *c, struct mbuf *o, unsigned k);
};

struct mock_stream {
    enum mock_kind kind;
    const struct mock_wire *wire;
    int phase;
    unsigned k;
    uint32_t i, n; /* content chunk index, count */
    uint32_t chunks_sent;
    uint32_t writes; /* writev calls that sent bytes of this answer (the record's `writes`) */
    bool waited, commented, stream, include_usage, chunked_body, api, any_line;
    uint64_t filler;  /* static filler bytes after the head */
    uint64_t pace_at; /* when content chunk 0 was written: chunk i is due at pace_at + i * interval */
    int status;
    struct mbuf text; /* the answer (echo) */
    size_t text_pos;
    uint32_t text_chars, char_pos;
    uint32_t prompt_tokens;
    struct mbuf tool_names; /* the request's tool names, each ending in '\0' */
    uint32_t ntool_names;
    struct mbuf custom_tools; /* Responses: the names of the request's custom tools, each ending in '\0' */
    struct mbuf echo;         /* Responses: the request's parameters as the response echoes them */
    uint32_t evseq;           /* Responses: the next event's sequence_number */
    uint64_t created;
    char id[48];
    char model[256];
    struct mbuf full; /* a prepared whole response (non-stream) */
};

enum mock_cstate { MOCK_C_READ, MOCK_C_PAUSED, MOCK_C_RESP, MOCK_C_HANG, MOCK_C_DRAIN };

struct mock_conn {
    struct mock_conn *all_next; /* every connection ever allocated: live ones stay reachable */
    int fd;
    uint32_t events;
    enum mock_cstate state;
    struct mbuf rbuf;
    size_t rpos;
    bool head_done, continue_sent, peer_gone, dead;
    struct mock_req req;
    struct mbuf wbuf;
    size_t wpos;
    uint64_t filler; /* bytes of the static filler to send after wbuf */
    struct mbuf ebuf;
    size_t split_off;
    bool splitting, close_after;
    enum mock_act after_drain; /* MOCK_ACT_CLOSE or MOCK_ACT_RESET in MOCK_C_DRAIN */
    uint64_t timer_at;
    int heap_idx;
    struct mock_scenario sc;
    struct mock_stream st;
    struct mbuf rec; /* the record line's request fields, while recording */
    uint64_t seq;
    bool rec_open; /* recorded as received, not yet done or closed */
    struct mock_conn *next;
};

int mock_loop_run(int listen_fd);
void mock_loop_stop(void);
/* monotonic and wall clocks */
uint64_t mock_now_ns(void);
double mock_wall_ms(void);

/* ---- dispatch.c ---- */
/* after the head: options from path, key and headers; may start slow_read */
void mock_on_head(struct mock_conn *c);
/* a complete request: prepares c->st (and c->sc) and records it */
void mock_dispatch(struct mock_conn *c);
/* the next step of the current response */
/* MOCK_ACT_WAIT sets *at, a CLOCK_MONOTONIC deadline in ns */
enum mock_act mock_next(struct mock_conn *c, struct mbuf *o, uint64_t *at);
/* the common head: status line, Date, content type, length (-1: chunked or close) */
void mock_head(struct mock_conn *c, struct mbuf *o, int status, const char *ctype, int64_t clen);
/* a whole response with a body */
void mock_whole(struct mock_conn *c, struct mbuf *o, int status, const char *ctype, const char *body, size_t n);
/* records client_closed for a request whose body never completed */
void mock_record_partial(struct mock_conn *c);
extern uint64_t mock_seq;

/* ---- content.c ---- */
struct cJSON;
/* words: runs of characters between spaces, tabs and line ends */
uint32_t mock_count_words(const char *s, size_t n);
/* the answer's text from the last user message of msgs and the prompt's
 * words (those of system too) */
void mock_last_user(struct mock_conn *c, const struct cJSON *msgs, const struct cJSON *system);
/* tools=N, a conversation ending in tool results (the trailing tool messages
 * of OpenAI and Responses items, Anthropic's tool_result blocks): the text
 * "tool said: ...", no tool calls */
void mock_tool_result_turn(struct mock_conn *c, const struct cJSON *msgs, enum mock_kind kind);
/* the chunk count of the answer (c->st.n) and its characters */
void mock_text_counts(struct mock_conn *c);
/* the answer's next content piece */
void mock_piece(struct mock_conn *c, struct mbuf *o);
/* the whole answer text (every piece, without stamps) into t */
void mock_text_whole(struct mock_conn *c, struct mbuf *t);
/* the answer's blocks or items (Anthropic, Responses): reasoning with
 * thinking=1 first, text unless the answer is tool calls without text, the
 * tool calls; their indexes */
bool mock_has_text(const struct mock_conn *c);
unsigned mock_text_index(const struct mock_conn *c);
unsigned mock_tool_index(const struct mock_conn *c, uint32_t t);
/* the names of the request's tools, into c->st.tool_names */
void mock_tool_names(struct mock_conn *c, const struct cJSON *root);
/* the k-th tool call (tools=N): its name (tool_name, else from the
 * request's tools, else get_weather), and its arguments (tool_input, else
 * {"location":"Paris","n":k}) into o: whole (part -1) or piece part of
 * MOCK_ARG_PIECES (never cut inside a UTF-8 sequence) */
#define MOCK_ARG_PIECES 3
const char *mock_tool_name(struct mock_conn *c, uint32_t k);
void mock_tool_args(struct mock_conn *c, struct mbuf *o, uint32_t k, int part);
/* the reasoning text of thinking=1, in MOCK_THINK_PIECES pieces */
#define MOCK_THINK_PIECES 3
extern const char *const mock_think_pieces[MOCK_THINK_PIECES];
void mock_think_whole(struct mbuf *o);

/* ---- formats.c ---- */
extern const struct mock_wire mock_wire_openai, mock_wire_openrouter, mock_wire_deepinfra, mock_wire_completion;
/* SSE: a 200 head (text/event-stream and the format's headers), "event: NAME\ndata: ",
 * the end of an event (crlf=1: CRLF line ends) */
void mock_sse_head(struct mock_conn *c, struct mbuf *o);
void mock_sse_event(const struct mock_conn *c, struct mbuf *o, const char *name);
void mock_sse_end(const struct mock_conn *c, struct mbuf *o);
/* the comment of comments=1: ": keep-alive" */
void mock_sse_comment(struct mock_conn *c, struct mbuf *o);
void mock_fmt_headers(struct mock_conn *c, struct mbuf *o);
void mock_fmt_chat_whole(struct mock_conn *c, struct mbuf *o);
void mock_fmt_completion_whole(struct mock_conn *c, struct mbuf *o);
void mock_fmt_models(struct mock_conn *c, struct mbuf *o);
void mock_fmt_error(struct mock_conn *c, struct mbuf *o, int status, const char *what);
void mock_fmt_usage(struct mock_conn *c, struct mbuf *o);
const char *mock_finish(struct mock_conn *c);

/* ---- poe.c, puter.c ---- */
extern const struct mock_wire mock_wire_poe, mock_wire_puter;
void mock_poe_error_http(struct mock_conn *c, struct mbuf *o, int status);
void mock_puter_whole(struct mock_conn *c, struct mbuf *o);
void mock_puter_models(struct mock_conn *c, struct mbuf *o);
void mock_puter_error(struct mock_conn *c, struct mbuf *o, int status);

/* ---- anthropic.c ---- */
extern const struct mock_wire mock_wire_anthropic;
void mock_anthropic_headers(struct mock_conn *c, struct mbuf *o);
void mock_anthropic_whole(struct mock_conn *c, struct mbuf *o);
void mock_anthropic_count(struct mock_conn *c, struct mbuf *o);
void mock_anthropic_models(struct mock_conn *c, struct mbuf *o);
/* Anthropic's {"type":"error","error":{...}} body for a status (what as mock_fmt_error's) */
void mock_anthropic_error_body(struct mock_conn *c, struct mbuf *b, int status, const char *what);

/* ---- responses.c ---- */
extern const struct mock_wire mock_wire_responses;
/* reads what the answer echoes (parameters, custom tools) from the request */
void mock_responses_prepare(struct mock_conn *c, const struct cJSON *root);
void mock_responses_whole(struct mock_conn *c, struct mbuf *o);

/* ---- record.c ---- */
extern bool mock_record_on;
int mock_record_open(const char *file);
void mock_record_config(size_t max_lines, size_t max_bytes);
/* builds c->rec from the current request (method, path, headers, body, key) */
void mock_record_prepare(struct mock_conn *c, const char *body, size_t body_len, const char *key, size_t key_len);
/* writes one line: event is "request", "done" or "client_closed" */
void mock_record_event(struct mock_conn *c, const char *event);
void mock_record_dump(struct mbuf *o);
void mock_record_reset(void);

#endif
