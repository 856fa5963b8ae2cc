/* check: the assertions every test program uses. A failed check prints where
 * and why, and the program exits 1 at the end; ctest reads the exit code. */
#ifndef AB_TEST_CHECK_H
#define AB_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check_tally {
	int passed;
	int failed;
};
extern struct check_tally check_tally;

#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, #cond, NULL)
#define CHECK_MSG(cond, ...) \
	check_report(!!(cond), __FILE__, __LINE__, #cond, check_fmt(__VA_ARGS__))
/* Each argument is evaluated exactly once. */
#define CHECK_INT(a, b) check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a " == " #b)
#define CHECK_STR(a, b) check_str((a), (b), __FILE__, __LINE__, #a " == " #b)
#define CHECK_CONTAINS(hay, needle) \
	check_contains((hay), (needle), __FILE__, __LINE__, #hay " contains " #needle)

/* Fatal: stop this test program now (the rest depends on it). */
#define REQUIRE(cond) \
	do { \
		if (!CHECK(cond)) \
			exit(check_summary()); \
	} while (0)

int check_report(int ok, const char *file, int line, const char *expr, char *detail);
char *check_fmt(const char *fmt, ...);
int check_int(long long a, long long b, const char *file, int line, const char *expr);
int check_str(const char *a, const char *b, const char *file, int line, const char *expr);
int check_contains(const char *hay, const char *needle, const char *file, int line,
		   const char *expr);

/* Prints "N passed, M failed" and returns the exit code. */
int check_summary(void);

/* Runs one named test function, printing its name first. */
#define RUN(fn) \
	do { \
		printf("-- %s\n", #fn); \
		fflush(stdout); \
		fn(); \
	} while (0)

/* RUN with arguments. */
#define RUN2(fn, ...) \
	do { \
		printf("-- %s\n", #fn); \
		fflush(stdout); \
		fn(__VA_ARGS__); \
	} while (0)

#endif
