/*
 * server/h1_parse.h: reading an HTTP/1.1 response from an upstream: the head
 * (status line and header fields), the body's framing (RFC 9112 section 6.3)
 * and the chunked transfer coding, decoded in place. Pure functions on byte
 * buffers: no socket, no loop, no allocation, so the fuzzers and unit tests
 * drive them directly. The upstream is outside input: every malformed byte
 * sequence is refused with -1, never read past the buffer given.
 */
#ifndef LLG_H1_PARSE_H
#define LLG_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LLG_H1_HEAD_MAX (64 * 1024) /* a longer response head is refused */

typedef enum llg_h1_framing {
    LLG_H1_BODY_NONE,    /* 1xx, 204, 304: no body */
    LLG_H1_BODY_LENGTH,  /* Content-Length bytes */
    LLG_H1_BODY_CHUNKED, /* the chunked coding, ended by its last chunk */
    LLG_H1_BODY_CLOSE,   /* until the upstream closes the connection */
} llg_h1_framing_t;

typedef struct llg_h1_head {
    int minor_version; /* HTTP/1.x */
    int status;        /* 100..999 */
    llg_h1_framing_t framing;
    uint64_t content_length; /* with LLG_H1_BODY_LENGTH */
    bool keep_alive;         /* the connection may carry another request after this response */
} llg_h1_head_t;

/* Called once per header field of a complete head, with the value's
 * surrounding whitespace removed. The pointers are into the buffer parsed;
 * the head's minor_version and status are already set when it runs. */
typedef void (*llg_h1_header_cb)(void *ud, const char *name, size_t name_len, const char *value, size_t value_len);

/* Parses the response head at the start of buf[0..len). Returns the head's
 * length (through its empty line) and fills `head` when it is complete, 0
 * when more bytes are needed, -1 when it is malformed or longer than
 * LLG_H1_HEAD_MAX. `on_header` (may be NULL) runs only for a complete head. */
ssize_t llg_h1_parse_head(const char *buf, size_t len, llg_h1_head_t *head, llg_h1_header_cb on_header, void *ud);

/* State of a chunked body being decoded; zero it to start. */
typedef struct llg_h1_chunked {
    int _state;       /* private */
    uint64_t _left;   /* private: data bytes left in the current chunk */
    unsigned _digits; /* private: hex digits of the size read so far */
    size_t _trailer;  /* private: trailer bytes read so far */
} llg_h1_chunked_t;

/* Decodes buf[0..len) in place: the data bytes are moved to the front,
 * *out says how many there are, *consumed how many input bytes were used.
 * Returns 1 when the body ended (the bytes from *consumed on follow the
 * message), 0 when all input was used and more is needed, -1 on a malformed
 * coding. Input may be split anywhere between calls. */
int llg_h1_chunked_decode(llg_h1_chunked_t *d, char *buf, size_t len, size_t *out, size_t *consumed);

#endif
