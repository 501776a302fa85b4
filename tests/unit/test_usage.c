/*
 * tests/unit/test_usage.c: providers/usage.c, the token counts of an
 * upstream's OpenAI-form answers and chunks.
 */
#include "providers/usage.h"
#include "../test.h"

static int read_counts(const char *json, uint64_t *pt, uint64_t *ct)
{
    *pt = *ct = 999;
    return llg_usage_read(json, strlen(json), pt, ct);
}

TEST(reads_the_top_level_usage)
{
    uint64_t pt, ct;
    CHECK(read_counts("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}", &pt, &ct));
    CHECK_EQ_INT(pt, 12);
    CHECK_EQ_INT(ct, 3);
    /* blanks, a float, a negative count, one count missing */
    CHECK(read_counts("{ \"usage\" : { \"prompt_tokens\" : 1.5e3 , \"completion_tokens\" : -4 } }", &pt, &ct));
    CHECK_EQ_INT(pt, 1500);
    CHECK_EQ_INT(ct, 0);
    CHECK(read_counts("{\"usage\":{\"completion_tokens\":7}}", &pt, &ct));
    CHECK_EQ_INT(pt, 0);
    CHECK_EQ_INT(ct, 7);
    /* out of range: read as 0 */
    CHECK(read_counts("{\"usage\":{\"prompt_tokens\":1e15,\"completion_tokens\":999999999999}}", &pt, &ct));
    CHECK_EQ_INT(pt, 0);
    CHECK_EQ_INT(ct, 999999999999ll);
}

TEST(finds_nothing_where_there_is_nothing)
{
    uint64_t pt, ct;
    CHECK(!read_counts("{\"usage\":null}", &pt, &ct));
    CHECK_EQ_INT(pt, 999); /* untouched */
    CHECK(!read_counts("{\"usage\":{\"prompt_tokens\":\"12\"}}", &pt, &ct));
    CHECK(!read_counts("{\"usage\":{}}", &pt, &ct));
    /* only the top-level member counts: not one inside a string or a nested object */
    CHECK(!read_counts("{\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":9}\"}}]}", &pt, &ct));
    CHECK(!read_counts("{\"x\":{\"usage\":{\"prompt_tokens\":9}}}", &pt, &ct));
    CHECK(!read_counts("not json", &pt, &ct));
}

TEST(may_have)
{
    static const char yes[] = "{\"usage\" :\n {\"prompt_tokens\":1}}";
    CHECK(llg_usage_may_have(yes, sizeof(yes) - 1));
    static const char null[] = "{\"choices\":[],\"usage\":null}";
    CHECK(!llg_usage_may_have(null, sizeof(null) - 1));
    static const char word[] = "{\"content\":\"usage\"}";
    CHECK(!llg_usage_may_have(word, sizeof(word) - 1));
    CHECK(!llg_usage_may_have("", 0));
}

TEST(find_null)
{
    static const char chunk[] = "{\"id\":\"c\",\"choices\":[{\"delta\":{}}],\"usage\":null}";
    const char *u = llg_usage_find_null(chunk, sizeof(chunk) - 1);
    CHECK(u != NULL && memcmp(u, ",\"usage\":null", 13) == 0 && u[13] == '}');
    static const char first[] = "{\"usage\":null}"; /* no comma before it: not the one OpenAI adds */
    CHECK(llg_usage_find_null(first, sizeof(first) - 1) == NULL);
    static const char obj[] = "{\"a\":1,\"usage\":{\"prompt_tokens\":1}}";
    CHECK(llg_usage_find_null(obj, sizeof(obj) - 1) == NULL);
    /* cut short: not found past the end */
    CHECK(llg_usage_find_null(chunk, sizeof(chunk) - 4) == NULL);
}

int main(void)
{
    RUN(reads_the_top_level_usage);
    RUN(finds_nothing_where_there_is_nothing);
    RUN(may_have);
    RUN(find_null);
    TEST_MAIN_END();
}
