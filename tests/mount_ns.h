/*
 * mount_ns.h -- a private mount namespace in which a child of a test
 * bind-mounts files over the machine's own (/etc/services,
 * /etc/nsswitch.conf) without changing anything outside it; for the
 * suites that run glibc on generated files (test_parity, test_nss). Needs
 * root (CAP_SYS_ADMIN). These report on `report`, not through Check: they
 * run in an exec'd child that is no Check test.
 */
#ifndef PORTQ_TESTS_MOUNT_NS_H
#define PORTQ_TESTS_MOUNT_NS_H

#include <stdio.h>

/*
 * Move this process into a mount namespace of its own and make / private
 * in it, so that no mount propagates back. 0, or -1 after a line "ERROR
 * ..." on report (`who` names the test in the hint that it needs root).
 */
int mount_ns_enter(FILE *report, const char *who);

/* Bind-mount `src` over `dst` and check that `dst` now is `src`. 0, or
 * -1 after a line "ERROR ..." on report. */
int mount_ns_bind(const char *src, const char *dst, FILE *report);

#endif /* PORTQ_TESTS_MOUNT_NS_H */
