/*
 * conf/conf.h: the configuration model of llmgate (SPEC section 3) and its
 * loader. A config is parsed from YAML, environment overrides are applied, then
 * it is validated; only a config that passed every check is returned, and it is
 * never edited afterwards (a reload builds a new one and swaps it in whole).
 *
 * This module includes no libuv, h2o or curl header: it is unit-tested without
 * a network.
 */
#ifndef LLG_CONF_H
#define LLG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------ */

/* A list of messages, each already formatted as `FILE:LINE:COLUMN: message`
 * (1-based line and column) or, for an environment variable,
 * `environment variable NAME: message`. */
typedef struct llg_conf_errors {
    char **items;
    size_t count;
} llg_conf_errors_t;

void llg_conf_errors_free(llg_conf_errors_t *errs);

/* ---- the model --------------------------------------------------------- */

/* Bounds of max_header_bytes. The upper one leaves room inside h2o 2.2.5's
 * H2O_MAX_REQLEN (417,792 bytes for the whole HTTP/1.1 request head, or for
 * one HPACK-encoded HTTP/2 header block) for the framing that the count leaves
 * out (": ", CRLFs, the version, Content-Length): blocks over H2O_MAX_REQLEN
 * never reach the handler (server/http.c). */
#define LLG_CONF_MIN_HEADER_BYTES 1024u
#define LLG_CONF_MAX_HEADER_BYTES 409600u
/* Client timeouts longer than a day are refused: they only hold sockets. */
#define LLG_CONF_MAX_CLIENT_TIMEOUT_MS (24ull * 3600 * 1000)

typedef struct llg_conf_strv {
    char **items;
    size_t count;
} llg_conf_strv_t;

typedef struct llg_conf_kv {
    char *key;
    char *value;
} llg_conf_kv_t;

typedef struct llg_conf_kvv {
    llg_conf_kv_t *items;
    size_t count;
} llg_conf_kvv_t;

/* Where a node was found, for errors reported after loading (TLS files that
 * fail to load in the server, for example). 1-based. */
typedef enum llg_access_log_format {
    LLG_ACCESS_LOG_TEXT,
    LLG_ACCESS_LOG_JSON,
} llg_access_log_format_t;

/* `access_log:` (docs/observability.md): one line per finished request. */
typedef struct llg_conf_access_log {
    bool enabled;                   /* default true */
    char *path;                     /* NULL: stderr (then written at LLMGATE_LOG_LEVEL info and debug only) */
    llg_access_log_format_t format; /* default text */
} llg_conf_access_log_t;

typedef enum llg_otel_protocol {
    LLG_OTEL_PROTOBUF, /* application/x-protobuf */
    LLG_OTEL_JSON,     /* application/json (OTLP's JSON mapping) */
} llg_otel_protocol_t;

/* `otel:` (docs/observability.md): OTLP/HTTP trace export. */
typedef struct llg_conf_otel {
    bool enabled;             /* the section is present */
    char *endpoint;           /* as written: http(s)://host:port[/path] */
    char *traces_url;         /* endpoint + /v1/traces (unless it ends so already) */
    llg_conf_kvv_t headers;   /* sent with every export (values are secrets) */
    double sample;            /* share of root requests traced, 0..1; default 1 */
    char *service_name;       /* default "llmgate" */
    llg_otel_protocol_t protocol;
    unsigned queue;           /* spans waiting per worker; more are dropped; default 2048 */
    unsigned batch_size;      /* spans per export at most; default 512 */
    uint64_t interval_ms;     /* waiting spans are exported at least this often; default 1 s */
    uint64_t timeout_ms;      /* one export request; default 10 s */
} llg_conf_otel_t;

typedef struct llg_conf_mark {
    unsigned line;
    unsigned column;
} llg_conf_mark_t;

typedef struct llg_conf_listen {
    char *address;         /* IPv4 or IPv6 literal, default "0.0.0.0" */
    uint16_t port;         /* default 8080 */
    char *tls_certificate; /* NULL: cleartext (HTTP/1.1 and h2c) */
    char *tls_key;
    llg_conf_mark_t mark;
} llg_conf_listen_t;

typedef struct llg_conf_token {
    char *token;  /* the secret; never logged */
    char *name;   /* NULL: derived id is used in logs and metrics */
    uint32_t rpm; /* 0 = unlimited */
    /* quota: 0 = none. UTC calendar windows (docs/quotas.md): requests and
     * prompt + completion tokens per day, tokens per month */
    struct {
        uint64_t requests_per_day, tokens_per_day, tokens_per_month;
    } quota;
    llg_conf_strv_t models; /* globs; count 0 = every model */
    bool from_env;
} llg_conf_token_t;

typedef enum llg_provider_type {
    LLG_PROVIDER_OPENAI,
    LLG_PROVIDER_POE,
    LLG_PROVIDER_PUTER,
    LLG_PROVIDER_ECHO,
    LLG_PROVIDER_ANTHROPIC,
} llg_provider_type_t;

typedef enum llg_auth_mode {
    LLG_AUTH_POOL,
    LLG_AUTH_PASSTHROUGH,
    LLG_AUTH_NONE,
} llg_auth_mode_t;

typedef enum llg_message_mode {
    LLG_MESSAGES_RAW,
    LLG_MESSAGES_STANDARD,
    LLG_MESSAGES_FULL,
} llg_message_mode_t;

/* A provider's `tls:` (https:// upstreams; docs/configuration.md). */
typedef struct llg_conf_tls {
    bool set;                 /* the section was given */
    char *ca_file;            /* PEM CA(s) to trust; NULL: the system's bundle only */
    bool ca_replace;          /* ca: replace (only ca_file) rather than add (default) */
    char *client_certificate; /* PEM, with client_key: mutual TLS; NULL: none */
    char *client_key;
    char *server_name; /* SNI and the name verified; NULL: the base_url's host */
    int min_version;   /* 12 or 13; 0: the library's default (TLS 1.2) */
    bool verify;       /* default true; false: loud warnings (start, /health) */
} llg_conf_tls_t;

typedef struct llg_conf_provider {
    char *name; /* [a-z0-9_-]+, unique */
    llg_provider_type_t type;
    char *base_url;       /* NULL for echo */
    llg_conf_strv_t keys; /* from `keys` then from `keys_env` (env keys appended) */
    char *keys_env;       /* NULL when absent */
    llg_auth_mode_t auth;
    llg_conf_strv_t models; /* default ["*"] */
    llg_conf_kvv_t model_map;
    llg_conf_strv_t list_models;
    bool list_models_set; /* true when list_models was given (even empty) */
    llg_conf_kvv_t headers;
    char *client_key_header; /* NULL when absent */
    llg_message_mode_t message_mode;
    bool responses_api;       /* openai only: the upstream serves /responses, where /v1/responses is relayed */
    llg_conf_strv_t fallback; /* names of other providers, validated */
    uint64_t delay_ms;        /* echo only */
    llg_conf_tls_t tls;       /* https:// only; verify defaults to true */
    /* the gateway's connections to the upstream, all workers together (each
     * worker gets ceil(max / workers)); 0: no cap. A request that finds them
     * all busy waits for one, at most queue_timeout_ms (0: only
     * timeouts.request bounds the wait). */
    uint64_t max_connections;
    uint64_t queue_timeout_ms;
    llg_conf_mark_t mark;
} llg_conf_provider_t;

/* A model group's strategy (docs/routing.md "Model groups"). */
typedef enum llg_group_strategy {
    LLG_STRATEGY_WEIGHTED,   /* smooth weighted round robin, one position shared by every worker */
    LLG_STRATEGY_LEAST_BUSY, /* fewest attempts in flight, ties: the higher weight */
    LLG_STRATEGY_LATENCY,    /* power of two choices over a peak EWMA of time to first byte */
    LLG_STRATEGY_AFFINITY,   /* consistent hashing with bounded load on a request key */
} llg_group_strategy_t;

#define LLG_GROUP_MAX_TARGETS 64    /* targets per group (a 64-bit mask of the ones tried) */
#define LLG_GROUP_MAX_WEIGHT  10000 /* per target */
#define LLG_GROUP_MAX_PRIO    1000

/* One upstream of a group: a provider and the model it is asked for. */
typedef struct llg_conf_target {
    unsigned provider; /* config index */
    char *model;       /* NULL: the provider's model_map value for the name asked for, else the name */
    uint32_t weight;   /* 1..LLG_GROUP_MAX_WEIGHT, default 1 */
    uint32_t priority; /* 0..LLG_GROUP_MAX_PRIO, default 0; lower tiers are tried first */
    llg_conf_mark_t mark;
} llg_conf_target_t;

typedef struct llg_conf_group {
    char *name; /* the model clients ask for: a glob */
    llg_group_strategy_t strategy;
    llg_conf_target_t *targets;
    size_t target_count;
    unsigned attempts;        /* upstream requests at most per client request; default retry.attempts */
    llg_conf_strv_t fallback; /* provider names, tried after every target */
    struct {
        uint32_t failures;    /* consecutive failed attempts that open it; 0: no breaker (default 5) */
        uint64_t cooldown_ms; /* open this long, then one half-open probe (default 30 s) */
    } breaker;
    struct {
        uint64_t decay_ms;         /* time constant of the EWMA's fading (default 10 s) */
        uint64_t error_penalty_ms; /* a failed attempt's time to first byte (default 1 s) */
    } latency;
    struct {
        char *header;       /* lowercase; default "x-session-id" */
        double load_factor; /* >= 1, default 1.25 */
    } affinity;
    llg_conf_mark_t mark;
} llg_conf_group_t;

/* cluster.redis (docs/cluster.md): the Redis that instances of one cluster
 * share, split out of its URL at load time. */
typedef struct llg_conf_redis {
    char *host;          /* TCP: a name or an IP literal (no brackets); NULL for a unix socket */
    uint16_t port;       /* default 6379 */
    char *unix_path;     /* unix:/path; NULL for TCP */
    unsigned db;         /* SELECT after connecting when not 0 */
    char *user;          /* NULL: AUTH with the password alone */
    char *password;      /* the secret (from the URL or password_env); NULL: no AUTH; never printed */
    char *display;       /* the URL with the password as "***": the only form logs print */
    char *prefix;        /* of every Redis key and channel; default "llmgate:" */
    uint64_t timeout_ms; /* connect and reply timeout; default 1 s */
} llg_conf_redis_t;

typedef struct llg_conf_param {
    char *key;
    char *json; /* the YAML value rendered as JSON text: 0.7, 1000, "x", true, null, [..], {..} */
} llg_conf_param_t;

typedef struct llg_conf {
    char *source; /* the file name, or "<default>" for the embedded config */

    llg_conf_listen_t *listen;
    size_t listen_count;

    unsigned workers; /* >= 1; `auto` is resolved to the number of online CPUs */
    uint64_t max_body_bytes;
    /* A request whose method, target, authority and header fields (names and
     * values) add up to more than this gets 431; LLG_CONF_MIN/MAX_HEADER_BYTES. */
    uint64_t max_header_bytes;

    /* What one worker holds for its clients (docs/security.md "Memory before
     * authentication"). Connections past max_connections, or past
     * max_connections_per_client from one client address (0 = no limit), are
     * closed at accept. A request body is admitted at its head only if its
     * declared length (or max_body_bytes when it is not declared) fits in
     * what is left of max_buffered_body_bytes and of its address's
     * max_buffered_body_bytes_per_client; it is held until the request ends.
     * Validated: max_body_bytes <= per_client <= max_buffered_body_bytes. */
    struct {
        uint64_t max_connections;
        uint64_t max_connections_per_client;
        uint64_t max_buffered_body_bytes;
        uint64_t max_buffered_body_bytes_per_client;
    } limits;

    struct {
        uint64_t connect_ms;
        uint64_t request_ms; /* `timeout` is an alias */
        uint64_t idle_ms;
        uint64_t ping_ms; /* 0 = off */
        uint64_t drain_ms;
        /* Client side, both > 0 and at most LLG_CONF_MAX_CLIENT_TIMEOUT_MS.
         * client_header: the TLS handshake, and an HTTP/1.1 request (line,
         * headers and body) must arrive within it. client_idle: an HTTP/2
         * connection with no request is closed after it. HTTP/1.1 has a single
         * timer per request in h2o 2.2.5 (the keep-alive wait and the request
         * share it): it runs for the shorter of the two (server/app.c). */
        uint64_t client_header_ms;
        uint64_t client_idle_ms;
    } timeouts;

    llg_conf_token_t *tokens;
    size_t token_count;

    char *admin_token;   /* NULL: every /admin/ path answers 404 */
    char *metrics_token; /* NULL: /metrics is open; else it needs this token or admin_token */

    llg_conf_strv_t cors_allow_origins; /* default ["*"]; empty: no CORS headers */

    struct {
        char *model; /* NULL when absent */
        llg_conf_param_t *params;
        size_t param_count;
    } defaults;

    unsigned retry_attempts; /* default 3, >= 1 */

    struct {
        uint64_t cooldown_ms;     /* default 30 s */
        uint64_t max_cooldown_ms; /* default 600 s */
        uint64_t probe_after_ms;  /* default 600 s */
    } keys;

    llg_conf_provider_t *providers;
    size_t provider_count;

    /* model_groups: matched before the providers' `models`, in file order */
    llg_conf_group_t *groups;
    size_t group_count;

    /* `cluster:` or LLMGATE_REDIS_URL; disabled: no Redis code runs */
    struct {
        bool enabled;
        llg_conf_redis_t redis;
    } cluster;

    llg_conf_access_log_t access_log;
    llg_conf_otel_t otel;

    /* private: owner of every allocation above */
    void *_arena;
} llg_conf_t;

/* ---- loading ----------------------------------------------------------- */

/* The environment the loader reads: a NULL-terminated array of "NAME=value"
 * strings, like `environ`. Tests pass their own. */
typedef char *const *llg_env_t;

/* Loads, applies environment overrides (PORT, LLMGATE_WORKERS,
 * API_ACCESS_TOKENS, TOKEN, each provider's keys_env, LLMGATE_REDIS_URL when
 * the file has no `cluster:`) and validates.
 * Returns NULL and fills `errs` (every error found, in file order) on failure.
 * `name` is what errors print as FILE. */
llg_conf_t *llg_conf_load_file(const char *path, llg_env_t env, llg_conf_errors_t *errs);
llg_conf_t *llg_conf_load_string(const char *name, const char *text, size_t len, llg_env_t env, llg_conf_errors_t *errs);

/* The embedded default config (SPEC section 4) as YAML text for this
 * environment: the echo provider always, the puter passthrough provider, and
 * openai/openrouter/deepinfra/poe for each of OPENAI_API_KEY,
 * OPENROUTER_API_KEY, DEEPINFRA_API_KEY, POE_APIKEYS that is set.
 * The text names the environment variables (keys_env), never a key. Caller frees. */
char *llg_conf_default_yaml(llg_env_t env);

/* Loads the embedded default config (source "<default>"). */
llg_conf_t *llg_conf_load_default(llg_env_t env, llg_conf_errors_t *errs);

void llg_conf_free(llg_conf_t *conf);

/* ---- helpers shared with the server ------------------------------------ */

/* Parses a duration: a bare non-negative integer (seconds) or an integer with
 * unit ms, s, m or h. Returns 0 and sets *out_ms, or -1. */
int llg_conf_parse_duration(const char *s, uint64_t *out_ms);

/* Shell-style glob match (`*` any run, `?` one char, `[...]` classes), case
 * sensitive; used for provider `models` and token `models`. */
bool llg_conf_glob_match(const char *pattern, const char *s);

const char *llg_provider_type_name(llg_provider_type_t type);

#endif
