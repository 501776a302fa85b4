/*
 * tests/fuzz/fuzz_upstream_error.c: the upstream error reader
 * (providers/upstream_error.c) on arbitrary bytes, as the proxy calls it on
 * the body of every non-2xx upstream answer. The classification's code fits
 * its buffer; the relayed type and param are empty or short, printable,
 * valid UTF-8 (what reaches the client); every field is terminated inside
 * its buffer; the message is never empty; the same input reads the same.
 */
#include "providers/upstream_error.h"
#include "tests/fuzz/fuzz.h"

static void check_field(const char *s, size_t cap, bool printable)
{
    size_t n = strnlen(s, cap);
    FUZZ_ASSERT(n < cap);
    if (printable && n > 0)
        FUZZ_ASSERT(n <= 256 && llg_utf8_printable(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    FUZZ_ASSERT(p != NULL);
    memcpy(p, data, size);

    llg_upstream_error_class_t c;
    llg_upstream_error_classify(p, size, &c);
    check_field(c.code, sizeof(c.code), false);

    llg_upstream_error_fields_t f, g;
    llg_upstream_error_fields(p, size, &f);
    check_field(f.type, sizeof(f.type), true);
    check_field(f.param, sizeof(f.param), true);
    check_field(f.code, sizeof(f.code), false);
    check_field(f.message, sizeof(f.message), false);
    FUZZ_ASSERT(f.message[0] != '\0');

    llg_upstream_error_fields(p, size, &g);
    FUZZ_ASSERT(strcmp(f.type, g.type) == 0 && strcmp(f.code, g.code) == 0 && strcmp(f.param, g.param) == 0 &&
                strcmp(f.message, g.message) == 0);
    free(p);
    return 0;
}
