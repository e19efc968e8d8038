/*
 * check.h: minimal test assertions. A failure prints file:line, the expression and both
 * values, then exits non-zero (each test is its own ctest executable).
 */
#ifndef FS_CHECK_H
#define FS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, op, b)                                                                        \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (!(check_a_ op check_b_)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK_INT(%s %s %s) failed: %lld vs %lld\n", __FILE__,         \
                    __LINE__, #a, #op, #b, check_a_, check_b_);                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_U64(a, op, b)                                                                        \
    do {                                                                                           \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                               \
        if (!(check_a_ op check_b_)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK_U64(%s %s %s) failed: %" PRIu64 " vs %" PRIu64 "\n",     \
                    __FILE__, __LINE__, #a, #op, #b, check_a_, check_b_);                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"\n", __FILE__,       \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n)                                                                         \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            fprintf(stderr, "%s:%d: CHECK_MEM(%s, %s, %s) failed\n", __FILE__, __LINE__, #a, #b,   \
                    #n);                                                                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Run one case, printing its name (so a failing run shows where it was). */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        fprintf(stderr, "-- %s\n", #fn);                                                           \
        fn();                                                                                      \
    } while (0)

#endif
