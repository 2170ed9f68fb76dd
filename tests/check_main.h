/*
 * check_main.h -- the one main() of every Check suite (check_main.c).
 * Each test_*.c defines `check_suite`: the Suite it runs and how.
 */
#ifndef PORTQ_CHECK_MAIN_H
#define PORTQ_CHECK_MAIN_H

#include <check.h>

typedef struct {
	Suite *(*suite)(void);
	/* A part the program plays when its own tests run it again with
	 * other arguments: an exit status, or -1 to run the suite. NULL for
	 * none. */
	int (*role)(int argc, char **argv);
	int ignore_sigpipe;     /* the tests write to peers that may go away */
	int fork_each;          /* each test in a process of its own, whatever CK_FORK says */
} check_suite_t;

extern const check_suite_t check_suite;

#endif
