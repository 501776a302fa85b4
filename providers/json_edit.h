/*
 * providers/json_edit.h: top-level members of a JSON object at the byte level.
 * The body a client sent is forwarded upstream as sent, except for the
 * top-level members llmgate must change (model mapping, defaults,
 * stream_options, messages); those are spliced in, so numbers, key order and
 * whitespace of everything else stay exactly as the client wrote them. The
 * same scanner finds one member of an upstream answer (its usage).
 */
#ifndef LLG_JSON_EDIT_H
#define LLG_JSON_EDIT_H

#include <stddef.h>

#include "providers/strbuf.h"

typedef struct llg_json_patch {
    const char *key;   /* a top-level member name (no escapes needed) */
    const char *value; /* JSON text of the new value; NULL removes the member */
} llg_json_patch_t;

/* Writes `body` (a JSON object; already validated) to `out` with each patch
 * applied: a present member is replaced (or removed), an absent one is added
 * at the end. Returns 0, or -1 when the body is not a well-formed object. */
int llg_json_patch_object(const char *body, size_t len, const llg_json_patch_t *patches, size_t npatches, llg_strbuf_t *out);

/* Finds the first top-level member `key` (compared with escapes decoded) of
 * the JSON object text `s`, with the same scanner: 1 with its value's text in
 * [*value, *value + *vlen), or 0 when the text is no complete object or has no
 * such member. For reading one member of an upstream answer without parsing
 * the whole document. */
int llg_json_member(const char *s, size_t len, const char *key, const char **value, size_t *vlen);

/* The elements of the JSON array text `s`, one per call, with the same
 * scanner: *pos starts at 0 and is the scanner's place between calls. Returns
 * 1 with the next element's text in [*value, *value + *vlen), 0 after the last
 * (at the ']' that closes the array), -1 when the text is no array. Like
 * llg_json_member, it checks the array's own commas and brackets, not what
 * lies inside each element: a whole upstream answer is read one member at a
 * time, without a parse of the whole document. */
int llg_json_element(const char *s, size_t len, size_t *pos, const char **value, size_t *vlen);

#endif
