/*
 * check_main.c -- main() for every suite: run the suite that the test
 * file's check_suite names; exit 0 when no test failed.
 */
#include <signal.h>
#include <stdlib.h>

#include "check_main.h"

int
main(int argc, char **argv)
{
	if (check_suite.role != NULL) {
		int rc = check_suite.role(argc, argv);
		if (rc >= 0)
			return rc;
	}
	if (check_suite.ignore_sigpipe)
		signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(check_suite.suite());
	if (check_suite.fork_each)
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
