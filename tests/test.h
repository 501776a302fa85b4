/*
 * tests/test.h: the in-house unit-test header. Each test file defines
 * functions with TEST(name) and lists them in main() with RUN(name); the
 * process prints one line per failed check and a closing `N passed, N failed`
 * line, and exits non-zero when anything failed.
 */
#ifndef LLG_TEST_H
#define LLG_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed_, test_failed_, test_current_failed_;
static const char *test_current_name_;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                                                  \
    do {                                                                                                                           \
        test_current_name_ = #name;                                                                                                \
        test_current_failed_ = 0;                                                                                                  \
        test_##name();                                                                                                             \
        if (test_current_failed_)                                                                                                  \
            test_failed_++;                                                                                                        \
        else                                                                                                                       \
            test_passed_++;                                                                                                        \
    } while (0)

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, test_current_name_, #cond);                       \
            test_current_failed_ = 1;                                                                                              \
        }                                                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                                         \
    do {                                                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                                        \
        if (a_ != b_) {                                                                                                            \
            fprintf(stderr, "%s:%d: %s: %s == %lld, expected %lld\n", __FILE__, __LINE__, test_current_name_, #a, a_, b_);         \
            test_current_failed_ = 1;                                                                                              \
        }                                                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                                                         \
    do {                                                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                                                     \
            fprintf(stderr, "%s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, test_current_name_, #a,              \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                                                       \
            test_current_failed_ = 1;                                                                                              \
        }                                                                                                                          \
    } while (0)

#define TEST_MAIN_END()                                                                                                            \
    do {                                                                                                                           \
        printf("%d passed, %d failed\n", test_passed_, test_failed_);                                                              \
        return test_failed_ ? 1 : 0;                                                                                               \
    } while (0)

#endif
